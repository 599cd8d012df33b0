"""The client's streams (watch, subscribe) against a scripted host (support.client)."""

from __future__ import annotations

import trio
import trio.testing
from support.client import scripted, session_info

from spe_host._model import OutputChunk, SessionState, StateChange
from spe_host.client._inbox import STREAM_BACKLOG
from spe_host.wire import Cancel, ListSessions, Output, Result, StateChanged, Watch


async def test_watch_yields_state_changes_until_it_is_cancelled() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            seen: list[StateChange] = []

            async def watch() -> None:
                async with client.watch("job*") as changes:
                    async for change in changes:
                        seen.append(change)
                        if change.session.state == SessionState.IDLE:
                            break

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                request = await host.next()
                assert isinstance(request, Watch)
                assert request.patterns == ["job*"]
                await host.send(
                    StateChanged(
                        id=request.id,
                        session=session_info("job1", SessionState.RUNNING),
                        previous=SessionState.IDLE,
                    ),
                    StateChanged(
                        id=request.id,
                        session=session_info("job1", SessionState.IDLE),
                        previous=SessionState.RUNNING,
                    ),
                )
                cancel = await host.next()
                assert isinstance(cancel, Cancel)
                assert cancel.target == request.id
                # The cancel is answered, then the watch ends with its null result.
                await host.send(Result(id=cancel.id, value=True), Result(id=request.id, value=None))
            assert seen == [
                StateChange(
                    session=session_info("job1", SessionState.RUNNING), previous=SessionState.IDLE
                ),
                StateChange(
                    session=session_info("job1", SessionState.IDLE), previous=SessionState.RUNNING
                ),
            ]
            # The connection goes on, and the host's lifecycle agrees nothing is in flight.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.sessions)
                listing = await host.next()
                await host.send(Result(id=listing.id, value=[]))
            assert host.conn.in_flight == set()


async def test_a_watch_the_host_ends_stops_iterating() -> None:
    with trio.fail_after(5):
        async with scripted() as (client, host):
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    async with client.watch() as changes:
                        assert [change async for change in changes] == []
                        assert changes.ended

                nursery.start_soon(watch)
                request = await host.next()
                await host.send(Result(id=request.id, value=None))
            # It ended by itself: no cancel was sent; the next message is a new request.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.sessions)
                listing = await host.next()
                assert isinstance(listing, ListSessions)
                await host.send(Result(id=listing.id, value=[]))


async def test_a_subscriber_that_stops_reading_stalls_no_other_request() -> None:
    with trio.fail_after(10):
        async with scripted() as (client, host):
            async with client.subscribe("s") as events:
                subscribe = await host.next()
                chunk = "x" * 10
                # Far more than the backlog: the reader must not wait for this consumer.
                await host.send(
                    *(
                        Output(id=subscribe.id, session="s", offset=i * 10, text=chunk)
                        for i in range(1000)
                    )
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.sessions)
                    listing = await host.next()
                    await host.send(Result(id=listing.id, value=[]))
                # What the subscriber did not read in time is reported as dropped, on
                # the next chunk it does read.
                await host.send(Output(id=subscribe.id, session="s", offset=10_000, text="end"))
                texts: list[OutputChunk] = []
                async for event in events:
                    assert isinstance(event, OutputChunk)
                    texts.append(event)
                    if events.offset == 10_003:
                        break
                assert len(texts) == STREAM_BACKLOG + 1
                assert texts[-1] == OutputChunk(
                    session="s",
                    offset=10_000,
                    text="end",
                    dropped=10_000 - 10 * STREAM_BACKLOG,
                )
            cancel = await host.next()
            assert isinstance(cancel, Cancel)
