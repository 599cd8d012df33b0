"""Runs: ids, the results a session keeps until received, and what a listing says of them."""

from __future__ import annotations

import logging
import threading

import pytest
import trio
from support.engine import wait_location

import spe_host
from spe_host import ExecutionStatus, NoResult, SessionBusy, SessionState
from spe_host._model import parse_run_id, run_id
from spe_host.engine._runs import dropped_result_line


async def run_jobs(host: spe_host.Host, session: str, *codes: str) -> None:
    """Run each of ``codes`` in the background in ``session``, one after the other."""
    for code in codes:
        host.start(session, code)
        await host.wait(session)


async def test_every_execution_is_a_numbered_run(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        assert (await host.execute("etl", "1")).run == "etl#1"
        host.start("etl", "2")
        assert host.session("etl").info().run == "etl#2"
        await host.wait("etl")
        assert (await host.execute("etl", "3")).run == "etl#3"
        # A foreground result went to its caller: only the background one waits.
        assert [r.run for r in host.session("etl").runs.kept] == ["etl#2"]


async def test_a_foreground_result_its_caller_missed_is_kept(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        await host.execute("s", "x = 1")
        with pytest.raises(NoResult, match="no result to receive"):
            host.receive("s")
        host.session("s").namespace["gate"] = gate
        async with trio.open_nursery() as caller:
            caller.start_soon(host.execute, "s", "gate.wait()")
            await wait_location(host.session("s"), 1)
            caller.cancel_scope.cancel()  # a client that went away
        gate.set()
        await host.wait("s")
        assert host.receive("s").run == "s#2"


async def test_three_background_runs_keep_three_results(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await run_jobs(host, "etl", "print('one')", "print('two')", "print('three')")
        assert host.receive("etl", run="etl#2").output == "two\n"
        # Without a run id: the oldest unreceived result, then the next.
        first = host.receive("etl")
        assert (first.run, first.output) == ("etl#1", "one\n")
        assert host.receive("etl", keep=True).run == "etl#3"
        assert host.receive("etl").run == "etl#3"
        with pytest.raises(NoResult, match="no result to receive"):
            host.receive("etl")


async def test_the_eleventh_run_drops_the_oldest_and_says_so(
    host: spe_host.Host, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10), caplog.at_level(logging.WARNING, logger="spe_host"):
        await run_jobs(host, "etl", *(f"print({n})" for n in range(1, 12)))
        session = host.session("etl")
        assert [r.run for r in session.runs.kept] == [f"etl#{n}" for n in range(2, 12)]
        line = dropped_result_line("etl#1", 10)
        assert line == "spe_host: dropped the unreceived result of etl#1 (the session keeps 10)\n"
        assert session.output.text_since(0).endswith("11\n" + line)
        assert "dropped the unreceived result of etl#1" in caplog.text
        with pytest.raises(NoResult, match=r"run etl#1: .* dropped.* etl#2, etl#3"):
            host.receive("etl", run="etl#1")
        assert host.receive("etl").output == "2\n"


async def test_keep_results_is_configurable() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(idle_timeout=None, keep_results=2) as host:
            await run_jobs(host, "s", "1", "2", "3")
            assert [r.run for r in host.session("s").runs.kept] == ["s#2", "s#3"]
            assert dropped_result_line("s#1", 2) in host.session("s").output.text_since(0)
        with pytest.raises(ValueError, match="keep_results must be at least 1"):
            async with spe_host.open_host(keep_results=0):
                pass  # pragma: no cover - refused before the block


async def test_autodispose_waits_for_every_kept_result(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await run_jobs(host, "auto", "print(1)", "print(2)")
        session = host.session("auto")
        session.autodispose = True
        host.receive("auto", run="auto#2")
        assert host.session("auto") is session  # auto#1 is not received yet
        host.receive("auto", keep=True)
        assert host.session("auto") is session
        assert host.receive("auto").run == "auto#1"
        assert session.state is SessionState.CLOSED
        assert host.sessions() == []


async def test_a_running_session_still_gives_its_kept_results(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        await run_jobs(host, "s", "print('done')")
        host.start("s", "gate.wait()", args={"gate": gate})
        with pytest.raises(SessionBusy, match="run s#2 is still running"):
            host.receive("s", run="s#2")
        assert host.receive("s").run == "s#1"
        with pytest.raises(SessionBusy, match=r"session 's' is running \(s#2\)"):
            host.receive("s")
        gate.set()
        await host.wait("s")
        assert host.receive("s").status is ExecutionStatus.COMPLETED


async def test_unknown_and_bad_run_ids_are_clear_errors(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await run_jobs(host, "s", "1")
        with pytest.raises(
            NoResult, match=r"keeps no result of run s#5: .* unreceived runs are: s#1"
        ):
            host.receive("s", run="s#5")
        for bad in ("s#0", "s#x", "s", "s#-1", "#1", "s#01"):
            with pytest.raises(ValueError, match="is not a valid run id"):
                host.receive("s", run=bad)
        with pytest.raises(ValueError, match="belongs to session 'other'"):
            host.receive("s", run="other#1")
        assert host.receive("s").run == "s#1"  # nothing was lost on the way


async def test_the_snapshot_names_the_current_run_and_its_times(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        host.start("s", "spe.progress(50, 'half')", name="nightly")
        await host.wait("s")
        done = host.session("s").info()
        assert (done.run, done.name, done.progress_percent) == ("s#1", "nightly", 50.0)
        assert done.run_started_at is not None
        assert done.run_ended_at is not None
        assert done.run_started_at <= done.run_ended_at
        # A run started without a name has none, and starts with no progress.
        host.start("s", "gate.wait()", args={"gate": gate})
        running = host.session("s").info()
        assert (running.run, running.name, running.progress_percent) == ("s#2", None, None)
        assert running.run_ended_at is None
        assert running.run_started_at is not None
        assert running.run_started_at >= done.run_ended_at
        gate.set()
        await host.wait("s")
        assert host.session("s").info().run_ended_at is not None


def test_run_ids_split_back() -> None:
    assert run_id("etl.v2@x", 7) == "etl.v2@x#7"
    assert parse_run_id("etl.v2@x#7") == ("etl.v2@x", 7)
    with pytest.raises(ValueError, match="is not a valid run id"):
        parse_run_id("etl#" + "9" * 19)
