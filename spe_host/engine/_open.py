"""open_host: open a Host, with the nursery its executions run in, and close it.

With a journal, the host opens it first (in a worker thread: opening locks, migrates
and recovers the file) and makes it its observer; it closes it last, after every
execution has ended, so the runs' ends are in it.

On exit the host stops every running execution and waits for them (``_lifetime``),
then ends every session's thread, the loop-mode watchdog and the interpreter share
(``_share``), and puts back the interpreter's switch interval if it was asked to set
one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._model import DEFAULT_REQUEST_LIMITS, RequestLimits
from ..journal import Journal
from . import _redirect, _streams
from ._host import DEFAULT_IDLE_TIMEOUT, Host
from ._lifetime import expire_idle, shutdown
from ._runs import DEFAULT_KEEP_RESULTS, check_keep_results
from ._share import DEFAULT_INTERPRETER_SLOTS, InterpreterShare
from ._watchdog import DEFAULT_LOOP_TIMEOUT

__all__ = ["open_host"]


@asynccontextmanager
async def open_host(
    *,
    namespace: dict[str, Any] | None = None,
    name: str = "default",
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    max_running: int = 64,
    output_limit: int = _streams.DEFAULT_OUTPUT_LIMIT,
    shutdown_timeout: float = 5.0,
    keep_results: int = DEFAULT_KEEP_RESULTS,
    loop_timeout: float | None = DEFAULT_LOOP_TIMEOUT,
    limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
    switch_interval: float | None = None,
    interpreter_slots: int | None = DEFAULT_INTERPRETER_SLOTS,
    journal: str | os.PathLike[str] | Journal | None = None,
) -> AsyncIterator[Host]:
    """Open a host that owns a nursery for its sessions' executions.

    Example::

        async with spe_host.open_host(namespace={"app": app}) as host:
            host.start("report", "print(app.counter)")

    Args:
        namespace: Names every new session starts with (copied per session).
        name: The host's name; the server uses it for its socket and files.
        idle_timeout: Seconds after its last use an idle session expires (None:
            never).
        max_running: How many executions may run at once, in worker or loop mode.
        output_limit: The bound of each session's output buffer, in bytes.
        shutdown_timeout: On exit, how long to wait for stopped executions.
        keep_results: How many unreceived results each session keeps (at least 1).
        loop_timeout: Seconds a loop-mode statement may hold the event loop before
            the host stops it at its next statement (None: never).
        limits: What one request may ask: the longest pattern, the most patterns,
            the largest script file (docs/security.md).
        switch_interval: Set the interpreter's thread switch interval
            (:func:`sys.setswitchinterval`, seconds) while the host is open, and put
            the previous one back on exit. A stop reaches a CPU-bound script at its
            next statement, which needs the interpreter: a shorter interval makes
            such stops quicker (0.5 ms against the default 5 ms: a stop of a
            spinning loop in about a third of the time, for no throughput loss we
            could measure in CPU-bound threads). None leaves the app's setting alone.
        interpreter_slots: While more worker-mode runs than this are running, only
            this many execute Python at once; the others wait their turn at their
            next statement, in rotation, so the host's own thread keeps its share of
            the interpreter and keeps answering however many sessions spin. A run
            blocked in a C call (``time.sleep``) does not count; loop-mode code is
            never held back. And when the host's loop wakes with work, a run that has
            spun two switch intervals pauses at its next statement while the loop
            wants the interpreter, at most that long and at most half of the time
            (README, "Many sessions spinning at once"). None: no bound, and no pause.
        journal: Record every run, its output, every stop and remove in this
            journal (a path, or a :class:`~spe_host.journal.Journal` with its
            options: ``required``, ``record_code``, ``retention``, ``max_size``);
            the host opens and closes it. None: no journal (docs/journal.md).

    Yields:
        The host.

    Raises:
        JournalUnavailable: The journal is another host's.
    """
    # Refused here, not inside the nursery, where it would arrive in an exception group.
    check_keep_results(keep_results)
    if interpreter_slots is not None and not (
        isinstance(interpreter_slots, int) and interpreter_slots >= 1
    ):
        raise ValueError(
            f"interpreter_slots must be a whole number of at least 1, or None for no "
            f"bound, not {interpreter_slots!r}"
        )
    if switch_interval is not None and not switch_interval > 0:
        raise ValueError(
            f"switch_interval must be a positive number of seconds, not {switch_interval!r}"
        )
    if journal is not None and not isinstance(journal, Journal):
        journal = Journal(journal)
    if journal is not None:
        await trio.to_thread.run_sync(journal.open, name)
    previous_interval = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    _redirect.install()
    try:
        async with trio.open_nursery() as nursery:
            host = Host(
                nursery,
                namespace=namespace,
                name=name,
                idle_timeout=idle_timeout,
                max_running=max_running,
                output_limit=output_limit,
                shutdown_timeout=shutdown_timeout,
                keep_results=keep_results,
                loop_timeout=loop_timeout,
                limits=limits,
                observer=journal,
            )
            # The engine's own reach into the registry's flags (as _lifetime's into
            # its sessions): the share summons runs through them.
            flags = host._flags
            share = None
            if interpreter_slots is not None:
                share = flags.share = InterpreterShare(flags, interpreter_slots)
                trio.lowlevel.add_instrument(share.instrument)
            nursery.start_soon(expire_idle, host, name="spe idle expiry")
            try:
                yield host
            finally:
                with trio.CancelScope(shield=True):
                    await shutdown(host, shutdown_timeout)
                # Every session's thread ends (one abandoned in a native call ends
                # once the call returns), and the loop watchdog with them.
                for session in host.sessions():
                    session._end_thread()
                host.watchdog.close()
                if flags.share is not None:
                    flags.share.close()
                if share is not None:
                    with contextlib.suppress(KeyError):  # trio drops one that raised
                        trio.lowlevel.remove_instrument(share.instrument)
                nursery.cancel_scope.cancel()
    finally:
        _redirect.uninstall()
        if switch_interval is not None:
            sys.setswitchinterval(previous_interval)
        if journal is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(journal.close)
