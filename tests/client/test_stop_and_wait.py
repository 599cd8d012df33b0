"""``Client.stop_and_wait``: the stop and the wait in one round trip.

Against a scripted host, both requests arrive in one write, before either is answered; on a
served host the pipelined pair still reports the abort, ``NOT_RUNNING`` and
``NOT_FOUND`` as a stop then a wait would; a blocking client asks one after the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from support.client import scripted, session_info
from support.server import served, use_private_runtime_dir, wait_until

from spe_host._errors import LocalProtocolError
from spe_host._model import ExecutionStatus, SessionInfo, SessionState, StopOutcome
from spe_host.client import connect_blocking, run_blocking
from spe_host.wire import Result, Stop, Wait, to_json

SLEEP = "import trio\nawait trio.sleep(100)\n"


def _frames_sent(client: Any) -> list[bytes]:
    """The frames the client writes from now on, one item per write."""
    framed = client._mux.framed
    frames: list[bytes] = []
    send_frame = framed.send_frame

    async def counted(frame: bytes, **options: Any) -> None:
        frames.append(frame)
        await send_frame(frame, **options)

    framed.send_frame = counted
    return frames


async def test_the_wait_goes_out_before_the_stop_is_answered() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host), trio.open_nursery() as nursery:
            got = {}
            frames = _frames_sent(client)

            async def ask() -> None:
                got["answer"] = await client.stop_and_wait("a", reason="enough", timeout=3)

            nursery.start_soon(ask)
            stop, wait = await host.next(), await host.next()  # nothing is answered yet
            assert len(frames) == 1  # the two went out in one write
            assert isinstance(stop, Stop)
            assert isinstance(wait, Wait)
            assert (stop.targets, stop.reason, wait.sessions, wait.timeout) == (
                ["a"],
                "enough",
                ["a"],
                3,
            )
            idle = session_info("a", SessionState.IDLE)
            # The answers in either order reach their requests.
            await host.send(Result(id=wait.id, value=[to_json(idle)]))
            await host.send(Result(id=stop.id, value={"a": "requested"}))
        assert got["answer"] == ({"a": StopOutcome.REQUESTED}, [idle])


async def test_a_served_pair_reports_the_abort_not_running_and_not_found() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.start("s", SLEEP)
            await wait_until(lambda: (srv.host.session("s").location or "").endswith(":2"))
            outcomes, [ended] = await client.stop_and_wait("s", timeout=5)
            assert outcomes == {"s": StopOutcome.REQUESTED}
            assert (ended.id, ended.last_status) == ("s", ExecutionStatus.ABORTED)
            assert ended.state == SessionState.IDLE
            outcomes, [idle] = await client.stop_and_wait("s", timeout=5)
            assert outcomes == {"s": StopOutcome.NOT_RUNNING}
            assert idle.last_status == ExecutionStatus.ABORTED
            # An id that names nothing: NOT_FOUND, and the found session still waited on.
            await client.start("s", SLEEP)
            await wait_until(lambda: (srv.host.session("s").location or "").endswith(":2"))
            outcomes, [ended] = await client.stop_and_wait("s", "nobody", timeout=5)
            assert outcomes == {"s": StopOutcome.REQUESTED, "nobody": StopOutcome.NOT_FOUND}
            assert ended.last_status == ExecutionStatus.ABORTED
            assert await client.stop_and_wait("nobody") == ({"nobody": StopOutcome.NOT_FOUND}, [])


async def test_a_blocking_client_stops_then_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_private_runtime_dir(tmp_path, monkeypatch)
    with trio.fail_after(10):
        async with served("unix") as srv:
            srv.host.start("s", SLEEP)
            await wait_until(lambda: (srv.host.session("s").location or "").endswith(":2"))

            async def ask() -> tuple[dict[str, StopOutcome], list[SessionInfo]]:
                async with connect_blocking(srv.listening.address) as client:
                    return await client.stop_and_wait("s", "nobody", timeout=5)

            outcomes, finished = await trio.to_thread.run_sync(lambda: run_blocking(ask()))
            assert outcomes == {"s": StopOutcome.REQUESTED, "nobody": StopOutcome.NOT_FOUND}
            assert [(i.id, i.last_status) for i in finished] == [("s", ExecutionStatus.ABORTED)]


async def test_a_bad_timeout_is_refused_before_anything_is_sent() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, _):
            frames = _frames_sent(client)
            with pytest.raises(LocalProtocolError, match="'timeout' must not be negative"):
                await client.stop_and_wait("a", timeout=-1)
            assert frames == []
            assert client._mux.framed.connection._lifecycle._requests == {}
            assert client._mux._inboxes == {}
