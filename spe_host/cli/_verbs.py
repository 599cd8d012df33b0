"""The verbs that talk to a running host: ``ls``, ``start``, ``receive``, ``wait``,
``rm``, ``inspect`` and ``attach`` (``stop`` and ``logs`` have modules of their own).

Theory of operation
-------------------
Each verb connects with :func:`connected` (``--connect``, else ``$SPE_HOST``, else
the host named ``default``; under trio with :func:`~spe_host.connect`, and for a
one-shot verb run without trio over a blocking socket with
:func:`~spe_host.client.connect_blocking`, the same client either way), makes one or
a few requests through the client library (:mod:`spe_host.client`: the only way a
verb reaches a host), prints the answer as a table or, with ``--json``, as the
protocol's objects, and returns its exit status.

A verb does not catch errors: a failed request raises, and :func:`._main.main` turns
the exception into a sentence and an exit code by its class. A verb returns
:data:`EXIT_FAILED` itself only for outcomes that are answers, not errors: a target
that matched nothing, a session still running when a wait ended, a session ``rm``
could not remove. ``wait`` and ``receive`` return the code of how the runs they
report ended (:func:`run_exit`: 0, 4 failed, 5 aborted), so a script can branch.

``rm`` without ``--force`` removes the sessions one request each, so that one running
session is refused alone (and reported with the flag that would remove it) while the
others go; the host's ``remove`` is all or nothing.

``ls --watch`` and ``wait`` on a terminal follow the host's pushed state changes
(``_live.py``, imported only then); nothing here polls. ``attach`` imports the REPL
(prompt_toolkit, pygments) and ``wait`` on a terminal prompt_toolkit's progress bar,
both inside the verb, so the other verbs start without loading them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from .._errors import SessionBusy, SessionNotFound
from .._model import ExecutionResult, ExecutionStatus, SessionInfo, is_pattern
from ..client import Client, connect_blocking
from ._exits import EXIT_FAILED, EXIT_OK, UsageError, run_exit
from ._output import (
    PROG,
    err,
    print_json,
    print_sessions,
    result_json,
    session_json,
    write_output,
)

__all__ = [
    "attach",
    "connected",
    "inspect",
    "ls",
    "print_result",
    "receive",
    "rm",
    "start",
    "wait",
]


@asynccontextmanager
async def connected(args: argparse.Namespace, target: str | None = None) -> AsyncIterator[Client]:
    """Connect to the host the command line names, for the length of the block.

    Args:
        args: The parsed command line (its connection options).
        target: The host, overriding ``--connect`` (``attach``'s positional).

    Yields:
        The connected client.
    """
    token = args.token or os.environ.get("SPE_HOST_TOKEN") or None
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        from ..client import connect as opener
    else:
        opener = connect_blocking  # a one-shot verb run without trio (_main.run_verb)
    async with opener(
        target if target is not None else args.connect,
        token=token,
        cafile=args.cafile,
        client_name=f"{PROG} {args.verb}",
        timeout=args.connect_timeout,
        insecure=args.insecure,
    ) as client:
        yield client


async def ls(args: argparse.Namespace) -> int:
    """``spe-host ls``: list sessions; an exact id that matches nothing exits 1.

    With ``--watch`` it lists them again on every change until Ctrl-C (exit 130).
    """
    async with connected(args) as client:
        if args.watch:
            from ._live import watch_sessions

            await watch_sessions(
                client, args.patterns, state=args.state, as_json=args.json, quiet=args.quiet
            )
        infos = await client.sessions(*args.patterns, state=args.state)
    if args.json:
        print_json([session_json(info) for info in infos])
    elif args.quiet:
        for info in infos:
            print(info.id)
    else:
        print_sessions(infos)
    missing = _unmatched(args.patterns, infos)
    if missing and args.state is None:
        for sentence in missing:
            err(sentence)
        return EXIT_FAILED
    return EXIT_OK


def _script(file: str, *, by_path: bool) -> tuple[str | None, str | None]:
    """The ``(code, path)`` to send for FILE: the path itself when the host can read it."""
    if file == "-":
        return sys.stdin.read(), None
    script = Path(file).expanduser()
    if not script.is_file():
        raise UsageError(f"there is no script at {file}")
    if by_path:
        return None, str(script.resolve())
    try:
        return script.read_text(encoding="utf-8"), None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from None


async def start(args: argparse.Namespace) -> int:
    """``spe-host start``: run code in a session in the background; print its id."""
    if (args.code is None) == (args.file is None):
        raise UsageError("give the code with -c CODE or as a FILE, exactly one of them")
    code: str | None = args.code
    path: str | None = None
    async with connected(args) as client:
        if args.file is not None:
            # Over a unix socket the host runs on this machine as this user (it checked
            # our uid), so it can read the file itself and its tracebacks name it.
            code, path = _script(args.file, by_path=client.address.startswith("unix:"))
        info = await client.start(
            args.session,
            code,
            path=path,
            args=dict(args.arg) or None,
            name=args.name,
            autodispose=True if args.autodispose else None,
            loop=args.loop,
        )
    if args.json:
        print_json(session_json(info))
    else:
        print(info.id, flush=True)
    return EXIT_OK


async def receive(args: argparse.Namespace) -> int:
    """``spe-host receive``: print a run's output, value and traceback (default: the
    session's oldest unreceived run); the exit code says how the run ended."""
    session, run = args.target
    async with connected(args) as client:
        result = await client.receive(session, run, keep=args.keep)
    if args.json:
        print_json(result_json(result))
    else:
        print_result(result)
    return run_exit([result.status])


def print_result(result: ExecutionResult) -> None:
    """A run's output and value on stdout, its traceback on stderr, and a line on
    stderr naming a run that did not complete."""
    write_output(result.output)
    if result.value is not None:
        if result.output and not result.output.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.write(result.value + "\n")
    sys.stdout.flush()
    if result.error:
        error = result.error if result.error.endswith("\n") else result.error + "\n"
        write_output(error, sys.stderr)
    if result.status != ExecutionStatus.COMPLETED:
        err(f"run {result.run or result.session} {result.status}")


async def wait(args: argparse.Namespace) -> int:
    """``spe-host wait``: wait for sessions to finish; exit 1 if some still run, else
    with the code of how their runs ended (:func:`run_exit`)."""
    async with connected(args) as client:
        # Only the sessions the wait covered count: a job that a wildcard matches
        # but that starts during the wait is not "still running".
        before = await client.sessions(*args.sessions)
        waited = {info.id for info in before}
        if sys.stdout.isatty() and not args.json:
            from ._live import wait_with_progress

            finished, after = await wait_with_progress(
                client, args.sessions, before, timeout=args.timeout, any_=args.any
            )
        else:
            finished = await client.wait(*args.sessions, timeout=args.timeout, any=args.any)
            after = await client.sessions(*args.sessions)
        still = [info.id for info in after if info.active and info.id in waited]
    if args.json:
        print_json([session_json(info) for info in finished])
    elif finished:
        print_sessions(finished)
    if still and (not args.any or not finished):
        err(f"still running{_after(args.timeout)}: {', '.join(still)}")
        return EXIT_FAILED
    return run_exit(info.last_status for info in finished)


def _after(timeout: float | None) -> str:
    return "" if timeout is None else f" after {timeout:g} s"


async def rm(args: argparse.Namespace) -> int:
    """``spe-host rm``: remove what can be removed, report the rest, exit 1 if any is
    left (a running session without --force, an id that matches nothing)."""
    async with connected(args) as client:
        infos = await client.sessions(*args.sessions)
        refused = _unmatched(args.sessions, infos)
        if args.force:
            # One request: the host stops them all at once, then removes them.
            removed = await client.remove(*(i.id for i in infos), force=True) if infos else []
        else:
            removed = await _remove_each(client, infos, refused)
    if args.json:
        print_json(removed)
    else:
        for session_id in removed:
            print(session_id)
        sys.stdout.flush()
    for sentence in refused:
        err(sentence)
    return EXIT_FAILED if refused else EXIT_OK


def _unmatched(targets: Sequence[str], infos: Sequence[SessionInfo]) -> list[str]:
    """A sentence for each exact id among ``targets`` that no session has."""
    found = {info.id for info in infos}
    return [f"no session has the id {t!r}" for t in targets if not is_pattern(t) and t not in found]


async def _remove_each(
    client: Client, infos: Sequence[SessionInfo], refused: list[str]
) -> list[str]:
    """Remove the sessions one by one, so a running one keeps only itself; the ids
    removed (a sentence for each refusal goes to ``refused``)."""
    removed: list[str] = []
    for info in infos:
        try:
            removed.extend(await client.remove(info.id))
        except SessionBusy:
            refused.append(
                f"session {info.id!r} is running; stop it first (spe-host stop {info.id} "
                "--wait) or remove it with --force"
            )
        except SessionNotFound:
            pass  # removed meanwhile (by someone else, or it expired): it is gone
    return removed


async def inspect(args: argparse.Namespace) -> int:
    """``spe-host inspect``: everything the host says about sessions, as JSON."""
    async with connected(args) as client:
        infos = await client.sessions(*args.sessions)
    print_json([session_json(info) for info in infos])
    missing = _unmatched(args.sessions, infos)
    for sentence in missing:
        err(sentence)
    return EXIT_FAILED if missing else EXIT_OK


async def attach(args: argparse.Namespace) -> int:
    """``spe-host attach``: the REPL on a session, or run statements piped to stdin."""
    from ..repl import Repl, run_piped

    if args.target is not None and args.connect is not None:
        raise UsageError("give the host either as NAME|ADDRESS or with --connect, not both")
    target = args.target if args.target is not None else args.connect
    label = target or os.environ.get("SPE_HOST") or "default"
    async with connected(args, target) as client:
        if not sys.stdin.isatty():
            ok = await run_piped(client, args.session, sys.stdin, loop=args.loop)
            return EXIT_OK if ok else EXIT_FAILED
        repl = Repl(client, args.session, host_label=label, replay_all=args.replay, loop=args.loop)
        await repl.run()
    return EXIT_OK
