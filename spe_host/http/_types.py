"""The body types of the HTTP API that the model does not have: resources, requests, errors.

Plain frozen dataclasses, encoded and decoded by :mod:`._encode` and documented by the
OpenAPI generator from their fields. A session resource is every field of
:class:`~spe_host._model.SessionInfo` plus its ``links``; a task is every field of a
:class:`~spe_host._model.StopTicket` plus its state, operation, result and links
(``tests/http`` checks that they keep in step with the model).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .._model import ExecutionResult, ExecutionStatus, Role, SessionState, StopPhase, StopTicket

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "ExecuteRequest",
    "Logon",
    "RunList",
    "Session",
    "SessionLinks",
    "SessionList",
    "StartRequest",
    "StopManyRequest",
    "Task",
    "TaskLinks",
    "TaskList",
    "TaskOperation",
    "TaskResult",
    "TaskState",
]


class TaskState(enum.StrEnum):
    """Whether a task is still going."""

    RUNNING = "Running"
    FINISHED = "Finished"


class TaskOperation(enum.StrEnum):
    """What a task does (stops are the only tasks so far)."""

    STOP_SESSION = "StopSession"


@dataclass(frozen=True, kw_only=True)
class SessionLinks:
    """Where a session's related resources are."""

    self: str
    stop: str
    output: str
    runs: str


@dataclass(frozen=True, kw_only=True)
class Session:
    """A session: the fields of :class:`~spe_host._model.SessionInfo`, and links."""

    id: str
    name: str | None
    state: SessionState
    progress_percent: float | None
    progress_message: str | None
    location: str | None
    last_status: ExecutionStatus | None
    created_at: float
    last_accessed: float
    autodispose: bool
    output_offset: int
    run: str | None
    run_started_at: float | None
    run_ended_at: float | None
    stop: StopTicket | None
    links: SessionLinks


@dataclass(frozen=True, kw_only=True)
class SessionList:
    """``GET /api/sessions``: the matching sessions, oldest first."""

    sessions: list[Session]


@dataclass(frozen=True, kw_only=True)
class TaskResult:
    """How a finished task went: ``success`` and a sentence."""

    success: bool
    message: str


@dataclass(frozen=True, kw_only=True)
class TaskLinks:
    """Where a task and its session are."""

    self: str
    session: str


@dataclass(frozen=True, kw_only=True)
class Task:
    """A stop as a task to poll: the fields of its stop ticket, its state and its result.

    ``run`` is None only for a stop of a session that never ran.
    """

    id: str
    state: TaskState
    operation: TaskOperation
    session: str
    run: str | None
    requested_at: float
    requested_by: str
    reason: str | None
    phase: StopPhase
    landed_at: str | None
    landed_time: float | None
    finished_at: float | None
    status: ExecutionStatus | None
    blocked_in: str | None
    deferred: str | None
    forced_at: float | None
    note: str | None
    result: TaskResult | None
    links: TaskLinks


@dataclass(frozen=True, kw_only=True)
class TaskList:
    """A list of tasks; ``not_found`` names the ids and patterns that matched no session."""

    tasks: list[Task]
    not_found: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class RunList:
    """``GET /api/sessions/{id}/runs``: the results the session keeps, oldest first."""

    runs: list[ExecutionResult]


@dataclass(frozen=True, kw_only=True)
class Logon:
    """A logon session: its id (the credential), its role and its CSRF token.

    ``expires_at`` moves on with every use (sliding idle expiry of ``idle_timeout`` s).
    """

    id: str
    role: Role
    csrf_token: str
    expires_at: float
    idle_timeout: float


@dataclass(frozen=True, kw_only=True)
class ErrorDetail:
    """What went wrong: the wire protocol's error code and a sentence."""

    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ErrorBody:
    """The body of every error answer."""

    error: ErrorDetail


@dataclass(frozen=True, kw_only=True)
class StartRequest:
    """``?action=start``: a background run of ``code`` or of the host-side file ``path``.

    ``args`` are set as variables in the session before the script runs; ``name`` is
    the run's job name in listings.
    """

    code: str | None = None
    path: str | None = None
    args: dict[str, object] | None = None
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExecuteRequest:
    """``/execute``: run ``code`` and answer with its result (interactive: a final
    expression's value is shown)."""

    code: str
    interactive: bool = True


@dataclass(frozen=True, kw_only=True)
class StopManyRequest:
    """``POST /api/sessions/stop``: stop every session the ids and wildcards name."""

    ids: list[str]
    reason: str | None = None
    force: bool = False
