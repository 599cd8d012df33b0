"""The ``spe-host`` command: serve a host, attach a REPL, and manage sessions.

Theory of operation
-------------------
One verb per operation of the host, shaped like docker's CLI: ``serve`` runs a
standalone host; ``attach`` opens the REPL (``_repl.py``); ``start``, ``ls``,
``receive``, ``wait``, ``stop`` and ``rm`` are one request each over the client
library. Every client verb finds the host the same way (``--connect``, else
``$SPE_HOST``, else the host named ``default`` in the runtime directory), and every
verb that reports can print the protocol's own objects with ``--json`` instead of a
table, so scripts never parse the human output.

Exit codes are part of the interface (docs/cli.md):

* 0 - it worked;
* 1 - a session was not found, or did not stop / finish in time, or the host refused
  the operation (busy);
* 2 - the command line was wrong (argparse's own code);
* 3 - the host could not be reached, or refused the credentials or the role;
* 130 - interrupted with Ctrl-C.

Everything runs in one ``trio.run``; errors are turned into a sentence on stderr and an
exit code in :func:`main`, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .. import __version__
from .._errors import (
    AuthenticationError,
    PermissionDenied,
    ProtocolError,
    SessionBusy,
    SessionNotFound,
    SpeError,
)
from .._model import ExecutionResult, SessionInfo, check_session_id, is_pattern
from ..engine import DEFAULT_IDLE_TIMEOUT
from ..repl._repl import Repl, format_sessions, format_table, run_piped

if TYPE_CHECKING:
    from ..client import Client

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "session_json",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

PROG = "spe-host"
_ACTIVE = ("running", "stopping")


class _Usage(Exception):
    """A bad argument noticed after parsing (exit code 2)."""


class _Unreachable(Exception):
    """The host could not be reached or refused us (exit code 3)."""


# --- argument parsing -------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


_DESCRIPTION = """\
Run Python in named, persistent sessions of a trio program, and manage them.

A host (your program, or `spe-host serve`) keeps sessions; attach a REPL to one,
start background jobs, list them, read their output later, wait for them, and
stop a running session from another console."""

_EXIT_CODES = """\
exit codes:
  0  it worked
  1  a session was not found, did not stop or finish in time, or was busy
  2  the command line was wrong
  3  the host could not be reached, or refused the credentials or the role
  130  interrupted (Ctrl-C)

finding the host (every verb but serve):
  --connect ADDRESS_OR_NAME, else $SPE_HOST, else the host named "default";
  a name is looked up in the runtime directory ($SPE_HOST_RUNTIME_DIR,
  $XDG_RUNTIME_DIR/spe-host, or a private temp directory)."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, at least 0")
    return value


def _session_id(text: str) -> str:

    try:
        return check_session_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE with NAME a Python identifier (for example n=10)"
        )
    # JSON when it parses (n=10 is a number, flags=[1,2] a list), a string otherwise.
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """The ``spe-host`` argument parser, with every verb and its examples.

    Returns:
        The parser; ``parse_args`` leaves the verb in ``verb`` and its handler in
        ``handler``.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_examples(
            "spe-host serve                       # a standalone host, in one console",
            "spe-host attach                      # a REPL on session 'main', in another",
            "spe-host start etl -c 'import time; time.sleep(600)'",
            "spe-host ls",
            "spe-host stop etl --wait",
        )
        + "\n\n"
        + _EXIT_CODES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument(
        "--connect",
        metavar="ADDRESS_OR_NAME",
        help="unix:PATH, tcp://HOST:PORT, a connection file, or a host name "
        "(default: $SPE_HOST, else 'default')",
    )
    group.add_argument(
        "--token",
        help="the access token for a tcp:// address (default: $SPE_HOST_TOKEN; a "
        "connection file carries its own)",
    )
    group.add_argument("--cafile", metavar="PEM", help="trust this CA for a TLS host")
    group.add_argument(
        "--connect-timeout",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="give up connecting after S seconds (default: 5)",
    )
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument(
        "--json", action="store_true", help="print the protocol's JSON objects instead of a table"
    )

    def verb(
        name: str,
        handler: Callable[..., Awaitable[int]],
        help: str,
        description: str,
        examples: Sequence[str],
        parents: Sequence[argparse.ArgumentParser] = (connection, json_flag),
    ) -> argparse.ArgumentParser:
        sub = verbs.add_parser(
            name,
            help=help,
            description=description,
            epilog=_examples(*examples),
            parents=list(parents),
            formatter_class=_Formatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    # serve
    serve = verb(
        "serve",
        _serve,
        "run a standalone host",
        "Run a host whose sessions start with builtins only, until Ctrl-C or SIGTERM.\n"
        "It prints where it listens and how to attach. By default it listens on a unix\n"
        "socket in the private runtime directory, named after --name. On SIGINT/SIGTERM\n"
        "it stops running sessions, tells their clients, and exits.",
        [
            "spe-host serve",
            "spe-host serve --name build --listen tcp://127.0.0.1:7788",
            "spe-host serve --listen unix:/tmp/my.sock --listen tcp://127.0.0.1:0",
            "spe-host serve --listen tcp://0.0.0.0:7788 --tls-cert cert.pem --tls-key key.pem",
        ],
        parents=[json_flag],
    )
    serve.add_argument(
        "--listen",
        action="append",
        metavar="ADDRESS",
        help="unix:PATH or tcp://HOST:PORT; repeat for several (default: the unix socket "
        "NAME.sock in the runtime directory)",
    )
    serve.add_argument(
        "--name",
        default="default",
        help="the host's name: clients find it by this name (default: default)",
    )
    serve.add_argument("--tls-cert", metavar="PEM", help="certificate chain for tcp:// listeners")
    serve.add_argument("--tls-key", metavar="PEM", help="private key (default: in --tls-cert)")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback tcp:// address without TLS (tokens and code cross the "
        "network in clear text)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=_positive_float,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="S",
        help="remove sessions idle for S seconds; 0 keeps them forever (default: 1800)",
    )
    serve.add_argument(
        "--switch-interval",
        type=_positive_float,
        metavar="MS",
        help="the interpreter's thread switch interval in milliseconds; lower keeps the "
        "host responsive while scripts spin (default: Python's 5)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="on shutdown, wait at most S seconds for running sessions to stop (default: 5)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="what the host logs to stderr (default: info)",
    )

    # attach
    attach = verb(
        "attach",
        _attach,
        "open a REPL on a session",
        "Open an interactive Python prompt on a session of the host. The session keeps\n"
        "its namespace between statements and lives on when you detach (Ctrl-D);\n"
        "attaching again replays what it printed while you were away. Ctrl-C while a\n"
        "statement runs stops the session at its next statement. %help at the prompt\n"
        "lists the REPL's commands. With stdin not a terminal, statements are read from\n"
        "it and run one after the other.",
        [
            "spe-host attach",
            "spe-host attach build --session etl",
            "spe-host attach unix:/tmp/my.sock",
            "echo 'print(6 * 7)' | spe-host attach --session calc",
        ],
        parents=[connection],
    )
    attach.add_argument(
        "target",
        nargs="?",
        metavar="NAME|ADDRESS",
        help="the host (same as --connect)",
    )
    attach.add_argument(
        "--session",
        "-s",
        type=_session_id,
        default="main",
        help="the session to attach to; created on first use (default: main)",
    )
    attach.add_argument(
        "--replay",
        action="store_true",
        help="on a first attach, replay all the output the host still holds",
    )

    # start
    start = verb(
        "start",
        _start,
        "run code in a session in the background",
        "Run code in the background in SESSION (created if missing) and print its id.\n"
        "The code comes from -c, or from FILE ('-' reads stdin). Over a unix socket the\n"
        "host reads FILE itself, so tracebacks name it; otherwise its text is sent.",
        [
            "spe-host start etl -c 'import time\n"
            "for i in range(100): spe.progress(i); time.sleep(1)'",
            "spe-host start etl jobs/etl.py --arg day=2024-05-01 --arg limit=100",
            "spe-host start report report.py --name 'nightly report' --autodispose",
            "cat job.py | spe-host start job -",
        ],
    )
    start.add_argument("session", type=_session_id, metavar="SESSION", help="the session id")
    start.add_argument("file", nargs="?", metavar="FILE", help="a script to run ('-': stdin)")
    start.add_argument("-c", "--code", metavar="CODE", help="the code to run")
    start.add_argument(
        "--arg",
        action="append",
        type=_key_value,
        default=[],
        metavar="NAME=VALUE",
        help="bind a variable before the code runs; VALUE is JSON if it parses, else "
        "a string (repeatable)",
    )
    start.add_argument("--name", metavar="JOB", help="a job name to show in listings")
    start.add_argument(
        "--autodispose",
        action="store_true",
        help="remove the session once its result has been received",
    )

    # ls
    ls = verb(
        "ls",
        _ls,
        "list sessions",
        "List the host's sessions: id, state, job name, progress, the line running now,\n"
        "the last execution's status and age. Patterns are shell-style wildcards.",
        [
            "spe-host ls",
            "spe-host ls 'etl-*' --state running",
            "spe-host ls -q | xargs spe-host rm",
            "spe-host ls --json",
        ],
    )
    ls.add_argument("patterns", nargs="*", metavar="PATTERN", help="ids or wildcards")
    ls.add_argument(
        "--state", choices=["idle", "running", "stopping"], help="only sessions in this state"
    )
    ls.add_argument("-q", "--quiet", action="store_true", help="print the ids only")

    # receive
    receive = verb(
        "receive",
        _receive,
        "print the result of a session's last execution",
        "Print the output, the value and the error of SESSION's last execution, then\n"
        "clear them (unless --keep). The output goes to stdout, the traceback to stderr.\n"
        "It exits 0 whatever the execution's status; use --json to check the status.",
        ["spe-host receive etl", "spe-host receive etl --keep --json"],
    )
    receive.add_argument("session", type=_session_id, metavar="SESSION", help="the session id")
    receive.add_argument("--keep", action="store_true", help="keep the result on the host")

    # wait
    wait = verb(
        "wait",
        _wait,
        "wait for sessions to finish",
        "Wait until the sessions are no longer running, then list them. With a terminal\n"
        "it shows a progress bar for sessions that report progress. It exits 1 when the\n"
        "timeout passes first (or, with --any, when none has finished).",
        [
            "spe-host wait etl",
            "spe-host wait etl report --timeout 60",
            "spe-host wait 'job-*' --any --json",
        ],
    )
    wait.add_argument("sessions", nargs="+", metavar="SESSION", help="ids or wildcards")
    wait.add_argument(
        "--timeout", type=_positive_float, metavar="S", help="give up after S seconds"
    )
    wait.add_argument("--any", action="store_true", help="return as soon as one has finished")

    # stop
    stop = verb(
        "stop",
        _stop,
        "stop running sessions at their next statement",
        "Ask sessions to stop at their next statement. It returns at once with the\n"
        "outcome per session (requested, already_stopping, not_running, not_found);\n"
        "a blocking call in the script finishes first. With --wait it waits until they\n"
        "have stopped. It exits 1 when a target matched no session, or (with --wait) a\n"
        "session did not stop in time.",
        [
            "spe-host stop etl",
            "spe-host stop 'job-*' --what-if",
            "spe-host stop etl report --wait --timeout 10",
            "spe-host stop etl --json",
        ],
    )
    stop.add_argument("targets", nargs="+", metavar="SESSION_OR_PATTERN", help="ids or wildcards")
    stop.add_argument(
        "--what-if",
        action="store_true",
        help="show what would be stopped, and stop nothing",
    )
    stop.add_argument("--wait", action="store_true", help="wait until they have stopped")
    stop.add_argument(
        "--timeout", type=_positive_float, metavar="S", help="with --wait: give up after S seconds"
    )

    # rm
    rm = verb(
        "rm",
        _rm,
        "remove finished sessions",
        "Remove sessions and their namespaces. A running session is refused unless\n"
        "--force, which stops it, waits for it, and removes it.",
        ["spe-host rm etl", "spe-host rm 'job-*'", "spe-host rm etl --force"],
    )
    rm.add_argument("sessions", nargs="+", metavar="SESSION", help="ids or wildcards")
    rm.add_argument("-f", "--force", action="store_true", help="stop running sessions first")

    return parser


# --- output helpers ---------------------------------------------------------------------------


def session_json(info: SessionInfo) -> dict[str, Any]:
    """A session as ``--json`` prints it: the protocol's SessionInfo, plus ``progress``.

    Args:
        info: The session.

    Returns:
        Every SessionInfo field, and ``progress`` as ``{"percent", "message"}``.
    """
    data: dict[str, Any] = dataclasses.asdict(info)
    data["progress"] = {"percent": info.progress_percent, "message": info.progress_message}
    return data


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _exact_ids(targets: Sequence[str]) -> list[str]:
    return [t for t in targets if not is_pattern(t)]


# --- connecting -----------------------------------------------------------------------------


@asynccontextmanager
async def _connected(args: argparse.Namespace, target: str | None = None) -> AsyncIterator[Client]:
    from ..client import connect

    token = args.token or os.environ.get("SPE_HOST_TOKEN") or None
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(
                connect(
                    target if target is not None else args.connect,
                    token=token,
                    cafile=args.cafile,
                    client_name=f"{PROG} {args.verb}",
                    timeout=args.connect_timeout,
                )
            )
        except (SpeError, OSError, trio.TooSlowError) as exc:
            raise _Unreachable(str(exc) or type(exc).__name__) from exc
        try:
            yield client
        except Exception as exc:
            # A request that failed because the connection went away is "cannot
            # reach the host" (3), not a failed operation (1).
            if getattr(client, "closed", False):
                raise _Unreachable(f"lost the connection: {_leaf(exc)}") from exc
            raise


# --- verbs ------------------------------------------------------------------------------------


async def _ls(args: argparse.Namespace) -> int:
    async with _connected(args) as client:
        infos = await client.sessions(*args.patterns, state=args.state)
    if args.json:
        _print_json([session_json(info) for info in infos])
    elif args.quiet:
        for info in infos:
            print(info.id)
    else:
        print(format_sessions(infos), end="", flush=True)
    found = {info.id for info in infos}
    missing = [t for t in _exact_ids(args.patterns) if t not in found]
    if missing and args.state is None:
        _err(f"no session has the id {', '.join(map(repr, missing))}")
        return EXIT_FAILED
    return EXIT_OK


def _script(file: str, *, by_path: bool) -> tuple[str | None, str | None]:
    """The ``(code, path)`` to send for FILE: the path itself when the host can read it."""
    if file == "-":
        return sys.stdin.read(), None
    script = Path(file).expanduser()
    if not script.is_file():
        raise _Usage(f"there is no script at {file}")
    if by_path:
        return None, str(script.resolve())
    try:
        return script.read_text(encoding="utf-8"), None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Usage(f"cannot read {file}: {exc}") from None


async def _start(args: argparse.Namespace) -> int:
    if (args.code is None) == (args.file is None):
        raise _Usage("give the code with -c CODE or as a FILE, exactly one of them")
    code: str | None = args.code
    path: str | None = None
    async with _connected(args) as client:
        if args.file is not None:
            # Over a unix socket the host runs on this machine as this user (it checked
            # our uid), so it can read the file itself and its tracebacks name it.
            by_path = str(getattr(client, "address", "")).startswith("unix:")
            code, path = _script(args.file, by_path=by_path)
        info = await client.start(
            args.session,
            code,
            path=path,
            args=dict(args.arg) or None,
            name=args.name,
            autodispose=True if args.autodispose else None,
        )
    if args.json:
        _print_json(session_json(info))
    else:
        print(info.id, flush=True)
    return EXIT_OK


async def _receive(args: argparse.Namespace) -> int:
    async with _connected(args) as client:
        result: ExecutionResult = await client.receive(args.session, keep=args.keep)
    if args.json:
        _print_json(dataclasses.asdict(result))
        return EXIT_OK
    sys.stdout.write(result.output)
    if result.value is not None:
        if result.output and not result.output.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.write(result.value + "\n")
    sys.stdout.flush()
    if result.error:
        sys.stderr.write(result.error if result.error.endswith("\n") else result.error + "\n")
    if result.status != "completed":
        _err(f"session {result.session!r}: the last execution {result.status}")
    return EXIT_OK


async def _wait(args: argparse.Namespace) -> int:
    async with _connected(args) as client:
        # Only the sessions the wait covered count: a job that a wildcard matches
        # but that starts during the wait is not "still running".
        waited = {info.id for info in await client.sessions(*args.sessions)}
        if sys.stdout.isatty() and not args.json:
            finished = await _wait_with_progress(client, args.sessions, args.timeout, args.any)
        else:
            finished = await client.wait(*args.sessions, timeout=args.timeout, any=args.any)
        still = [
            info.id
            for info in await client.sessions(*args.sessions)
            if info.state in _ACTIVE and info.id in waited
        ]
    if args.json:
        _print_json([session_json(info) for info in finished])
    elif finished:
        print(format_sessions(finished), end="", flush=True)
    if still and (not args.any or not finished):
        _err(f"still running{_after(args.timeout)}: {', '.join(still)}")
        return EXIT_FAILED
    return EXIT_OK


async def _wait_with_progress(
    client: Client, targets: Sequence[str], timeout: float | None, any_: bool
) -> list[SessionInfo]:
    """``wait``, showing a prompt_toolkit progress bar for sessions that report progress."""
    from prompt_toolkit.shortcuts import ProgressBar
    from prompt_toolkit.shortcuts.progress_bar import ProgressBarCounter

    finished: list[SessionInfo] = []
    bar: ProgressBar | None = None
    counters: dict[str, ProgressBarCounter[object]] = {}
    try:
        async with trio.open_nursery() as nursery:

            async def waiter() -> None:
                finished.extend(await client.wait(*targets, timeout=timeout, any=any_))
                nursery.cancel_scope.cancel()

            nursery.start_soon(waiter)
            while True:
                infos = await client.sessions(*targets)
                for info in infos:
                    if info.progress_percent is None and info.id not in counters:
                        continue
                    if bar is None:
                        bar = ProgressBar(title="waiting for " + ", ".join(targets))
                        bar.__enter__()
                    counter = counters.get(info.id)
                    if counter is None:
                        counter = counters[info.id] = bar(label=info.id, total=100)
                    counter.items_completed = int(info.progress_percent or 0)
                    counter.label = f"{info.id}: {info.progress_message or info.state}"
                    if info.state not in _ACTIVE:
                        if info.last_status == "completed":
                            counter.items_completed = 100
                        counter.done = True
                if bar is not None:
                    bar.invalidate()
                await trio.sleep(0.2)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return finished


async def _stop(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise _Usage("--timeout goes with --wait")
    async with _connected(args) as client:
        if args.what_if:
            outcomes = await _would_stop(client, args.targets)
        else:
            outcomes = await client.stop(*args.targets)
        unstopped: list[str] = []
        requested = [sid for sid, outcome in outcomes.items() if outcome != "not_found"]
        if args.wait and not args.what_if and requested:
            await client.wait(*requested, timeout=args.timeout)
            unstopped = [
                info.id for info in await client.sessions(*requested) if info.state in _ACTIVE
            ]
    if args.json:
        _print_json(outcomes)
    else:
        rows = [
            [sid, "would stop" if args.what_if and outcome == "requested" else outcome]
            for sid, outcome in outcomes.items()
        ]
        print(format_table(["SESSION", "OUTCOME"], rows), end="", flush=True)
    missing = [sid for sid, outcome in outcomes.items() if outcome == "not_found"]
    if missing:
        _err(f"no session matches {', '.join(map(repr, missing))}")
    if unstopped:
        _err(f"still running{_after(args.timeout)}: {', '.join(unstopped)}")
    return EXIT_FAILED if missing or unstopped else EXIT_OK


def _after(timeout: float | None) -> str:
    return "" if timeout is None else f" after {timeout:g} s"


async def _would_stop(client: Client, targets: Sequence[str]) -> dict[str, str]:
    """What ``stop`` would answer, from a listing: PowerShell's ``-WhatIf``."""
    outcomes: dict[str, str] = {}
    for target in targets:
        infos = await client.sessions(target)
        if not infos:
            outcomes[target] = "not_found"
        for info in infos:
            outcomes.setdefault(
                info.id,
                {"running": "requested", "stopping": "already_stopping"}.get(
                    info.state, "not_running"
                ),
            )
    return outcomes


async def _rm(args: argparse.Namespace) -> int:
    async with _connected(args) as client:
        removed = await client.remove(*args.sessions, force=args.force)
    if args.json:
        _print_json(removed)
    else:
        for session_id in removed:
            print(session_id)
        sys.stdout.flush()
    return EXIT_OK


async def _attach(args: argparse.Namespace) -> int:
    if args.target is not None and args.connect is not None:
        raise _Usage("give the host either as NAME|ADDRESS or with --connect, not both")
    target = args.target if args.target is not None else args.connect
    label = target or os.environ.get("SPE_HOST") or "default"
    async with _connected(args, target) as client:
        if not sys.stdin.isatty():
            ok = await run_piped(client, args.session, sys.stdin)
            return EXIT_OK if ok else EXIT_FAILED
        await Repl(client, args.session, host_label=label, replay_all=args.replay).run()
    return EXIT_OK


async def _serve(args: argparse.Namespace) -> int:
    from ..engine import open_host
    from ..server import Listening, serve

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if args.switch_interval is not None:
        if args.switch_interval <= 0:
            raise _Usage("--switch-interval must be more than 0 ms")
        sys.setswitchinterval(args.switch_interval / 1000)
    if args.tls_key is not None and args.tls_cert is None:
        raise _Usage("--tls-key needs --tls-cert")
    idle = None if args.idle_timeout == 0 else args.idle_timeout
    # The receiver is open before anything listens, so a SIGTERM that arrives while
    # starting up is a graceful shutdown too, never a KeyboardInterrupt traceback.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with (
            open_host(
                name=args.name, idle_timeout=idle, shutdown_timeout=args.shutdown_timeout
            ) as host,
            trio.open_nursery() as nursery,
        ):
            listening: list[Listening] = []
            for address in args.listen or [None]:
                try:
                    listening.append(
                        await nursery.start(
                            partial(
                                serve,
                                host,
                                address,
                                tls_cert=args.tls_cert,
                                tls_key=args.tls_key,
                                insecure=args.insecure,
                                shutdown_timeout=args.shutdown_timeout,
                            )
                        )
                    )
                except SpeError as exc:
                    # A listener that cannot start is a configuration to fix (the
                    # address, the TLS files, a non-loopback bind): a usage error.
                    raise _Usage(str(exc)) from None
            _announce(args, listening)
            async for signum in signals:
                logging.getLogger("spe_host").info(
                    "%s received: stopping the running sessions and shutting down",
                    signal.Signals(signum).name,
                )
                break
            nursery.cancel_scope.cancel()
    return EXIT_OK


def _announce(args: argparse.Namespace, listening: Sequence[Any]) -> None:
    if args.json:
        print(
            json.dumps(
                {
                    "name": args.name,
                    "pid": os.getpid(),
                    "listening": [
                        {
                            "address": item.address,
                            "connection_files": {
                                role: str(path) for role, path in item.connection_files.items()
                            },
                        }
                        for item in listening
                    ],
                }
            ),
            flush=True,
        )
        return
    lines = [f"spe-host: host {args.name!r} is serving (pid {os.getpid()})"]
    for item in listening:
        lines.append(f"  listening on {item.address}")
        for role, path in sorted(item.connection_files.items()):
            lines.append(f"    {role} connection file: {path}")
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
    lines.append("Ctrl-C or SIGTERM stops the host (running sessions are stopped first).")
    print("\n".join(lines), flush=True)


# --- main -------------------------------------------------------------------------------------


def _leaf(exc: BaseException) -> BaseException:
    """The error that matters in what trio raised.

    Nurseries wrap errors in groups; when a connection breaks, several tasks fail at
    once with the same cause. The first leaf that is not a cancellation speaks for all.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = [_leaf(inner) for inner in exc.exceptions]
    return next((leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)), leaves[0])


def _exit_code(exc: BaseException) -> int:
    """Map an exception that ended a verb to its exit code, printing the sentence."""
    exc = _leaf(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, _Usage):
        _err(str(exc))
        return EXIT_USAGE
    if isinstance(exc, _Unreachable):
        _err(str(exc) if str(exc).startswith("lost") else f"cannot connect to the host: {exc}")
        return EXIT_UNREACHABLE
    if isinstance(exc, AuthenticationError | PermissionDenied):
        _err(str(exc))
        return EXIT_UNREACHABLE
    if isinstance(exc, SessionNotFound | SessionBusy):
        _err(str(exc))
        return EXIT_FAILED
    if isinstance(exc, ProtocolError):
        _err(f"the host rejected the request: {exc}")
        return EXIT_FAILED
    if isinstance(exc, SpeError):
        _err(str(exc))
        return EXIT_FAILED
    if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError | OSError):
        _err(f"lost the connection to the host: {exc or type(exc).__name__}")
        return EXIT_UNREACHABLE
    if isinstance(exc, ValueError):
        _err(str(exc))
        return EXIT_USAGE
    raise exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spe-host`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 ok, 1 not found / not stopped / busy, 2 usage, 3 cannot
        connect or not authorized, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], Awaitable[int]] = args.handler
    try:
        return trio.run(handler, args)
    except SystemExit:
        raise
    except BaseException as exc:
        # Every failure becomes a sentence on stderr and an exit code, not a traceback.
        return _exit_code(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
