"""InterpreterShare: the trio thread keeps its share of the interpreter while runs spin.

Theory of operation
-------------------
CPython runs one thread's bytecode at a time. A thread that wants the interpreter
(the GIL) waits; after the switch interval the holder lets go and *some* waiting
thread takes it - the operating system picks which. The host's trio thread wants it
back after every system call it makes (epoll, recv, send), so with N session threads
spinning each of those costs about N switch intervals, and a request makes several:
with 100 sessions in CPU-bound loops a trivial ``ls`` took half a second.

So at most ``slots`` (K) worker-mode runs execute Python at once while more than K
are running. A run holds a *seat* while its statements run on its session's thread.
With more than K seats taken, a ticker thread rotates K *permits* every ``quantum``:

* it *summons* every seated run that is not parked: it raises the fast-path abort
  flag in the run's namespace (``StopFlags.summon``), so the run's next check takes
  the slow path into :meth:`InterpreterShare.check_in`;
* it takes back last quantum's permits and gives them to the first K parked runs,
  waking each on its own lock (FIFO, so every run gets its turn).

A summoned run at its check takes a free permit and runs on (its flag falls, so it
runs at full speed until the next tick), or parks at the tail of the queue; a parked
run waits on its own lock, which releases the interpreter, so it costs nothing. Up
to K new seats are *fresh*: not summoned before the next tick, so a short run
(``1+1``) ends within its first quantum without waiting. More new seats than that
(a burst of starts) are summoned at once, or a hundred new runs would spin together
until the next tick - and the tick itself, and the trio thread starting them, would
wait behind them all. So at most 2K runs execute at once. A run blocked in a C call
(``time.sleep``, a ``recv``) never reaches a check: it never takes a permit (a tick
takes back the one it had), so it never counts against K; once the call returns,
its next statement meets its summons. A run that ends hands its permit to the head
of the queue.

Never parked: code on any thread but the run's session thread (loop mode, statements
that await, ``spe.run``, threads the script starts), a run that is being stopped, and
a run inside a stop-deferral zone (``spe.critical``): such a zone often holds a lock
the app needs, and parking it there for N/K quanta would stall whoever waits for the
lock, possibly the trio thread itself. A stop wakes a parked run at once
(``StopFlags.raise_for`` calls :meth:`~InterpreterShare.release`): it meets its
abort at the check it parked in. With K or fewer seats the ticker sleeps and nothing
is summoned. Library code is not instrumented: a run inside a long library call runs
on until it is back in script code, as it does for a stop.

The host's loop goes first: a run that has spun a while gives way to the trio
thread when it wakes with work (``_loopfirst`` says how and why).

Lock order: the share's lock, then the flags' (``StopFlags``); never the reverse.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from time import monotonic
from typing import TYPE_CHECKING

from ._loopfirst import GiveWay, LoopFirst
from ._seat import Seat, give_way_for, quantum_for

if TYPE_CHECKING:
    from ._checkpoint import StopFlags
    from ._execution import Execution

__all__ = ["DEFAULT_INTERPRETER_SLOTS", "InterpreterShare", "LoopFirst", "Seat", "quantum_for"]

#: How many worker-mode runs may execute Python at once while more are running.
DEFAULT_INTERPRETER_SLOTS = 2

# A parked run looks this often whether its share still rotates. It always does
# while anyone is parked (a parked run means K permits are held, so more than K
# seats); the look only bounds the wait. It is long on purpose: the parked runs of a
# rotation park together, and their looks, if frequent, would come in bursts of
# dozens of threads wanting the interpreter at once - what the share is there to avoid.
_PARK_LOOK = 10.0


class InterpreterShare(GiveWay):
    """Lets at most ``slots`` worker-mode runs of a host execute Python at once.

    Args:
        flags: The host's fast-path flags; the share raises a run's to summon it.
        slots: How many runs hold the interpreter at once while more are running.
        quantum: Seconds between rotations (default: :func:`quantum_for` the
            interpreter's switch interval now).
        give_way: The longest a run waits for the host's loop, in seconds, and how
            long a run is let run before it is asked (default: :func:`give_way_for`
            the switch interval now). Runs give way only while :attr:`instrument`
            is installed on the host's trio run.
    """

    def __init__(
        self,
        flags: StopFlags,
        slots: int,
        quantum: float | None = None,
        give_way: float | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError(f"interpreter_slots must be at least 1, not {slots!r}")
        self.slots = slots
        interval = sys.getswitchinterval()
        self.quantum = quantum_for(interval) if quantum is None else quantum
        self.give_way = give_way_for(interval) if give_way is None else give_way
        #: The trio instrument that tells the share when the host's loop is busy.
        self.instrument = LoopFirst(self)
        #: Times a run gave way to the loop (for tests and diagnostics).
        self.give_ways = 0
        #: Rotations so far, and runs parked so far (for tests and diagnostics).
        self.rotations = 0
        self.parks = 0
        self._flags = flags
        self._lock = threading.Lock()
        self._tick = threading.Condition(self._lock)
        self._seats: dict[int, Seat] = {}  # by id(execution)
        self._admitted: set[Seat] = set()  # hold a permit for this quantum
        self._queue: deque[Seat] = deque()  # parked, first come first served
        self._fresh = 0  # how many seats are fresh
        self._ticker: threading.Thread | None = None
        self._closed = False
        # The earliest a run may be asked to give way: loop_woke looks only then.
        self._next_look = float("inf")
        self._loop_busy = False  # the trio thread is between two waits for I/O
        self._expected = 0  # runs handed to their session threads, not seated yet
        self._expected_at = 0.0  # when the last of them was handed over
        self._handed_back = False  # a run ended since the loop last woke for it
        self._giving: set[Seat] = set()  # giving way to the loop

    # -- the run's side (its session thread) ----------------------------------------

    def take_seat(self, execution: Execution, thread: int) -> Seat:
        """Seat a run whose statements start on ``thread``, its session thread."""
        seat = Seat(self, execution, thread)
        with self._lock:
            self._seats[id(execution)] = seat
            self._may_ask(seat)
            if self._expected:
                self._expected -= 1
            if len(self._seats) > self.slots and self._fresh >= self.slots:
                self._summon(seat)
            else:
                seat.fresh = True
                self._fresh += 1
            if len(self._seats) == self.slots + 1 and not self._closed:
                if self._ticker is None:
                    self._ticker = threading.Thread(
                        target=self._rotate_forever, name="spe interpreter share", daemon=True
                    )
                    self._ticker.start()
                self._tick.notify()
        return seat

    def leave(self, seat: Seat) -> None:
        """The run's statements are over: its seat and its permit go."""
        with self._lock:
            self._seats.pop(id(seat.execution), None)
            self._admitted.discard(seat)
            if seat.fresh:
                self._fresh -= 1
            # Parked or giving way only if an exception cut its check-in short.
            if seat.parked:
                self._queue.remove(seat)
                seat.parked = False
            seat.giving_way = False
            self._giving.discard(seat)
            self._forget_ask(seat)
            if seat.summoned:
                seat.summoned = False
                self._flags.settle(seat.namespace)
            self._handed_back = True
            self._admit_waiting()

    def check_in(self, seat: Seat) -> None:
        """A summoned run at a check: give way to the loop, take a permit, or park."""
        if seat.thread != threading.get_ident():
            # The trio thread (an await of this run), or a thread it started: never
            # held back. The loop's summons is let go here, or every check of that
            # code would take the slow path until the session thread's next one.
            if seat.asked:
                self._let_off(seat)
            return
        execution = seat.execution
        with self._lock:
            if not seat.summoned:
                return
            seat.summoned = False
            self._flags.settle(seat.namespace)
            self._may_ask(seat)
            now = monotonic()
            asked = seat.asked and now - seat.asked < self.give_way and self._wanted(now)
            seat.asked = 0.0
            self._forget_ask(seat)
            if execution.stop.zones or execution.stop_requested or self._closed:
                return  # never held back; a zone is summoned again at the next tick
            if asked:
                wakeup = self._wakeup_of(seat)
                seat.giving_way = True
                self._giving.add(seat)
                self.give_ways += 1
            else:
                parked = self._permit_or_queue(seat)
                if parked is None:
                    return
                wakeup, asked = parked, False
        if asked:
            self._give_way(seat, wakeup)
            with self._lock:
                if execution.stop_requested or self._closed:
                    return
                parked = self._permit_or_queue(seat)
                if parked is None:
                    return
        while not wakeup.acquire(timeout=_PARK_LOOK):
            with self._lock:
                ticker = self._ticker
                if seat.parked and (ticker is None or not ticker.is_alive()):
                    self._wake(seat)

    def _permit_or_queue(self, seat: Seat) -> threading.Lock | None:
        # Under the lock: None if the run may run on, else the lock it parks on.
        if seat in self._admitted or seat.fresh:
            return None
        if len(self._admitted) < self.slots or len(self._seats) <= self.slots:
            self._admitted.add(seat)
            return None
        wakeup = self._wakeup_of(seat)
        seat.parked = True
        self._queue.append(seat)
        self.parks += 1
        return wakeup

    # -- the host's side --------------------------------------------------------

    def release(self, execution: Execution) -> None:
        """Wake the run if it is parked or giving way: it is being stopped (any thread)."""
        with self._lock:
            seat = self._seats.get(id(execution))
            if seat is not None and seat.parked:
                self._wake(seat)
            elif seat is not None and seat.giving_way:
                self._end_giving_way(seat)

    def rotate(self) -> None:
        """Rotate the permits now (the ticker does it every quantum)."""
        with self._lock:
            self._rotate()

    def parked(self) -> list[str]:
        """The session ids of the runs waiting for their turn, first in line first."""
        with self._lock:
            return [seat.execution.session_id for seat in self._queue]

    def close(self) -> None:
        """Wake every parked run and end the ticker (at the host's exit)."""
        with self._lock:
            self._closed = True
            while self._queue:
                self._wake(self._queue[0])
            for seat in list(self._giving):
                self._end_giving_way(seat)
            self._tick.notify()

    # -- the ticker -------------------------------------------------------------

    def _rotate_forever(self) -> None:
        with self._lock:
            while not self._closed:
                if len(self._seats) <= self.slots:
                    self._tick.wait()  # until take_seat seats one run too many
                    continue
                self._tick.wait(self.quantum)
                if not self._closed and len(self._seats) > self.slots:
                    self._rotate()

    def _rotate(self) -> None:
        self.rotations += 1
        self._admitted.clear()
        self._fresh = 0
        for seat in self._seats.values():
            seat.fresh = False
            if not (seat.parked or seat.summoned):
                self._summon(seat)
        self._admit_waiting()

    def _summon(self, seat: Seat) -> None:
        seat.summoned = True
        self._flags.summon(seat.namespace)

    def _admit_waiting(self) -> None:
        while self._queue and len(self._admitted) < self.slots:
            seat = self._queue[0]
            self._wake(seat)
            self._admitted.add(seat)

    def _wakeup_of(self, seat: Seat) -> threading.Lock:
        # Under the lock: the run's private lock, held, for it to wait on.
        wakeup = seat._wakeup
        if wakeup is None:
            wakeup = seat._wakeup = threading.Lock()
            wakeup.acquire()
        return wakeup

    def _wake(self, seat: Seat) -> None:
        # Under the lock: a parked seat leaves the queue and its run wakes.
        self._queue.remove(seat)
        seat.parked = False
        self._may_ask(seat)
        assert seat._wakeup is not None  # made before it parked
        seat._wakeup.release()
