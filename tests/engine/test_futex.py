"""The futex table grows with the session threads: only upward, only where it can."""

from __future__ import annotations

import sys
import threading

import pytest
import trio

import spe_host
from spe_host.engine import _futex


class FakeTable(_futex._Table):
    """The kernel's table as a number; ``refuse`` makes every call fail."""

    def __init__(self, slots: int, refuse: bool = False) -> None:
        super().__init__()
        self.next_look = 64
        self.size = slots
        self.refuse = refuse
        self.calls = 0

    def slots(self) -> int:
        self.calls += 1
        if self.refuse:
            raise OSError(22, "Invalid argument")
        return self.size

    def resize(self, slots: int) -> None:
        self.calls += 1
        self.size = slots


def test_the_table_grows_to_a_power_of_two_of_two_slots_a_thread() -> None:
    table = FakeTable(16)
    _futex.fit(10, table)
    assert (table.size, table.calls) == (16, 0)  # a few threads: not even a look
    _futex.fit(100, table)
    assert table.size == 256
    _futex.fit(150, table)
    assert table.calls == 2  # looks again only once the threads have doubled
    _futex.fit(10_000, table)
    assert table.size == 32_768


def test_a_bigger_table_and_the_global_table_are_left_alone() -> None:
    bigger = FakeTable(1 << 20)
    _futex.fit(5000, bigger)
    assert bigger.size == 1 << 20
    shared = FakeTable(0)  # the process uses the kernel's global table
    _futex.fit(5000, shared)
    assert shared.size == 0


def test_where_the_call_fails_it_is_never_tried_again() -> None:
    table = FakeTable(16, refuse=True)
    _futex.fit(100, table)
    _futex.fit(100_000, table)
    assert table.calls == 1


def _kernel_table() -> _futex._Table | None:
    table = _futex._Table()
    try:
        table.slots()
    except OSError:
        return None
    return table


@pytest.mark.skipif(sys.platform != "linux", reason="a Linux kernel's futex table")
def test_the_real_table_grows_for_real_threads() -> None:
    table = _kernel_table()
    if table is None:
        pytest.skip("this kernel has no resizable futex table (Linux 6.16 and later do)")
    release = threading.Event()
    threads = [threading.Thread(target=release.wait) for _ in range(70)]
    for thread in threads:
        thread.start()
    try:
        count = threading.active_count()
        before = table.slots()
        _futex.fit(count, table)
        if before == 0:
            assert table.slots() == 0  # on the global table: left there
        else:
            assert table.slots() >= 2 * count
    finally:
        release.set()
        for thread in threads:
            thread.join()


async def test_a_new_session_thread_fits_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int] = []
    monkeypatch.setattr(_futex, "fit", counts.append)
    with trio.fail_after(10):
        async with spe_host.open_host(idle_timeout=None) as host:
            await host.execute("a", "x = 1")  # the session's thread starts
            await host.execute("a", "x = 2")  # the same thread: nothing new
            [count] = counts
            assert count >= 2  # this thread and the session's, at least
