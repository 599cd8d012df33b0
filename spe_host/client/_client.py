"""The Client facade: the Host API, remotely, returning the shared value types.

A :class:`Client` is what :func:`~spe_host.connect` and :func:`~spe_host.client.open_client`
yield. Its methods mirror the :class:`~spe_host.Host` cmdlet family and return the
types of :mod:`spe_host._model` (``ExecutionResult``, ``SessionInfo``, ``StopOutcome``,
``StateChange``), so a caller does not care whether its host is in-process or remote.
Each method is one request over the connection's :class:`~._mux.Multiplexer`, so any
number of tasks may use one client at once (or over a blocking socket, for a one-shot
command without trio: :mod:`._blocking`; so the trio-only parts, the execute prompts and
the streams, are imported by the methods that use them). The facade comes in parts over
:class:`~._base.ClientBase`: this module's cmdlet family and streams, and the stop with
its tickets (:mod:`._stops`).

Errors the host reports are raised as the classes the host raises in-process
(``SessionNotFound``, ``SessionBusy``, ``PermissionDenied``, ...); a connection that
ends fails every request waiting with :class:`~spe_host.ConnectionLost`. Cancelling a
request only stops waiting for it: to stop code running in a session, call
:meth:`Client.stop`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from .._model import (
    Completion,
    ExecutionResult,
    OutputChunk,
    ProgressReport,
    SessionInfo,
    Signature,
)
from ..wire import (
    Complete,
    Execute,
    ListSessions,
    Receive,
    Remove,
    SignatureAt,
    Start,
    Wait,
    from_json,
    from_json_list,
)
from ._base import array_of
from ._stops import StopRequests
from ._versions import LOOP_MODE, RUN_IDS, SIGNATURES

if TYPE_CHECKING:
    from ._execute import InputCallback
    from ._follow import StateWatch, Subscription

__all__ = ["Client"]


class Client(StopRequests):
    """A connection to an spe_host server; make one with :func:`~spe_host.connect`.

    Every method may be called from several tasks at once.

    Attributes:
        address: The address connected to (``unix:...`` or ``tcp://...``).
        role: What the credentials may do: ``"admin"`` or ``"operator"``.
        server: The server's name (the host's name).
        pid: The server's process id.
        version: The protocol version the server speaks.

    Args:
        mux: The multiplexer of a greeted connection.
        welcome: The host's welcome.
        timeout: Seconds to wait, at most, to tell the host a stream or a prompt ended.
    """

    # -- the cmdlet family ---------------------------------------------------------------

    async def execute(
        self,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        on_output: Callable[[OutputChunk], object] | None = None,
        on_input: InputCallback | None = None,
        on_progress: Callable[[ProgressReport], object] | None = None,
        loop: bool = False,
    ) -> ExecutionResult:
        """Run code in a session (created if missing) and wait for it to end.

        Callbacks may be plain functions or coroutine functions. Output events come in
        order; ``done`` repeats the output in :attr:`ExecutionResult.output`, so a
        caller that showed the events need not show it again.

        Args:
            session: The session id.
            code: The source to run.
            interactive: Show and bind ``_`` to expression values, like the REPL.
            on_output: Called with every :class:`~spe_host.OutputChunk` (a
                chunk the callback was too slow to take is reported as ``dropped``
                on the next one).
            on_input: Called with the prompt when the script calls ``input()`` or
                ``getpass.getpass()`` (an :class:`~spe_host.InputPrompt`: a str
                whose ``secret`` is true for getpass, whose answer must not be
                echoed); returns the line, or None (or raises ``EOFError``) for
                end-of-file.
                It runs in a task of its own and is cancelled if the execution ends
                first (a stop while waiting for input). Without it, ``input()`` in
                the script raises ``EOFError``.
            on_progress: Called with every :class:`~spe_host.ProgressReport`.
            loop: Run synchronous statements in the app's trio thread (loop mode):
                the app's trio objects work directly, but a blocking call freezes
                the app. By default they run on the session's own worker thread.

        Returns:
            How the execution ended; a script error or a stop is a status
            (``failed``, ``aborted``), not an exception.

        Raises:
            SessionBusy: The session is running.
            PermissionDenied: The connection's role is operator.
            ConnectionLost: The connection ended first.
            LocalProtocolError: ``loop`` was asked of a host older than protocol 1.2.
        """
        from ._execute import run_execute

        if loop:
            self._require(LOOP_MODE)

        def make(request_id: int) -> Execute:
            return Execute(
                id=request_id, session=session, code=code, interactive=interactive, loop=loop
            )

        return await run_execute(
            self._mux,
            make,
            on_output=on_output,
            on_input=on_input,
            on_progress=on_progress,
            timeout=self._timeout,
        )

    async def start(
        self,
        session: str | None = None,
        code: str | None = None,
        *,
        path: str | None = None,
        args: dict[str, Any] | None = None,
        name: str | None = None,
        autodispose: bool | None = None,
        loop: bool = False,
    ) -> SessionInfo:
        """Run code (or a script file on the host's machine) in the background.

        Args:
            session: The session id; None makes a fresh one with autodispose on.
            code: The source (give exactly one of ``code`` and ``path``).
            path: A script file on the host's machine.
            args: Variables bound in the session first (JSON values).
            name: A job name to show in listings.
            autodispose: Remove the session once every result it keeps is received.
            loop: Run synchronous statements in the app's trio thread (loop mode).

        Returns:
            The session, already running.

        Raises:
            SessionBusy: The session is running.
            ValueError: Neither or both of ``code`` and ``path`` were given.
            LocalProtocolError: ``loop`` was asked of a host older than protocol 1.2.
        """
        if (code is None) == (path is None):
            raise ValueError("give exactly one of code= or path= to say what to run")
        self._require(LOOP_MODE, needed=loop)
        value = await self._request(
            lambda request_id: Start(
                id=request_id,
                session=session,
                code=code,
                path=path,
                args=args,
                name=name,
                autodispose=autodispose,
                loop=loop,
            )
        )
        return from_json(SessionInfo, value)

    async def sessions(self, *patterns: str, state: str | None = None) -> list[SessionInfo]:
        """List sessions whose ids match any pattern (all when none is given).

        Args:
            *patterns: Ids or ``fnmatch`` wildcards.
            state: Only sessions in this state (``idle``, ``running``, ``stopping``).

        Returns:
            A snapshot of each matching session, oldest first.
        """
        value = await self._request(
            lambda request_id: ListSessions(id=request_id, patterns=list(patterns), state=state)
        )
        return from_json_list(SessionInfo, array_of(value, "list"))

    async def wait(
        self, *sessions: str, timeout: float | None = None, any: bool = False
    ) -> list[SessionInfo]:
        """Wait for sessions to finish; on timeout, return what has finished.

        Args:
            *sessions: Session ids or wildcards; none means every session.
            timeout: Seconds to wait at most (None: as long as it takes).
            any: Return as soon as one of them has finished.

        Returns:
            The sessions, of those named, that are not running or stopping.

        Raises:
            SessionNotFound: An id (not a wildcard) names no session.
        """
        names = list(sessions) or ["*"]
        value = await self._request(
            lambda request_id: Wait(id=request_id, sessions=names, timeout=timeout, any=any)
        )
        return [from_json(SessionInfo, item) for item in array_of(value, "wait")]

    async def receive(
        self, session: str, run: str | None = None, *, keep: bool = False
    ) -> ExecutionResult:
        """Fetch a run's result and output.

        A session keeps the results of its last runs (ten by default) until they are
        received; without ``run`` this fetches the *oldest* unreceived one.

        Args:
            session: The session id.
            run: The run's id (``etl#2``), or None for the oldest unreceived result.
            keep: Keep the result instead of clearing it.

        Returns:
            The run's id, status, value, error and output.

        Raises:
            SessionNotFound: No such session, nothing left to receive, or no kept
                result of that run (received already, dropped, or never run).
            SessionBusy: That run is still going, or nothing is kept and the session
                is running.
            LocalProtocolError: ``run`` is not a run id of ``session``, or the host
                speaks a protocol older than 1.2, which has no run ids.
        """
        self._require(RUN_IDS, needed=run is not None)
        value = await self._request(
            lambda request_id: Receive(id=request_id, session=session, run=run, keep=keep)
        )
        return from_json(ExecutionResult, value)

    async def remove(self, *sessions: str, force: bool = False) -> list[str]:
        """Remove sessions; running ones only with ``force`` (stop, wait, remove).

        Returns:
            The ids removed.

        Raises:
            SessionNotFound: An id (not a wildcard) names no session.
            SessionBusy: A session is running and ``force`` is false.
        """
        value = await self._request(
            lambda request_id: Remove(id=request_id, sessions=list(sessions), force=force)
        )
        return [str(item) for item in array_of(value, "remove")]

    async def complete(
        self, session: str, text: str, cursor: int | None = None
    ) -> list[Completion]:
        """Complete the word before the cursor against the session's live namespace.

        Args:
            session: The session whose namespace is used.
            text: The text being edited.
            cursor: The cursor position in ``text`` (default: its end).

        Returns:
            The candidates; each replaces ``text[start:cursor]``.

        Raises:
            SessionNotFound: No such session.
        """
        position = len(text) if cursor is None else cursor
        value = await self._request(
            lambda request_id: Complete(id=request_id, session=session, text=text, cursor=position)
        )
        return [from_json(Completion, item) for item in array_of(value, "complete")]

    async def signature(
        self, session: str, text: str, cursor: int | None = None
    ) -> Signature | None:
        """The signature of the call around the cursor, inferred on the session's live
        namespace (so objects that exist only there have one too).

        Args:
            session: The session whose namespace is used.
            text: The text being edited.
            cursor: The cursor position in ``text`` (default: its end).

        Returns:
            The signature, or None when the cursor is in no call the host knows.

        Raises:
            SessionNotFound: No such session.
            LocalProtocolError: The host speaks a protocol older than 1.4.
        """
        self._require(SIGNATURES)
        position = len(text) if cursor is None else cursor
        value = await self._request(
            lambda request_id: SignatureAt(
                id=request_id, session=session, text=text, cursor=position
            )
        )
        return None if value is None else from_json(Signature, value)

    def subscribe(
        self, session: str, from_offset: int = 0
    ) -> AbstractAsyncContextManager[Subscription]:
        """Follow a session's output from a byte offset: replay, then live.

        Example::

            async with client.subscribe("etl", from_offset=seen) as events:
                async for event in events:
                    ...

        Leaving the block ends the stream (a ``cancel`` is sent). Iteration ends by
        itself when the session is removed. Output the block did not read in time is
        reported as ``dropped`` on the next chunk (resubscribe from
        :attr:`Subscription.offset` to read what the host still keeps).

        Args:
            session: The session id.
            from_offset: The first byte offset wanted (the end of the last chunk seen,
                to resume after a disconnect).

        Returns:
            A context manager yielding a :class:`Subscription`, an async iterator of
            :class:`~spe_host.OutputChunk` and :class:`~spe_host.ProgressReport`
            values. An unknown session raises ``SessionNotFound`` from the iteration.
        """
        from ._follow import subscription

        return subscription(self._mux, session, from_offset, timeout=self._timeout)

    def watch(
        self, *patterns: str, locations: bool = False
    ) -> AbstractAsyncContextManager[StateWatch]:
        """Follow the state changes of sessions, as the host pushes them.

        Example::

            async with client.watch("etl*") as changes:
                async for change in changes:
                    print(change.session.id, change.previous, "->", change.session.state)

        Leaving the block ends the stream (a ``cancel`` is sent). A block that reads
        slowly still sees each session's latest state: an unread change is superseded
        by the next change of the same session, which keeps its ``previous``.

        Args:
            *patterns: Session ids or ``fnmatch`` wildcards; none means every session.
            locations: Also report when a running session moves to another line
                (the host samples it twice a second).

        Returns:
            A context manager yielding an async iterator of
            :class:`~spe_host._model.StateChange`.
        """
        from ._follow import watching

        return watching(self._mux, list(patterns), locations=locations, timeout=self._timeout)
