"""Watcher: the state changes of a host's sessions, pushed, coalesced per session.

Theory of operation
-------------------
A watcher is told of every change of a matching session - a change of state
(idle, running, stopping, closed) or of progress - by the host, in the trio thread,
at the moment the change is announced. It does not queue the change: it remembers
*which session* changed, once, in an insertion-ordered dict. When its reader asks
for the next change, it takes the oldest session that changed and snapshots it
then, so the reader always gets the newest state, and ``previous`` is the state
this watcher last handed out for that session (or CLOSED for one it has not seen:
a session that did not exist). A reader that falls behind therefore misses
intermediate states, never the latest one, and a watcher holds at most one entry
per session, however much happens.

A session that came and went while the reader was not looking (it was never
handed out, and it is closed now) is forgotten outright, and a closed session is
forgotten once its close has been handed out; so what a watcher holds is bounded
by the sessions that exist, not by how many ever did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .._model import SessionState, StateChange
from ._events import Broadcast
from ._match import Patterns

if TYPE_CHECKING:
    from ._session import ScriptSession

__all__ = ["Watcher"]


class Watcher:
    """The changes of the sessions whose ids match ``patterns`` (all when none is given).

    Made by :meth:`Host.watch <spe_host.Host.watch>`; iterate it with ``async for``.
    Iteration ends when the watch block is left.

    Args:
        patterns: Ids or ``fnmatch`` wildcards.
        existing: The matching sessions now: their present states count as seen.
        matching: The patterns, compiled under the host's limits.
    """

    def __init__(
        self, patterns: tuple[str, ...], existing: list[ScriptSession], matching: Patterns
    ) -> None:
        self.patterns = patterns
        self._matching = matching
        self._seen = {session.id: session.state for session in existing}
        self._changed: dict[str, ScriptSession] = {}
        self._wakeup = Broadcast()
        self._closed = False

    def matches(self, session_id: str) -> bool:
        """True if this watcher wants the changes of the session ``session_id``."""
        return self._matching.matches(session_id)

    def offer(self, session: ScriptSession) -> None:
        """Take note that ``session`` changed (trio thread; never blocks)."""
        if session.state is SessionState.CLOSED and session.id not in self._seen:
            # Never handed out and gone now: there is nothing to tell.
            self._changed.pop(session.id, None)
            return
        self._changed[session.id] = session
        self._wakeup.fire()

    def close(self) -> None:
        """End the iteration (the watch block has been left)."""
        self._closed = True
        self._changed.clear()
        self._seen.clear()
        self._wakeup.fire()

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> StateChange:
        if self._changed:
            await trio.lowlevel.checkpoint()
        while True:
            if self._closed:
                raise StopAsyncIteration
            change = self._take()
            if change is not None:
                return change
            if not self._changed:
                await self._wakeup.wait()

    def _take(self) -> StateChange | None:
        if not self._changed:
            return None
        session_id = next(iter(self._changed))
        session = self._changed.pop(session_id)
        info = session.info()
        if info.state is SessionState.CLOSED:
            previous = self._seen.pop(session_id, SessionState.CLOSED)
            if previous is SessionState.CLOSED:
                return None
        else:
            previous = self._seen.get(session_id, SessionState.CLOSED)
            self._seen[session_id] = info.state
        return StateChange(session=info, previous=previous)
