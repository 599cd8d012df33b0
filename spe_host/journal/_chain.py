"""The audit trail's hash chain: how a row is hashed, appended and verified.

Theory of operation
-------------------
Every audit row carries the hash of the row before it (``prev``) and its own
(``hash``): ``sha256(prev + canonical JSON of the row's fields)``, where the fields are
the row's columns as stored (``seq``, ``at``, ``kind``, ``principal``, ``session``,
``run``, ``detail`` - the detail is kept as canonical JSON text, so what is hashed is
exactly what is stored). The first row continues from :data:`GENESIS`.

Editing a row breaks its own hash; rewriting its hash as well breaks the next row's
``prev``; deleting a row leaves a gap in ``seq``. The newest row's seq and hash are
also kept in the ``meta`` table (``audit_head``), so deleting the last rows shows too.
This makes the trail tamper-*evident* against edits of some rows; someone who rewrites
the whole chain and the head can forge it, which is why ``audit --verify --json``
prints the head: keep it elsewhere to compare.

Retention deletes a prefix of the chain. It then appends a ``pruned`` row whose detail
says through which seq rows went and the hash of the last one deleted; the first row
left must continue from exactly that, so a pruned prefix verifies and a row deleted
beside it still shows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "Head", "Problem", "append", "canonical", "row_hash", "verify_rows"]

#: What the first row of a chain continues from.
GENESIS = "0" * 64


def canonical(value: Any) -> str:
    """The one JSON text of ``value``: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    prev: str,
    *,
    seq: int,
    at: float,
    kind: str,
    principal: str | None,
    session: str | None,
    run: str | None,
    detail: str,
) -> str:
    """The hash of one audit row continuing from ``prev``."""
    fields = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "principal": principal,
        "session": session,
        "run": run,
        "detail": detail,
    }
    return hashlib.sha256((prev + canonical(fields)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The newest row of the chain: its seq (0 for an empty chain) and hash."""

    seq: int = 0
    hash: str = GENESIS

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """The head kept in ``meta`` as ``SEQ:HASH``."""
        seq, _, digest = text.partition(":")
        return cls(int(seq), digest)


def append(
    db: sqlite3.Connection,
    head: Head,
    *,
    at: float,
    kind: str,
    principal: str | None = None,
    session: str | None = None,
    run: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Head:
    """Insert one row after ``head`` (inside the caller's transaction); the new head."""
    seq = head.seq + 1
    text = canonical(detail or {})
    digest = row_hash(
        head.hash,
        seq=seq,
        at=at,
        kind=kind,
        principal=principal,
        session=session,
        run=run,
        detail=text,
    )
    db.execute(
        "INSERT INTO audit (seq, at, kind, principal, session, run, detail, prev, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, kind, principal, session, run, text, head.hash, digest),
    )
    return Head(seq, digest)


@dataclass(frozen=True, slots=True)
class Problem:
    """One way the chain does not verify: the row it concerns, and a sentence."""

    seq: int
    message: str


def verify_rows(rows: Iterable[sqlite3.Row], head: Head | None) -> list[Problem]:
    """Check a whole chain, oldest row first, against the recorded ``head``.

    Args:
        rows: Every audit row in ``seq`` order.
        head: The head kept in ``meta`` (None: none was kept).

    Returns:
        The problems found (none: the chain verifies), each naming its row.
    """
    rows = list(rows)
    problems: list[Problem] = []
    start_seq, start_prev = 1, GENESIS
    for row in rows:
        if row["kind"] == "pruned":
            try:
                detail = json.loads(row["detail"])
                start_seq, start_prev = int(detail["through"]) + 1, str(detail["continues_from"])
            except (ValueError, KeyError, TypeError):
                problems.append(Problem(row["seq"], f"row {row['seq']} (pruned) was edited"))
    expected_seq, expected_prev = start_seq, start_prev
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            missing = (
                f"row {expected_seq} of the audit trail was deleted"
                if seq == expected_seq + 1
                else f"rows {expected_seq} to {seq - 1} of the audit trail were deleted"
            )
            problems.append(Problem(expected_seq, missing))
        elif row["prev"] != expected_prev:
            before = seq - 1
            problems.append(
                Problem(
                    before,
                    f"row {before} was edited: row {seq} continues from a hash that row "
                    f"{before} no longer has",
                )
            )
        digest = row_hash(
            row["prev"],
            seq=seq,
            at=row["at"],
            kind=row["kind"],
            principal=row["principal"],
            session=row["session"],
            run=row["run"],
            detail=row["detail"],
        )
        if digest != row["hash"]:
            problems.append(
                Problem(
                    seq,
                    f"row {seq} ({row['kind']}) was edited: its content does not match its hash",
                )
            )
        expected_seq, expected_prev = seq + 1, row["hash"]
    if head is not None and head.seq:
        last = rows[-1]["seq"] if rows else start_seq - 1
        if last < head.seq:
            first = last + 1
            which = (
                f"row {first} of the audit trail was deleted"
                if first == head.seq
                else f"rows {first} to {head.seq} of the audit trail were deleted"
            )
            problems.append(Problem(first, f"{which} (the newest)"))
        elif rows and last == head.seq and rows[-1]["hash"] != head.hash:
            problems.append(Problem(last, f"row {last} was replaced: it is not the recorded head"))
    return problems
