"""The API's resources built from the model: sessions and tasks with their links.

Paths are built here only, with every id percent-encoded (a run id holds ``#``:
``etl#7`` is ``etl%237`` in a path), so every module links the same way.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from .._model import ExecutionStatus, SessionInfo, StopPhase, StopTicket
from ._types import (
    Session,
    SessionLinks,
    Task,
    TaskLinks,
    TaskOperation,
    TaskResult,
    TaskState,
)

__all__ = [
    "run_path",
    "session_path",
    "session_resource",
    "task_path",
    "task_resource",
    "task_result",
]


def session_path(session: str) -> str:
    """``/api/sessions/{id}``."""
    return f"/api/sessions/{quote(session, safe='')}"


def run_path(session: str, run: str) -> str:
    """``/api/sessions/{id}/runs/{run}``, the run id encoded (``etl%237``)."""
    return f"{session_path(session)}/runs/{quote(run, safe='')}"


def task_path(task: str) -> str:
    """``/api/tasks/{id}``."""
    return f"/api/tasks/{quote(task, safe='')}"


def session_resource(info: SessionInfo) -> Session:
    """The session resource of a snapshot: its fields and its links."""
    here = session_path(info.id)
    links = SessionLinks(
        self=here, stop=f"{here}?action=stop", output=f"{here}/output", runs=f"{here}/runs"
    )
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    return Session(**fields, links=links)


def task_result(ticket: StopTicket) -> TaskResult | None:
    """How the stop went once its run is over (None while it runs)."""
    if ticket.phase is not StopPhase.FINISHED:
        return None
    if ticket.status is ExecutionStatus.ABORTED:
        where = f" ({ticket.landed_at})" if ticket.landed_at else ""
        return TaskResult(success=True, message=f"stopped {ticket.run}{where}")
    ended = f"ended {ticket.status.value}" if ticket.status is not None else "ended"
    return TaskResult(success=False, message=f"{ticket.run} {ended} before the stop landed")


def task_resource(ticket: StopTicket, result: TaskResult | None = None) -> Task:
    """The task of a stop ticket (``result``: the one to show instead of the ticket's)."""
    fields = {f.name: getattr(ticket, f.name) for f in dataclasses.fields(ticket)}
    finished = ticket.phase is StopPhase.FINISHED
    return Task(
        **fields,
        state=TaskState.FINISHED if finished else TaskState.RUNNING,
        operation=TaskOperation.STOP_SESSION,
        result=result or task_result(ticket),
        links=TaskLinks(self=task_path(ticket.id), session=session_path(ticket.session)),
    )
