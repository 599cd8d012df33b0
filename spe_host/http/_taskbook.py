"""What the API keeps of tasks beyond the host's stop tickets.

Theory of operation
-------------------
A task is a stop ticket seen through HTTP, and the host keeps those (they go with
their runs' results). Two things are the API's own, each in a bounded table so that
no client can grow memory without end:

* A stop of a session that was not running has no ticket, yet Veeam's shape answers
  every stop with a task to poll. The API makes one, already Finished with
  ``success: false`` and a sentence, and keeps it here (the oldest go first).
* ``DELETE /api/tasks/{id}`` forgets a task *from the API's view*: the ticket stays
  with its run on the host (a socket client still sees it), but the API no longer
  lists or serves it. The forgotten ids are remembered up to a bound; past it the
  oldest may show again, if its run's result is still kept.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import replace

from .._model import SessionInfo, StopPhase, StopTicket
from ._resources import task_resource
from ._types import Task, TaskResult

__all__ = ["TaskBook"]


class TaskBook:
    """The API's own tasks and the ids it has forgotten.

    Args:
        max_tasks: How many of its own tasks, and of forgotten ids, it keeps.
    """

    def __init__(self, max_tasks: int = 256) -> None:
        self._max = max_tasks
        self._own: OrderedDict[str, Task] = OrderedDict()
        self._forgotten: OrderedDict[str, None] = OrderedDict()

    def not_running(self, info: SessionInfo, requested_by: str, reason: str | None) -> Task:
        """A Finished task for a stop of ``info``'s session, which was not running."""
        now = time.time()
        ticket = StopTicket(
            id=f"api-{secrets.token_urlsafe(9)}",
            session=info.id,
            run=info.run or "",
            requested_at=now,
            requested_by=requested_by,
            reason=reason,
            phase=StopPhase.FINISHED,
            finished_at=now,
        )
        result = TaskResult(success=False, message=f"session {info.id!r} was not running")
        # A session that never ran has no run to name: the task's run is None then.
        task = replace(task_resource(ticket, result), run=info.run)
        self._own[task.id] = task
        while len(self._own) > self._max:
            self._own.popitem(last=False)
        return task

    def get(self, task_id: str) -> Task | None:
        """The API's own task with this id, or None."""
        return self._own.get(task_id)

    def own(self) -> list[Task]:
        """The API's own tasks, newest first."""
        return list(reversed(self._own.values()))

    def forget(self, task_id: str) -> None:
        """Stop showing the task ``task_id``."""
        self._own.pop(task_id, None)
        self._forgotten[task_id] = None
        self._forgotten.move_to_end(task_id)
        while len(self._forgotten) > self._max:
            self._forgotten.popitem(last=False)

    def forgotten(self, task_id: str) -> bool:
        """Whether ``task_id`` was forgotten."""
        return task_id in self._forgotten
