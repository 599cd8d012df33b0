"""The journal's verbs: ``runs``, ``audit`` (and ``--verify``), and ``logs --run`` from the journal.

They read the journal file itself, read-only (``spe_host.journal``), so they work
with no host running and show the runs of earlier host processes. The file is
``--journal PATH``, else the default one of the host named by ``--name`` (for
``logs``: by ``--connect``, ``$SPE_HOST`` or ``default`` when those are names).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from .._format import format_age
from ..journal import (
    Journal,
    RunRecord,
    Verification,
    audit,
    default_journal_path,
    open_readonly,
    parse_duration,
    parse_size,
    run_output,
    runs,
    verify,
)
from ._exits import EXIT_FAILED, EXIT_OK, EXIT_RUN_ABORTED, UsageError, run_exit
from ._output import err, iso_time, print_json, print_table, write_output

__all__ = ["audit_verb", "journal_for_serve", "journal_path", "print_journal_run", "runs_verb"]


def journal_for_serve(args: argparse.Namespace) -> Journal | None:
    """The journal ``serve``'s options ask for (None: ``--no-journal``).

    Raises:
        UsageError: The options contradict each other, or a value does not parse.
    """
    if args.no_journal:
        others = [
            flag
            for flag, given in (
                ("--journal", args.journal),
                ("--journal-required", args.journal_required),
                ("--journal-no-code", args.journal_no_code),
                ("--journal-retention", args.journal_retention),
                ("--journal-max-size", args.journal_max_size),
            )
            if given
        ]
        if others:
            raise UsageError(f"--no-journal contradicts {', '.join(others)}; give one or the other")
        return None
    try:
        retention = (
            None if args.journal_retention is None else parse_duration(args.journal_retention)
        )
        max_size = None if args.journal_max_size is None else parse_size(args.journal_max_size)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Journal(
        args.journal,
        required=args.journal_required,
        record_code=not args.journal_no_code,
        retention=retention,
        max_size=max_size,
    )


def journal_path(args: argparse.Namespace) -> Path:
    """The journal a verb reads: ``--journal``, else the named host's default one.

    The name is ``--name``, else ``--connect`` (``runs`` and ``audit`` take it as a
    name; ``logs`` connects with it), else ``$SPE_HOST``, else ``default``.

    Raises:
        UsageError: ``runs`` or ``audit`` was given an address as ``--connect``.
    """
    given = getattr(args, "journal", None)
    if given:
        return Path(given)
    name = getattr(args, "name", None)
    if name is not None:
        return default_journal_path(name)
    target = getattr(args, "connect", None)
    if target is not None and _is_address(target) and hasattr(args, "name"):
        raise UsageError(
            f"{args.verb} reads a host's journal file, not the host, and {target!r} is an "
            "address or a connection file, not a host name; give the host's --name, or "
            "the file as --journal PATH"
        )
    target = target or os.environ.get("SPE_HOST") or "default"
    # logs: the host it would connect to, if that is a name and not an address.
    return default_journal_path("default" if _is_address(target) else target)


def _is_address(target: str) -> bool:
    # What --connect takes as other than a host name: unix:PATH, tcp://HOST:PORT and
    # connection files (a path, or a name ending in .json), as find_connection does.
    return "/" in target or ":" in target or target.endswith(".json")


def _times(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("started_at", "finished_at", "at"):
        if key in data:
            data[f"{key}_iso"] = iso_time(data[key])
    return data


def _note(record: RunRecord) -> str:
    if record.stop_by is not None:
        why = f": {record.stop_reason}" if record.stop_reason else ""
        return f"stopped by {record.stop_by}{why}"
    if record.error:
        return record.error.rstrip().rpartition("\n")[2]
    return ""


async def runs_verb(args: argparse.Namespace) -> int:
    """``spe-host runs SESSION``: the recorded runs of a session, across restarts."""
    with closing(open_readonly(journal_path(args))) as db:
        found = runs(db, args.session)
    if args.json:
        print_json([_times(dataclasses.asdict(record)) for record in found])
        return EXIT_OK
    if not found:
        err(f"the journal has no runs of {args.session!r}")
        return EXIT_FAILED
    now = time.time()
    rows = [
        [
            record.run,
            record.status,
            f"{format_age(now - record.started_at)} ago",
            "" if record.finished_at is None else f"{record.finished_at - record.started_at:.1f}s",
            record.principal,
            str(record.output_bytes),
            _note(record),
        ]
        for record in found
    ]
    print_table(["RUN", "STATUS", "STARTED", "TOOK", "BY", "OUTPUT", "NOTE"], rows)
    return EXIT_OK


def print_journal_run(args: argparse.Namespace, run: str) -> int:
    """``logs --run`` from the journal: the run's output, its error on stderr; its exit code.

    Raises:
        NoResult: The journal has no such run.
        SpeError: There is no journal to read.
    """
    with closing(open_readonly(journal_path(args))) as db:
        record, output = run_output(db, run)
    write_output(output)
    if record.error:
        error = record.error if record.error.endswith("\n") else record.error + "\n"
        write_output(error, sys.stderr)
    if record.status == "interrupted":
        err(f"run {run} was interrupted: its host ended while it ran (from the journal)")
        return EXIT_RUN_ABORTED
    if record.status == "running":
        err(f"run {run} is still running (or its host is gone and has not restarted)")
        return EXIT_OK
    if record.status != "completed":
        err(f"run {run} {record.status}")
    return run_exit([record.status])


async def audit_verb(args: argparse.Namespace) -> int:
    """``spe-host audit``: the audit trail, filtered; ``--verify`` checks its hash chain."""
    since = None
    if args.since is not None:
        try:
            since = time.time() - parse_duration(args.since)
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
    with closing(open_readonly(journal_path(args))) as db:
        if args.verify:
            return _print_verification(verify(db), args.json)
        entries = audit(db, since=since, who=args.who, session=args.session)
    if args.json:
        print_json([_times(dataclasses.asdict(entry)) for entry in entries])
        return EXIT_OK
    rows = [
        [
            str(entry.seq),
            iso_time(entry.at) or "",
            entry.kind,
            entry.principal or "",
            entry.run or entry.session or "",
            " ".join(f"{k}={v}" for k, v in entry.detail.items() if v not in (None, "")),
        ]
        for entry in entries
    ]
    print_table(["SEQ", "AT", "EVENT", "WHO", "RUN", "DETAIL"], rows)
    return EXIT_OK


def _print_verification(result: Verification, as_json: bool) -> int:
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "rows": result.rows,
                "head": str(result.head),
                "problems": [dataclasses.asdict(problem) for problem in result.problems],
            }
        )
    elif result.ok:
        print(f"the audit trail verifies: {result.rows} rows, head {result.head}")
    for problem in result.problems:
        err(problem.message)
    return EXIT_OK if result.ok else EXIT_FAILED
