"""The subparsers of the journal's verbs (``runs``, ``audit``) and serve's journal options.

The verbs read a journal file, not a host, so they take ``--journal PATH`` or
``--name NAME`` (whose default journal they read) instead of the connection options;
``--connect NAME`` is taken as ``--name``, as a user of the other verbs types it, and
an address there is refused with a sentence (the file of a host at an address is not
known here).
"""

from __future__ import annotations

import argparse

from ._args import Shared, Verb, Verbs, add_verb

__all__ = ["add_audit", "add_journal_options", "add_runs"]

_WHERE = (
    "The journal is --journal PATH, else the one of the host named --name (or\n"
    "--connect NAME; else $SPE_HOST when it is a name, else default):\n"
    "$XDG_STATE_HOME/spe-host/NAME.journal.sqlite (~/.local/state/...).\n"
    "No host needs to be running."
)


def _journal_file(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("journal")
    group.add_argument("--journal", metavar="PATH", help="the journal file to read")
    group.add_argument("--name", help="read the default journal of this host name")
    group.add_argument(
        "--connect",
        metavar="NAME",
        help="the same as --name (a host name; an address is refused: give --journal)",
    )


def add_runs(verbs: Verbs, shared: Shared) -> None:
    """Add ``runs``: a session's recorded runs, from the journal."""
    runs = add_verb(
        verbs,
        "runs",
        Verb("._journal_verbs", "runs_verb"),
        "list a session's recorded runs (from the journal)",
        "List every run of SESSION the journal recorded, oldest first, across host\n"
        "restarts: its id, status (completed, failed, aborted, interrupted, running),\n"
        "when it started, how long it took, who ran it, how many bytes it printed, and\n"
        "who stopped it and why, or its error. A run that was going when its host died\n"
        "reads 'interrupted: host ended'.\n" + _WHERE,
        ["spe-host runs etl", "spe-host runs 'etl-*' --json", "spe-host runs etl --name build"],
        [shared.json],
    )
    runs.add_argument("session", metavar="SESSION", help="a session id or wildcard")
    _journal_file(runs)


def add_audit(verbs: Verbs, shared: Shared) -> None:
    """Add ``audit``: the hash-chained audit trail, filtered; ``--verify`` checks it."""
    audit = add_verb(
        verbs,
        "audit",
        Verb("._journal_verbs", "audit_verb"),
        "show or verify the journal's audit trail",
        "Show the audit trail: every run started and ended, stop requested and\n"
        "finished, login and refusal, session removed, host started and ended. Each\n"
        "row carries a hash chaining it to the one before; --verify checks the chain\n"
        "and exits 1 naming every edited or deleted row (with --json it prints the\n"
        "head hash: keep it elsewhere to compare later).\n" + _WHERE,
        [
            "spe-host audit --since 1h",
            "spe-host audit --who 1000 --session 'etl*'",
            "spe-host audit --verify",
            "spe-host audit --json | jq -c 'select(.kind == \"login_refused\")'",
        ],
        [shared.json],
    )
    audit.add_argument("--since", metavar="AGE", help="only the last AGE: 90s, 15m, 1h, 7d")
    audit.add_argument(
        "--who", metavar="UID|TEXT", help="only rows of this uid, or of principals containing TEXT"
    )
    audit.add_argument("--session", metavar="PATTERN", help="only rows of matching sessions")
    audit.add_argument(
        "--verify", action="store_true", help="check the hash chain; exit 1 if broken"
    )
    _journal_file(audit)


def add_journal_options(serve: argparse.ArgumentParser) -> None:
    """``serve``'s journal options (docs/journal.md)."""
    group = serve.add_argument_group("journal")
    group.add_argument(
        "--journal",
        metavar="PATH",
        help="record runs, output, stops and logins here (default: "
        "$XDG_STATE_HOME/spe-host/NAME.journal.sqlite)",
    )
    group.add_argument("--no-journal", action="store_true", help="record nothing")
    group.add_argument(
        "--journal-required",
        action="store_true",
        help="refuse every run the journal cannot record (fail closed)",
    )
    group.add_argument(
        "--journal-no-code",
        action="store_true",
        help="record each run's sha256, not its code (for sessions that handle secrets)",
    )
    group.add_argument(
        "--journal-retention",
        metavar="AGE",
        help="prune what is older than AGE: 30d, 12h (default: keep everything)",
    )
    group.add_argument(
        "--journal-max-size",
        metavar="SIZE",
        help="keep the journal under SIZE: 1G, 500M; the oldest output goes first "
        "(default: no bound)",
    )
