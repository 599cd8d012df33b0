"""LoopFirst: the host's trio loop goes first when it wakes with work.

Theory of operation
-------------------
The host's loop goes first: :class:`LoopFirst`, a trio instrument on the host's run,
tells the :class:`~._share.InterpreterShare` when the trio thread wakes from its wait
for I/O and when it is about to wait again. At a wake, every run that has been let run
``give_way`` seconds (1 ms under serve) is summoned, and at its next check it *gives
way* if the loop still wants the interpreter - it is at work, has a run's end to take
(the trio thread then waits for the interpreter, which no Python state shows), or
waits for a young run (handed to its thread, or seated, within ``give_way``: the
``1+1`` a client waits for). It waits until the loop is about to wait for I/O with
none of that left, a stop or the host's exit wakes it, or ``give_way`` has passed.
A summons met by a check on another thread (the trio thread running an await of the
run, a thread the script started, while the run's own thread waits in a C call) is
let go there (:func:`let_off`), or that code would stay on the slow path.

Without it, each step of one request (reading it, handing a statement to a session
thread, that thread's turn, the answer) could wait a switch interval for a spinning
run to be forced off; now only the loop's first does. A loop that wakes for a timer
and is idle again by the time the run checks in costs the run nothing. A run that
gave way runs as long again before it can be asked, so scripts keep at least half of
the interpreter however busy the loop is; a young run is never asked. The seats are
looked at only when one may be due (``_next_look``): otherwise a pass of the loop
costs a clock read.
"""

from __future__ import annotations

import threading
from time import monotonic
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ._checkpoint import StopFlags
    from ._seat import Seat
    from ._share import InterpreterShare

__all__ = ["GiveWay", "LoopFirst", "let_off"]


# The runs the loop has summoned and that have not checked in, by id(namespace), for
# checks that run with no execution of their own (a thread the script started).
_asked: dict[int, Seat] = {}


def let_off(namespace: dict[str, Any]) -> None:
    """A check with no run of its own met a flag up in ``namespace``: if the loop
    raised it, let it fall (the run's own thread is not in script code)."""
    seat = _asked.get(id(namespace))
    if seat is not None:
        seat.share._let_off(seat)


class GiveWay:
    """The share's side of the loop going first (:class:`~._share.InterpreterShare`
    is one); its state is the share's, under the share's lock."""

    give_way: float
    give_ways: int
    _lock: threading.Lock
    _flags: StopFlags
    _seats: dict[int, Seat]
    _giving: set[Seat]
    _next_look: float
    _loop_busy: bool
    _handed_back: bool
    _expected: int
    _expected_at: float

    if TYPE_CHECKING:

        def _summon(self, seat: Seat) -> None: ...

    def _give_way(self, seat: Seat, wakeup: threading.Lock) -> None:
        # Wait until the loop no longer wants the interpreter, a stop, or give_way;
        # then run as long again before the loop may ask again.
        began = monotonic()
        woken = wakeup.acquire(timeout=self.give_way)
        with self._lock:
            late = not woken and not seat.giving_way  # ended as the wait ran out
            seat.giving_way = False
            self._giving.discard(seat)
            now = monotonic()
            seat.ask_after = now + (now - began)
            self._may_ask(seat)
        if late:
            wakeup.acquire()  # the release that ended it is due: take it, held again

    def expect(self) -> None:
        """The loop hands a worker-mode run to its session thread (the trio thread)."""
        with self._lock:
            self._expected += 1
            self._expected_at = monotonic()

    def not_expected(self) -> None:
        """That run never reached its thread (the session had closed)."""
        with self._lock:
            if self._expected:
                self._expected -= 1

    def loop_idle(self) -> None:
        """The loop is about to wait for I/O: runs that gave way go on, unless the
        loop waits for a run that has just been handed over or has just begun."""
        with self._lock:
            self._loop_busy = False
            if self._giving and not self._wanted(monotonic()):
                for seat in list(self._giving):
                    self._end_giving_way(seat)

    def _wanted(self, now: float) -> bool:
        # Under the lock: the loop is at work, has a run's end to take (it wants the
        # interpreter to wake for it), or waits for a run that is young (handed over
        # within give_way and not seated yet, or seated within give_way).
        if self._loop_busy or self._handed_back:
            return True
        young = now - self.give_way
        if self._expected and self._expected_at > young:
            return True
        return any(
            seat.since > young and not (seat.parked or seat.giving_way)
            for seat in self._seats.values()
        )

    def loop_woke(self) -> None:
        """The host's loop has work (its trio thread, after each wait for I/O).

        Every run that has been let run long enough is summoned: at its next check
        it gives way. The seats are looked at only when one may be due, so a
        pass of the loop costs a clock read while none is.
        """
        self._loop_busy = True
        self._handed_back = False
        if not self._seats:
            return
        now = monotonic()
        if now < self._next_look:
            return
        with self._lock:
            later = float("inf")
            for seat in self._seats.values():
                if seat.summoned or seat.parked or seat.giving_way:
                    continue  # _may_ask again once it is back
                if now >= seat.ask_after:
                    seat.asked = now
                    _asked[id(seat.namespace)] = seat
                    self._summon(seat)
                else:
                    later = min(later, seat.ask_after)
            self._next_look = later

    def _let_off(self, seat: Seat) -> None:
        with self._lock:
            if seat.summoned and seat.asked:
                seat.summoned = False
                seat.asked = 0.0
                _asked.pop(id(seat.namespace), None)
                self._flags.settle(seat.namespace)
                seat.ask_after = monotonic() + self.give_way
                self._may_ask(seat)

    def _forget_ask(self, seat: Seat) -> None:
        # Under the lock: the run checked in, or left.
        if _asked.get(id(seat.namespace)) is seat:
            del _asked[id(seat.namespace)]

    def _end_giving_way(self, seat: Seat) -> None:
        # Under the lock: a run that gives way to the loop goes on.
        seat.giving_way = False
        self._giving.discard(seat)
        assert seat._wakeup is not None  # made before it gave way
        seat._wakeup.release()

    def _may_ask(self, seat: Seat) -> None:
        # Under the lock: the run runs on; the loop may ask it from ask_after on.
        self._next_look = min(self._next_look, seat.ask_after)


class LoopFirst(trio.abc.Instrument):
    """Tells a share when the host's loop has work; install it on the host's trio run."""

    def __init__(self, share: InterpreterShare) -> None:
        self._share = share

    def before_io_wait(self, timeout: float) -> None:
        if timeout > 0:
            self._share.loop_idle()

    def after_io_wait(self, timeout: float) -> None:
        self._share.loop_woke()
