"""Host: the registry of sessions and the cmdlet family (``_open`` opens one).

Theory of operation
-------------------
:func:`open_host` opens a nursery that the :class:`Host` owns. Every execution, in
the background (``start``) or in the foreground (``execute``), runs as a task in that
nursery, not in the caller's task: a caller that goes away - a client that
disconnects - never stops the session's work. ``execute`` just waits for the task it
started.

The operations mirror SPE's ``*-ScriptSession`` cmdlets: ``start``, ``execute``,
``sessions``/``session``, ``stop``, ``wait``, ``receive`` and ``remove``. ``stop``
never waits and never removes; it only asks, and says per session what it did.
Patterns are ``fnmatch`` wildcards over session ids. The operations that only look
(``sessions``, ``wait``, ``watch``, ``follow``, ``complete``) live in the host's base,
the :class:`~spe_host.engine._registry.Registry`.

A background task expires sessions that have been idle longer than ``idle_timeout``
(the expiry slides with every use), and a session started without an id, or with
``autodispose=True``, goes away once every result it keeps has been received.

Every execution is a run with an id (``etl#7``); a session keeps the results of its
last ``keep_results`` runs until they are received (``_runs``).

An execution runs in worker mode (synchronous statements on the session's own
thread) or, with ``loop=True``, in loop mode (in the trio thread, guarded by the
host's :class:`~spe_host.engine._watchdog.Watchdog`); ``max_running`` bounds the
executions running at once in either mode (``_modes``).

On exit the host stops every running execution and waits for them, up to
``shutdown_timeout``; one stuck in a native call that does not return by then is
reported (logged, and listed in :attr:`Host.unfinished`) with its session id and
line, and its worker thread is abandoned (it still aborts at its next statement
once the call returns); ``_lifetime`` does this, and the idle expiry. The same
happens when the host's block is cancelled from outside: executions wait for the
host's exit to stop them, they are not abandoned by the cancellation itself. A
closed host refuses new work.

The host knows nothing of sockets: the server takes a host as an argument, so the
layers stay one-way.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from .._errors import NoResult, SessionBusy, SpeError
from .._model import DEFAULT_REQUEST_LIMITS, ExecutionResult, RequestLimits, StopOutcome
from . import _streams
from ._execution import Execution, InputHandler
from ._lifetime import stop_and_wait
from ._observe import Observer
from ._pending import PendingExecution
from ._registry import Registry
from ._runs import DEFAULT_KEEP_RESULTS
from ._script import check_args, source_of
from ._session import ScriptSession
from ._watchdog import DEFAULT_LOOP_TIMEOUT, Watchdog

__all__ = ["DEFAULT_IDLE_TIMEOUT", "DEFAULT_KEEP_RESULTS", "Host", "NoResult"]

DEFAULT_IDLE_TIMEOUT = 30 * 60.0


class Host(Registry):
    """The registry of script sessions, and the operations on them.

    Use :func:`open_host` to make one; it owns the nursery executions run in. The
    operations that only look at sessions (``sessions``, ``session``, ``wait``,
    ``watch``, ``follow``, ``complete``) come from its base,
    :class:`~spe_host.engine._registry.Registry`.

    Attributes:
        name: The host's name (used by the server for its socket and files).
        idle_timeout: Seconds an idle session lives after its last use (None: forever).
        limiter: Bounds how many executions run at once, in worker or loop mode.
        watchdog: Stops a loop-mode statement that holds the event loop longer
            than its ``timeout`` (the host's ``loop_timeout``).
        keep_results: How many unreceived results each session keeps; the oldest
            goes (and the session's output says so) when one more run finishes.
        shutdown_timeout: How long exit, and ``remove(force=True)``, wait for a
            stopped execution before abandoning its worker thread.
        unfinished: After exit, ``(session id, location)`` of every execution that
            did not stop within the shutdown deadline.
        observer: Told of every session, run and stop (the journal), or None.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
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
        observer: Observer | None = None,
    ) -> None:
        super().__init__(
            namespace=namespace,
            output_limit=output_limit,
            keep_results=keep_results,
            limits=limits,
            observer=observer,
        )
        self.name = name
        self.shutdown_timeout = shutdown_timeout
        self.idle_timeout = idle_timeout
        self.limiter = trio.CapacityLimiter(max_running)
        self.watchdog = Watchdog(loop_timeout)
        self.unfinished: list[tuple[str, str | None]] = []
        self._nursery = nursery
        self._closed = False

    # -- Start / Execute --------------------------------------------------------

    def start(
        self,
        id: str | None = None,
        code: str | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        args: dict[str, Any] | None = None,
        name: str | None = None,
        autodispose: bool | None = None,
        loop: bool = False,
        filename: str | None = None,
        by: str = "embedding program",
        connection: str | None = None,
    ) -> ScriptSession:
        """Run code in the background in session ``id``, creating it if missing.

        Returns at once; use :meth:`wait` and :meth:`receive` for the outcome.

        Args:
            id: The session; None makes a fresh one with autodispose on.
            code: The script's source (give this or ``path``).
            path: A file to run instead of ``code``; tracebacks show its name.
            args: Variables to set in the namespace before the script runs.
            name: The run's job name, shown in listings (None: the run has none).
            autodispose: Remove the session once every result it keeps is received.
            loop: Run synchronous statements in the trio thread (loop mode), where
                the app's trio objects can be used directly but a blocking call
                freezes the app; by default they run on the session's own thread.
            filename: With ``code``, the file name its tracebacks show (for a
                caller that read the file itself).
            by: Who runs it, for the journal (the service passes its principal).
            connection: Which connection or logon session it came through, if any.

        Returns:
            The session, already RUNNING.

        Raises:
            SessionBusy: The session is running.
            JournalUnavailable: The host requires its journal, which cannot record
                the run (nothing runs).
            SpeError: The host is closed (its ``open_host`` block has ended).
            ValueError: Neither or both of ``code`` and ``path`` were given, or an
                id or argument name is not valid.
        """
        self._check_open()
        source, read_from = source_of(code, path, self.limits.max_script_size)
        if self.observer is not None:
            self.observer.check_writable()
        filename = read_from or filename
        if args is not None:
            check_args(args)
        session = self._get_or_create(id, autodispose=id is None)
        if session.is_active():
            raise session._busy_error("start another job in it")
        if autodispose is not None:
            session.autodispose = autodispose
        execution = session._begin(
            source,
            interactive=False,
            filename=filename,
            input_handler=None,
            limiter=self.limiter,
            name=name,
            loop=loop,
            watchdog=self.watchdog,
            by=by,
            connection=connection,
        )
        if args:
            session.namespace.update(args)
        self._launch(session, execution)
        return session

    async def execute(
        self,
        id: str,
        code: str,
        *,
        interactive: bool = True,
        input_handler: InputHandler | None = None,
        loop: bool = False,
        by: str = "embedding program",
        connection: str | None = None,
    ) -> ExecutionResult:
        """Run code in session ``id`` (created if missing) and wait for the result.

        The execution runs in the host's nursery: if the caller is cancelled, the
        execution goes on, and its result can be received later. A result this
        returns is not kept for :meth:`receive`: the caller has received it.

        Args:
            id: The session.
            code: The source to run.
            interactive: Show the value of a final expression and bind it to ``_``.
            input_handler: Answers ``input()`` and ``getpass.getpass()`` in the
                script (given the prompt, an :class:`~spe_host.InputPrompt` whose
                ``secret`` is true for getpass, returns the line, or None for
                end-of-file); without one they raise ``EOFError``.
            loop: Run synchronous statements in the trio thread (loop mode); see
                :meth:`start`.
            by: Who runs it, for the journal (the service passes its principal).
            connection: Which connection or logon session it came through, if any.

        Returns:
            The execution's result.

        Raises:
            SessionBusy: The session is running.
            JournalUnavailable: The host requires its journal, which cannot record
                the run (nothing of it runs).
            SpeError: The host is closed (its ``open_host`` block has ended).
        """
        pending = self.begin_execute(
            id,
            code,
            interactive=interactive,
            input_handler=input_handler,
            loop=loop,
            by=by,
            connection=connection,
        )
        return await pending.result()

    def begin_execute(
        self,
        id: str,
        code: str,
        *,
        interactive: bool = True,
        input_handler: InputHandler | None = None,
        loop: bool = False,
        by: str = "embedding program",
        connection: str | None = None,
    ) -> PendingExecution:
        """:meth:`execute` without the wait: begin the run, return the hold on its result.

        Takes the arguments of :meth:`execute` and raises what it raises before the
        run begins; the run starts at the caller's next checkpoint.
        """
        self._check_open()
        if self.observer is not None:
            self.observer.check_writable()
        session = self._get_or_create(id, autodispose=False)
        execution = session._begin(
            code,
            interactive=interactive,
            filename=None,
            input_handler=input_handler,
            limiter=self.limiter,
            loop=loop,
            watchdog=self.watchdog,
            by=by,
            connection=connection,
        )
        self._launch(session, execution)
        return PendingExecution(session, execution)

    def _launch(self, session: ScriptSession, execution: Execution) -> None:
        self._nursery.start_soon(self._run, session, execution, name=f"spe session {session.id}")
        self._notify()

    async def _run(self, session: ScriptSession, execution: Execution) -> None:
        try:
            await session._run(execution)
        finally:
            self._notify()

    # -- Stop / Receive / Remove ------------------------------------------------

    def stop(
        self,
        *ids_or_patterns: str,
        reason: str | None = None,
        force: bool = False,
        requested_by: str = "embedding program",
    ) -> dict[str, StopOutcome]:
        """Ask sessions to stop at their next statement; never waits, never removes.

        Each requested stop gets a ticket (:meth:`stop_ticket`, ``docs/stops.md``):
        who asked and why, then where it landed and how the run ended. A repeated
        stop of the same run keeps its ticket (the first reason wins).

        Args:
            *ids_or_patterns: Session ids or wildcards.
            reason: Why, for people: the ticket and the script's abort show it.
            force: Escalate if the stop has not landed (also on a run already
                stopping): raise the abort asynchronously in the session's thread,
                so a loop in uninstrumented Python library code stops too. Not in
                loop mode, and not inside a ``spe.critical`` zone (the ticket's
                ``note`` says so).
            requested_by: Who asks, for people (the service passes its principal).

        Returns:
            The outcome for each session (``requested``, ``already_stopping``,
            ``not_running``), and ``not_found`` for each id or pattern that named
            no session.
        """
        outcomes: dict[str, StopOutcome] = {}
        for target in ids_or_patterns:
            matched = self._match(target)
            if not matched:
                outcomes[target] = StopOutcome.NOT_FOUND
            for session in matched:
                if session.id not in outcomes:
                    outcomes[session.id] = session._request_stop(requested_by, reason, force)
        if any(o is StopOutcome.REQUESTED for o in outcomes.values()):
            self._notify()
        return outcomes

    def receive(self, id: str, *, run: str | None = None, keep: bool = False) -> ExecutionResult:
        """The output, value, status and error of one of the session's runs.

        A session keeps the results of its last ``keep_results`` runs until they are
        received. Without ``run`` this takes the *oldest* unreceived one, so receiving
        in a loop reads every run once, in the order they ran.

        Args:
            id: The session.
            run: The run's id (``etl#2``); None for the oldest unreceived result.
            keep: Keep the result (and the session, if it autodisposes).

        Returns:
            The run's result.

        Raises:
            SessionNotFound: No session has that id.
            SessionBusy: The run asked for is still going, or no result is kept and
                the session is running.
            NoResult: Nothing is left to receive, or that run's result is not kept
                (received already, dropped, or never run).
            ValueError: ``run`` is not a run id of this session.
        """
        session = self.session(id)
        session.touch()
        result = session.runs.take(run, keep=keep, state=session.state)
        if session.autodispose and not session.runs.kept and not session.is_active():
            self._drop(session, "disposed")
        return result

    async def remove(self, *ids: str, force: bool = False, by: str = "embedding program") -> None:
        """Remove sessions; only finished ones unless ``force``.

        Args:
            *ids: Session ids or wildcards.
            force: Stop running sessions, wait for them (up to ``shutdown_timeout``;
                one stuck in a native call is then abandoned, and logged), then
                remove them.
            by: Who removes them, for the journal.

        Raises:
            SessionNotFound: An id (not a wildcard) names no session.
            SessionBusy: A session is running and ``force`` is false (nothing is
                removed then).
        """
        targets = self._resolve(ids)
        active = [s for s in targets if s.is_active()]
        if active and not force:
            names = ", ".join(repr(s.id) for s in active)
            # Every front end shows this sentence: it names force in each one's spelling.
            how = "or remove with force (force=True, --force, ?force=true over HTTP)"
            raise SessionBusy(
                f"session {names} is running; stop it first {how}"
                if len(active) == 1
                else f"sessions {names} are running; stop them first {how}"
            )
        if active:
            await stop_and_wait(self, active, self.shutdown_timeout)
        for session in targets:
            self._drop(session, "removed", by)

    # -- internals ------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SpeError(f"host {self.name!r} is closed and takes no new work; open a new host")
