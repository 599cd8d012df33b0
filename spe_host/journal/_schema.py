"""The journal's tables, and the numbered migrations that make them (``PRAGMA user_version``).

Theory of operation
-------------------
A journal file says which schema it has in ``PRAGMA user_version``: 0 is a new,
empty file. :func:`migrate` applies every migration above the file's version, each
in its own transaction that also sets the version, so a migration that fails leaves
the file at the last one that worked. A file from a newer spe_host (a version above
:data:`CURRENT_VERSION`) is refused, never rewritten.

The tables:

* ``hosts`` - one row per host process that opened the journal (``last_seen`` moves
  at every flush, so a host that died says roughly when);
* ``streams`` - one row per session *instance*: a session's output offsets start at 0
  again when it is removed and made anew, or when the host restarts, so output is
  keyed by stream, not by session id;
* ``runs`` - every run: code (unless turned off) and its sha256, mode, principal,
  times, status, error, and the range of its stream it printed;
* ``output`` - the streams' bytes in chunks keyed by ``(stream, byte offset)``, oldest
  first in rowid order;
* ``tickets`` - every stop ticket as it ended (or as requested, while pending);
* ``audit`` - the hash-chained trail (``_chain``);
* ``meta`` - the chain's head.

``auto_vacuum = INCREMENTAL`` is set before the first table, so pruning can give the
space back to the file system (``_retention``), and so is a 16 KiB page size.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from .._errors import SpeError

__all__ = ["CURRENT_VERSION", "migrate", "version_of"]

_V1: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, pid INTEGER NOT NULL,"
    " started_at REAL NOT NULL, last_seen REAL NOT NULL, ended_at REAL)",
    "CREATE TABLE streams (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL,"
    " session TEXT NOT NULL, opened_at REAL NOT NULL, closed_at REAL, closed_why TEXT)",
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL,"
    " stream_id INTEGER NOT NULL, session TEXT NOT NULL, run TEXT NOT NULL, name TEXT,"
    " code TEXT, code_sha256 TEXT NOT NULL, filename TEXT, mode TEXT NOT NULL,"
    " interactive INTEGER NOT NULL, principal TEXT NOT NULL, connection TEXT,"
    " started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL, error TEXT,"
    " output_start INTEGER NOT NULL, output_end INTEGER)",
    "CREATE INDEX runs_session ON runs (session, started_at)",
    "CREATE INDEX runs_stream ON runs (stream_id, run)",
    # A rowid table (rowid order is age order, for the size bound) and no index on
    # ``at``: output is most of what is written, and every index costs per chunk;
    # retention scans ``at`` once a minute without reading the blobs after it.
    "CREATE TABLE output (stream_id INTEGER NOT NULL, offset INTEGER NOT NULL,"
    " at REAL NOT NULL, data BLOB NOT NULL, UNIQUE (stream_id, offset))",
    "CREATE TABLE tickets (host_id INTEGER NOT NULL, id TEXT NOT NULL,"
    " stream_id INTEGER NOT NULL, session TEXT NOT NULL, run TEXT NOT NULL,"
    " requested_at REAL NOT NULL, requested_by TEXT NOT NULL, reason TEXT,"
    " phase TEXT NOT NULL, landed_at TEXT, landed_time REAL, finished_at REAL,"
    " status TEXT, forced_at REAL, note TEXT, PRIMARY KEY (host_id, id))",
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL,"
    " principal TEXT, session TEXT, run TEXT, detail TEXT NOT NULL, prev TEXT NOT NULL,"
    " hash TEXT NOT NULL)",
    "CREATE INDEX audit_at ON audit (at)",
)

#: Migration ``n`` takes a file from version ``n - 1`` to ``n``.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {1: _V1}
#: The schema this spe_host writes.
CURRENT_VERSION: Final = max(MIGRATIONS)


def version_of(db: sqlite3.Connection) -> int:
    """The schema version of an open journal (0: empty)."""
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite3.Connection, path: str) -> int:
    """Bring the journal at ``path`` to :data:`CURRENT_VERSION`; return the version it had.

    ``db`` is in autocommit mode (``isolation_level=None``); each migration is one
    transaction.

    Raises:
        SpeError: The file was written by a newer spe_host.
    """
    found = version_of(db)
    if found > CURRENT_VERSION:
        raise SpeError(
            f"the journal {path} has schema version {found}, newer than this spe_host "
            f"knows ({CURRENT_VERSION}); use the spe_host that wrote it, or another --journal"
        )
    if found == 0:
        # Output is written in chunks of up to 64 KiB: larger pages write them with
        # half the CPU of the default 4 KiB ones. (Before auto_vacuum, or it is ignored.)
        db.execute("PRAGMA page_size = 16384")
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    for version in range(found + 1, CURRENT_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found
