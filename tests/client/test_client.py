"""The client library against a real server: the Host API, remotely.

What a request does runs in memory (``served("memory")``: a real Client and a real
Host over :func:`spe_host.testing.open_test_client`), with one real-socket variant
kept where it is the only end-to-end check of that path (input pairing over TCP;
progress, many requests in flight and frame-sized output over a unix socket). How a
client finds a host, and what it sees when the connection ends, runs on real sockets.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from support.server import served, wait_state

import spe_host
from spe_host._errors import (
    RemoteProtocolError,
    SessionBusy,
    SessionNotFound,
    SpeError,
)
from spe_host._model import ExecutionResult, OutputChunk, ProgressReport
from spe_host.client import _connect, connect
from spe_host.wire import (
    PROTOCOL_VERSION,
    Connection,
    Hello,
    Message,
    Welcome,
)

pytestmark = pytest.mark.usefixtures("runtime")


# --- execute: output, input, progress -----------------------------------------------------


@pytest.mark.parametrize("transport", ["memory", "tcp"])
async def test_input_is_asked_of_the_client_that_submitted_the_execution(transport: str) -> None:
    with trio.fail_after(10):
        async with served(transport) as srv, srv.connect() as client:
            prompts: list[str] = []
            shown: list[str] = []

            async def ask(prompt: str) -> str:
                # Everything printed before the prompt has been delivered already.
                assert "".join(shown) == "hello\nName: "
                prompts.append(prompt)
                return "Ada"

            info = await client.execute(
                "s",
                "print('hello')\nname = input('Name: ')\nprint('hi', name)",
                on_input=ask,
                on_output=lambda event: shown.append(event.text),
            )
            assert prompts == ["Name: "]
            assert info.status == "completed"
            assert info.output == "hello\nName: hi Ada\n"
            assert "".join(shown) == info.output

            # A plain function works too, and None means end-of-file.
            script = "try:\n    input('? ')\nexcept EOFError:\n    print('eof')"
            info = await client.execute("s", script, on_input=lambda prompt: None)
            assert info.output == "? eof\n"
            info = await client.execute("s", script)  # no callback at all
            assert info.output == "? eof\n"


async def test_a_failing_input_callback_answers_end_of_file_and_raises() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:

            def broken(prompt: str) -> str:
                raise KeyError(prompt)

            script = "try:\n    input('? ')\nexcept EOFError:\n    print('eof')"
            with pytest.raises(KeyError, match=r"\?"):
                await client.execute("s", script, on_input=broken)
            assert len(await client.wait("s")) == 1
            # The run went on to its end (its result went to the execute, which the
            # client had given up on: the session's output shows it).
            assert srv.host.session("s").output.text_since(0) == "? eof\n"


@pytest.mark.parametrize("transport", ["memory", "tcp"])
async def test_a_stop_while_waiting_for_input_aborts_at_once(transport: str) -> None:
    with trio.fail_after(10):
        async with served(transport) as srv, srv.connect() as client:
            asked = trio.Event()
            abandoned = trio.Event()
            outcome: dict[str, ExecutionResult] = {}

            async def never_answer(prompt: str) -> str:
                asked.set()
                try:
                    await trio.sleep_forever()
                finally:
                    abandoned.set()

            async def run() -> None:
                outcome["s"] = await client.execute(
                    "s", "input('waiting: ')\nprint('not reached')", on_input=never_answer
                )

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run)
                await asked.wait()
                began = trio.current_time()
                assert await client.stop("s") == {"s": "requested"}
            assert trio.current_time() - began < 1.0
            assert outcome["s"].status == "aborted"
            assert "not reached" not in outcome["s"].output
            assert abandoned.is_set()  # the prompt was taken down


@pytest.mark.parametrize("transport", ["memory", "unix"])
async def test_progress_reaches_execute_and_subscribers(
    transport: str, gate: threading.Event
) -> None:
    with trio.fail_after(10):
        async with (
            served(transport, host_options={"namespace": {"gate": gate}}) as srv,
            srv.connect() as client,
            srv.connect() as watcher,
        ):
            reports: list[ProgressReport] = []
            info = await client.execute(
                "job",
                "spe.progress(50, 'half')\nspe.progress(100, 'done')",
                on_progress=reports.append,
            )
            assert info.status == "completed"
            assert [(p.percent, p.message) for p in reports][-1] == (100.0, "done")
            assert all(p.session == "job" for p in reports)

            srv.host.start("job", "spe.progress(10, 'starting')\ngate.wait()")
            await wait_state(srv.host, "job", "running")
            async with watcher.subscribe("job") as events:
                async for event in events:
                    if isinstance(event, ProgressReport) and event.percent == 10.0:
                        break
            [job] = await watcher.sessions("job")
            assert (job.progress_percent, job.progress_message) == (10.0, "starting")
            gate.set()
            await watcher.wait("job")


# --- subscribe ----------------------------------------------------------------------------


async def test_subscribe_replays_reports_drops_and_streams_live() -> None:
    with trio.fail_after(10):
        async with (
            served("memory", host_options={"output_limit": 1024}) as srv,
            srv.connect() as client,
            srv.connect() as other,
        ):
            await client.execute("s", "print('x' * 3000)")
            end = srv.host.session("s").output.end_offset
            assert end == 3001
            events: list[OutputChunk] = []
            async with client.subscribe("s") as stream:
                async for event in stream:
                    assert isinstance(event, OutputChunk)
                    events.append(event)
                    if stream.offset == end:
                        break
                # The buffer kept only its tail: the first chunk says what is gone.
                assert events[0].dropped == events[0].offset > 0
                assert "".join(e.text for e in events) == "x" * (end - events[0].offset - 1) + "\n"

                # Live: output of a later execution (from another connection) follows.
                await other.execute("s", "print('live')")
                live = ""
                async for event in stream:
                    assert isinstance(event, OutputChunk)
                    assert (event.offset, event.dropped) == (end + len(live), 0)
                    live += event.text
                    if live.endswith("\n"):
                        break
                assert live == "live\n"
            # Leaving the block cancelled the stream; the connection goes on.
            assert [s.id for s in await client.sessions()] == ["s"]

            # Past the end starts at the end; removing the session ends the stream.
            async with client.subscribe("s", from_offset=10**9) as stream:
                await other.execute("s", "spe.progress(1)\nprint('tail')")
                tail = ""
                async for event in stream:
                    if isinstance(event, OutputChunk):
                        tail += event.text
                        if tail.endswith("\n"):
                            break
                assert tail == "tail\n"
                assert await other.remove("s") == ["s"]
                async for event in stream:
                    raise AssertionError(f"unexpected {event}")
                assert stream.ended


# --- complete -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["jedi", "rlcompleter"])
async def test_complete_reads_the_live_namespace(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "rlcompleter":
        monkeypatch.setitem(sys.modules, "jedi", None)  # `import jedi` now fails
    with trio.fail_after(30):
        async with served("memory") as srv, srv.connect() as client:
            await client.execute(
                "s",
                "alpha_value = 1\nclass Thing:\n    def method_one(self): pass\nthing = Thing()",
            )
            found = await client.complete("s", "alpha_v")
            assert [(c.text, c.start) for c in found] == [("alpha_value", 0)]

            found = await client.complete("s", "x = thing.method_o + 1", cursor=18)
            assert [(c.text, c.start, c.kind) for c in found] == [("method_one", 10, "function")]

            names = [c.text for c in await client.complete("s", "__sp")]
            assert not [name for name in names if name.startswith("__spe_")]
            assert await client.complete("s", "zzz_nothing") == []
            # Before its first statement a session completes from the host's names (#14).
            assert [c.text for c in await client.complete("nope", "alpha_v")] == []


# --- the rest of the cmdlet family, and errors ----------------------------------------------


async def test_the_cmdlet_family_and_its_errors(gate: threading.Event, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('from a file', n)\n")
    with trio.fail_after(10):
        async with (
            served("memory", host_options={"namespace": {"gate": gate}}) as srv,
            srv.connect() as client,
        ):
            info = await client.start("files", path=str(script), args={"n": 3}, name="a file")
            assert (info.id, info.name, info.state) == ("files", "a file", "running")
            [done] = await client.wait("files")
            assert done.last_status == "completed"
            result = await client.receive("files")
            assert result.output == "from a file 3\n"
            with pytest.raises(SessionNotFound, match="no result"):
                await client.receive("files")

            fresh = await client.start(code="1")
            assert fresh.autodispose
            await client.wait(fresh.id)
            await client.receive(fresh.id)
            assert await client.sessions(fresh.id) == []  # disposed once received

            busy = await client.start("busy", "gate.wait()")
            assert busy.state == "running"
            with pytest.raises(SessionBusy):
                await client.execute("busy", "1")
            with pytest.raises(SessionBusy):
                await client.start("busy", "1")
            with pytest.raises(SessionBusy):
                await client.receive("busy")
            with pytest.raises(SessionBusy):
                await client.remove("busy")
            assert await client.wait("busy", timeout=0.05) == []
            assert [s.id for s in await client.sessions(state="running")] == ["busy"]
            assert [s.id for s in await client.sessions("b*", "f*")] == ["files", "busy"]
            assert await client.stop("busy", "nope*") == {
                "busy": "requested",
                "nope*": "not_found",
            }
            gate.set()
            assert await client.remove("busy", force=True) == ["busy"]

            with pytest.raises(SessionNotFound):
                await client.receive("nope")
            with pytest.raises(SessionNotFound):
                await client.wait("nope")
            with pytest.raises(SessionNotFound):
                await client.remove("nope")
            with pytest.raises(SessionNotFound):
                async with client.subscribe("nope") as stream:
                    await stream.__anext__()
            with pytest.raises(RemoteProtocolError, match="cannot read the script"):
                await client.start("x", path=str(tmp_path / "missing.py"))
            with pytest.raises(ValueError, match="exactly one"):
                await client.start("x")
            with pytest.raises(ValueError, match="at least one"):
                await client.stop()
            # Every refusal left the connection usable.
            assert (await client.execute("ok", "1 + 1")).value == "2"


async def test_a_slow_output_callback_loses_no_output_of_its_execute() -> None:
    # Many more output events than a stream keeps for a reader that does not read:
    # an execute's own output is never folded away, however slow its callback.
    with trio.fail_after(20):
        async with served("memory") as srv, srv.connect() as client:
            released = trio.Event()
            shown: list[OutputChunk] = []

            async def slow(chunk: OutputChunk) -> None:
                shown.append(chunk)
                await released.wait()

            async def release_once_the_run_is_over() -> None:
                await wait_state(srv.host, "s", "running")
                await srv.host.wait("s")
                released.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(release_once_the_run_is_over)
                result = await client.execute(
                    "s",
                    # flush=True: each line goes over at once, not at the next timed flush.
                    "import time\n"
                    "for i in range(600):\n    print(i, flush=True)\n    time.sleep(0.0005)",
                    on_output=slow,
                )
            assert len(shown) > 256  # more events than a stream's backlog holds
            assert all(chunk.dropped == 0 for chunk in shown)
            assert "".join(chunk.text for chunk in shown) == result.output
            assert result.output == "".join(f"{i}\n" for i in range(600))


@pytest.mark.parametrize("transport", ["memory", "unix"])
async def test_many_requests_in_flight_on_one_client(transport: str) -> None:
    with trio.fail_after(20):
        async with served(transport) as srv, srv.connect() as client:
            values: dict[int, str | None] = {}

            async def run(i: int) -> None:
                info = await client.execute(f"s{i}", f"print({i})\n{i} * 2")
                assert info.output == f"{i}\n"
                values[i] = info.value

            async with trio.open_nursery() as nursery:
                for i in range(40):
                    nursery.start_soon(run, i)
                    nursery.start_soon(client.sessions)
            assert values == {i: str(i * 2) for i in range(40)}


@pytest.mark.parametrize("transport", ["memory", "unix"])
async def test_a_large_output_is_chunked_and_the_done_trimmed_to_fit_a_frame(
    transport: str,
) -> None:
    with trio.fail_after(20):
        async with (
            served(transport, max_frame=16384) as srv,
            srv.connect(max_frame=16384) as client,
        ):
            shown: list[OutputChunk] = []
            info = await client.execute("big", "print('y' * 100000)", on_output=shown.append)
            assert "".join(event.text for event in shown) == "y" * 100000 + "\n"
            assert len(shown) > 1
            assert info.output.startswith("[... ")
            assert info.output.endswith("yyy\n")
            assert len(info.output.encode()) < 16384
            # A receive's answer is trimmed the same way (the execute's result went to
            # the execute: run it again in the background to receive it).
            await client.start("big", "print('y' * 100000)")
            await client.wait("big")
            received = await client.receive("big")
            assert received.output.startswith("[... ")
            assert received.output.endswith("yyy\n")
            assert len(received.output.encode()) < 16384


# --- connect ------------------------------------------------------------------------------


async def test_connect_finds_hosts_and_says_why_it_cannot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with trio.fail_after(10):
        with pytest.raises(SpeError, match="no host named 'nowhere'"):
            async with connect("nowhere"):
                pass
        with pytest.raises(SpeError, match="cannot connect to unix:"):
            async with connect(f"unix:{tmp_path / 'absent.sock'}"):
                pass
        async with served("unix") as srv:
            monkeypatch.setenv("SPE_HOST", srv.listening.address)
            async with connect() as client:
                assert (client.address, client.role, client.server) == (
                    srv.listening.address,
                    "admin",
                    "default",
                )
                assert client.pid > 0
            monkeypatch.delenv("SPE_HOST")
            async with connect() as client:  # the host named "default", by its socket
                assert client.address == srv.listening.address

        # Something listens but never speaks the protocol.
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        try:
            with pytest.raises(SpeError, match="did not complete the handshake"):
                async with connect(f"tcp://127.0.0.1:{port}", token="t", timeout=0.05):
                    pass
        finally:
            for listener in listeners:
                await listener.aclose()


async def test_a_request_after_the_host_went_away_fails_with_a_sentence() -> None:
    with trio.fail_after(10):
        async with spe_host.open_host() as host, trio.open_nursery() as nursery:
            from spe_host.server import serve_unix

            scope = trio.CancelScope()

            async def run(task_status: trio.TaskStatus[str]) -> None:
                with scope:
                    await serve_unix(host, task_status=task_status)

            listening = await nursery.start(run)
            async with connect(listening.address) as client:
                scope.cancel()
                failure: SpeError | None = None
                while failure is None:  # until the close reaches us
                    try:
                        await client.sessions()
                    except SpeError as exc:
                        failure = exc
                assert "closed the connection" in str(failure)
                assert client.closed


# --- the connection ends --------------------------------------------------------------------


async def _fake_host(
    listener: trio.SocketListener,
    hang_up_after: int,
    reset: bool,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Welcome one client, read ``hang_up_after`` requests, answer none, and hang up."""
    task_status.started()
    stream = await listener.accept()
    conn = Connection("server")

    async def next_message() -> Message:
        while True:
            event = conn.next_event()
            if isinstance(event, Message):
                return event
            data = await stream.receive_some(65536)
            assert data, "the client hung up first"
            conn.receive_data(data)

    assert isinstance(await next_message(), Hello)
    welcome = Welcome(version=PROTOCOL_VERSION, server="fake", role="admin", pid=1)
    await stream.send_all(conn.send(welcome))
    for _ in range(hang_up_after):
        await next_message()
    if reset:
        # SO_LINGER 0: the close sends a reset instead of a clean FIN.
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


@pytest.mark.parametrize("ending", ["unix", "tcp", "tcp-reset"])
async def test_every_pending_request_fails_with_a_sentence_when_the_host_hangs_up(
    ending: str, tmp_path: Path
) -> None:
    async def until_it_ends(events: Any) -> None:
        async with events as stream:
            async for _ in stream:
                pass

    with trio.fail_after(10):
        if ending == "unix":
            sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            await sock.bind(str(tmp_path / "fake.sock"))
            sock.listen()
            listener = trio.SocketListener(sock)
            address = f"unix:{tmp_path / 'fake.sock'}"
        else:
            [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
            address = f"tcp://127.0.0.1:{listener.socket.getsockname()[1]}"
        pending: dict[str, Callable[[], Awaitable[object]]] = {}
        ended: dict[str, BaseException | None] = {}

        async def follow(name: str) -> None:
            try:
                await pending[name]()
            except SpeError as exc:
                ended[name] = exc
            else:
                ended[name] = None

        async with trio.open_nursery() as nursery, listener:
            await nursery.start(_fake_host, listener, 3, ending == "tcp-reset")
            async with connect(address, token="t") as client:
                pending = {
                    "execute": lambda: client.execute("s", "1"),
                    "wait": lambda: client.wait("s"),
                    "subscribe": lambda: until_it_ends(client.subscribe("s")),
                }
                # The host reads all three requests, answers none, and hangs up: each
                # must end with the reason instead of waiting for an answer forever.
                async with trio.open_nursery() as requests:
                    for name in pending:
                        requests.start_soon(follow, name)
                assert set(ended) == set(pending)
                for name, exc in ended.items():
                    assert exc is not None, f"{name} returned after the host hung up"
                    assert f"the host at {address} closed the connection" in str(exc), name
                assert client.closed
                with pytest.raises(SpeError, match="closed the connection"):
                    await client.sessions()


class _HungUpStream(trio.abc.Stream):
    """A connection whose writes fail as after a reset, and whose reads never end."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        raise trio.BrokenResourceError("[Errno 32] Broken pipe")

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_a_request_that_meets_a_closed_connection_first_fails_with_the_same_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A request queued after the host closed can reach the socket (EPIPE) before the
    # reader sees the end of the stream; it must not wait, and it says the same.
    async def fake_open(*args: object, **kwargs: object) -> Any:
        proto = Connection("client")
        proto.send(Hello(version=PROTOCOL_VERSION, token=None, client="test"))
        welcome = Welcome(version=PROTOCOL_VERSION, server="fake", role="admin", pid=1)
        proto.receive_data(Connection("server").send(welcome))
        assert proto.next_event() == welcome
        return _HungUpStream(), proto, welcome

    monkeypatch.setattr(_connect, "_open", fake_open)
    with trio.fail_after(10):
        async with connect("unix:/nonexistent/fake.sock") as client:
            with pytest.raises(SpeError, match=r"^the host at unix:\S+ closed the connection"):
                await client.sessions()
            assert client.closed
            with pytest.raises(SpeError, match="closed the connection"):
                await client.execute("s", "1")
