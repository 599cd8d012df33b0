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
from collections.abc import Sequence

from ._deferred import DeferredText, OutputBytes
from ._records import record
from ._rules import (
    DEFAULT_REQUEST_LIMITS,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    WILDCARDS,
    RequestLimits,
    byte_length,
    check_patterns,
    check_session_id,
    decode_output,
    dropped_marker,
    encode_output,
    is_pattern,
    parse_run_id,
    printable,
    run_id,
)

__all__ = [
    "DEFAULT_REQUEST_LIMITS",
    "MAX_PATTERNS",
    "MAX_PATTERN_LENGTH",
    "WILDCARDS",
    "Completion",
    "ExecutionInfo",
    "ExecutionResult",
    "ExecutionStatus",
    "InputPrompt",
    "OutputChunk",
    "Progress",
    "ProgressReport",
    "RequestLimits",
    "Role",
    "SessionInfo",
    "SessionState",
    "Signature",
    "StateChange",
    "StopOutcome",
    "StopPhase",
    "StopTicket",
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


class StopPhase(enum.StrEnum):
    """Where a requested stop is: asked for, landed in the script, or the run is over."""

    REQUESTED = "requested"
    LANDED = "landed"
    FINISHED = "finished"


@record(kw_only=True)
class StopTicket:
    """One requested stop of one run, from the request to the run's end.

    A repeated stop of the same run returns the same ticket (the first reason wins).

    Attributes:
        id: The ticket's id: short, URL-safe, unique within the host.
        session: The session id.
        run: The run's id (``etl#7``).
        requested_at: When the stop was first requested (Unix time, seconds).
        requested_by: Who asked, for people: ``uid 1000 (pid 4242)`` on a unix
            socket, the role and address on TCP, ``embedding program`` in-process.
        reason: The reason the requester gave, or None.
        phase: REQUESTED, then LANDED once the script met the stop, then FINISHED
            when the run ended (a run that ended first goes straight to FINISHED).
        landed_at: Where it landed: ``job.py:13`` (the statement that raised
            ``ScriptAborted``) or ``cancelled while awaiting trio.sleep()``; None
            until it lands, and for ever if the run ended before.
        landed_time: When it landed (Unix time, seconds), or None.
        finished_at: When the run ended (Unix time, seconds), or None.
        status: The run's final status once finished, or None.
        blocked_in: While REQUESTED, what keeps it from landing, read from the
            session thread's innermost frame: ``time.sleep() called at job.py:12
            for 3.2 s``; None when nothing blocks it.
        deferred: While REQUESTED inside a stop-deferral zone, the zone's reason
            (``spe.critical("committing batch 12")``), or None.
        forced_at: When the stop was escalated (``force``), or None.
        note: What the stop could not do, for people (a ``force`` that loop mode
            refuses, or one that waits for a deferral zone), or None.
    """

    id: str
    session: str
    run: str
    requested_at: float
    requested_by: str
    reason: str | None = None
    phase: StopPhase = StopPhase.REQUESTED
    landed_at: str | None = None
    landed_time: float | None = None
    finished_at: float | None = None
    status: ExecutionStatus | None = None
    blocked_in: str | None = None
    deferred: str | None = None
    forced_at: float | None = None
    note: str | None = None


@record
class Progress:
    """Progress reported by a script with ``spe.progress(percent, message)``."""

    percent: float | None = None
    message: str | None = None


# weakref_slot: the wire codec remembers a snapshot's JSON text while the snapshot lives
# (the engine hands out the same one until the session changes).
@record(kw_only=True, weakref_slot=True)
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
        stop: The stop ticket of that run, if a stop was requested, else None.

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
    stop: StopTicket | None = None

    @property
    def progress(self) -> Progress:
        """The progress as one value."""
        return Progress(self.progress_percent, self.progress_message)

    @property
    def active(self) -> bool:
        """True while RUNNING or STOPPING."""
        return self.state.active


@record(kw_only=True)
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


# The output may be held as bytes until first read (see _deferred).
_OUTPUT = DeferredText(ExecutionResult.__dict__["output"])
type.__setattr__(ExecutionResult, "output", _OUTPUT)


def defer_output(result: ExecutionResult, raw: OutputBytes) -> ExecutionResult:
    """``result``, just built, with its output standing for ``raw`` until first read."""
    _OUTPUT.defer(result, raw)
    return result


@record(kw_only=True)
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


class InputPrompt(str):
    """The prompt of a script's ``input()`` or ``getpass.getpass()``, as an input handler gets it.

    It is the prompt text itself (a :class:`str`), so a handler written for a plain
    prompt keeps working; ``secret`` says the answer must not be shown as it is typed.

    Args:
        text: The prompt.
        secret: Whether the script asked with ``getpass.getpass()``.
    """

    secret: bool

    def __new__(cls, text: str = "", *, secret: bool = False) -> InputPrompt:
        prompt = super().__new__(cls, text)
        prompt.secret = secret
        return prompt


@record(kw_only=True)
class Signature:
    """The signature of the callable whose call the cursor is in.

    ``str()`` of it is the signature as written: ``f(a, b=2)``.

    Attributes:
        name: The callable's name.
        params: Its parameters, each as a signature writes it (``b=2``, ``*args``).
        index: The position in ``params`` of the argument at the cursor, or None.
        doc: The first line of its docstring; empty without one.
    """

    name: str
    params: list[str]
    index: int | None = None
    doc: str = ""

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


@record(kw_only=True)
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
        raw = _CHUNK_TEXT.peek(self)
        if raw is not None:
            return self.offset + raw.size()
        return self.offset + byte_length(self.text)


# A follower's chunk holds its bytes until its text is first read (see _deferred): a
# binary output frame sends them as they are.
_CHUNK_TEXT = DeferredText(OutputChunk.__dict__["text"])
type.__setattr__(OutputChunk, "text", _CHUNK_TEXT)


def output_chunk(
    session: str, offset: int, pieces: Sequence[bytes | memoryview], dropped: int = 0
) -> OutputChunk:
    """A chunk whose text stands for ``pieces`` (output bytes that never change)
    until first read."""
    chunk = OutputChunk(session=session, offset=offset, text="", dropped=dropped)
    _CHUNK_TEXT.defer(chunk, OutputBytes(0, pieces))
    return chunk


def chunk_bytes(chunk: OutputChunk) -> Sequence[bytes | memoryview]:
    """The output bytes ``chunk`` stands for, in pieces: those it was made of when
    its text was never decoded, else the text's (:func:`encode_output`)."""
    raw = _CHUNK_TEXT.peek(chunk)
    return raw.pieces if raw is not None else [encode_output(chunk.text)]


@record(kw_only=True)
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


@record(kw_only=True)
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
