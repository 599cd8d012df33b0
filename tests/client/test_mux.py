"""Request multiplexing over one connection, against a scripted host (support.client):
routing of interleaved answers, and every pending request failing when it ends."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.client import ScriptedHost, execution_result, scripted, session_info

from spe_host._errors import (
    ConnectionLost,
    LocalProtocolError,
    RemoteProtocolError,
    SessionNotFound,
)
from spe_host._model import SessionState, StopOutcome
from spe_host.client import Client
from spe_host.wire import (
    Done,
    Error,
    Execute,
    InputReply,
    InputRequest,
    ListSessions,
    Message,
    Output,
    Progress,
    Result,
    Stop,
    Subscribe,
    Wait,
    Watch,
    to_json,
)

# --- routing --------------------------------------------------------------------------------


async def test_interleaved_answers_reach_the_requests_they_belong_to() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            shown: dict[str, list[str]] = {"a": [], "b": []}
            results: dict[str, object] = {}

            async def run(session: str) -> None:
                results[session] = await client.execute(
                    session, "...", on_output=lambda e: shown[session].append(e.text)
                )

            async def listing() -> None:
                results["list"] = await client.sessions("a*")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, "a")
                nursery.start_soon(run, "b")
                nursery.start_soon(listing)
                requests = {}
                for _ in range(3):
                    message = await host.next()
                    assert isinstance(message, Execute | ListSessions)
                    key = message.session if isinstance(message, Execute) else "list"
                    requests[key] = message.id
                a, b, listed = requests["a"], requests["b"], requests["list"]
                assert len({a, b, listed}) == 3
                await host.send(
                    Output(id=b, session="b", offset=0, text="b1 "),
                    Output(id=a, session="a", offset=0, text="a1 "),
                    Result(id=listed, value=[to_json(session_info("a", SessionState.IDLE))]),
                    Progress(id=a, session="a", percent=50.0),
                    Output(id=b, session="b", offset=3, text="b2"),
                    Done(id=a, result=execution_result("a", "a1 ")),
                    Output(id=b, session="b", offset=5, text=" b3"),
                    Done(id=b, result=execution_result("b", "b1 b2 b3")),
                )
            assert shown == {"a": ["a1 "], "b": ["b1 ", "b2", " b3"]}
            assert results["a"] == execution_result("a", "a1 ")
            assert results["b"] == execution_result("b", "b1 b2 b3")
            assert results["list"] == [session_info("a", SessionState.IDLE)]


async def test_an_error_answer_is_raised_as_its_class_and_the_connection_goes_on() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            async with trio.open_nursery() as nursery:

                async def ask() -> None:
                    with pytest.raises(SessionNotFound, match="no session 'x'"):
                        await client.receive("x")

                nursery.start_soon(ask)
                request = await host.next()
                await host.send(Error(id=request.id, code="not_found", message="no session 'x'"))
            assert not client.closed


async def test_an_execute_answered_by_an_error_raises_it_with_or_without_output_first() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            for output in (False, True):
                seen: list[str] = []
                async with trio.open_nursery() as nursery:

                    async def run() -> None:
                        with pytest.raises(SessionNotFound, match="no session 'x'"):
                            await client.execute("x", "1", on_output=lambda c: seen.append(c.text))

                    nursery.start_soon(run)
                    request = await host.next()
                    assert isinstance(request, Execute)
                    if output:
                        await host.send(Output(id=request.id, session="x", offset=0, text="a"))
                    await host.send(
                        Error(id=request.id, code="not_found", message="no session 'x'")
                    )
                assert seen == (["a"] if output else [])
            assert not client.closed


async def test_an_execute_cancelled_while_waiting_drops_its_late_done() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.execute, "s", "1")
                request = await host.next()
                nursery.cancel_scope.cancel()
            # The host runs it to its end; nobody waits for that answer any more.
            await host.send(Done(id=request.id, result=execution_result("s", "")))
            async with trio.open_nursery() as nursery:

                async def run() -> None:
                    result = await client.execute("s", "2")
                    assert result.output == "two"

                nursery.start_soon(run)
                second = await host.next()
                await host.send(Done(id=second.id, result=execution_result("s", "two")))
            assert not client.closed


async def test_an_execute_that_cannot_be_sent_sends_nothing_and_routes_nothing() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            with pytest.raises(LocalProtocolError, match="'session' field"):
                await client.execute(7, "1")  # type: ignore[arg-type]
            assert client._mux._inboxes == {}
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.sessions)
                # The next message the host reads is this one: nothing was sent before.
                listing = await host.next()
                assert isinstance(listing, ListSessions)
                await host.send(Result(id=listing.id, value=[]))


async def test_stop_returns_stop_outcomes() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            got: dict[str, dict[str, StopOutcome]] = {}

            async def stop() -> None:
                got["outcomes"] = await client.stop("a", "b*", "c")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop)
                request = await host.next()
                assert isinstance(request, Stop)
                assert request.targets == ["a", "b*", "c"]
                await host.send(
                    Result(
                        id=request.id,
                        value={"a": "requested", "b*": "not_found", "c": "already_stopping"},
                    )
                )
            outcomes = got["outcomes"]
            assert outcomes == {
                "a": StopOutcome.REQUESTED,
                "b*": StopOutcome.NOT_FOUND,
                "c": StopOutcome.ALREADY_STOPPING,
            }
            assert all(type(value) is StopOutcome for value in outcomes.values())

            async with trio.open_nursery() as nursery:

                async def strange() -> None:
                    with pytest.raises(RemoteProtocolError, match="not an object of outcomes"):
                        await client.stop("a")

                nursery.start_soon(strange)
                request = await host.next()
                await host.send(Result(id=request.id, value={"a": "exploded"}))


async def test_an_input_reply_after_the_execute_ended_is_dropped() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            asked = trio.Event()
            release = trio.Event()

            async def answer(prompt: str) -> str:
                asked.set()
                # Shielded: the end of the execute cancels the prompt; this one answers
                # anyway, late, as a callback that ignores cancellation would.
                with trio.CancelScope(shield=True):
                    await release.wait()
                return "late"

            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: client.execute("s", "input()", on_input=answer))
                request = await host.next()
                await host.send(InputRequest(id=request.id, session="s", prompt="? "))
                await asked.wait()
                await host.send(Done(id=request.id, result=execution_result("s", "? ")))
                await trio.testing.wait_all_tasks_blocked()
                release.set()
            # Nothing was sent for the ended execute: the next message is the next request.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.sessions)
                listing = await host.next()
                assert isinstance(listing, ListSessions)
                await host.send(Result(id=listing.id, value=[]))


async def test_an_input_request_is_answered_with_the_callbacks_line() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host), trio.open_nursery() as nursery:
            nursery.start_soon(lambda: client.execute("s", "input()", on_input=str.upper))
            request = await host.next()
            await host.send(InputRequest(id=request.id, session="s", prompt="name? "))
            reply = await host.next()
            assert reply == InputReply(id=request.id, text="NAME? ")
            await host.send(Done(id=request.id, result=execution_result("s", "name? ")))


# --- the connection ends --------------------------------------------------------------------


async def _pending_requests_fail(client: Client, host: ScriptedHost, end: object) -> list[str]:
    """Start four requests, let the host read them, end the connection; the sentences."""
    failures: list[BaseException] = []

    async def follow(request: object) -> None:
        try:
            if request == "execute":
                await client.execute("s", "1")
            elif request == "wait":
                await client.wait("s")
            elif request == "subscribe":
                async with client.subscribe("s") as events:
                    async for _ in events:
                        pass
            else:
                async with client.watch() as changes:
                    async for _ in changes:
                        pass
        except ConnectionLost as exc:
            failures.append(exc)

    async with trio.open_nursery() as nursery:
        for request in ("execute", "wait", "subscribe", "watch"):
            nursery.start_soon(follow, request)
        kinds = {type(await host.next()) for _ in range(4)}
        assert kinds == {Execute, Wait, Subscribe, Watch}
        if isinstance(end, Message):
            await host.send(end)
        elif end == "hang up":
            await host.stream.aclose()
        else:
            await host.stream.send_all(b'{"type": "result", "id": 999, "value": null}\n')
    assert len(failures) == 4
    # A fresh exception per request: one object raised in several tasks would pile up
    # their tracebacks.
    assert len({id(exc) for exc in failures}) == 4
    assert client.closed
    with pytest.raises(ConnectionLost) as later:
        await client.sessions()
    assert str(later.value) == str(failures[0])
    return [str(exc) for exc in failures]


async def test_every_pending_request_fails_with_connection_lost_when_the_host_hangs_up() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            sentences = await _pending_requests_fail(client, host, "hang up")
            assert set(sentences) == {
                "the host at memory closed the connection; connect again once it is back"
            }


async def test_a_connection_error_from_the_host_is_the_sentence_of_every_failure() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            goodbye = Error(id=None, code="internal", message="the host is shutting down")
            sentences = await _pending_requests_fail(client, host, goodbye)
            assert set(sentences) == {
                "the host at memory closed the connection: the host is shutting down"
            }


async def test_an_answer_for_no_request_in_flight_breaks_the_connection() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            [sentence] = set(await _pending_requests_fail(client, host, "stray answer"))
            assert sentence.startswith("the connection to memory broke: ")
            assert "999" in sentence


async def test_leaving_the_block_fails_requests_still_waiting() -> None:
    with trio.fail_after(5):
        failure: list[BaseException] = []
        async with trio.open_nursery() as nursery, scripted() as (client, host):

            async def wait_forever() -> None:
                try:
                    await client.wait("s")
                except ConnectionLost as exc:
                    failure.append(exc)

            nursery.start_soon(wait_forever)
            assert isinstance(await host.next(), Wait)
        assert [str(exc) for exc in failure] == ["the connection was closed by this client"]
