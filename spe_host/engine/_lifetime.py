"""How sessions end without being asked: idle expiry, and the host's exit.

Theory of operation
-------------------
A background task expires sessions that have been idle longer than the host's
``idle_timeout`` (the expiry slides with every use). It sleeps until the next
session is due, or until the host announces a change (a new session or a finished
run may bring an earlier expiry); it never polls.

On exit the host stops every running execution and waits for them, up to
``shutdown_timeout``; one stuck in a native call that does not return by then is
reported (logged, and listed in :attr:`Host.unfinished <spe_host.Host.unfinished>`)
with its session id and line, and its worker thread is abandoned (it still aborts
at its next statement once the call returns). That is one deadline: abandoning ends
the execution's wait for its thread at once, so recording the abandoned results
takes a moment (:data:`_ABANDON_GRACE` at most), not another timeout.
``remove(force=True)`` stops and waits the same way.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from ._host import Host
    from ._session import ScriptSession

__all__ = ["expire_idle", "shutdown", "stop_and_wait"]

logger = logging.getLogger("spe_host")

# Seconds an abandoned execution's task may take to record its result; it does so at
# once, so this bounds only a bug.
_ABANDON_GRACE: Final = 0.5


async def expire_idle(host: Host) -> None:
    """Drop the host's sessions once they have been idle ``idle_timeout`` s; runs forever."""
    while True:
        if host.idle_timeout is None:
            await trio.sleep_forever()
        timeout = host.idle_timeout
        now = trio.current_time()
        next_check = math.inf
        for session in host.sessions():
            if session.is_active():
                continue
            if session.held:
                # A hold ends with a touch, so its expiry is at least a full
                # timeout away from now: look again then.
                next_check = min(next_check, now + timeout)
                continue
            expires = session.idle_since() + timeout
            if expires <= now:
                logger.info("session %r expired after %.0f s idle", session.id, timeout)
                host._drop(session)
            else:
                next_check = min(next_check, expires)
        with trio.move_on_at(next_check):
            # A new session or a finished run may bring an earlier expiry.
            await host._changed.wait()


async def shutdown(host: Host, timeout: float) -> None:
    """Close the host to new work; stop its running sessions, waiting ``timeout`` s."""
    # No new work from here on: an execution started now would outlive the host.
    host._closed = True
    running = [s for s in host.sessions() if s.is_active()]
    for session, where in await stop_and_wait(host, running, timeout):
        host.unfinished.append((session.id, where))


async def stop_and_wait(
    host: Host, sessions: list[ScriptSession], timeout: float
) -> list[tuple[ScriptSession, str | None]]:
    """Stop ``sessions``, wait up to ``timeout`` s; abandon and return the stuck ones."""
    if not sessions:
        return []
    host.stop(*(s.id for s in sessions))
    with trio.move_on_after(timeout):
        await host.wait(*(s.id for s in sessions))
    stuck: list[tuple[ScriptSession, str | None]] = []
    for session in sessions:
        if not session.is_active():
            continue
        where = session.location
        stuck.append((session, where))
        logger.warning(
            "session %r did not stop within %.1f s; it is stuck at %s, most "
            "likely in a native call that cannot be interrupted; its worker "
            "thread is abandoned",
            session.id,
            timeout,
            where or "an unknown line",
        )
        # Its task records an ABORTED result and ends; the thread runs on until
        # its native call returns, then aborts at its next check.
        session._abandon()
    if stuck:
        # Let the abandoned executions' tasks record their results (at once:
        # abandoning ends their wait for the thread).
        with trio.move_on_after(min(timeout, _ABANDON_GRACE)):
            await host.wait(*(s.id for s, _ in stuck))
    return stuck
