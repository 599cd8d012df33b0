"""``main``: parse the command line, run the verb under trio, and exit with its code.

Theory of operation
-------------------
One verb per operation of the host, shaped like docker's CLI: ``serve`` runs a
standalone host (``_serve.py``); ``attach`` opens the REPL; ``start``, ``ls``,
``receive``, ``wait``, ``stop``, ``rm``, ``logs`` and ``inspect`` are one request or a
few over the client library (``_verbs.py`` and a module each for the bigger ones). The
whole verb runs in one ``trio.run``; except a one-shot verb (``ls`` without ``--watch``,
``inspect``, ``start``, ``receive``, ``rm`` without ``--force``: its :class:`~._args.Verb`
says so), which runs without trio over the client's blocking socket
(:func:`spe_host.client.run_blocking`), and so never imports it.

A verb returns its exit code, or raises. An exception that ends a verb becomes one
sentence on stderr and an exit code, never a traceback, by :data:`EXIT_CODES`: a
table keyed by exception class, looked up along the exception's MRO, so a subclass
takes its nearest listed ancestor's row (``HandshakeTimeout`` that of
``ConnectError`` if it had none). The exit codes are part of the interface
(docs/cli.md):

* 0 - it worked;
* 1 - a session was not found, or did not stop / finish in time, or the host refused
  the operation (busy); or ``serve`` could not open a listener;
* 2 - the command line was wrong (argparse's own code, and :class:`UsageError`);
* 3 - the host could not be reached, the connection was lost, or the host refused the
  credentials or the role;
* 4, 5 - (``wait``, ``receive``, ``logs``) the run failed, or was aborted: returned by
  the verbs themselves (:func:`._exits.run_exit`), not raised;
* 130 - interrupted with Ctrl-C;
* 141 - stdout was closed under the verb (``spe-host ls | head -1``): a normal end,
  with nothing on stderr, as for any program a closed pipe ends.

An exception the table does not know is a bug: it propagates, with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .._errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    HandshakeTimeout,
    LocalProtocolError,
    PermissionDenied,
    ProtocolError,
    SpeError,
)
from .._groups import leaves
from ._args import Handler, Verb
from ._exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_STDOUT_CLOSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageError,
)
from ._output import err
from ._parser import build_parser

__all__ = ["EXIT_CODES", "Exit", "exit_code", "main", "run_verb"]


class Exit(NamedTuple):
    """How the command ends for one class of exception.

    Attributes:
        code: The exit code.
        lead: Text put before the exception's message on stderr; None prints nothing
            (Ctrl-C needs no sentence).
    """

    code: int
    lead: str | None = ""


_CANNOT_CONNECT = "cannot connect to the host: "
_LOST = "lost the connection to the host: "

#: The exit code, and the lead of the sentence on stderr, per class of exception.
EXIT_CODES: Mapping[type[BaseException], Exit] = {
    KeyboardInterrupt: Exit(EXIT_INTERRUPTED, None),
    # Raw, only from our own stdout or stderr: trio turns a socket's EPIPE into
    # BrokenResourceError. The reader left (`spe-host ls | head -1`): a normal end.
    BrokenPipeError: Exit(EXIT_STDOUT_CLOSED, None),
    UsageError: Exit(EXIT_USAGE),
    # A value the client library refused before sending anything.
    ValueError: Exit(EXIT_USAGE),
    ConnectError: Exit(EXIT_UNREACHABLE, _CANNOT_CONNECT),
    HandshakeTimeout: Exit(EXIT_UNREACHABLE, _CANNOT_CONNECT),
    ConnectionLost: Exit(EXIT_UNREACHABLE, "lost the connection: "),
    # The host refuses credentials in the handshake only: we could not connect.
    AuthenticationError: Exit(EXIT_UNREACHABLE, _CANNOT_CONNECT),
    PermissionDenied: Exit(EXIT_UNREACHABLE),
    # What the client refused to send: the host's protocol is too old for it.
    LocalProtocolError: Exit(EXIT_FAILED),
    ProtocolError: Exit(EXIT_FAILED, "the host rejected the request: "),
    # SessionNotFound, SessionBusy, a listener of `serve` that cannot start, ...
    SpeError: Exit(EXIT_FAILED),
    # The socket failed under a request.
    OSError: Exit(EXIT_UNREACHABLE, _LOST),
}


def _row(cls: type[BaseException]) -> Exit | None:
    """The row for ``cls``. trio's errors have theirs only once trio is loaded: a verb
    that ran without trio cannot have raised them."""
    row = EXIT_CODES.get(cls)
    trio = sys.modules.get("trio")
    if (
        row is None
        and trio is not None
        and cls in (trio.BrokenResourceError, trio.ClosedResourceError)
    ):
        # The socket failed under a request.
        return Exit(EXIT_UNREACHABLE, _LOST)
    return row


def _leaf(exc: BaseException) -> BaseException:
    """The error that matters in what trio raised.

    Nurseries wrap errors in groups; when a connection breaks, several tasks fail at
    once with the same cause. The first leaf that is not a cancellation speaks for all.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    found = list(leaves(exc))
    trio = sys.modules.get("trio")
    cancelled = () if trio is None else trio.Cancelled
    return next((leaf for leaf in found if not isinstance(leaf, cancelled)), found[0])


def exit_code(exc: BaseException) -> int:
    """The exit code for an exception that ended a verb; prints its sentence on stderr.

    Args:
        exc: What the verb raised (exception groups are looked into).

    Returns:
        The exit code from :data:`EXIT_CODES`.

    Raises:
        BaseException: ``exc`` itself (its leaf) when the table has no row for it.
    """
    leaf = _leaf(exc)
    row = next((r for cls in type(leaf).__mro__ if (r := _row(cls)) is not None), None)
    if row is None:
        raise leaf
    if row.lead is not None:
        err(f"{row.lead}{str(leaf) or type(leaf).__name__}")
    return row.code


def _configure_logging(level: str | None) -> None:
    """Log to stderr at ``level``; None (every verb but ``serve``) leaves logging alone."""
    if level is not None:
        import logging  # only then: the other verbs start without it

        logging.basicConfig(
            level=level.upper(),
            format="%(asctime)s %(name)s %(levelname)s: %(message)s",
            stream=sys.stderr,
        )


def run_verb(handler: Handler, args: argparse.Namespace) -> int:
    """Run a verb (under trio, unless it is one-shot) and return its exit code,
    whatever it raises.

    Args:
        handler: The verb.
        args: Its parsed command line.

    Returns:
        The verb's exit code, or the one :func:`exit_code` gives what it raised.
    """
    try:
        if isinstance(handler, Verb) and handler.runs_blocking(args):
            from ..client import run_blocking

            return run_blocking(handler(args))
        import trio

        return trio.run(handler, args)
    except SystemExit:
        raise
    except BaseException as exc:
        # Every failure becomes a sentence on stderr and an exit code, not a traceback.
        code = exit_code(exc)
        if code == EXIT_STDOUT_CLOSED:
            _discard_stdout()
        return code


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what is still
    buffered for the closed pipe does not print an error on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse the command line, positionals and options in any order.

    argparse takes a verb's positionals in one run: in ``start x -c 1 file.py``,
    FILE was matched (empty) with SESSION before ``-c``, and ``file.py`` is left
    over, which the top-level parser reports with the top-level usage. The verb's
    own parser reads such a line with positionals anywhere (``parse_intermixed_args``,
    which a parser with subcommands cannot do), and names its own usage on error.
    """
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    verb = argv.index(args.verb)
    verb_parser: argparse.ArgumentParser = args.verb_parser
    verb_args = verb_parser.parse_intermixed_args(argv[verb + 1 :])
    for name, value in vars(args).items():
        verb_args.__dict__.setdefault(name, value)
    return verb_args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spe-host`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 ok, 1 not found / not stopped / busy / cannot serve, 2 usage,
        3 cannot connect or not authorized, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = _parse(parser, list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _configure_logging(args.log_level)
    return run_verb(args.handler, args)
