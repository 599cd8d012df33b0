"""PendingExecution: an ``execute`` that has begun, and the caller's hold on its result.

Theory of operation
-------------------
:meth:`Host.begin_execute <spe_host.engine.Host.begin_execute>` does everything of an
``execute`` that needs no wait - the session made, the run begun, its task started in
the host's nursery - and returns this. :meth:`Host.execute` is ``begin_execute`` then
:meth:`PendingExecution.result`.

A front end that forwards the run's output while it lasts waits in one task for
either: :meth:`wait_changed` returns at the session's next change (output, progress,
or its state, which changes as the run ends), so a request needs no second task to
follow the output. The run is over once :attr:`done`; :meth:`take` then returns the
result without a scheduling pass.

The run belongs to the host, not to the caller: a caller that is cancelled, or never
takes the result, leaves the run going, and its result is kept for ``receive``. A
result taken here is not kept: the caller has received it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._model import ExecutionResult

if TYPE_CHECKING:
    from ._execution import Execution
    from ._session import ScriptSession

__all__ = ["PendingExecution"]


class PendingExecution:
    """An ``execute`` whose run has begun in the host's nursery."""

    __slots__ = ("_execution", "_session")

    def __init__(self, session: ScriptSession, execution: Execution) -> None:
        self._session = session
        self._execution = execution

    @property
    def session(self) -> str:
        """The id of the session the run is in."""
        return self._session.id

    @property
    def done(self) -> bool:
        """True once the run has ended and its session has taken its result."""
        # Set in the same step of the run's task as the session keeps the result and
        # goes idle, so any other task sees all of it or none.
        return self._execution.finished.is_set()

    async def wait_changed(self) -> None:
        """Wait for the session's next change: output, progress, or its state."""
        await self._session._activity.wait()

    async def result(self) -> ExecutionResult:
        """Wait for the run to end; return its result (see :meth:`take`)."""
        if not self.done:
            await self._execution.finished.wait()
        return self.take()

    def take(self) -> ExecutionResult:
        """The result of a run that is :attr:`done`; it is not kept for ``receive``.

        Raises:
            JournalUnavailable: The host requires its journal, which could not record
                the run (nothing of it ran).
        """
        result = self._execution.result
        assert result is not None, "take() before the run is done"
        # Kept as the run ended; the caller has it now, so ten REPL statements do not
        # push a job's result out.
        self._session.runs.delivered(result.run)
        if self._execution.refused is not None:
            raise self._execution.refused
        return result
