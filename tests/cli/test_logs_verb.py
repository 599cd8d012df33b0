"""``spe-host logs`` in-process, against a real host (``spe_host.testing``).

``-f`` must print every byte of the run's output before it exits with the run's
status, however its end and its last output race; ``--run`` for a run the live host
does not keep goes through :func:`spe_host.cli._logs.run_not_in_host`, the one place
another source (the journal) can answer.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

import spe_host
from spe_host._errors import SessionNotFound
from spe_host.cli import _logs
from spe_host.cli._parser import build_parser
from spe_host.client import Client
from spe_host.testing import open_test_client


def use(monkeypatch: pytest.MonkeyPatch, client: Client) -> None:
    @asynccontextmanager
    async def connected(args: object, target: str | None = None) -> AsyncIterator[Client]:
        yield client

    monkeypatch.setattr(_logs, "connected", connected)


async def test_follow_prints_the_whole_run_then_exits_with_its_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = tmp_path / "gate"
    job = (
        "import os, time\nprint('first')\n"
        f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)\n"
        "for n in range(200):\n    print('line', n)\nraise ValueError('late')\n"
    )
    codes: list[int] = []
    with trio.fail_after(20):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            use(monkeypatch, client)
            await client.start("etl", job)
            args = build_parser().parse_args(["logs", "-f", "etl"])
            async with trio.open_nursery() as nursery:

                async def follow() -> None:
                    codes.append(await _logs.logs(args))

                nursery.start_soon(follow)
                await trio.testing.wait_all_tasks_blocked()
                assert codes == []  # the run goes on: so does -f
                gate.touch()
            # Idle now: -f prints what is held and exits with the last run's status.
            assert await _logs.logs(args) == 4
    assert codes == [4]
    expected = "first\n" + "".join(f"line {n}\n" for n in range(200))
    assert capsys.readouterr().out == expected * 2


async def test_a_run_the_host_does_not_keep_goes_to_the_one_fallback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[tuple[str, str]] = []

    async def elsewhere(args: argparse.Namespace, run: str, error: SessionNotFound) -> int:
        asked.append((run, str(error)))
        return 0

    with trio.fail_after(20):
        async with spe_host.open_host() as host, open_test_client(host) as client:
            use(monkeypatch, client)
            await client.start("etl", "print('kept')")
            await client.wait("etl")
            assert await _logs.logs(build_parser().parse_args(["logs", "etl", "--run", "1"])) == 0
            assert capsys.readouterr().out == "kept\n"
            with pytest.raises(SessionNotFound):
                await _logs.logs(build_parser().parse_args(["logs", "etl", "--run", "etl#2"]))
            monkeypatch.setattr(_logs, "run_not_in_host", elsewhere)
            assert await _logs.logs(build_parser().parse_args(["logs", "etl", "--run", "2"])) == 0
    assert [run for run, _ in asked] == ["etl#2"]
