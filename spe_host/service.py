"""The service: the operations every front end calls, with who calls them and whether they may.

Theory of operation
-------------------
The socket server, the HTTP API and the dashboard all do the same few things to a
host: run code, start a job, list, stop, wait, receive, remove, complete, follow a
session's output and watch state changes. They differ only in how a request arrives.
So each operation is written once here, transport-neutral, and takes a
:class:`Principal` - the role a request has, and who it is for logs, stop tickets and
the journal ("uid 1000 (pid 4242)", "127.0.0.1:51234", "embedding program").

Authorization is by *operation* (:class:`Operation`), not by the name a wire message
or an HTTP route happens to have: an operator may look and stop (list, wait, receive,
follow, watch, stop) but never run code, complete (completion evaluates attributes of
live objects), start or remove. Every method checks first, then calls the engine.

Values that go out are the :mod:`spe_host._model` snapshots, never live engine
objects; a session's output is followed through an :class:`OutputCursor`, and a run
begun by :meth:`Service.begin_execute` awaited through a :class:`PendingRun` (the
engine's objects, typed so that nothing behind them shows), which a front end drives
at the pace its client reads.
Values the engine refuses as arguments (``ValueError``: an invalid id, an unreadable
script path) become :class:`InvalidArgument`, so every front end answers them the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from functools import partial
from typing import Any

import trio

from ._access import EMBEDDING_PROGRAM, OPERATOR_OPERATIONS, InvalidArgument, Operation, Principal
from ._errors import PermissionDenied, SessionNotFound, SpeError

# Host is re-exported for the signatures of the layers above (`serve(host)`), which
# hand it to a Service and never use it themselves; InputHandler is what `execute`
# takes to answer a script's input().
from ._handles import OutputCursor, PendingRun
from ._model import (
    Completion,
    ExecutionResult,
    Progress,
    Role,
    SessionInfo,
    SessionState,
    Signature,
    StateChange,
    StopOutcome,
    StopTicket,
)
from .engine import Host, InputHandler, Listing, read_script

__all__ = [
    "EMBEDDING_PROGRAM",
    "OPERATOR_OPERATIONS",
    "Host",
    "InputHandler",
    "InvalidArgument",
    "Operation",
    "OutputCursor",
    "PendingRun",
    "Principal",
    "Service",
]

logger = logging.getLogger("spe_host.service")


class Service:
    """The host's operations, authorized per principal.

    Args:
        host: The host to serve; the service never owns it (a listener that ends
            leaves the host and its sessions alone).
    """

    def __init__(self, host: Host) -> None:
        self._host = host
        self._listing = Listing()

    @property
    def name(self) -> str:
        """The host's name (for greetings, sockets and connection files)."""
        return self._host.name

    def _check_patterns(self, patterns: tuple[str, ...]) -> None:
        # Patterns are bounded before anything is matched (the list operation checks
        # through the engine, under _arguments).
        with _arguments():
            self._host.limits.check_patterns(patterns)

    def authorize(self, principal: Principal, operation: Operation) -> None:
        """Raise unless ``principal`` may perform ``operation``.

        Raises:
            PermissionDenied: The role may not do it (the message says which role may).
        """
        if principal.role is Role.ADMIN or operation in OPERATOR_OPERATIONS:
            return
        raise PermissionDenied(
            f"{operation.value!r} needs the admin role: an operator token may list, receive, "
            "wait, subscribe and stop sessions, but not execute; connect with the admin token "
            "to run code"
        )

    def record_auth(
        self, who: str, *, ok: bool, role: str | None, how: str, detail: str | None = None
    ) -> None:
        """Tell the host's journal (if any) that someone logged in, or was refused.

        Every front end calls this once per authentication it decides: the socket
        server per connection, the HTTP API per logon or bearer token refused.

        Args:
            who: Who it is, for people (``uid 1000 (pid 4242)``, ``127.0.0.1:5555``).
            ok: It succeeded.
            role: The role it got (None when refused).
            how: ``unix``, ``token``, ``http``, ...
            detail: Why it was refused, or anything else worth keeping.
        """
        observer = self._host.observer
        if observer is not None:
            observer.auth(who=who, ok=ok, role=role, how=how, detail=detail)

    # -- running code -------------------------------------------------------------

    async def execute(
        self,
        principal: Principal,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        input_handler: InputHandler | None = None,
        loop: bool = False,
    ) -> ExecutionResult:
        """Run ``code`` in ``session`` (created if missing; ``loop``: in loop mode); its result."""
        pending = self.begin_execute(
            principal,
            session,
            code,
            interactive=interactive,
            input_handler=input_handler,
            loop=loop,
        )
        return await pending.result()

    def begin_execute(
        self,
        principal: Principal,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        input_handler: InputHandler | None = None,
        loop: bool = False,
    ) -> PendingRun:
        """:meth:`execute` without the wait: the run begins; its result comes later.

        Follow the run's output with :meth:`follow` from :meth:`output_offset`, read
        just before this call: the run starts without yielding, so nothing it prints
        can come before that offset.
        """
        self.authorize(principal, Operation.EXECUTE)
        with _arguments():
            return self._host.begin_execute(
                session,
                code,
                interactive=interactive,
                input_handler=input_handler,
                loop=loop,
                by=principal.requested_by,
                connection=principal.connection,
            )

    async def start(
        self,
        principal: Principal,
        session: str | None,
        code: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        args: dict[str, Any] | None = None,
        name: str | None = None,
        autodispose: bool | None = None,
        loop: bool = False,
    ) -> SessionInfo:
        """Start a background run (in loop mode with ``loop``); return the session.

        A script file is read in a worker thread: whatever the path names, reading it
        never holds up the host (``read_script`` refuses what is not a small regular
        file).
        """
        self.authorize(principal, Operation.START)
        filename = None
        with _arguments():
            if path is not None:
                code, filename = await trio.to_thread.run_sync(
                    read_script, path, self._host.limits.max_script_size
                )
            started = self._host.start(
                session,
                code,
                filename=filename,
                args=args,
                name=name,
                autodispose=autodispose,
                loop=loop,
                by=principal.requested_by,
                connection=principal.connection,
            )
        logger.info("%s started a job in session %r", principal, started.id)
        return started.info()

    async def complete(
        self, principal: Principal, session: str, text: str, cursor: int
    ) -> list[Completion]:
        """Completion candidates for ``text`` at ``cursor`` in the session's namespace."""
        self.authorize(principal, Operation.COMPLETE)
        return await self._host.complete(session, text, cursor)

    async def signature(
        self, principal: Principal, session: str, text: str, cursor: int
    ) -> Signature | None:
        """The signature of the call at ``cursor``; admin-only, as completion is."""
        self.authorize(principal, Operation.COMPLETE)
        return await self._host.signature(session, text, cursor)

    # -- looking ----------------------------------------------------------------------

    def sessions(
        self, principal: Principal, *patterns: str, state: SessionState | str | None = None
    ) -> list[SessionInfo]:
        """Snapshots of the sessions matching ``patterns`` (all when none is given)."""
        self.authorize(principal, Operation.LIST)
        find = partial(self._host.sessions, *patterns, state=state)
        with _arguments():  # the last listing again if nothing changed (engine._snapshot)
            return self._listing.get((patterns, state), find)

    def session(self, principal: Principal, session: str) -> SessionInfo:
        """The snapshot of one session.

        Raises:
            SessionNotFound: No session has that id.
        """
        self.authorize(principal, Operation.LIST)
        return self._host.session(session).info()

    async def wait(
        self,
        principal: Principal,
        *sessions: str,
        timeout: float | None = None,
        any: bool = False,
    ) -> list[SessionInfo]:
        """Wait for sessions to finish; return those (of the named) no longer running."""
        self.authorize(principal, Operation.WAIT)
        self._check_patterns(sessions)
        finished = await self._host.wait(*sessions, timeout=timeout, any=any)
        return [s.info() for s in finished]

    def receive(
        self, principal: Principal, session: str, *, run: str | None = None, keep: bool = False
    ) -> ExecutionResult:
        """The result of run ``run`` of ``session`` (None: its oldest unreceived one),
        cleared unless ``keep``.

        Raises:
            InvalidArgument: ``run`` is not a run id of ``session``.
        """
        self.authorize(principal, Operation.RECEIVE)
        with _arguments():
            return self._host.receive(session, run=run, keep=keep)

    def runs(self, principal: Principal, session: str) -> list[ExecutionResult]:
        """The results ``session`` keeps for a receive, oldest first; none is cleared.

        Raises:
            SessionNotFound: No session has that id.
        """
        self.authorize(principal, Operation.RECEIVE)
        return self._host.session(session).runs.kept

    def output_offset(self, principal: Principal, session: str) -> int:
        """Where the session's output ends now (0 for a session that does not exist yet)."""
        self.authorize(principal, Operation.FOLLOW)
        try:
            return self._host.session(session).output.end_offset
        except SessionNotFound:
            return 0

    def follow(
        self,
        principal: Principal,
        session: str,
        from_offset: int = 0,
        *,
        chunk_chars: int = 64 * 1024,
        progress: Progress | None = None,
    ) -> OutputCursor:
        """A cursor over the session's output and progress from ``from_offset``."""
        self.authorize(principal, Operation.FOLLOW)
        with _arguments():
            return self._host.follow(
                session, from_offset, chunk_chars=chunk_chars, progress=progress
            )

    @contextmanager
    def attached(self, principal: Principal, session: str) -> Iterator[SessionInfo]:
        """Hold the session from idle expiry while a client is attached to it."""
        self.authorize(principal, Operation.FOLLOW)
        live = self._host.session(session)
        with live.hold():
            yield live.info()

    def watch(
        self, principal: Principal, *patterns: str, locations: bool = False
    ) -> AbstractAsyncContextManager[AsyncIterator[StateChange]]:
        """State changes of the sessions matching ``patterns``, pushed as they happen
        (with ``locations``, also a running session's move to another line)."""
        self.authorize(principal, Operation.WATCH)
        self._check_patterns(patterns)
        return self._host.watch(*patterns, locations=locations)

    # -- controlling ------------------------------------------------------------------

    def stop(
        self,
        principal: Principal,
        *targets: str,
        reason: str | None = None,
        force: bool = False,
        log_later: list[Callable[[], object]] | None = None,
    ) -> dict[str, StopOutcome]:
        """Ask sessions to stop at their next statement; never waits.

        Each stop's ticket names the principal (:attr:`Principal.requested_by`) and
        the ``reason``; ``force`` escalates (see :meth:`Host.stop`) and needs the
        same role as a stop: an operator may force. The audit log line is the slow
        part (a write): given ``log_later``, it is appended there as a call for the
        caller to make once its answer is out, instead of logged now.
        """
        self.authorize(principal, Operation.STOP)
        self._check_patterns(targets)
        outcomes = self._host.stop(
            *targets, reason=reason, force=force, requested_by=principal.requested_by
        )
        requested = [key for key, o in outcomes.items() if o is StopOutcome.REQUESTED]
        if requested or force:
            how = (" (forced)" if force else "") + (f": {reason}" if reason else "")
            names = ", ".join(requested or outcomes)
            line = partial(logger.info, "%s asked %s to stop%s", principal, names, how)
            if log_later is None:
                line()
            else:
                log_later.append(line)
        return outcomes

    def stop_ticket(self, principal: Principal, session: str) -> StopTicket | None:
        """The stop ticket of the session's current or last run, or None."""
        self.authorize(principal, Operation.LIST)
        return self._host.stop_ticket(session)

    def ticket(self, principal: Principal, ticket_id: str) -> StopTicket:
        """The stop ticket with this id (``NoResult`` if the host keeps none)."""
        self.authorize(principal, Operation.LIST)
        return self._host.ticket(ticket_id)

    def tickets(self, principal: Principal) -> list[StopTicket]:
        """Every stop ticket the host keeps, newest first."""
        self.authorize(principal, Operation.LIST)
        return self._host.tickets()

    async def remove(self, principal: Principal, *sessions: str, force: bool = False) -> list[str]:
        """Remove sessions; return the ids that are gone."""
        self.authorize(principal, Operation.REMOVE)
        self._check_patterns(sessions)
        targets = self._host.sessions(*sessions)
        await self._host.remove(*sessions, force=force, by=principal.requested_by)
        removed = [s.id for s in targets if s.state is SessionState.CLOSED]
        if removed:
            logger.info("%s removed session(s) %s", principal, ", ".join(removed))
        return removed


@contextmanager
def _arguments() -> Iterator[None]:
    # The engine says ValueError for values it refuses; a SpeError that is also a
    # ValueError (InvalidArgument itself) passes unchanged.
    try:
        yield
    except SpeError:
        raise
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
