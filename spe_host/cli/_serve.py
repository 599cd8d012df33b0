"""The ``serve`` verb: a standalone host, served until SIGINT or SIGTERM.

Theory of operation
-------------------
This module is the command's one composition root: it opens a host
(:mod:`spe_host.engine`) and serves it (:mod:`spe_host.server`). It is the only module
of the CLI allowed to import either, and it imports them inside the verb, so that the
other verbs start without loading them.

The order of the shutdown matters, and it all fits one deadline,
``--shutdown-timeout`` from the signal. Listeners never own sessions: a server that
shuts down drains its connections but does not stop sessions, so that restarting
one listener cannot abort a job that another serves. A standalone host is
different: when it goes, its sessions go with it. So the listeners run *outside*
the host: on a signal the host exits first - it stops every running session and
waits for them, abandoning one stuck in a native call when its share of the
deadline is up - while the connections are still open, so every client waiting on
an execute gets its ``done`` with status ``aborted``. Then the listeners drain, for
at most the rest of the deadline (:func:`_drain_share`), and close.

A listener that cannot start (a bad address, a refused bind, unreadable TLS files)
raises its :class:`~spe_host.SpeError`, which exits 1 with its sentence: the
command line parsed, but the host could not serve it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .._model import RequestLimits
from .._records import record
from ._exits import EXIT_OK, UsageError

if TYPE_CHECKING:
    from ..auth import FailureThrottle, TokenTable
    from ..server import Limits, Listening
    from ..service import Host

__all__ = ["run_host", "serve", "server_limits"]

logger = logging.getLogger("spe_host")

#: The thread switch interval ``serve`` runs its host with, in seconds: a stop (and
#: every request) waits for a CPU-bound session's thread to give up the interpreter,
#: which it does after at most this long. CPU-bound threads lose no measurable
#: throughput to it; bench/_rows_interval.py measures both, beside 5 ms.
SERVE_SWITCH_INTERVAL = 0.0005


async def serve(args: argparse.Namespace) -> int:
    """``spe-host serve``: run a host until SIGINT or SIGTERM, then shut it down.

    Args:
        args: The parsed command line.

    Returns:
        :data:`EXIT_OK` after a graceful shutdown.

    Raises:
        UsageError: The options contradict each other.
        SpeError: A listener could not start.
    """
    if args.switch_interval is not None and args.switch_interval <= 0:
        raise UsageError("--switch-interval must be more than 0 ms")
    if args.tls_key is not None and args.tls_cert is None:
        raise UsageError("--tls-key needs --tls-cert")
    if args.interpreter_slots < 0:
        raise UsageError("--interpreter-slots must be 0 (no bound) or more")
    # The receiver is open before anything listens, so a SIGTERM that arrives while
    # starting up is a graceful shutdown too, never a KeyboardInterrupt traceback.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        await run_host(args, partial(_first_signal, signals))
    return EXIT_OK


def _switch_interval(args: argparse.Namespace) -> float:
    """The thread switch interval ``serve`` runs with, in seconds: ``--switch-interval``'s
    or :data:`SERVE_SWITCH_INTERVAL`."""
    if args.switch_interval is None:
        return SERVE_SWITCH_INTERVAL
    return float(args.switch_interval) / 1000


async def _first_signal(signals: AsyncIterator[int]) -> None:
    async for signum in signals:
        logger.info(
            "%s received: stopping the running sessions and shutting down",
            signal.Signals(signum).name,
        )
        return


async def run_host(args: argparse.Namespace, until: Callable[[], Awaitable[object]]) -> None:
    """Open a host, serve it on every ``--listen`` address, and shut down after ``until``.

    Args:
        args: The parsed ``serve`` command line.
        until: Returns when the host should shut down (the first signal).

    Raises:
        SpeError: A listener could not start.
    """
    from ..auth import FailureThrottle, TokenTable
    from ..engine import DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEP_RESULTS, open_host
    from ..server import serve as serve_host
    from ._journal_verbs import journal_for_serve

    limits = server_limits(args)
    journal = journal_for_serve(args)
    idle = DEFAULT_IDLE_TIMEOUT if args.idle_timeout is None else args.idle_timeout or None
    drain = _drain_share(args.shutdown_timeout)
    async with trio.open_nursery() as nursery:
        async with open_host(
            name=args.name,
            idle_timeout=idle,
            shutdown_timeout=args.shutdown_timeout - drain,
            loop_timeout=args.loop_timeout or None,
            keep_results=args.keep_results or DEFAULT_KEEP_RESULTS,
            limits=RequestLimits(
                max_pattern_length=args.max_pattern_length,
                max_patterns=args.max_patterns,
                max_script_size=args.max_script_size,
            ),
            switch_interval=_switch_interval(args),
            interpreter_slots=args.interpreter_slots or None,
            journal=journal,
        ) as host:
            # One table for every listener: the tokens of the connection files work
            # over HTTP too; one throttle, so a guesser's failures count on all of them.
            tokens = TokenTable.generate()
            throttle = FailureThrottle()
            listening: list[Listening] = []
            for address in args.listen or [None]:
                listener = partial(
                    serve_host,
                    host,
                    address,
                    tls_cert=args.tls_cert,
                    tls_key=args.tls_key,
                    insecure=args.insecure,
                    tokens=tokens,
                    throttle=throttle,
                    shutdown_timeout=drain,
                    limits=limits,
                )
                listening.append(await nursery.start(listener))
            http = None
            if args.http is not None:
                http = await _serve_http(nursery, host, args, tokens, throttle, drain)
            try:
                _announce(args, listening, None if journal is None else journal.path, http)
                await until()
            finally:
                for path in (http or _NO_HTTP).token_files.values():
                    path.unlink(missing_ok=True)
        # The host has exited: every execution has ended and said so to its client.
        nursery.cancel_scope.cancel()


def server_limits(args: argparse.Namespace) -> Limits:
    """The listeners' :class:`~spe_host.server.Limits` from the ``serve`` command line.

    Raises:
        UsageError: A limit is out of range, or they contradict each other.
    """
    from ..server import DEFAULT_LIMITS, Limits, MaxStartups

    try:
        startups = (
            DEFAULT_LIMITS.max_startups
            if args.max_startups is None
            else MaxStartups.parse(args.max_startups)
        )
        return Limits(
            max_connections=args.max_connections,
            max_startups=startups,
            max_startups_per_peer=args.max_startups_per_peer,
            max_in_flight=args.max_requests,
            max_subscriptions=args.max_subscriptions,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _drain_share(timeout: float) -> float:
    """The part of the shutdown deadline the listeners get to deliver the last answers."""
    return min(1.0, timeout / 4)


@record
class HttpServed:
    """Where ``serve --http`` serves the HTTP API, and the 0600 files with its tokens."""

    url: str
    token_files: dict[str, Path]


_NO_HTTP = HttpServed("", {})


async def _serve_http(
    nursery: trio.Nursery,
    host: Host,
    args: argparse.Namespace,
    tokens: TokenTable,
    throttle: FailureThrottle,
    drain: float,
) -> HttpServed:
    """Serve the HTTP API on ``--http``; write its URL and tokens to files for this user.

    The tokens are in the TCP listeners' connection files too, when there are any;
    these files (``NAME.http.json`` for admin, ``NAME.http.operator.json``, mode 0600
    in the runtime directory) hold them with the URL, so a script of the same user
    finds both without the terminal ever showing a token.
    """
    from .._model import Role
    from ..auth import ConnectionInfo, connection_file_path, write_connection_file
    from ..http import serve_http

    listening = await nursery.start(
        partial(
            serve_http,
            host,
            args.http,
            tokens=tokens,
            throttle=throttle,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            insecure=args.insecure,
            shutdown_timeout=drain,
        )
    )
    files: dict[str, Path] = {}
    for role in Role:
        path = connection_file_path(f"{args.name}.http", role)
        info = ConnectionInfo(
            name=args.name,
            address=listening.url,
            token=tokens.token(role),
            role=role,
            pid=os.getpid(),
            tls=listening.url.startswith("https:"),
        )
        write_connection_file(path, info)
        files[role.value] = path
    return HttpServed(listening.url, files)


def _announce(
    args: argparse.Namespace,
    listening: Sequence[Listening],
    journal: Path | None,
    http: HttpServed | None = None,
) -> None:
    """Print where the host listens, its journal, and how to use it (one JSON line with --json)."""
    if args.json:
        listeners = [
            {
                "address": item.address,
                "connection_files": {
                    role: str(path) for role, path in item.connection_files.items()
                },
            }
            for item in listening
        ]
        announced = {"name": args.name, "pid": os.getpid(), "listening": listeners}
        announced["journal"] = None if journal is None else str(journal)
        announced["http"] = (
            None
            if http is None
            else {
                "url": http.url,
                "token_files": {role: str(path) for role, path in http.token_files.items()},
            }
        )
        print(json.dumps(announced), flush=True)
        return
    lines = [f"spe-host: host {args.name!r} is serving (pid {os.getpid()})"]
    for item in listening:
        lines.append(f"  listening on {item.address}")
        for role, path in sorted(item.connection_files.items()):
            lines.append(f"    {role} connection file: {path}")
    if http is not None:
        lines.append(f"  HTTP API at {http.url} (docs: {http.url}/api/docs)")
        lines.append(f"  dashboard at {http.url}/ (log on with a token from a file below)")
        for role, path in sorted(http.token_files.items()):
            lines.append(f"    {role} token file: {path}")
    lines.append(f"  journal: {journal if journal is not None else 'off (--no-journal)'}")
    # Clients find the host by name through its default socket or its connection
    # files; a socket elsewhere must be named by its address.
    by_name = not args.listen or any(item.connection_files for item in listening)
    target = (args.name if args.name != "default" else "") if by_name else listening[0].address
    named = f" {target}" if target else ""
    connect = f" --connect {target}" if target else ""
    uses = [
        (f"spe-host attach{named}", "a REPL on session 'main'"),
        (f"spe-host start job -c CODE{connect}", "a background job"),
        (f"spe-host ls{connect}", "the sessions"),
    ]
    width = max(len(command) for command, _ in uses)
    lines.append("Sessions start with builtins only. To use this host:")
    lines += [f"  {command.ljust(width)}   {what}" for command, what in uses]
    interval = _switch_interval(args)
    lines.append(
        f"Thread switch interval {interval * 1e3:g} ms (Python's default 5 ms), "
        + (
            "so a stop reaches a CPU-bound script quickly."
            if args.switch_interval is None
            else "as --switch-interval asks."
        )
    )
    lines.append("Ctrl-C or SIGTERM stops the host (running sessions are stopped first).")
    print("\n".join(lines), flush=True)
