"""The engine's notifiers: Broadcast, and the Signal that brings fires from threads."""

from __future__ import annotations

import threading

import trio
import trio.testing

from spe_host.engine._events import Broadcast
from spe_host.engine._streams import OutputBuffer, Signal


async def test_a_broadcast_wakes_the_tasks_waiting_when_it_fires() -> None:
    with trio.fail_after(2):
        broadcast = Broadcast()
        woken: list[int] = []

        async def waiter(n: int) -> None:
            await broadcast.wait()
            woken.append(n)

        broadcast.fire()  # nobody waits: forgotten, not kept for later
        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(waiter, n)
            await trio.testing.wait_all_tasks_blocked()
            assert woken == []
            broadcast.fire()
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(woken) == [0, 1, 2]
            nursery.start_soon(waiter, 3)
            await trio.testing.wait_all_tasks_blocked()
            assert len(woken) == 3  # a later waiter waits for the next fire
            broadcast.fire()
        assert sorted(woken) == [0, 1, 2, 3]


async def test_a_signal_calls_its_callback_in_the_trio_thread_once_per_batch() -> None:
    with trio.fail_after(2):
        threads: list[int] = []
        signal = Signal(lambda: threads.append(threading.get_ident()))

        def fire_many() -> None:
            for _ in range(1000):
                signal.fire()

        # The trio thread is blocked while the other thread fires: one batch.
        thread = threading.Thread(target=fire_many)
        thread.start()
        thread.join()
        await trio.testing.wait_all_tasks_blocked()
        assert threads == [threading.get_ident()]
        signal.fire()  # from the trio thread: at once
        assert len(threads) == 2


async def test_an_output_buffer_calls_its_callback_once_per_batch_of_writes() -> None:
    with trio.fail_after(2):
        calls = 0

        def woke() -> None:
            nonlocal calls
            calls += 1

        buffer = OutputBuffer(1000, on_wake=woke)

        def write_many() -> None:
            for _ in range(100):
                buffer.write("x")

        thread = threading.Thread(target=write_many)
        thread.start()
        thread.join()
        await trio.testing.wait_all_tasks_blocked()
        assert (calls, buffer.end_offset) == (1, 100)
