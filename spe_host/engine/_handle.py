"""SpeHandle: the ``spe`` name inside a script, the script's view of its own session."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from .._model import Progress
from . import _bridge
from ._checkpoint import checkpoint, critical

if TYPE_CHECKING:
    from ._session import ScriptSession

__all__ = ["SpeHandle"]

T = TypeVar("T")


class SpeHandle:
    """The ``spe`` name inside a script: the script's view of its own session."""

    def __init__(self, session: ScriptSession) -> None:
        self._session = session

    @property
    def id(self) -> str:
        """The session's id."""
        return self._session.id

    @property
    def stopping(self) -> bool:
        """True once this session's running execution has been asked to stop.

        Library loops that the abort check cannot reach can poll it.
        """
        execution = self._session._execution
        return execution is not None and execution.stop_requested

    def progress(self, percent: float | None = None, message: str | None = None) -> None:
        """Report progress; ``percent`` is clamped to 0-100.

        Args:
            percent: How far along, 0 to 100 (None to leave it unknown).
            message: What is happening now.
        """
        if percent is not None:
            percent = min(100.0, max(0.0, float(percent)))
        self._session.progress = Progress(percent, None if message is None else str(message))
        self._session._changed.fire()

    def checkpoint(self) -> None:
        """Stop here if this execution has been asked to stop."""
        checkpoint()

    def critical(self, reason: str) -> AbstractContextManager[None]:
        """A stop-deferral zone: ``with spe.critical("committing batch 12"): ...``.

        Checks inside the block stay quiet and a stop does not cancel its awaits; a
        stop requested meanwhile lands at the first statement after the block, and
        until then the stop ticket (and ``ls``) shows ``deferred`` with the reason
        of the outermost open zone. Zones nest; an exception inside one propagates
        as usual. Outside any execution (a function the embedding program calls
        itself) it does nothing.

        Args:
            reason: What the block does, for people.
        """
        return critical(str(reason))

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` in the app's trio thread and return what it returns.

        trio's synchronous API (``event.set()``, ``nursery.start_soon(...)``,
        ``channel.send_nowait(x)``) works only in the trio thread, not on the
        session's worker thread. In loop mode, or in a statement that awaits, this
        just calls ``fn``.

        Raises:
            Exception: Whatever ``fn`` raises.
        """
        session = self._session
        with self._hop():
            return _bridge.run_sync(session._token, session._trio_thread, fn, *args)

    def run(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await async_fn(*args)`` in the app's trio thread and wait for it.

        For worker-mode statements; a stop of the session cancels the call. In
        loop mode, or in a statement that awaits, write ``await async_fn(...)``.

        Raises:
            RuntimeError: Called in the trio thread, where it cannot wait.
            Exception: Whatever ``async_fn`` raises.
        """
        session = self._session
        with self._hop():
            return _bridge.run(
                session._token, session._trio_thread, session._execution, async_fn, *args
            )

    def _hop(self) -> AbstractContextManager[None]:
        # The session thread waits for the trio thread: no forced abort may land there.
        execution = self._session._execution
        if execution is None or threading.get_ident() == self._session._trio_thread:
            return nullcontext()
        return execution.stop.hop()

    def __repr__(self) -> str:
        return f"<spe handle of session {self.id!r}>"
