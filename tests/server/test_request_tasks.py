"""Tasks per request (#15): a stop is answered by the connection's reader itself.

A stop never waits, so the reader handles it and answers it without a task of its
own - one scheduling pass sooner, which counts while a session spins - and it still
lands while an ``execute`` of the same connection runs. An execute costs its request
task (which forwards the run's output too) and the run's own task, and nothing more.
"""

from __future__ import annotations

import trio
import trio.testing
from support.server import encode, read_frames, served, wait_state

from spe_host import ExecutionStatus, OutputChunk, StopOutcome


class _Spawned(trio.abc.Instrument):
    """Counts the tasks spawned while it is on."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.names.append(task.name)


async def test_a_stop_is_answered_without_a_task_and_lands_beside_its_connections_execute() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.execute("s", "import trio")
            outcome: list[ExecutionStatus] = []

            async def run() -> None:
                result = await client.execute("s", "await trio.sleep(100)")
                outcome.append(result.status)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run)
                await wait_state(srv.host, "s", "running")
                await trio.testing.wait_all_tasks_blocked()
                spawned = _Spawned()
                trio.lowlevel.add_instrument(spawned)
                try:
                    # The same connection as the execute it stops.
                    assert await client.stop("s") == {"s": StopOutcome.REQUESTED}
                finally:
                    trio.lowlevel.remove_instrument(spawned)
                assert spawned.names == []
            assert outcome == [ExecutionStatus.ABORTED]
            # Errors still answer: the connection goes on after a stop of nothing.
            assert await client.stop("nothing-here") == {"nothing-here": StopOutcome.NOT_FOUND}
            assert (await client.execute("s", "1+1")).value == "2"


async def test_an_execute_spawns_its_request_and_its_run_and_still_forwards_output() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.execute("s", "1+1")  # the session and its thread exist
            spawned = _Spawned()
            trio.lowlevel.add_instrument(spawned)
            try:
                result = await client.execute("s", "print('out')\n2+2")
            finally:
                trio.lowlevel.remove_instrument(spawned)
            assert (result.value, result.output) == ("4", "out\n")
            assert sorted(spawned.names) == sorted(
                [
                    "spe_host.server._requests.Requests.run",
                    "spe session s",
                ]
            )


async def test_the_request_forwards_output_while_its_run_lasts() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            chunks: list[str] = []
            printed = trio.Event()

            def on_output(chunk: OutputChunk) -> None:
                chunks.append(chunk.text)
                printed.set()

            async def run() -> None:
                result = await client.execute(
                    "s", "import trio\nprint('first')\nawait trio.sleep(100)", on_output=on_output
                )
                assert result.status is ExecutionStatus.ABORTED

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run)
                await printed.wait()
                # Forwarded before the run ended, by the request's task alone.
                assert srv.host.session("s").state.value == "running"
                assert await client.stop("s") == {"s": StopOutcome.REQUESTED}
            assert chunks == ["first\n"]


async def test_a_stop_in_the_same_read_as_its_execute_stops_that_execute() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv:
            stream, _ = await srv.raw_hello()
            # One write: the server reads both frames at once, the stop right after
            # the execute it targets, before the execute's task has run.
            await stream.send_all(
                encode(
                    {"type": "execute", "id": 1, "session": "s", "code": "while True:\n    pass"}
                )
                + encode({"type": "stop", "id": 2, "targets": ["s"]})
            )
            frames = {frame["id"]: frame for frame in await read_frames(stream, count=2)}
            assert frames[2]["value"] == {"s": "requested"}
            assert (frames[1]["type"], frames[1]["result"]["status"]) == ("done", "aborted")
