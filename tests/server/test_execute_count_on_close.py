"""Shutdown's count of executes stays true when a connection ends with answers waiting.

A client that stops reading, then half-closes, leaves the connection's senders waiting
for room in the outbox - a run's output, and behind it another run's ``done``. The
end of the stream cancels them all in one pass; each execute is uncounted once, by
its ``done`` reaching the stream or by its request ending without it, never both.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio
import trio.testing
from support.server import encode, served, use_private_runtime_dir, wait_state, wait_until

from spe_host.server import _core


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every count (+1) and uncount (-1) of an execute, in order."""
    changes: list[int] = []
    started, finished = _core.ServerCore.execute_started, _core.ServerCore.execute_finished

    def start(core: _core.ServerCore) -> None:
        changes.append(1)
        started(core)

    def finish(core: _core.ServerCore) -> None:
        changes.append(-1)
        finished(core)

    monkeypatch.setattr(_core.ServerCore, "execute_started", start)
    monkeypatch.setattr(_core.ServerCore, "execute_finished", finish)
    return changes


async def test_a_half_close_with_answers_waiting_uncounts_each_execute_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: list[int]
) -> None:
    use_private_runtime_dir(tmp_path, monkeypatch)
    printing = "for i in range(100):\n    print('x' * 50_000)"
    with trio.fail_after(60):
        async with served("unix") as srv:
            # Trio runs the cancelled senders in either order: a few rounds see both.
            for round in range(12):
                counted.clear()
                stream, _ = await srv.raw_hello()
                async with stream:
                    execute = {"type": "execute", "id": 1, "session": f"a{round}", "code": printing}
                    await stream.send_all(encode(execute))
                    await wait_state(srv.host, f"a{round}", "idle")
                    # Its `done` waits behind the output nobody reads.
                    execute = {"type": "execute", "id": 2, "session": f"b{round}", "code": "1"}
                    await stream.send_all(encode(execute))
                    await wait_state(srv.host, f"b{round}", "idle")
                    await trio.testing.wait_all_tasks_blocked()
                    stream.socket.shutdown(socket.SHUT_WR)
                    # Unread still: reading would make room and let the senders go.
                    await wait_until(lambda: counted.count(-1) >= 2)
                    await trio.testing.wait_all_tasks_blocked()  # the connection is over
                assert counted.count(1) == 2
                assert counted.count(-1) == 2, counted
