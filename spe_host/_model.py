"""The value types every layer shares: states, outcomes, snapshots, results.

Theory of operation
-------------------
These are plain frozen dataclasses and string enums, with no trio and no I/O, so the
engine can produce them, the wire codec can encode them, and a client can hand them
back to its caller unchanged: one type for one idea, from the engine to the CLI.

Times are Unix seconds (``float``), the form JSON, the journal and the HTTP API carry;
the edges format them for people. Enums are :class:`enum.StrEnum`, so a value is also
its wire string (``SessionState.IDLE == "idle"``).

The live objects (a :class:`~spe_host.ScriptSession` and its namespace) stay in the
engine; :class:`SessionInfo` is the snapshot of one that crosses layers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "WILDCARDS",
    "Completion",
    "ExecutionInfo",
    "ExecutionResult",
    "ExecutionStatus",
    "OutputChunk",
    "Progress",
    "ProgressReport",
    "Role",
    "SessionInfo",
    "SessionState",
    "StateChange",
    "StopOutcome",
    "byte_length",
    "check_session_id",
    "dropped_marker",
    "is_pattern",
    "printable",
]

#: The characters that make a target an ``fnmatch`` pattern rather than an exact id.
WILDCARDS: Final = "*?["
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")


def is_pattern(target: str) -> bool:
    """True if ``target`` holds a wildcard (``*``, ``?`` or ``[``), so it names a pattern."""
    return any(c in target for c in WILDCARDS)


def byte_length(text: str) -> int:
    """How many bytes of an output stream ``text`` stands for.

    The one rule every layer uses to turn output text into offsets: the stream is
    UTF-8, and bytes that are not UTF-8 travel as lone surrogates (``surrogateescape``,
    what ``os.listdir`` gives for undecodable names), so the count is exact.
    """
    return len(text.encode("utf-8", "surrogateescape"))


def printable(text: str) -> str:
    """``text`` fit for a terminal: undecodable bytes shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def dropped_marker(count: int) -> str:
    """The line that stands in for ``count`` bytes of output dropped at a bound."""
    return f"[... {count} bytes dropped]\n"


def check_session_id(session: str) -> str:
    """Return ``session`` if it is a valid session id.

    Raises:
        ValueError: It is not: ids are 1-128 letters, digits and ``_ . : @ + -``.
    """
    if _SESSION_ID.fullmatch(session) is None:
        raise ValueError(
            f"{session!r} is not a valid session id; use 1-128 letters, digits and "
            "any of _ . : @ + -"
        )
    return session


class SessionState(enum.StrEnum):
    """The state of a session."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    CLOSED = "closed"

    @property
    def active(self) -> bool:
        """True for RUNNING and STOPPING: an execution is still going."""
        return self in (SessionState.RUNNING, SessionState.STOPPING)


class ExecutionStatus(enum.StrEnum):
    """How an execution ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"


class StopOutcome(enum.StrEnum):
    """What ``stop`` did for one session."""

    REQUESTED = "requested"
    ALREADY_STOPPING = "already_stopping"
    NOT_RUNNING = "not_running"
    NOT_FOUND = "not_found"


class Role(enum.StrEnum):
    """What a principal may do.

    An ``admin`` may run code; an ``operator`` may list, receive, wait and stop.
    A :class:`str` enum: ``Role.ADMIN == "admin"`` and ``str(Role.ADMIN) == "admin"``.
    """

    ADMIN = "admin"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Progress:
    """Progress reported by a script with ``spe.progress(percent, message)``."""

    percent: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """A snapshot of a session, as ``start``, ``sessions`` and ``wait`` report it.

    Attributes:
        id: The session id.
        name: A human-friendly name, or None.
        state: IDLE, RUNNING, STOPPING or CLOSED.
        progress_percent: The last percentage the script reported, or None.
        progress_message: The last progress message the script reported, or None.
        location: ``file:line`` of the statement running now, or None.
        last_status: The status of the last execution, or None if there was none.
        created_at: When the session was created (Unix time, seconds).
        last_accessed: When the session was last used (Unix time, seconds).
        autodispose: Whether the session goes away once its result has been received.
        output_offset: The end offset (UTF-8 bytes) of the session's output stream.
    """

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

    @property
    def progress(self) -> Progress:
        """The progress as one value."""
        return Progress(self.progress_percent, self.progress_message)

    @property
    def active(self) -> bool:
        """True while RUNNING or STOPPING."""
        return self.state.active


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """The outcome of one execution, as ``execute`` and ``receive`` return it.

    Attributes:
        session: The id of the session it ran in.
        status: COMPLETED, FAILED or ABORTED.
        value: In interactive mode, the repr of the displayed expression's value;
            otherwise None.
        error: The formatted traceback (script frames only), or None.
        output: The text the execution printed (led by a marker if the session's
            output bound dropped some of it).
        started_at: When it started (Unix time, seconds).
        finished_at: When it ended (Unix time, seconds).
    """

    session: str
    status: ExecutionStatus
    value: str | None
    error: str | None
    output: str
    started_at: float
    finished_at: float

    @property
    def session_id(self) -> str:
        """The session's id (the name the 0.1 engine used)."""
        return self.session


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """One completion candidate.

    Attributes:
        text: The text that replaces the word being completed.
        start: The position (code points) in the request's text where that word begins.
        display: What a menu shows for this candidate.
        kind: What the candidate is (``function``, ``module``, ``keyword`` ...).
    """

    text: str
    start: int
    display: str
    kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputChunk:
    """A piece of a session's output stream.

    Attributes:
        session: The session id.
        offset: The byte offset of ``text`` in the stream (see :func:`byte_length`).
        text: The output text; bytes that are not UTF-8 are lone surrogates.
        dropped: Bytes lost just before this chunk because the output buffer was full.
    """

    session: str
    offset: int
    text: str
    dropped: int = 0

    @property
    def end(self) -> int:
        """The offset just past this chunk: where to resume."""
        return self.offset + byte_length(self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressReport:
    """A session's progress as a stream of its output carries it to a client.

    Attributes:
        session: The session id.
        percent: The percentage reported, or None.
        message: The message reported, or None.
    """

    session: str
    percent: float | None = None
    message: str | None = None

    @property
    def progress(self) -> Progress:
        """The progress as the engine keeps it."""
        return Progress(self.percent, self.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChange:
    """A session changed state or progress; what the host pushes to its watchers.

    Attributes:
        session: The snapshot of the session after the change.
        previous: Its state before the change (equal to ``session.state`` when only
            the progress or the location changed).
    """

    session: SessionInfo
    previous: SessionState


#: The 0.1 name of the execution result as the wire carried it; the same type now.
ExecutionInfo = ExecutionResult
