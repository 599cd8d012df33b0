"""The read side of a journal: runs, a run's output, the audit trail and its verification.

Plain synchronous functions on a read-only connection (``file:PATH?mode=ro``), so the
CLI reads a journal with no host running, and while one writes (WAL lets readers
in). Nothing here takes the journal's lock or changes the file.

Run ids repeat: a session's runs are numbered from 1 again when the session is made
anew or the host restarts. :func:`runs` lists every recorded run of a session, oldest
first; :func:`run_output` takes the newest run with the id asked for.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import NoResult, SpeError
from .._rules import decode_output
from ._chain import Head, Problem, verify_rows

__all__ = [
    "AuditEntry",
    "RunRecord",
    "Verification",
    "audit",
    "open_readonly",
    "run_output",
    "runs",
    "verify",
]


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """Open the journal at ``path`` for reading only.

    Raises:
        SpeError: There is no journal there, or it cannot be read.
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise SpeError(
            f"there is no journal at {file}; name it with --journal PATH, or the host "
            "with --name (a host journals to its state directory unless --no-journal)"
        )
    try:
        db = sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        db.execute("SELECT 1 FROM runs LIMIT 1")
    except sqlite3.Error as exc:
        raise SpeError(f"the journal {file} cannot be read: {exc}") from None
    return db


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One recorded run.

    Attributes:
        session: The session id.
        run: The run's id (``etl#7``).
        name: Its job name, or None.
        status: ``running``, ``completed``, ``failed``, ``aborted`` or ``interrupted``.
        error: The traceback or the reason it ended, or None.
        started_at: When it started (Unix seconds).
        finished_at: When it ended, or None while it runs.
        principal: Who ran it (``uid 1000 (pid 4242)``, ``admin at 127.0.0.1:5555``).
        connection: Which connection or logon session, if known.
        mode: ``worker`` or ``loop``.
        interactive: Run from a REPL (``execute``) rather than as a job (``start``).
        code: The code, or None when the host did not record code.
        code_sha256: The code's sha256, always.
        output_bytes: How many bytes of output it printed.
        host_pid: The pid of the host process it ran in.
        stop_by: Who asked it to stop, if anyone did.
        stop_reason: The reason they gave, if any.
        stop_landed_at: Where the stop landed, if it did.
    """

    session: str
    run: str
    name: str | None
    status: str
    error: str | None
    started_at: float
    finished_at: float | None
    principal: str
    connection: str | None
    mode: str
    interactive: bool
    code: str | None
    code_sha256: str
    output_bytes: int
    host_pid: int
    stop_by: str | None
    stop_reason: str | None
    stop_landed_at: str | None


_RUNS = (
    "SELECT runs.*, hosts.pid AS host_pid, tickets.requested_by AS stop_by,"
    " tickets.reason AS stop_reason, tickets.landed_at AS stop_landed_at,"
    " COALESCE(runs.output_end, (SELECT MAX(offset + LENGTH(data)) FROM output"
    "  WHERE output.stream_id = runs.stream_id), runs.output_start) AS end_offset"
    " FROM runs JOIN hosts ON hosts.id = runs.host_id"
    " LEFT JOIN tickets ON tickets.stream_id = runs.stream_id AND tickets.run = runs.run"
)


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        session=row["session"],
        run=row["run"],
        name=row["name"],
        status=row["status"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        principal=row["principal"],
        connection=row["connection"],
        mode=row["mode"],
        interactive=bool(row["interactive"]),
        code=row["code"],
        code_sha256=row["code_sha256"],
        output_bytes=max(0, row["end_offset"] - row["output_start"]),
        host_pid=row["host_pid"],
        stop_by=row["stop_by"],
        stop_reason=row["stop_reason"],
        stop_landed_at=row["stop_landed_at"],
    )


def runs(db: sqlite3.Connection, session: str) -> list[RunRecord]:
    """Every recorded run of ``session`` (a wildcard matches several), oldest first."""
    rows = db.execute(f"{_RUNS} ORDER BY runs.started_at, runs.id").fetchall()
    return [_record(row) for row in rows if fnmatch.fnmatchcase(row["session"], session)]


def run_output(db: sqlite3.Connection, run: str) -> tuple[RunRecord, str]:
    """The newest recorded run with the id ``run``, and the output it printed.

    Output the journal no longer holds (pruned, or never flushed before a crash) is
    left out; a marker says how many bytes are missing before what is there.

    Raises:
        NoResult: The journal has no run with that id.
    """
    row = db.execute(f"{_RUNS} WHERE runs.run = ? ORDER BY runs.id DESC LIMIT 1", (run,)).fetchone()
    if row is None:
        raise NoResult(f"the journal has no run {run}; list the runs with spe-host runs SESSION")
    start, end = row["output_start"], row["end_offset"]
    pieces = db.execute(
        "SELECT offset, data FROM output WHERE stream_id = ? AND offset < ?"
        " AND offset + LENGTH(data) > ? ORDER BY offset",
        (row["stream_id"], end, start),
    ).fetchall()
    out = bytearray()
    position = start
    for offset, data in pieces:
        if offset > position:
            out += f"[... {offset - position} bytes not in the journal]\n".encode()
            position = offset
        out += data[position - offset : end - offset]
        position = min(end, offset + len(data))
    return _record(row), decode_output(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One row of the audit trail (``detail`` decoded)."""

    seq: int
    at: float
    kind: str
    principal: str | None
    session: str | None
    run: str | None
    detail: dict[str, Any]
    hash: str


def _who_matches(principal: str | None, who: str) -> bool:
    if principal is None:
        return False
    if who.isdigit():  # a bare number is a uid
        return re.search(rf"\buid {who}\b", principal) is not None
    return who in principal


def audit(
    db: sqlite3.Connection,
    *,
    since: float | None = None,
    who: str | None = None,
    session: str | None = None,
) -> list[AuditEntry]:
    """The audit rows, oldest first, filtered.

    Args:
        since: Only rows at or after this Unix time.
        who: Only rows of this principal: a uid (``1000``) or text it contains.
        session: Only rows of sessions matching this wildcard.
    """
    rows = db.execute(
        "SELECT * FROM audit WHERE at >= ? ORDER BY seq", (since if since is not None else 0.0,)
    ).fetchall()
    found = []
    for row in rows:
        if who is not None and not _who_matches(row["principal"], who):
            continue
        if session is not None and not (
            row["session"] is not None and fnmatch.fnmatchcase(row["session"], session)
        ):
            continue
        found.append(
            AuditEntry(
                seq=row["seq"],
                at=row["at"],
                kind=row["kind"],
                principal=row["principal"],
                session=row["session"],
                run=row["run"],
                detail=json.loads(row["detail"]),
                hash=row["hash"],
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``audit --verify`` found.

    Attributes:
        rows: How many audit rows were checked.
        head: The chain's newest seq and hash, to keep elsewhere and compare later.
        problems: Each edited, deleted or replaced row, named (empty: it verifies).
    """

    rows: int
    head: Head
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """True when the chain verifies."""
        return not self.problems


def verify(db: sqlite3.Connection) -> Verification:
    """Check the audit trail's hash chain (``_chain``) and its recorded head."""
    rows = db.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    meta = db.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    head = None if meta is None else Head.parse(str(meta[0]))
    problems = verify_rows(rows, head)
    last = Head(rows[-1]["seq"], rows[-1]["hash"]) if rows else Head()
    return Verification(len(rows), last, problems)
