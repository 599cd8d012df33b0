"""Broadcast: the engine's one "something changed" notifier.

Theory of operation
-------------------
Waiters in the engine never ask "what happened?" of the notifier; they check their
own condition, and wait for the next change only if it does not hold yet::

    while not condition():
        await broadcast.wait()

So a notifier needs no memory: :meth:`Broadcast.fire` wakes the tasks parked at that
moment and is forgotten. That is exactly a :class:`trio.lowlevel.ParkingLot`, without
the ``trio.Event`` that would have to be swapped for a fresh one after every set.
Because the check and the park happen in one step of the trio thread, no change
can slip in between them.

A Broadcast is for the trio thread only; :class:`~spe_host.engine._streams.Signal`
brings fires from other threads over to it.
"""

from __future__ import annotations

import trio

__all__ = ["Broadcast"]


class Broadcast:
    """Wakes every task waiting at the moment it fires; use in the trio thread."""

    __slots__ = ("_lot",)

    def __init__(self) -> None:
        self._lot = trio.lowlevel.ParkingLot()

    def fire(self) -> None:
        """Wake every task now in :meth:`wait`."""
        self._lot.unpark_all()

    async def wait(self) -> None:
        """Wait for the next :meth:`fire` (check your condition first)."""
        await self._lot.park()
