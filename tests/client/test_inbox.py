"""A request's inbox: never blocks the reader, and folds what a slow reader misses."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.client import session_info

from spe_host._errors import ConnectionLost
from spe_host._model import SessionState
from spe_host.client._inbox import Inbox
from spe_host.wire import Done, InputRequest, Output, Progress, Result, StateChanged


async def _drain(inbox: Inbox) -> list[object]:
    events: list[object] = []
    while True:
        event = await inbox.get()
        events.append(event)
        if isinstance(event, Done | Result):
            return events


async def test_output_past_the_backlog_is_reported_as_dropped_on_the_next_chunk() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1, backlog=2)
        for i in range(5):
            inbox.put(Output(id=1, session="s", offset=i * 4, text="abcd"))
        assert await inbox.get() == Output(id=1, session="s", offset=0, text="abcd")
        assert await inbox.get() == Output(id=1, session="s", offset=4, text="abcd")
        # The host had dropped 3 bytes itself before this chunk: both losses add up.
        inbox.put(Output(id=1, session="s", offset=23, text="z", dropped=3))
        inbox.put(Output(id=1, session="s", offset=24, text="!"))
        inbox.put(Result(id=1, value=None))
        assert await _drain(inbox) == [
            Output(id=1, session="s", offset=23, text="z", dropped=15),
            Output(id=1, session="s", offset=24, text="!"),
            Result(id=1, value=None),
        ]


async def test_the_final_answer_and_an_input_request_always_fit() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1, backlog=1)
        inbox.put(Output(id=1, session="s", offset=0, text="a"))
        inbox.put(InputRequest(id=1, session="s", prompt="? "))
        inbox.put(Output(id=1, session="s", offset=1, text="b"))
        inbox.put(Result(id=1, value=1))
        assert [type(e) for e in await _drain(inbox)] == [Output, InputRequest, Result]


async def test_a_progress_report_supersedes_the_unread_one() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1, backlog=1)
        inbox.put(Output(id=1, session="s", offset=0, text="a"))
        for percent in (10.0, 20.0, 30.0):
            inbox.put(Progress(id=1, session="s", percent=percent))
        inbox.put(Result(id=1, value=None))
        events = await _drain(inbox)
        assert events[1:] == [Progress(id=1, session="s", percent=30.0), Result(id=1, value=None)]


async def test_a_state_change_supersedes_the_unread_one_of_its_session() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1, backlog=1)

        def change(session: str, state: SessionState, previous: SessionState) -> StateChanged:
            return StateChanged(id=1, session=session_info(session, state), previous=previous)

        inbox.put(change("a", SessionState.RUNNING, SessionState.IDLE))
        inbox.put(change("b", SessionState.RUNNING, SessionState.IDLE))
        inbox.put(change("a", SessionState.STOPPING, SessionState.RUNNING))
        inbox.put(change("a", SessionState.IDLE, SessionState.STOPPING))
        inbox.put(change("b", SessionState.IDLE, SessionState.RUNNING))
        inbox.put(Result(id=1, value=None))
        events = await _drain(inbox)
        # Each session's latest state, with the state before the first unread change.
        assert events == [
            change("a", SessionState.IDLE, SessionState.IDLE),
            change("b", SessionState.IDLE, SessionState.IDLE),
            Result(id=1, value=None),
        ]


async def test_a_closed_inbox_hands_out_what_it_holds_then_a_fresh_error_per_call() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1)
        inbox.put(Output(id=1, session="s", offset=0, text="a"))
        inbox.close("the host went away")
        inbox.put(Output(id=1, session="s", offset=1, text="b"))  # too late: dropped
        assert await inbox.get() == Output(id=1, session="s", offset=0, text="a")
        raised = []
        for _ in range(2):
            with pytest.raises(ConnectionLost, match="the host went away") as info:
                await inbox.get()
            raised.append(info.value)
        assert raised[0] is not raised[1]


async def test_a_waiting_reader_wakes_for_an_event_and_for_the_close() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1)
        got: list[object] = []

        async def read() -> None:
            got.append(await inbox.get())
            with pytest.raises(ConnectionLost):
                await inbox.get()
            got.append("closed")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            inbox.put(Result(id=1, value=None))
            await trio.testing.wait_all_tasks_blocked()
            inbox.close("gone")
        assert got == [Result(id=1, value=None), "closed"]


async def test_a_get_cancelled_while_waiting_leaves_the_next_event_to_the_next_get() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1)
        with trio.move_on_after(0.01) as waited:
            await inbox.get()
        assert waited.cancelled_caught
        # Nobody waits now: the put wakes no one, and the event stays queued.
        inbox.put(Result(id=1, value=1))
        assert await inbox.get() == Result(id=1, value=1)
        async with trio.open_nursery() as nursery:
            got: list[object] = []

            async def get() -> None:
                got.append(await inbox.get())

            nursery.start_soon(get)
            await trio.testing.wait_all_tasks_blocked()
            inbox.put(Result(id=1, value=2))
        assert got == [Result(id=1, value=2)]


async def test_a_second_reader_is_refused_and_the_first_still_wakes() -> None:
    with trio.fail_after(5):
        inbox = Inbox(1)
        got: list[object] = []

        async def read() -> None:
            got.append(await inbox.get())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError, match="already reading"):
                await inbox.get()
            inbox.put(Result(id=1, value=3))
        assert got == [Result(id=1, value=3)]
