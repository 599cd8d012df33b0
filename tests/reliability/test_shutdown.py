"""SIGTERM ends `spe-host serve` within the one --shutdown-timeout, telling every client.

A real ``spe-host serve`` listens on a unix socket and on TCP; three clients each wait
on an execute that will not end by itself: one in a native call (``time.sleep``), one
in a Python loop and one in an ``await``. On SIGTERM the host must exit within
``--shutdown-timeout`` plus a small margin - not the deadline twice, once in the
server and once in the host - every client must get its ``done`` with status
``aborted``, and the socket and the connection files must be gone.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio
from support.cli import start_server

from spe_host._model import ExecutionResult, ExecutionStatus, SessionState
from spe_host.client import connect

SHUTDOWN_TIMEOUT = 2.0
# Python start-up and the last answers; far below a second deadline.
MARGIN = 1.0

SCRIPTS = {
    "native": "import time\ntime.sleep(1000)",
    "loop": "while True:\n    pass",
    "await": "import trio\nawait trio.sleep(1000)",
}


async def test_sigterm_exits_within_one_deadline_and_tells_every_client(
    runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = runtime.parent / "shut.sock"
    server = start_server(
        runtime,
        "--name",
        "shut",
        "--listen",
        f"unix:{sock}",
        "--listen",
        "tcp://127.0.0.1:0",
        "--shutdown-timeout",
        str(SHUTDOWN_TIMEOUT),
    )
    try:
        listening = server.announced["listening"]
        tcp = listening[1]
        files = [Path(path) for path in tcp["connection_files"].values()]
        assert sock.exists()
        assert files
        assert all(path.exists() for path in files)
        results: dict[str, ExecutionResult] = {}
        with trio.fail_after(SHUTDOWN_TIMEOUT * 2 + 15):
            async with (
                connect(listening[0]["address"]) as admin,
                connect(str(files[0])) as over_tcp,
                trio.open_nursery() as nursery,
            ):
                clients = {"native": admin, "loop": over_tcp, "await": admin}

                async def run(session: str) -> None:
                    results[session] = await clients[session].execute(session, SCRIPTS[session])

                for session in SCRIPTS:
                    nursery.start_soon(run, session)
                while len(
                    [s for s in await admin.sessions() if s.state is SessionState.RUNNING]
                ) < len(SCRIPTS):
                    await trio.sleep(0.02)
                began = trio.current_time()
                server.process.send_signal(signal.SIGTERM)
                code = await trio.to_thread.run_sync(server.process.wait)
                took = trio.current_time() - began
        with capsys.disabled():
            print(f"\nshutdown: SIGTERM to exit {took:.2f} s (deadline {SHUTDOWN_TIMEOUT:g} s)")
        assert code == 0
        assert took < SHUTDOWN_TIMEOUT + MARGIN, took
        assert {s: r.status for s, r in results.items()} == dict.fromkeys(
            SCRIPTS, ExecutionStatus.ABORTED
        )
        assert not sock.exists()
        assert not [path for path in files if path.exists()]
    finally:
        server.stop()
