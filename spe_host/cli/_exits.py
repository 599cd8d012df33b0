"""The exit statuses of ``spe-host``, and the error a verb raises for a bad argument.

Exit codes are part of the interface (docs/cli.md); every verb returns one of these,
and :mod:`._main` turns an exception that ends a verb into one of them by its class.
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "UsageError",
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
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad argument noticed after parsing, before anything was done (exit code 2)."""
