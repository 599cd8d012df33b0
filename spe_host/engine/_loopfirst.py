"""LoopFirst: the host's trio loop goes first when it wakes with work.

Theory of operation
-------------------
The host's loop goes first: :class:`LoopFirst`, a trio instrument on the host's run,
tells the :class:`~._share.InterpreterShare` when the trio thread wakes from its wait
for I/O and when it is about to wait again. At a wake, every run that has been let run
``give_way`` seconds (1 ms under serve) is summoned, and at its next check it *gives
way* if the loop still wants the interpreter - it is at work, or it waits for a young
run (handed to its thread, or seated, within ``give_way``: the ``1+1`` a client waits
for). It waits until the loop is about to wait for I/O with no young run left, a stop
or the host's exit wakes it, or ``give_way`` has passed.

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

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._share import InterpreterShare

__all__ = ["LoopFirst"]


class LoopFirst(trio.abc.Instrument):
    """Tells a share when the host's loop has work; install it on the host's trio run."""

    def __init__(self, share: InterpreterShare) -> None:
        self._share = share

    def before_io_wait(self, timeout: float) -> None:
        if timeout > 0:
            self._share.loop_idle()

    def after_io_wait(self, timeout: float) -> None:
        self._share.loop_woke()
