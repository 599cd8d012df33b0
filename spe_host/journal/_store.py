"""The write side of the journal: the SQL of every record, run by the writer thread only.

Theory of operation
-------------------
A :class:`Store` owns the journal's one read-write connection (autocommit mode; the
writer opens one transaction per flush) and the audit chain's head. Every method
writes one record inside the writer's transaction; the chain's head moves in
:attr:`Store.pending` and becomes :attr:`Store.head` only when the writer commits, so
a failed flush that rolls back leaves the chain where the file has it.

:meth:`begin_host` runs once, right after the file is opened and locked: the lock
proves no other host is alive on this file, so every run still ``running`` belongs to
a process that is gone. Those runs are marked ``interrupted`` with the error
"interrupted: host ended", their output end is what was flushed of their stream, and
their end time is the last flush of the host they ran in (``hosts.last_seen``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._chain import Head, append

__all__ = ["INTERRUPTED", "Store"]

#: The error an interrupted run carries.
INTERRUPTED = "interrupted: host ended"


class Store:
    """The journal's write side (writer thread only; see the module docstring).

    Args:
        db: The read-write connection, in autocommit mode, schema current.
        path: The journal's file, for messages.
    """

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self.host_id = 0
        row = db.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
        self.head = Head() if row is None else Head.parse(row[0])
        self.pending = self.head

    def audit(self, at: float, kind: str, **fields: Any) -> None:
        """Append one audit row (inside the current transaction)."""
        self.pending = append(self.db, self.pending, at=at, kind=kind, **fields)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; the chain's head is saved with it, and moves only if it commits."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._save_head()
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.pending = self.head
            raise
        self.head = self.pending

    def _save_head(self) -> None:
        if self.pending != self.head:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?)",
                (str(self.pending),),
            )

    # -- the host ---------------------------------------------------------------------

    def begin_host(self, name: str, pid: int, at: float) -> int:
        """Record this host; mark what the previous ones left running. Returns how many."""
        cursor = self.db.execute(
            "INSERT INTO hosts (name, pid, started_at, last_seen) VALUES (?, ?, ?, ?)",
            (name, pid, at, at),
        )
        assert cursor.lastrowid is not None
        self.host_id = cursor.lastrowid
        left = self.db.execute(
            "SELECT runs.id, runs.session, runs.run, runs.stream_id, hosts.last_seen "
            "FROM runs JOIN hosts ON hosts.id = runs.host_id "
            "WHERE runs.status = 'running' AND runs.host_id != ?",
            (self.host_id,),
        ).fetchall()
        for row_id, session, run, stream_id, last_seen in left:
            end = self.db.execute(
                "SELECT MAX(offset + LENGTH(data)) FROM output WHERE stream_id = ?",
                (stream_id,),
            ).fetchone()[0]
            self.db.execute(
                "UPDATE runs SET status = 'interrupted', error = ?, finished_at = ?,"
                " output_end = COALESCE(?, output_start) WHERE id = ?",
                (INTERRUPTED, last_seen, end, row_id),
            )
            self.audit(
                at, "run_interrupted", session=session, run=run, detail={"error": INTERRUPTED}
            )
        self.db.execute(
            "UPDATE hosts SET ended_at = last_seen WHERE ended_at IS NULL AND id != ?",
            (self.host_id,),
        )
        self.db.execute(
            "UPDATE streams SET closed_at = ?, closed_why = 'host ended'"
            " WHERE closed_at IS NULL AND host_id != ?",
            (at, self.host_id),
        )
        self.audit(at, "host_started", detail={"name": name, "pid": pid})
        return len(left)

    def seen(self, at: float) -> None:
        """The host is alive at ``at`` (every flush says so)."""
        self.db.execute("UPDATE hosts SET last_seen = ? WHERE id = ?", (at, self.host_id))

    def end_host(self, at: float) -> None:
        """The host closes its journal."""
        self.db.execute(
            "UPDATE hosts SET ended_at = ?, last_seen = ? WHERE id = ?", (at, at, self.host_id)
        )
        self.audit(at, "host_ended")

    # -- sessions and runs --------------------------------------------------------------

    def open_stream(self, stream_id: int, session: str, at: float) -> None:
        """A session instance begins: its output is stream ``stream_id``."""
        self.db.execute(
            "INSERT INTO streams (id, host_id, session, opened_at) VALUES (?, ?, ?, ?)",
            (stream_id, self.host_id, session, at),
        )

    def close_stream(
        self, stream_id: int, session: str, at: float, why: str, by: str | None
    ) -> None:
        """A session went: removed (by whom), expired or disposed of."""
        self.db.execute(
            "UPDATE streams SET closed_at = ?, closed_why = ? WHERE id = ?", (at, why, stream_id)
        )
        self.audit(at, "session_removed", principal=by, session=session, detail={"why": why})

    def run_started(self, stream_id: int, fields: dict[str, Any]) -> None:
        """A run began (``fields``: the columns of ``runs``)."""
        self.db.execute(
            "INSERT INTO runs (host_id, stream_id, session, run, name, code, code_sha256,"
            " filename, mode, interactive, principal, connection, started_at, status,"
            " output_start) VALUES (:host_id, :stream_id, :session, :run, :name, :code,"
            " :code_sha256, :filename, :mode, :interactive, :principal, :connection,"
            " :started_at, 'running', :output_start)",
            {**fields, "host_id": self.host_id, "stream_id": stream_id},
        )
        self.audit(
            fields["started_at"],
            "run_started",
            principal=fields["principal"],
            session=fields["session"],
            run=fields["run"],
            detail={
                "code_sha256": fields["code_sha256"],
                "mode": fields["mode"],
                "interactive": bool(fields["interactive"]),
                "connection": fields["connection"],
                "name": fields["name"],
            },
        )

    def run_finished(
        self,
        stream_id: int,
        session: str,
        run: str,
        status: str,
        error: str | None,
        at: float,
        output_end: int,
    ) -> None:
        """A run ended."""
        self.db.execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = ?, output_end = ?"
            " WHERE stream_id = ? AND run = ?",
            (status, error, at, output_end, stream_id, run),
        )
        last_line = None if not error else error.rstrip().rpartition("\n")[2]
        self.audit(
            at,
            "run_finished",
            session=session,
            run=run,
            detail={"status": status, "error": last_line, "output_end": output_end},
        )

    def output(self, rows: list[tuple[int, int, float, bytes]]) -> None:
        """Chunks of output: ``(stream, offset, at, bytes)``."""
        self.db.executemany(
            "INSERT OR REPLACE INTO output (stream_id, offset, at, data) VALUES (?, ?, ?, ?)",
            rows,
        )

    def ticket(self, stream_id: int, ticket: dict[str, Any], at: float) -> None:
        """A stop ticket as it is now: requested, or as its run ended."""
        self.db.execute(
            "INSERT OR REPLACE INTO tickets (host_id, id, stream_id, session, run,"
            " requested_at, requested_by, reason, phase, landed_at, landed_time, finished_at,"
            " status, forced_at, note) VALUES (:host_id, :id, :stream_id, :session, :run,"
            " :requested_at, :requested_by, :reason, :phase, :landed_at, :landed_time,"
            " :finished_at, :status, :forced_at, :note)",
            {**ticket, "host_id": self.host_id, "stream_id": stream_id},
        )
        finished = ticket["phase"] == "finished"
        detail = {
            key: ticket[key]
            for key in (
                ("id", "reason", "landed_at", "status", "forced_at", "note")
                if finished
                else ("id", "reason")
            )
        }
        self.audit(
            at,
            "stop_finished" if finished else "stop_requested",
            principal=ticket["requested_by"],
            session=ticket["session"],
            run=ticket["run"],
            detail=detail,
        )

    def auth(self, at: float, ok: bool, who: str, detail: dict[str, Any]) -> None:
        """An authentication succeeded or was refused."""
        self.audit(at, "login" if ok else "login_refused", principal=who, detail=detail)
