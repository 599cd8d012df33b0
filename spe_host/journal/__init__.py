"""The journal: every run, stop, login and remove of a host, in SQLite (docs/journal.md).

Its own layer: it imports ``_model``, ``_errors``, ``_rules``, the standard library,
and trio only where it meets the loop (a required run's wait for its commit); never
the engine, the service or any front end. The engine records through a
:class:`Journal` (its observer); the CLI reads a journal file with the functions of
``_queries`` and needs no host for it.
"""

from ._chain import GENESIS, Head, Problem
from ._journal import Journal
from ._lock import default_journal_path
from ._queries import (
    AuditEntry,
    RunRecord,
    Verification,
    audit,
    open_readonly,
    run_output,
    runs,
    verify,
)
from ._retention import parse_duration, parse_size
from ._store import INTERRUPTED
from ._writer import FLUSH_BYTES, FLUSH_INTERVAL

__all__ = [
    "FLUSH_BYTES",
    "FLUSH_INTERVAL",
    "GENESIS",
    "INTERRUPTED",
    "AuditEntry",
    "Head",
    "Journal",
    "Problem",
    "RunRecord",
    "Verification",
    "audit",
    "default_journal_path",
    "open_readonly",
    "parse_duration",
    "parse_size",
    "run_output",
    "runs",
    "verify",
]
