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
import reprlib
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_PATTERNS",
    "MAX_PATTERN_LENGTH",
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
    "check_patterns",
    "check_session_id",
    "decode_output",
    "dropped_marker",
    "encode_output",
    "is_pattern",
    "parse_run_id",
    "printable",
    "run_id",
]

#: The characters that make a target an ``fnmatch`` pattern rather than an exact id.
WILDCARDS: Final = "*?["
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")


def is_pattern(target: str) -> bool:
    """True if ``target`` holds a wildcard (``*``, ``?`` or ``[``), so it names a pattern."""
    return any(c in target for c in WILDCARDS)


#: The longest pattern (or id) a request may name, in characters. Ids have at most
#: 128; the rest is room for classes such as ``[0-9]``.
MAX_PATTERN_LENGTH: Final = 1024
#: The most ids and patterns one request may name.
MAX_PATTERNS: Final = 64


def check_patterns(
    patterns: tuple[str, ...],
    *,
    max_length: int = MAX_PATTERN_LENGTH,
    max_count: int = MAX_PATTERNS,
) -> tuple[str, ...]:
    """Return ``patterns`` if they are within the limits a request must keep.

    Args:
        patterns: The ids and wildcards one request names.
        max_length: The longest one allowed, in characters.
        max_count: The most allowed.

    Raises:
        ValueError: There are too many, or one is too long.
    """
    if len(patterns) > max_count:
        raise ValueError(
            f"the request names {len(patterns)} sessions or patterns; at most {max_count} "
            "are allowed, so split it or use a wildcard"
        )
    for pattern in patterns:
        if len(pattern) > max_length:
            raise ValueError(
                f"a pattern of {len(pattern)} characters was refused; patterns may have at "
                f"most {max_length}"
            )
    return patterns


#: Lone surrogates that stand for no byte: surrogateescape uses U+DC80-U+DCFF only.
_NOT_A_BYTE: Final = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def encode_output(text: str) -> bytes:
    """The bytes of an output stream that ``text`` stands for: the one rule.

    The stream is UTF-8, and bytes that are not UTF-8 travel as the lone surrogates
    U+DC80-U+DCFF (``surrogateescape``, what ``os.listdir`` gives for undecodable
    names), so they go back to the very bytes they came from. Any other lone
    surrogate (a script printing ``"\\ud800"``) stands for no byte: it is written as
    U+FFFD, so every text can be written.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _NOT_A_BYTE.sub("\ufffd", text).encode("utf-8", "surrogateescape")


def decode_output(data: bytes | bytearray | memoryview) -> str:
    """The text of the output bytes ``data``; :func:`encode_output` gives them back."""
    return str(data, "utf-8", "surrogateescape")


def byte_length(text: str) -> int:
    """How many bytes of an output stream ``text`` stands for (see :func:`encode_output`).

    The one rule every layer uses to turn output text into offsets, so the count is
    exact for any text a chunk of the stream carries.
    """
    return len(encode_output(text))


def printable(text: str) -> str:
    """``text`` fit for a terminal: undecodable bytes shown as U+FFFD."""
    return encode_output(text).decode("utf-8", "replace")


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
        name: The job name of the current or last run, or None.
        state: IDLE, RUNNING, STOPPING or CLOSED.
        progress_percent: The last percentage the current or last run reported, or None.
        progress_message: The last progress message that run reported, or None.
        location: ``file:line`` of the statement running now, or None.
        last_status: The status of the last run that ended, or None if none has.
        created_at: When the session was created (Unix time, seconds).
        last_accessed: When the session was last used (Unix time, seconds).
        autodispose: Whether the session goes away once its results have been received.
        output_offset: The end offset (UTF-8 bytes) of the session's output stream.
        run: The id of the current or last run (``etl#7``), or None before the first.
        run_started_at: When that run started (Unix time, seconds), or None.
        run_ended_at: When that run ended (Unix time, seconds); None while it runs.

    ``name``, the progress and ``location`` belong to that run: a run started without
    a name has none, and each run starts with no progress.
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
    # Defaults: optional on the wire, so a 1.2 client still reads a 1.1 host's sessions.
    run: str | None = None
    run_started_at: float | None = None
    run_ended_at: float | None = None

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
        run: The run's id (``etl#7``, see :func:`run_id`); empty only in a result
            from a host older than protocol 1.2.
    """

    session: str
    status: ExecutionStatus
    value: str | None
    error: str | None
    output: str
    started_at: float
    finished_at: float
    run: str = ""

    @property
    def session_id(self) -> str:
        """The session's id (the name the 0.1 engine used)."""
        return self.session


def run_id(session: str, number: int) -> str:
    """The id of a session's ``number``-th run: ``run_id("etl", 7) == "etl#7"``.

    Session ids hold no ``#``, so the id splits back unambiguously (:func:`parse_run_id`).
    """
    return f"{session}#{number}"


def parse_run_id(run: str) -> tuple[str, int]:
    """Split a run id such as ``etl#7`` into its session id and its number.

    Raises:
        ValueError: It is not a valid session id, ``#``, and a number from 1 up.
    """
    session, sep, number = run.rpartition("#")
    if (
        not sep
        or _SESSION_ID.fullmatch(session) is None
        or not number.isascii()
        or not number.isdigit()
        or number.startswith("0")
        or len(number) > 18
    ):
        raise ValueError(
            f"{reprlib.repr(run)} is not a valid run id; a run id is a session id, '#' "
            "and the run's number from 1 up, such as etl#7"
        )
    return session, int(number)


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
