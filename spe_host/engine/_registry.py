"""Registry: the host's sessions by id, and the ways to look at them.

Theory of operation
-------------------
This is the read side of a :class:`~spe_host.Host`: it holds the sessions, finds them
by id or ``fnmatch`` pattern, and lets a caller look at them without running code -
``wait`` for them to finish, ``watch`` their state changes, ``follow`` their output
and progress, ``complete`` a name in their namespaces. The host adds the operations
that run, stop and remove code.

Nothing here polls for state. The host fires one
:class:`~spe_host.engine._events.Broadcast` when a session starts, stops, finishes or
goes (``wait`` waits on it; idle expiry keeps a heap of its own, ``_lifetime``); each
session tells the registry of its own changes of state and progress, in the trio
thread, and the registry passes them to the watchers that match (see ``_watch``).
The one value no event announces is the line a running script is on: it is read
from the session thread's frame, so for a watcher that asks for locations the
registry samples the running sessions it watches every :data:`LOCATION_INTERVAL`
seconds and offers the ones whose line moved, or whose pending stop's ``blocked_in``
changed.
"""

from __future__ import annotations

import builtins
import itertools
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from .._errors import NoResult, SessionNotFound
from .._model import (
    Completion,
    Progress,
    RequestLimits,
    SessionState,
    Signature,
    StateChange,
    StopTicket,
    check_session_id,
    is_pattern,
)
from ._changes import changed
from ._checkpoint import StopFlags
from ._complete import CompletionSlots, complete
from ._events import Broadcast
from ._follow import DEFAULT_CHUNK_CHARS, Follower
from ._lifetime import IdleExpiry
from ._match import Patterns
from ._observe import Observer
from ._runs import check_keep_results
from ._session import ScriptSession
from ._signature import signature
from ._watch import Watcher

__all__ = ["LOCATION_INTERVAL", "Registry"]

# Completions awaited at once; an abandoned one frees its place (one per session).
_COMPLETION_THREADS = 4
#: Seconds between two samples of a watched running session's location.
LOCATION_INTERVAL = 0.5


class Registry:
    """The sessions of a host, and the operations that look at them.

    The base of :class:`~spe_host.Host`; not made on its own.

    Args:
        namespace: Names every new session starts with (copied per session).
        output_limit: The bound of each session's output buffer, in bytes.
        keep_results: How many unreceived results each session keeps.
        observer: Told of every session, run and stop (the journal), or None.
    """

    def __init__(
        self,
        *,
        namespace: dict[str, Any] | None,
        output_limit: int,
        keep_results: int,
        limits: RequestLimits,
        observer: Observer | None = None,
    ) -> None:
        self.observer = observer
        self.output_limit = output_limit
        self.limits = limits
        self.keep_results = check_keep_results(keep_results)
        self._namespace = dict(namespace or {})
        self._sessions: dict[str, ScriptSession] = {}
        self._fresh_ids = itertools.count(1)
        self._changed = Broadcast()
        self._expiry = IdleExpiry()
        self._flags = StopFlags()
        self._script_files: set[str] = set()
        self._watchers: set[Watcher] = set()
        self._completion_limiter = CompletionSlots(_COMPLETION_THREADS)

    # -- Get ------------------------------------------------------------------

    def sessions(
        self, *patterns: str, state: SessionState | str | None = None
    ) -> list[ScriptSession]:
        """The sessions whose ids match any of ``patterns`` (all when none is given).

        Args:
            *patterns: Ids or ``fnmatch`` wildcards such as ``"etl-*"``.
            state: Only sessions in this state.

        Returns:
            The matching sessions, oldest first.

        Raises:
            ValueError: A pattern is too long, or there are too many (see
                :func:`~spe_host._model.check_patterns`).
        """
        wanted = None if state is None else SessionState(state)
        matching = Patterns(patterns, self.limits)
        if len(patterns) == 1 and not is_pattern(patterns[0]):  # a look-up, not a walk
            found = self._match(patterns[0])
        elif not patterns and wanted is None:
            return list(self._sessions.values())
        else:
            found = [s for s in self._sessions.values() if matching.matches(s.id)]
        return found if wanted is None else [s for s in found if s.state is wanted]

    def session(self, id: str) -> ScriptSession:
        """The session with this exact id.

        Raises:
            SessionNotFound: There is none.
        """
        try:
            return self._sessions[id]
        except KeyError:
            raise SessionNotFound(
                f"no session has the id {id!r}; list the sessions to see which exist"
            ) from None

    # -- Stop tickets -------------------------------------------------------------

    def stop_ticket(self, id: str) -> StopTicket | None:
        """The stop ticket of the session's current or last run (None: it had no stop).

        Raises:
            SessionNotFound: No session has that id.
        """
        return self.session(id).stop_ticket()

    def tickets(self) -> list[StopTicket]:
        """Every stop ticket the host keeps (they go with their runs' results), newest first."""
        found = [ticket for session in self._sessions.values() for ticket in _kept(session)]
        return sorted(found, key=lambda ticket: ticket.requested_at, reverse=True)

    def ticket(self, ticket_id: str) -> StopTicket:
        """The stop ticket with this id.

        Raises:
            NoResult: The host keeps no such ticket (it went with its run's result).
        """
        for session in self._sessions.values():
            for ticket in _kept(session):
                if ticket.id == ticket_id:
                    return ticket
        raise NoResult(
            f"the host keeps no stop ticket {ticket_id!r}: it went with its run's result, "
            "or never existed; list the tickets to see which are kept"
        )

    # -- Wait / Watch / Follow / Complete ----------------------------------------

    async def wait(
        self, *ids: str, timeout: float | None = None, any: bool = False
    ) -> list[ScriptSession]:
        """Wait for sessions to finish running.

        Args:
            *ids: Session ids or wildcards (none: every session).
            timeout: Give up after this many seconds and return what finished; no
                error is raised.
            any: Return as soon as one of them has finished.

        Returns:
            The sessions (of those named) that are not RUNNING or STOPPING.

        Raises:
            SessionNotFound: An id (not a wildcard) names no session.
        """
        targets = self._resolve(ids) if ids else list(self._sessions.values())
        deadline = math.inf if timeout is None else trio.current_time() + max(0.0, timeout)
        with trio.move_on_at(deadline):
            while True:
                finished = [s for s in targets if not s.is_active()]
                if len(finished) == len(targets) or (any and finished):
                    return finished
                await self._changed.wait()
        return [s for s in targets if not s.is_active()]

    def watch(
        self, *patterns: str, locations: bool = False
    ) -> AbstractAsyncContextManager[AsyncIterator[StateChange]]:
        """Follow the state changes of sessions, pushed as they happen::

            async with host.watch("etl*") as changes:
                async for change in changes:
                    print(change.previous, "->", change.session.state)

        A change is a new state (a new session is first seen with ``previous``
        CLOSED: it did not exist), new progress, or, with ``locations``, a running
        session's new location (sampled every :data:`LOCATION_INTERVAL` s). A watcher
        that reads slowly gets each session's newest snapshot, once, with
        ``previous`` the state it last saw: changes are coalesced per session, so it
        never holds more than one entry per session.

        Args:
            *patterns: Ids or ``fnmatch`` wildcards (none: every session), matching
                sessions that exist now or are created later.
            locations: Also report when a running session moves to another line.

        Returns:
            A context manager; the iterator it yields ends when the block is left.
        """
        return self._watching(patterns, locations)

    @asynccontextmanager
    async def _watching(self, patterns: tuple[str, ...], locations: bool) -> AsyncIterator[Watcher]:
        watcher = Watcher(patterns, self.sessions(*patterns), Patterns(patterns, self.limits))
        self._watchers.add(watcher)
        try:
            async with trio.open_nursery() as sampler:
                if locations:
                    sampler.start_soon(self._sample_locations, watcher)
                try:
                    yield watcher
                finally:
                    sampler.cancel_scope.cancel()
        finally:
            self._watchers.discard(watcher)
            watcher.close()

    async def _sample_locations(self, watcher: Watcher) -> None:
        seen: dict[str, tuple[str | None, str | None]] = {}
        while True:
            await trio.sleep(LOCATION_INTERVAL)
            running = {
                s.id: s for s in self._sessions.values() if s.is_active() and watcher.matches(s.id)
            }
            for session_id in seen.keys() - running.keys():
                del seen[session_id]
            for session_id, session in running.items():
                # A pending stop's wait (blocked_in, with its growing duration) is
                # news too, so a listing shows it live.
                execution = session._execution
                blocked = None if execution is None else execution.blocked_in()
                where = (session.location, blocked)
                # A run's start was announced with no line yet: its first line is news.
                if seen.get(session_id) != where:
                    watcher.offer(session)
                seen[session_id] = where

    def follow(
        self,
        id: str,
        from_offset: int = 0,
        *,
        chunk_chars: int = DEFAULT_CHUNK_CHARS,
        progress: Progress | None = None,
    ) -> Follower:
        """A cursor over the session's output and progress from ``from_offset`` on.

        Args:
            id: The session.
            from_offset: The byte offset to start at; one past the end starts at
                the end.
            chunk_chars: The most characters one output chunk carries.
            progress: The progress the caller knows already (None: the current
                progress is news).

        Raises:
            SessionNotFound: No session has that id.
            ValueError: ``from_offset`` is negative.
        """
        return Follower(self.session(id), from_offset, chunk_chars=chunk_chars, progress=progress)

    async def complete(self, id: str, text: str, cursor: int) -> list[Completion]:
        """Completion candidates for ``text`` at ``cursor`` in the session's namespace.

        Reads the namespace without running any of its code, off the trio thread:
        one completion per session at a time, at most four awaited at once; one that
        takes longer than five seconds answers no candidates.

        A session that does not exist yet completes from the names the host gives
        every new session (``app``...), and is not created by it.

        Raises:
            SessionNotFound: ``id`` is not a valid session id.
            ValueError: ``cursor`` is outside ``text``.
        """
        return await complete(self._inspected(id), text, cursor, limiter=self._completion_limiter)

    async def signature(self, id: str, text: str, cursor: int) -> Signature | None:
        """The signature of the call around ``cursor`` in ``text``, inferred by jedi on
        the session's namespace, with completion's rules and limits (:meth:`complete`).

        Returns:
            The signature, or None when the cursor is in no call jedi knows.

        Raises:
            SessionNotFound: ``id`` is not a valid session id.
            ValueError: ``cursor`` is outside ``text``.
        """
        return await signature(self._inspected(id), text, cursor, limiter=self._completion_limiter)

    def _inspected(self, id: str) -> ScriptSession | tuple[str, dict[str, Any]]:
        # A session that does not exist yet: the names the host gives every new one.
        if id not in self._sessions and _valid_id(id):
            return (id, {"__builtins__": builtins, **self._namespace})
        return self.session(id)

    # -- internals ------------------------------------------------------------

    def _get_or_create(self, id: str | None, *, autodispose: bool) -> ScriptSession:
        if id is None:
            id = f"job-{next(self._fresh_ids)}"
            while id in self._sessions:
                id = f"job-{next(self._fresh_ids)}"
        elif id in self._sessions:
            return self._sessions[id]
        else:
            check_session_id(id)
        session = ScriptSession(
            id,
            namespace=self._namespace,
            autodispose=autodispose,
            output_limit=self.output_limit,
            keep_results=self.keep_results,
            flags=self._flags,
            script_files=self._script_files,
            on_change=self._session_changed,
            observer=self.observer,
        )
        self._sessions[id] = session
        changed()  # a listing shows the new session
        self._expiry.add(session)
        self._session_changed(session)
        return session

    def _session_changed(self, session: ScriptSession) -> None:
        # In the trio thread (see ScriptSession._announce); must not raise.
        for watcher in self._watchers:
            if watcher.matches(session.id):
                watcher.offer(session)

    def _match(self, target: str) -> list[ScriptSession]:
        if is_pattern(target):
            return self.sessions(target)
        session = self._sessions.get(target)
        return [] if session is None else [session]

    def _resolve(self, ids: Iterable[str]) -> list[ScriptSession]:
        found: dict[str, ScriptSession] = {}
        for target in ids:
            matched = self._match(target)
            if not matched and not is_pattern(target):
                self.session(target)  # raises SessionNotFound with its sentence
            found.update((s.id, s) for s in matched)
        return list(found.values())

    def _drop(self, session: ScriptSession, why: str, by: str | None = None) -> None:
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            changed()
            if self.observer is not None:
                self.observer.session_closed(session.id, why, by)
        session._close()
        self._notify()

    def _notify(self) -> None:
        self._changed.fire()


def _kept(session: ScriptSession) -> list[StopTicket]:
    # The current run's ticket as it is now (a pending one reads blocked_in).
    current = session.stop_ticket()
    return [
        current if current is not None and t.value.id == current.id else t.value
        for t in session.runs.tickets
    ]


def _valid_id(id: str) -> bool:
    try:
        check_session_id(id)
    except ValueError:
        return False
    return True
