"""Retention: prune what is older than the retention, and keep the file under its size bound.

Theory of operation
-------------------
:func:`prune` runs in the writer's thread (``Writer.housekeep``), at open and then
every minute. With a retention (``--journal-retention 30d``) everything recorded
before ``now - retention`` goes: output, finished runs, finished stop tickets, closed
streams, ended hosts without runs, and the prefix of the audit trail. The audit
prefix is replaced by a ``pruned`` row at the chain's end that carries the hash the
first row left continues from (``_chain``), so the trail still verifies.

With a size bound (``--journal-max-size 1G``) the output goes first, oldest first, a
quarter of its rows at a time, since output is what makes a journal big; when no
output is left and the file is still too big, the oldest half of the remaining time
span is pruned as above. What counts is the pages in use; the freed pages are given
back to the file system with ``incremental_vacuum``.

Parse the command line's values with :func:`parse_duration` and :func:`parse_size`.
"""

from __future__ import annotations

import re
import time

from ._store import Store

__all__ = ["parse_duration", "parse_size", "prune", "used_bytes"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([KMGT]?)i?B?", re.IGNORECASE)
_BYTES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# The most pruning steps one run of the size bound takes.
_SIZE_STEPS = 16


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (or plain seconds) as seconds.

    Raises:
        ValueError: It is not such a duration.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write it like 30d, 12h, 90m or 45s")
    return float(match[1]) * _SECONDS[match[2]]


def parse_size(text: str) -> int:
    """``1G``, ``500M``, ``64KiB`` (or plain bytes) as bytes.

    Raises:
        ValueError: It is not such a size.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size; write it like 1G, 500M or 64K")
    return int(float(match[1]) * _BYTES[match[2].upper()])


def used_bytes(store: Store) -> int:
    """The bytes of the journal's pages in use (free pages not counted)."""
    db = store.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def prune(
    store: Store, *, retention: float | None, max_size: int | None, now: float | None = None
) -> None:
    """Apply the retention and the size bound (see the module docstring)."""
    now = time.time() if now is None else now
    if retention is not None:
        prune_before(store, now - retention, now)
    if max_size is not None:
        for _ in range(_SIZE_STEPS):
            if used_bytes(store) <= max_size:
                break
            if not _drop_oldest_output(store):
                oldest = store.db.execute("SELECT MIN(at) FROM audit").fetchone()[0]
                if oldest is None:
                    break
                prune_before(store, oldest + (now - oldest) / 2, now)
    store.db.execute("PRAGMA incremental_vacuum")


def _drop_oldest_output(store: Store) -> bool:
    db = store.db
    count = db.execute("SELECT COUNT(*) FROM output").fetchone()[0]
    if not count:
        return False
    with store.transaction():
        db.execute(
            "DELETE FROM output WHERE rowid IN (SELECT rowid FROM output ORDER BY rowid LIMIT ?)",
            (max(1, count // 4),),
        )
    return True


def prune_before(store: Store, cutoff: float, now: float) -> None:
    """Delete what was recorded before ``cutoff``; record the pruned audit prefix."""
    db = store.db
    with store.transaction():
        db.execute("DELETE FROM output WHERE at < ?", (cutoff,))
        db.execute(
            "DELETE FROM runs WHERE status != 'running' AND COALESCE(finished_at, started_at) < ?",
            (cutoff,),
        )
        db.execute("DELETE FROM tickets WHERE phase = 'finished' AND requested_at < ?", (cutoff,))
        db.execute(
            "DELETE FROM streams WHERE closed_at < ? AND id NOT IN (SELECT stream_id FROM runs)",
            (cutoff,),
        )
        db.execute(
            "DELETE FROM hosts WHERE ended_at < ? AND id != ?"
            " AND id NOT IN (SELECT host_id FROM runs)",
            (cutoff, store.host_id),
        )
        last = db.execute(
            "SELECT seq, hash FROM audit WHERE seq = (SELECT MAX(seq) FROM audit WHERE at < ?)",
            (cutoff,),
        ).fetchone()
        if last is not None:
            seq, digest = last
            gone = db.execute("DELETE FROM audit WHERE seq <= ?", (seq,)).rowcount
            store.audit(
                now,
                "pruned",
                detail={"through": seq, "continues_from": digest, "rows": gone, "before": cutoff},
            )
