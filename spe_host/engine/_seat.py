"""A run's place in the interpreter share, and the share's timings (see ``_share``)."""

from __future__ import annotations

import threading
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._execution import Execution
    from ._share import InterpreterShare

__all__ = ["Seat", "give_way_for", "quantum_for"]

# A quantum is this many switch intervals (5 ms at serve's 0.5 ms), and no shorter
# than _MIN_QUANTUM: each rotation wakes K threads, which should stay a small cost.
_QUANTUM_INTERVALS = 10
_MIN_QUANTUM = 0.002

# A run gives way to the loop for at most this many switch intervals (1 ms at
# serve's 0.5 ms): long enough for the loop to answer a request, short enough that
# a loop that never idles costs a script no more than a brief pause now and then.
_GIVE_WAY_INTERVALS = 2
_MIN_GIVE_WAY = 0.001


def quantum_for(switch_interval: float) -> float:
    """The rotation quantum for an interpreter switch interval, in seconds."""
    return max(_MIN_QUANTUM, _QUANTUM_INTERVALS * switch_interval)


def give_way_for(switch_interval: float) -> float:
    """The longest a run gives way to the host's loop, for a switch interval, in seconds."""
    return max(_MIN_GIVE_WAY, _GIVE_WAY_INTERVALS * switch_interval)


class Seat:
    """One worker-mode run's place in the share (made by :meth:`InterpreterShare.take_seat`)."""

    __slots__ = (
        "_wakeup",
        "ask_after",
        "asked",
        "execution",
        "fresh",
        "giving_way",
        "namespace",
        "parked",
        "share",
        "since",
        "summoned",
        "thread",
    )

    def __init__(self, share: InterpreterShare, execution: Execution, thread: int) -> None:
        self.share = share
        self.execution = execution
        self.namespace: dict[str, Any] = execution.namespace
        self.thread = thread
        self.summoned = False  # its flag is up for the share: its next check checks in
        self.fresh = False  # new since the last tick, and let run until the next
        self.parked = False  # in the queue, waiting on _wakeup
        self.since = monotonic()
        self.asked = 0.0  # when the loop summoned it to give way (0: it did not)
        self.giving_way = False  # waiting on _wakeup for the loop
        # Not asked to give way before then: young runs never, and a run that gave
        # way only after it has run as long again.
        self.ask_after = self.since + share.give_way
        # Made when the run first waits (most runs never do), and held while nobody
        # wakes it: a waiting run waits to acquire it.
        self._wakeup: threading.Lock | None = None
