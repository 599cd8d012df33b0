"""The ``logs`` verb: a session's output from the shell, like ``docker logs``.

Theory of operation
-------------------
A session's output is one byte stream across its runs; the host keeps a bounded tail
of it and serves it by offset (``subscribe``: what it holds from an offset, then live
output). ``SessionInfo.output_offset`` is where the stream ends now.

* ``logs SESSION`` prints what the host holds from ``--since`` (default 0) to the end
  it reports when asked, and exits 0.
* ``logs -f SESSION`` prints the same and then the live output, until the run going
  when it started ends; then it exits with that run's status (0 completed, 4 failed,
  5 aborted). It opens a watch first, then reads the session, then subscribes, so an
  end after the reading is pushed, never missed. The end pushed carries the stream's
  end offset, and the verb prints up to it before it exits: the last line of the
  run is never lost to the race between its output and its state. An idle session
  has no run to follow: ``-f`` prints what is held and exits with its last run's
  status.
* ``logs --run RUN SESSION`` prints one kept run's output (and traceback, on
  stderr), read with ``receive --keep``, and exits with its status. A run the live
  host does not keep (received, dropped, or from before a restart), or any run when
  no host answers, is handed to :func:`run_not_in_host`, the one place that looks for
  it elsewhere: the host's journal.
"""

from __future__ import annotations

import argparse
import math

import trio

from .._errors import ConnectError, SessionNotFound, SpeError
from .._model import (
    ExecutionStatus,
    OutputChunk,
    SessionInfo,
    SessionState,
    dropped_marker,
    parse_run_id,
)
from ..client import Client, StateWatch
from ._exits import EXIT_FAILED, EXIT_OK, UsageError, run_exit
from ._output import err, write_output
from ._verbs import connected, print_result

__all__ = ["logs", "run_not_in_host"]


async def logs(args: argparse.Namespace) -> int:
    """``spe-host logs``: print a session's output; follow it with ``-f``; one run's
    with ``--run``."""
    if args.run is not None:
        if args.follow:
            raise UsageError("--run prints a run that has ended; leave out -f")
        return await _kept_run(args, _run_of(args.session, args.run))
    async with connected(args) as client:
        info = await _session(client, args.session)
        if not args.follow:
            await _print_until(client, args.session, args.since, info.output_offset)
            return EXIT_OK
        return await _Follow(args.session).run(client, args.since)


async def run_not_in_host(args: argparse.Namespace, run: str, error: SpeError) -> int:
    """What ``logs --run`` does for a run the live host does not keep, or with no host.

    It reads the run from the host's journal (``--journal``, else the default one of
    the host's name), which keeps runs across restarts.

    Args:
        args: The parsed command line.
        run: The run's id (``etl#3``).
        error: What the host answered, or why it could not be reached.

    Returns:
        The exit code of the run as the journal recorded it.

    Raises:
        SpeError: ``error``, when the journal has no such run either (or no journal).
    """
    # Imported here: the journal package is for this fallback only, not every `logs`.
    from ._journal_verbs import print_journal_run

    try:
        return print_journal_run(args, run)
    except SpeError:
        raise error from None


def _run_of(session: str, text: str) -> str:
    """The run id ``--run`` names: ``N`` or ``SESSION#N`` of the session given."""
    run = f"{session}#{text}" if text.isdigit() else text
    try:
        owner, _ = parse_run_id(run)
    except ValueError as exc:
        raise UsageError(f"--run {text}: {exc}") from None
    if owner != session:
        raise UsageError(f"run {run} is not a run of session {session!r}; give --run N")
    return run


async def _kept_run(args: argparse.Namespace, run: str) -> int:
    try:
        async with connected(args) as client:
            result = await client.receive(args.session, run, keep=True)
    except (SessionNotFound, ConnectError) as exc:
        return await run_not_in_host(args, run, exc)
    print_result(result)
    return run_exit([result.status])


async def _session(client: Client, session: str) -> SessionInfo:
    for info in await client.sessions(session):
        return info
    raise SessionNotFound(f"no session has the id {session!r}")


def _number(run: str | None) -> int:
    """A run's number in its session (0: no run yet)."""
    return 0 if run is None else parse_run_id(run)[1]


def _print(chunk: OutputChunk) -> None:
    if chunk.dropped:
        write_output(dropped_marker(chunk.dropped))
    write_output(chunk.text)


async def _print_until(client: Client, session: str, since: int, end: int) -> None:
    """Print the session's output from ``since`` to ``end`` (or until it is removed)."""
    if since >= end:
        return
    async with client.subscribe(session, from_offset=since) as events:
        async for event in events:
            if isinstance(event, OutputChunk):
                _print(event)
                if event.end >= end:
                    return


class _Follow:
    """``logs -f``: the output until the run going at the start has ended."""

    def __init__(self, session: str) -> None:
        self._session = session
        self._printed = 0
        self._end = math.inf  # the stream's end offset once the run has ended
        self._status: ExecutionStatus | None = None
        self._removed = False

    async def run(self, client: Client, since: int) -> int:
        """Follow from ``since``; the exit code of how the run ended."""
        self._printed = since
        async with client.watch(self._session) as changes, trio.open_nursery() as nursery:
            info = await _session(client, self._session)
            self._see(info, info.run)
            nursery.start_soon(self._watch, changes, info.run, nursery.cancel_scope)
            await self._output(client, nursery.cancel_scope)
        if self._removed:
            err(f"session {self._session!r} was removed before its run ended")
            return EXIT_FAILED
        return run_exit([self._status])

    def _see(self, info: SessionInfo, run: str | None) -> None:
        """Note the end of the followed run, if ``info`` says it has ended."""
        if info.state == SessionState.CLOSED:
            self._removed = True
        elif _number(info.run) < _number(run):
            return  # pushed before the reading it is older than: the followed run goes on
        elif not info.active or info.run != run:
            # Ended (a newer run in its place means it ended too, the change between
            # superseded): its status is the session's last.
            self._end = info.output_offset
            self._status = info.last_status

    async def _watch(self, changes: StateWatch, run: str | None, scope: trio.CancelScope) -> None:
        async for change in changes:
            self._see(change.session, run)
            if self._removed or self._printed >= self._end:
                scope.cancel()
                return

    async def _output(self, client: Client, scope: trio.CancelScope) -> None:
        if self._printed >= self._end:
            scope.cancel()
            return
        async with client.subscribe(self._session, from_offset=self._printed) as events:
            async for event in events:
                if isinstance(event, OutputChunk):
                    _print(event)
                    self._printed = event.end
                    if self._printed >= self._end:
                        break
        # Printed to the end of the run, or the session is gone (the stream ended).
        self._removed = self._removed or self._printed < self._end
        scope.cancel()
