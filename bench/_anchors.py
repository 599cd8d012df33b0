"""The peers spe_host is measured against: a Jupyter kernel and an aioconsole server.

Both come from the ``bench`` extra (``pip install -e '.[bench]'``). When a package is
not installed, or ``--without`` leaves an anchor out, :func:`unavailable` says so in a
sentence and the row reports the anchor as missing - never silently skipped.

:class:`JupyterKernel` drives an ipykernel through jupyter_client's blocking client,
over ipc (the unix-socket row) or tcp. Its calls block the benchmark's trio thread
while they wait, which is what the benchmark wants: nothing else of the benchmark runs
during a Jupyter trial, so nothing else is timed with it. A round trip is what
``execute_interactive`` waits for: the ``execute_reply`` on the shell channel and the
kernel's ``idle`` status on iopub. An interrupt is ``KernelManager.interrupt_kernel``
(SIGINT, ipykernel's default), timed until the ``execute_reply`` arrives.

:func:`aioconsole_server` runs ``aioconsole.start_interactive_server`` in a process of
its own; its clients are :class:`~_procs.LineClient` s that send ``1+1`` and read up to
the next prompt.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _procs import Floor, running

JUPYTER = "jupyter"
AIOCONSOLE = "aioconsole"
_PACKAGES = {JUPYTER: ("jupyter_client", "ipykernel"), AIOCONSOLE: ("aioconsole",)}
#: Anchors left out on the command line (``--without``), filled in by compare.py.
LEFT_OUT: set[str] = set()
_TIMEOUT = 30.0


def unavailable(anchor: str) -> str | None:
    """Why ``anchor`` cannot be measured here, or None when it can."""
    if anchor in LEFT_OUT:
        return f"left out by --without {anchor}"
    absent = [name for name in _PACKAGES[anchor] if importlib.util.find_spec(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (pip install -e '.[bench]')"
    return None


class JupyterKernel:
    """A started ipykernel and a blocking client on it."""

    def __init__(self, workdir: Path, transport: str) -> None:
        from jupyter_client import KernelManager

        options: dict[str, Any] = {"transport": transport}
        if transport == "ipc":
            options["ip"] = str(workdir / "kernel-ipc")
        self.manager = KernelManager(**options)
        # The kernel's stderr warns about unencrypted TCP on every start; it is loopback.
        self.manager.start_kernel(stderr=subprocess.DEVNULL)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def _reply(self, msg_id: str) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = self.client.get_shell_msg(timeout=_TIMEOUT)
            if message["parent_header"].get("msg_id") == msg_id:
                return message

    def _idle(self, msg_id: str) -> None:
        while True:
            message = self.client.get_iopub_msg(timeout=_TIMEOUT)
            if (
                message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"
            ):
                return

    def _busy(self, msg_id: str) -> None:
        while True:
            message = self.client.get_iopub_msg(timeout=_TIMEOUT)
            if message["parent_header"].get("msg_id") == msg_id and (
                message["msg_type"] == "execute_input"
            ):
                return

    def round_trip(self, code: str = "1+1") -> float:
        """Execute ``code``; the seconds until the reply and the idle status are in."""
        start = time.perf_counter()
        msg_id = self.client.execute(code)
        reply = self._reply(msg_id)
        self._idle(msg_id)
        elapsed = time.perf_counter() - start
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel failed to run {code!r}: {reply['content']}")
        return elapsed

    def interrupt(self, code: str, settle: float) -> float:
        """Run ``code``, interrupt it ``settle`` s after it started; seconds to the reply."""
        msg_id = self.client.execute(code)
        self._busy(msg_id)
        time.sleep(settle)
        start = time.perf_counter()
        self.manager.interrupt_kernel()
        reply = self._reply(msg_id)
        elapsed = time.perf_counter() - start
        self._idle(msg_id)
        if reply["content"].get("ename") != "KeyboardInterrupt":
            raise RuntimeError(f"the interrupted kernel answered {reply['content']}")
        return elapsed

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def jupyter_start(workdir: Path) -> float:
    """Seconds from starting a kernel to its client being ready."""
    start = time.perf_counter()
    kernel = JupyterKernel(workdir, "tcp")
    elapsed = time.perf_counter() - start
    kernel.close()
    return elapsed


_AIOCONSOLE_SERVER = """\
import asyncio, json, sys, aioconsole
async def main(path):
    await aioconsole.start_interactive_server(path=path, banner="")
    tcp = await aioconsole.start_interactive_server(host="127.0.0.1", port=0, banner="")
    print(json.dumps({"unix": path, "port": tcp.sockets[0].getsockname()[1]}), flush=True)
    await asyncio.Event().wait()
asyncio.run(main(sys.argv[1]))
"""
#: What the aioconsole server prints after every statement.
AIOCONSOLE_PROMPT = b">>> "


@asynccontextmanager
async def aioconsole_server(workdir: Path) -> AsyncIterator[Floor]:
    """Run an aioconsole interactive server on a unix socket and a TCP port."""
    path = workdir / "aioconsole.sock"
    command = [sys.executable, "-c", _AIOCONSOLE_SERVER, str(path)]
    async with running(command, workdir / "aioconsole.log") as (_, ready):
        yield Floor(unix=str(ready["unix"]), port=int(ready["port"]))
