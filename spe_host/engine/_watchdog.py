"""Watchdog: the guard that stops a loop-mode statement holding the event loop too long.

Theory of operation
-------------------
In loop mode a script's synchronous statements run in the trio thread. While one
of them runs, nothing else in the host does - not the server, not the reading of a
stop request - so the guard cannot be a trio task. It is a plain thread, one per
host, started with the first loop-mode run.

The runner marks each synchronous loop-mode statement: :meth:`Watchdog.hold` before
it (one attribute store, no lock, no wake-up) and :meth:`Watchdog.release` after.
Only one statement can hold the trio thread at a time, so one slot is enough. While
some loop-mode run is going, the thread looks at the slot every
``loop_timeout / 10`` seconds (at least every 0.5 s, at most every 10 ms); with no
loop-mode run it sleeps until one begins. A statement found holding the slot longer
than ``loop_timeout`` is stopped as a stop from a console would stop it: the
execution's :meth:`~spe_host.engine._execution.Execution.stop_from_watchdog` raises
its abort flag, and its next instrumented check - the next statement inside the
loop that holds the thread - raises ``ScriptAborted``. The run's error then says
why. A native call that never returns is beyond any check; the watchdog cannot help
there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._execution import Execution

__all__ = ["DEFAULT_LOOP_TIMEOUT", "Watchdog"]

#: Seconds a loop-mode statement may hold the event loop before the watchdog stops it.
DEFAULT_LOOP_TIMEOUT = 10.0


class Watchdog:
    """Stops loop-mode statements that hold the trio thread longer than ``timeout``.

    Args:
        timeout: Seconds a statement may hold the event loop (None: no guard).
    """

    def __init__(self, timeout: float | None = DEFAULT_LOOP_TIMEOUT) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"loop_timeout must be a positive number of seconds, not {timeout!r}")
        self.timeout = timeout
        self._wake = threading.Condition()
        self._runs = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        # (execution, when it took the loop); written by the trio thread only.
        self._holding: tuple[Execution, float] | None = None

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Guard the loop-mode run in the block (trio thread)."""
        if self.timeout is None:
            yield
            return
        with self._wake:
            self._runs += 1
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._guard, name="spe loop watchdog", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        try:
            yield
        finally:
            self._holding = None
            with self._wake:
                self._runs -= 1

    def hold(self, execution: Execution) -> None:
        """A statement of ``execution`` takes the loop now (trio thread)."""
        self._holding = (execution, time.monotonic())

    def release(self) -> None:
        """The statement gave the loop back (trio thread)."""
        self._holding = None

    def close(self) -> None:
        """End the guard thread (at the host's exit)."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _guard(self) -> None:
        assert self.timeout is not None
        timeout = self.timeout
        interval = min(0.5, max(0.01, timeout / 10))
        with self._wake:
            while not self._closed:
                if self._runs == 0:
                    self._wake.wait()
                    continue
                self._wake.wait(interval)
                holding = self._holding
                if holding is None:
                    continue
                execution, since = holding
                held = time.monotonic() - since
                if held > timeout:
                    execution.stop_from_watchdog(held, timeout)
                    # Once per statement: the stop is sticky for the run.
                    if self._holding is holding:
                        self._holding = None
