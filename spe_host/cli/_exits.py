"""The exit statuses of ``spe-host``, and the error a verb raises for a bad argument.

Exit codes are part of the interface (docs/cli.md); every verb returns one of these,
and :mod:`._main` turns an exception that ends a verb into one of them by its class.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._model import ExecutionStatus

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_ABORTED",
    "EXIT_RUN_FAILED",
    "EXIT_STDOUT_CLOSED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "UsageError",
    "run_exit",
]

#: It worked.
EXIT_OK = 0
#: A session was not found, did not stop or finish in time, or was busy; the host
#: refused the operation; or ``serve`` could not open a listener.
EXIT_FAILED = 1
#: The command line was wrong (argparse's own code).
EXIT_USAGE = 2
#: The host could not be reached, the connection was lost, or the host refused the
#: credentials or the role.
EXIT_UNREACHABLE = 3
#: The run that ``wait``, ``receive`` or ``logs`` reports failed (an exception).
EXIT_RUN_FAILED = 4
#: The run that ``wait``, ``receive`` or ``logs`` reports was stopped (aborted).
EXIT_RUN_ABORTED = 5
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130
#: stdout was closed under the verb (``spe-host ls | head -1``): 128 + SIGPIPE, the
#: code a shell shows for ``yes | head -1``'s ``yes``, and printed quietly.
EXIT_STDOUT_CLOSED = 141

_RUN_EXITS = {
    ExecutionStatus.COMPLETED: EXIT_OK,
    ExecutionStatus.FAILED: EXIT_RUN_FAILED,
    ExecutionStatus.ABORTED: EXIT_RUN_ABORTED,
}


def run_exit(statuses: Iterable[ExecutionStatus | str | None]) -> int:
    """The exit code that reports how runs ended: 0, :data:`EXIT_RUN_FAILED` or
    :data:`EXIT_RUN_ABORTED`.

    Args:
        statuses: The statuses of the runs reported (None: a session that has not
            run yet, which counts as completed).

    Returns:
        4 if a run failed, else 5 if one was aborted, else 0: a failure says more
        about the data than a stop someone asked for.
    """
    codes = {_RUN_EXITS[ExecutionStatus(s)] for s in statuses if s is not None}
    for code in (EXIT_RUN_FAILED, EXIT_RUN_ABORTED):
        if code in codes:
            return code
    return EXIT_OK


class UsageError(Exception):
    """A bad argument noticed after parsing, before anything was done (exit code 2)."""
