"""The kernel's futex table: room for a process with thousands of session threads.

Theory of operation
-------------------
Each session that runs a synchronous statement owns a thread (``_thread``), so a host
with 10,000 sessions has 10,000 threads, nearly all waiting on their queues. Every
such wait is a futex, and Linux 6.16 and later hash a process's futexes into a
private table sized for the CPUs, not the threads: 16 slots on two CPUs. A wake-up
walks its slot's list of waiters, so each handoff to or from a session thread (and
each new thread's start) then walks hundreds of sleeping threads: measured here,
90 us of kernel time per handoff at 10,000 threads, 15 us at 100, which made creating
sessions and running code in them slower the more sessions there were.

:func:`fit` grows the table, in powers of two, to about :data:`SLOTS_PER_THREAD` slots
per thread whenever the threads outgrow it (``prctl(PR_FUTEX_HASH)``), and that puts
the handoff back at its few-threads cost. It is a size, not a behaviour: no wait or
wake-up changes meaning, only how long the kernel searches. It never shrinks a table,
leaves a process on the global table (slot count 0) alone, and stops trying for good
where the call does not exist (older kernels, other systems) or is refused. It looks
only when the thread count doubles, so it costs nothing per session.
"""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["SLOTS_PER_THREAD", "fit"]

#: Slots the table gets per thread (a wake-up's search is then about one entry).
SLOTS_PER_THREAD: Final = 2
# The kernel's table holds 16 slots by default; below this many threads it suffices.
_FIRST_LOOK: Final = 64

_PR_FUTEX_HASH: Final = 78
_SET_SLOTS: Final = 1
_GET_SLOTS: Final = 2


class _Table:
    """The process's futex table as the kernel reports it (Linux only)."""

    def __init__(self) -> None:
        self.next_look = _FIRST_LOOK if sys.platform == "linux" else None

    def slots(self) -> int:
        """The table's slot count (0: the global table); raises OSError where unknown."""
        return self._prctl(_GET_SLOTS, 0)

    def resize(self, slots: int) -> None:
        """Give the table ``slots`` slots; raises OSError if the kernel refuses."""
        self._prctl(_SET_SLOTS, slots)

    def _prctl(self, command: int, argument: int) -> int:
        # Imported here: only a process with many threads ever gets this far.
        import ctypes
        import os

        libc = ctypes.CDLL(None, use_errno=True)
        # Every argument as an unsigned long: prctl reads five, unused ones must be 0.
        args = (ctypes.c_ulong(value) for value in (command, argument, 0, 0))
        result: int = libc.prctl(_PR_FUTEX_HASH, *args)
        if result < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        return result


_table = _Table()


def fit(threads: int, table: _Table = _table) -> None:
    """Grow the futex table for ``threads`` threads if they have outgrown it.

    Called as a session thread starts; looks again only once the count has doubled.

    Args:
        threads: How many threads the process has now.
        table: The table to fit (tests pass a stand-in).
    """
    if table.next_look is None or threads < table.next_look:
        return
    table.next_look = 2 * threads
    wanted = 1 << (SLOTS_PER_THREAD * threads - 1).bit_length()
    try:
        slots = table.slots()
        if 0 < slots < wanted:
            table.resize(wanted)
    except OSError:
        table.next_look = None  # no such call here, or not allowed: never again
