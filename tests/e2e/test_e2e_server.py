"""End to end over real sockets: several clients, stops, disconnects, shutdown, abuse.

Every scenario runs over a unix socket and over TCP on 127.0.0.1 (port 0).
"""

from __future__ import annotations

import socket
import struct
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from support.engine import NativeCall
from support.server import (
    TRANSPORTS,
    Served,
    encode,
    served,
    wait_state,
    wait_until,
)

import spe_host
from spe_host._model import ExecutionResult, OutputChunk
from spe_host.server import serve_tcp, serve_unix

pytestmark = pytest.mark.usefixtures("runtime")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_stop_from_another_client_aborts_a_busy_loop(transport: str) -> None:
    with trio.fail_after(20):
        async with (
            served(transport) as srv,
            srv.connect() as client1,
            srv.connect("operator") as client2,
            srv.connect() as client3,
        ):
            outcome: dict[str, ExecutionResult] = {}

            async def run_forever() -> None:
                outcome["A"] = await client1.execute("A", "while True: pass")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_forever)
                await wait_state(srv.host, "A", "running")

                # Client 3 keeps working in session B while A spins in its thread: A
                # never ends by itself, so these answers did not wait for it.
                for _ in range(5):
                    info = await client3.execute("B", "1 + 1")
                    assert (info.status, info.value) == ("completed", "2")
                assert srv.host.session("A").state == "running"

                assert await client2.stop("A") == {"A": "requested"}
            assert outcome["A"].status == "aborted"
            assert outcome["A"].error is not None
            assert "ScriptAborted" in outcome["A"].error
            [a] = await client2.sessions("A")
            assert (a.state, a.last_status) == ("idle", "aborted")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_client_stops_its_own_execution_over_the_same_connection(
    transport: str,
) -> None:
    with trio.fail_after(20):
        async with served(transport) as srv, srv.connect() as client:
            outcome: dict[str, ExecutionResult] = {}

            async def run_forever() -> None:
                outcome["A"] = await client.execute("A", "while True: pass")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_forever)
                await wait_state(srv.host, "A", "running")
                [a] = await client.sessions("A")
                assert a.state == "running"
                assert await client.stop("A") == {"A": "requested"}
            assert outcome["A"].status == "aborted"


SCRIPT_THAT_OUTLIVES_ITS_CLIENT = """\
print('before')
gate.wait()
for i in range(100):
    print('after', i)
try:
    input('more? ')
except EOFError as exc:
    print('eof:', exc)
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_after_a_disconnect_the_run_goes_on_and_nothing_is_lost(
    transport: str, gate: threading.Event
) -> None:
    with trio.fail_after(20):
        async with served(transport, host_options={"namespace": {"gate": gate}}) as srv:
            seen: list[OutputChunk] = []
            first_output = trio.Event()

            def on_output(event: OutputChunk) -> None:
                seen.append(event)
                # print() writes the text and the newline separately: wait for both.
                if "".join(e.text for e in seen) == "before\n":
                    first_output.set()

            async with srv.connect() as client1, trio.open_nursery() as nursery:
                nursery.start_soon(
                    partial(
                        client1.execute, "job", SCRIPT_THAT_OUTLIVES_ITS_CLIENT, on_output=on_output
                    )
                )
                await first_output.wait()
                nursery.cancel_scope.cancel()  # client 1 goes away mid-execution
            assert "".join(event.text for event in seen) == "before\n"
            last_seen = seen[-1].offset + len(seen[-1].text.encode())

            session = srv.host.session("job")
            assert session.state == "running"
            gate.set()
            await wait_until(lambda: session.last_status is not None)
            assert session.last_status == "completed"  # it ran to the end on its own
            end = session.output.end_offset

            async with srv.connect() as client2:
                received: list[OutputChunk] = []
                async with client2.subscribe("job", from_offset=last_seen) as events:
                    async for event in events:
                        if isinstance(event, OutputChunk):
                            received.append(event)
                        if events.offset >= end:
                            break
                assert received[0].offset == last_seen
                assert all(event.dropped == 0 for event in received)
                missing = "".join(event.text for event in received)
                expected = "".join(f"after {i}\n" for i in range(100))
                # Nobody was left to answer input(): it saw end-of-file.
                expected += "more? eof: EOF when reading a line\n"
                assert missing == expected
                info = await client2.receive("job")
                assert info.output == "before\n" + expected


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_two_hundred_abrupt_connections_leave_the_host_serving(
    transport: str, gate: threading.Event
) -> None:
    with trio.fail_after(30):
        async with served(transport, host_options={"namespace": {"gate": gate}}) as srv:
            srv.host.start("steady", "n = 0\nwhile not gate.wait(0.005):\n    n += 1\nprint('ok')")
            hello = encode({"type": "hello", "version": "1.0", "token": srv.token()})
            request = encode({"type": "list", "id": 1})
            all_open = trio.Event()
            opened = 0

            async def abuse(i: int) -> None:
                nonlocal opened
                stream = await srv.open_raw()
                kind = i % 5
                if kind == 1:
                    await stream.send_all(hello[:10])  # half a hello
                elif kind == 2:
                    await stream.send_all(
                        hello + b'{"type":"execute","id":1,"sess'
                    )  # half a request
                elif kind == 3:
                    await stream.send_all(hello + request)  # then never reads the answer
                elif kind == 4:
                    await stream.send_all(b"\xff\xfe not even json")
                opened += 1
                if opened == 200:
                    all_open.set()
                await all_open.wait()
                if transport == "tcp" and i % 2:
                    # SO_LINGER 0: close with a reset instead of a clean FIN.
                    stream.socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                stream.socket.close()

            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(abuse, i)

            async with srv.connect() as client:
                info = await client.execute("B", "6 * 7")
                assert (info.status, info.value) == ("completed", "42")
                [steady] = await client.sessions("steady")
                assert steady.state == "running"
                gate.set()
                await client.wait("steady")
                result = await client.receive("steady")
                assert (result.status, result.output) == ("completed", "ok\n")
            assert sorted(s.id for s in srv.host.sessions()) == ["B", "steady"]


async def _serve_until_cancelled(
    transport: str,
    host: spe_host.Host,
    scope: trio.CancelScope,
    exited: trio.Event,
    shutdown_timeout: float,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    serve_fn = serve_unix if transport == "unix" else serve_tcp
    try:
        with scope:
            await serve_fn(host, shutdown_timeout=shutdown_timeout, task_status=task_status)
    finally:
        exited.set()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_graceful_shutdown_reports_done_for_the_runs_its_owner_stopped(
    transport: str,
) -> None:
    # A listener never stops sessions; the host's owner does, then cancels the listener
    # (what `spe-host serve` does on SIGTERM), and every attached run reports its end.
    with trio.fail_after(20):
        async with (
            spe_host.open_host(idle_timeout=None, shutdown_timeout=2.0) as host,
            trio.open_nursery() as nursery,
        ):
            scope = trio.CancelScope()
            exited = trio.Event()
            # Far longer than the stop takes even on a loaded machine: reaching it would
            # mean the server waited its deadline out instead of seeing `done` written.
            deadline = 10.0
            listening = await nursery.start(
                _serve_until_cancelled, transport, host, scope, exited, deadline
            )
            srv = Served(host, listening, transport)
            host.start("background", "while True: pass")
            outcome: dict[str, ExecutionResult] = {}
            async with srv.connect() as client:

                async def run_forever() -> None:
                    outcome["A"] = await client.execute("A", "while True: pass")

                nursery.start_soon(run_forever)
                await wait_state(host, "A", "running")

                began = trio.current_time()
                host.stop("*")
                scope.cancel()
                await exited.wait()
                # The stop landed and `done` was written: no need to wait the deadline out.
                assert trio.current_time() - began < deadline

                await wait_until(lambda: "A" in outcome)  # `done` arrived before the close
                assert outcome["A"].status == "aborted"
                # Stopped by its owner too; the server does not wait for it (no client does).
                background = host.session("background")
                assert background.state in ("stopping", "idle")
                await host.wait("background")
                assert background.last_status == "aborted"
                with pytest.raises(spe_host.SpeError, match="closed"):
                    await client.sessions()
            if transport == "unix":
                assert not Path(listening.address.removeprefix("unix:")).exists()
            else:
                assert not any(path.exists() for path in listening.connection_files.values())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_shutdown_keeps_its_deadline_when_a_native_call_does_not_return(
    transport: str, gate: threading.Event, native_call: NativeCall
) -> None:
    # The server's deadline, and the host's own (far longer) one for its sessions.
    deadline, host_deadline = 0.3, 30.0
    with trio.fail_after(20):
        async with (
            spe_host.open_host(
                idle_timeout=None,
                shutdown_timeout=host_deadline,
                namespace={"native_call": native_call},
            ) as host,
            trio.open_nursery() as nursery,
        ):
            try:
                scope = trio.CancelScope()
                exited = trio.Event()
                listening = await nursery.start(
                    _serve_until_cancelled, transport, host, scope, exited, deadline
                )
                srv = Served(host, listening, transport)
                failures: list[object] = []
                async with srv.connect() as client:

                    async def run_stuck() -> None:
                        try:
                            failures.append(await client.execute("stuck", "native_call()"))
                        except spe_host.SpeError as exc:
                            failures.append(exc)

                    nursery.start_soon(run_stuck)
                    # Inside the call, not just about to make it: a stop landing at the
                    # check before it would end the run with a `done` instead.
                    await native_call.wait_entered()
                    began = trio.current_time()
                    host.stop("stuck")  # the owner stops it, as `spe-host serve` does
                    scope.cancel()
                    # The call never returns while the gate is shut, so serve_* exits
                    # only by keeping its deadline; it waits that long first, in case
                    # the execute can still report its end. The upper bound is loose
                    # (a loaded machine) but far below the host's own deadline.
                    await exited.wait()
                    assert deadline <= trio.current_time() - began < host_deadline / 3
                    await wait_until(lambda: failures)
                    assert isinstance(failures[0], spe_host.SpeError), failures
                    assert f"the host at {listening.address} closed the connection" in str(
                        failures[0]
                    )
                    assert host.session("stuck").state == "stopping"  # still in the call
            finally:
                gate.set()  # let the native call return so the host can close
