"""``spe-host stop`` without a server: its flags, the steps ``--wait`` prints, and what a
pending stop shows in the ``ls`` table."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from support.cli import info

from spe_host._format import format_pending, format_sessions
from spe_host._model import ExecutionStatus, SessionState, StopPhase, StopTicket
from spe_host.cli._exits import EXIT_USAGE
from spe_host.cli._main import main
from spe_host.cli._output import session_json
from spe_host.cli._parser import build_parser
from spe_host.cli._stop import ticket_steps

REQUESTED = StopTicket(
    id="stop-1",
    session="etl",
    run="etl#7",
    requested_at=100.0,
    requested_by="uid 1000 (pid 4242)",
    reason="bad input file",
)


def moved(ticket: StopTicket, **changes: Any) -> StopTicket:
    return dataclasses.replace(ticket, **changes)


def test_stop_takes_a_reason_and_force() -> None:
    args = build_parser().parse_args(["stop", "etl", "--reason", "bad input", "--force", "--wait"])
    assert (args.reason, args.force, args.wait, args.timeout) == ("bad input", True, True, None)
    plain = build_parser().parse_args(["stop", "etl"])
    assert (plain.reason, plain.force) == (None, False)


def test_a_reason_too_long_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stop", "etl", "--reason", "x" * 1001]) == EXIT_USAGE
    assert "say why in at most 1000" in capsys.readouterr().err


def test_what_if_refuses_reason_and_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPE_HOST_RUNTIME_DIR", str(tmp_path))
    assert main(["stop", "etl", "--what-if", "--force"]) == EXIT_USAGE
    assert "--what-if stops nothing" in capsys.readouterr().err


def test_the_steps_of_a_stop_from_request_to_finish() -> None:
    blocked = moved(REQUESTED, blocked_in="time.sleep() called at job.py:12 for 0.0 s")
    longer = moved(blocked, blocked_in="time.sleep() called at job.py:12 for 0.5 s")
    landed = moved(longer, phase=StopPhase.LANDED, landed_at="job.py:13", blocked_in=None)
    finished = moved(landed, phase=StopPhase.FINISHED, status=ExecutionStatus.ABORTED)
    seen = [
        ticket_steps(None, REQUESTED),
        ticket_steps(REQUESTED, blocked),
        ticket_steps(blocked, longer),  # the same place, blocked for longer: no news
        ticket_steps(longer, landed),
        ticket_steps(landed, finished),
    ]
    assert seen == [
        ["stop requested by uid 1000 (pid 4242): bad input file"],
        ["blocked in time.sleep() called at job.py:12 for 0.0 s"],
        [],
        ["landed at job.py:13"],
        ["finished aborted"],
    ]


def test_steps_seen_late_come_in_order_and_stale_ones_not_at_all() -> None:
    finished = moved(
        REQUESTED,
        reason=None,
        phase=StopPhase.FINISHED,
        landed_at="job.py:13",
        status=ExecutionStatus.ABORTED,
        forced_at=101.0,
        note="loop mode: not forced",
    )
    assert ticket_steps(None, finished) == [
        "stop requested by uid 1000 (pid 4242)",
        "forced",
        "loop mode: not forced",
        "landed at job.py:13",
        "finished aborted",
    ]
    assert ticket_steps(finished, REQUESTED) == []
    never = moved(REQUESTED, phase=StopPhase.FINISHED, status=ExecutionStatus.COMPLETED)
    assert ticket_steps(REQUESTED, never) == ["finished completed before the stop landed"]


def test_a_deferred_stop_says_so() -> None:
    deferred = moved(REQUESTED, deferred="committing batch 12")
    assert ticket_steps(REQUESTED, deferred) == ["deferred: committing batch 12"]
    assert format_pending(deferred) == "deferred: committing batch 12"
    assert format_pending(moved(deferred, phase=StopPhase.LANDED)) is None
    assert format_pending(None) is None


def test_ls_shows_what_a_pending_stop_waits_for_where_the_location_goes() -> None:
    blocked = moved(REQUESTED, blocked_in="time.sleep() called at job.py:12 for 3.2 s")
    stopping = info(
        "etl", state=SessionState.STOPPING, location="job.py:12", run="etl#7", stop=blocked
    )
    table = format_sessions([stopping], now=200.0)
    assert "blocked in time.sleep() called at job.py:12 for 3.2 s" in table
    # Once it has landed, the line the run is on again.
    landed = dataclasses.replace(stopping, stop=moved(blocked, phase=StopPhase.LANDED))
    assert "blocked in" not in format_sessions([landed], now=200.0)
    assert "job.py:12" in format_sessions([landed], now=200.0)


def test_ls_json_carries_the_ticket() -> None:
    stopping = info("etl", state=SessionState.STOPPING, run="etl#7", stop=REQUESTED)
    data = session_json(stopping)
    assert data["stop"]["id"] == "stop-1"
    assert data["stop"]["reason"] == "bad input file"
    assert data["stop"]["phase"] == "requested"
