"""No request stalls the host: huge patterns and blocking script paths, over real sockets.

Each test sends the request that used to freeze the trio thread (a 1 MB wildcard; a
``start`` whose path is a FIFO) from one client and, meanwhile, asks another client
for ``ls``: the request is refused with a sentence, and ``ls`` answers at once.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import trio
from support.server import served

from spe_host import RemoteProtocolError

pytestmark = pytest.mark.usefixtures("runtime")

PROMPT = 1.0  # seconds an `ls` may take while the other request is handled


async def _ls_meanwhile(srv: object, request: object) -> float:
    """Run ``request`` in the background and time an admin's ``ls`` meanwhile."""
    async with srv.connect() as admin, trio.open_nursery() as nursery:  # type: ignore[attr-defined]
        nursery.start_soon(request)
        await trio.sleep(0.05)  # let the request reach the host first
        began = trio.current_time()
        await admin.sessions()
        return trio.current_time() - began


async def test_a_huge_pattern_is_refused_and_ls_answers_meanwhile() -> None:
    with trio.fail_after(20):
        async with served("tcp") as srv:
            srv.host.start("job", "pass")
            refusals: list[str] = []

            async def huge_list() -> None:
                async with srv.connect("operator") as operator:
                    with pytest.raises(RemoteProtocolError) as caught:
                        await operator.sessions("a*" * 500_000)
                    refusals.append(str(caught.value))

            took = await _ls_meanwhile(srv, huge_list)
            print(f"\nls while a 1 MB pattern was refused: {took * 1000:.1f} ms")
            assert took < PROMPT
            assert refusals
            assert "patterns may have at most 1024" in refusals[0]


async def test_a_fifo_script_path_is_refused_and_ls_answers_meanwhile(tmp_path: Path) -> None:
    fifo = tmp_path / "script.fifo"
    os.mkfifo(fifo)

    def unblock_an_old_host() -> None:
        # Before the fix the host sat in open() until a writer came: come after a
        # while (only if a reader waits), so that the test fails instead of hanging.
        time.sleep(3)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # nobody is reading: the host did not block
        os.write(fd, b"pass\n")
        os.close(fd)

    threading.Thread(target=unblock_an_old_host, daemon=True).start()
    with trio.fail_after(20):
        async with served("unix") as srv:
            refusals: list[str] = []

            async def start_fifo() -> None:
                async with srv.connect() as client:
                    with pytest.raises(RemoteProtocolError) as caught:
                        await client.start("s", path=str(fifo))
                    refusals.append(str(caught.value))

            took = await _ls_meanwhile(srv, start_fifo)
            assert took < PROMPT
            assert refusals
            assert "it is a FIFO, and a script must be a regular file" in refusals[0]
