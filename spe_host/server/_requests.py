"""The request handlers of one connection: each wire request onto one service operation.

Theory of operation
-------------------
Every request runs as a task of the connection and answers with exactly one final
message (``done`` for ``execute``, ``result`` or ``error`` otherwise) - the wire
Connection enforces that, so a handler that raises after answering is a bug, not a
second answer. An :class:`~spe_host.SpeError` becomes an ``error`` with its code, and
the connection stays open; anything else is logged and answered ``internal``.

**Execute.** The run itself goes on in the host's nursery (the service begins it,
``Host.begin_execute``), never in the connection's, so a client that goes away does
not stop it. The request's own task forwards the session's output and progress from
the offset it had when the run was begun, waiting for the session's next change
between flushes; when the run ends the rest is flushed, then ``done``: a run that
printed nothing is answered in the scheduling pass that sees it end, and the count
shutdown waits on drops when ``done`` is written. ``input()`` flushes what was
printed before it, sends ``input_request`` and waits for the matching
``input_reply``; a connection that is gone answers end-of-file.
A lock per run keeps the chunks in order when the input handler flushes.

**Streams.** ``subscribe`` follows a session's output until the session is removed or
the client cancels; ``watch`` forwards pushed state changes until cancelled. Both
register their cancel scope, so the reader can end them on ``cancel``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import trio

from .._errors import ConnectionLost, LocalProtocolError, SessionBusy, SpeError
from .._model import InputPrompt, Progress, StopTicket
from ..service import InputHandler, Operation, OutputCursor, PendingRun
from ..wire import (
    Complete,
    Done,
    Execute,
    InputRequest,
    ListSessions,
    Receive,
    Remove,
    Request,
    Result,
    SignatureAt,
    Start,
    StateChanged,
    Stop,
    Subscribe,
    Ticket,
    Tickets,
    Wait,
    Watch,
    encode_records,
    to_json,
)
from ._pending import PendingInput
from ._sending import Run, Sender

if TYPE_CHECKING:
    from ._connection import ServerConnection

__all__ = ["Requests"]

logger = logging.getLogger("spe_host.server")


class Requests:
    """The handlers of one connection's requests."""

    def __init__(self, conn: ServerConnection) -> None:
        self._conn = conn
        self._core = conn.core
        self._service = conn.core.service
        self._sender = Sender(conn.framed, conn.core.max_frame)
        self._inputs: dict[int, PendingInput] = {}
        self._streams: dict[int, trio.CancelScope] = {}
        # Requests accepted whose task has not taken its first step yet, and the event
        # that is set when none is left (see :meth:`begun`).
        self._unbegun = 0
        self._all_begun = trio.Event()
        self._all_begun.set()
        self._handlers: dict[type[Request], Callable[[Any], Any]] = {
            Execute: self._execute,
            Start: self._start,
            ListSessions: self._list,
            Stop: self._stop,
            Ticket: self._ticket,
            Tickets: self._tickets,
            Wait: self._wait,
            Receive: self._receive,
            Remove: self._remove,
            Complete: self._complete,
            SignatureAt: self._signature,
            Subscribe: self._subscribe,
            Watch: self._watch,
        }

    # -- driven by the connection's reader --------------------------------------------

    def accept(self, request: Request) -> None:
        """Take a request the reader is about to run, before any other event is read.

        A stream's cancel scope exists from here on, so a ``cancel`` that arrives in the
        same read as its ``subscribe`` still finds it. A stream beyond the connection's
        ``max_subscriptions`` gets none, and its handler answers ``busy``.
        """
        if (
            isinstance(request, Subscribe | Watch)
            and len(self._streams) < self._core.limits.max_subscriptions
        ):
            self._streams[request.id] = trio.CancelScope()
        if self._unbegun == 0:
            self._all_begun = trio.Event()
        self._unbegun += 1

    async def begun(self) -> None:
        """Wait until every accepted request has taken its first step.

        An ``execute`` or ``start`` begins its run in its first step, so a ``stop`` read
        in the same read as the request it targets waits for this, and finds the run.
        With all begun it returns without a schedule point: a pass is a system call
        that may wait a switch interval for the interpreter lock if a session spins.
        """
        if self._unbegun:
            await self._all_begun.wait()

    async def run(self, request: Request) -> None:
        """Handle one :meth:`accept`-ed request and answer it; errors become ``error``
        answers."""
        self._unbegun -= 1
        if self._unbegun == 0:
            self._all_begun.set()
        try:
            await self._run(request)
        finally:
            # However the handler ended (a stream that failed before it started, too),
            # a later `cancel` of this id finds nothing to end.
            self._streams.pop(request.id, None)

    async def _run(self, request: Request) -> None:
        try:
            await self._handlers[type(request)](request)
        except ConnectionLost:
            pass
        except SpeError as exc:
            await self._conn.send_exception(request.id, exc)
        except Exception as exc:
            logger.exception(
                "%s request %d from %s failed", request.TYPE, request.id, self._conn.peer
            )
            await self._conn.send_exception(request.id, exc)

    def answer_input(self, request_id: int, text: str | None) -> None:
        """Hand an ``input_reply`` to the ``input()`` waiting for it."""
        pending = self._inputs.get(request_id)
        if pending is not None:
            pending.answer(text)

    def cancel(self, target: int) -> bool:
        """End the ``subscribe`` or ``watch`` with this id; False if there is none."""
        scope = self._streams.get(target)
        if scope is None:
            return False
        scope.cancel()
        return True

    def close(self) -> None:
        """The connection is ending: every waiting ``input()`` reads end-of-file."""
        for pending in list(self._inputs.values()):
            pending.answer(None)

    def _check_stream(self, request_id: int) -> None:
        if request_id not in self._streams:
            limit = self._core.limits.max_subscriptions
            raise SessionBusy(
                f"this connection already has {limit} subscribe and watch streams open; "
                "cancel one, or open another connection"
            )

    @contextmanager
    def _stream(self, request_id: int) -> Iterator[None]:
        # The cancel scope `accept` made, which the reader cancels on `cancel`. Forgotten
        # as the stream ends, before its final answer: a client that has read that
        # answer finds the stream's place under max_subscriptions free.
        try:
            with self._streams[request_id]:
                yield
        finally:
            self._streams.pop(request_id, None)

    # -- the requests -----------------------------------------------------------------

    async def _execute(self, request: Execute) -> None:
        principal = self._conn.principal
        self._service.authorize(principal, Operation.EXECUTE)
        self._core.refuse_new_work()
        run = Run(self._service.output_offset(principal, request.session))
        self._core.execute_started()
        counted = True
        try:
            pending = self._service.begin_execute(
                principal,
                request.session,
                request.code,
                interactive=request.interactive,
                input_handler=self._input_handler(request, run),
                loop=request.loop,
            )
            # Made before the run's first step: it misses nothing the run prints.
            run.follower = self._follower(request.session, run.offset)
            await self._forward_run(request, run, pending)
            result = pending.take()
            # Shutdown waits until `done` has reached the stream, not just a queue.
            await self._sender.send_result(
                lambda r: Done(id=request.id, result=r), result, self._core.execute_finished
            )
            counted = False
        finally:
            if counted:
                self._core.execute_finished()

    def _follower(self, session: str, offset: int) -> OutputCursor:
        # A request's follower starts with no progress seen: any the session
        # reports is news.
        return self._service.follow(
            self._conn.principal,
            session,
            offset,
            chunk_chars=self._core.output_chunk,
            progress=Progress(),
        )

    async def _forward_run(self, request: Execute, run: Run, pending: PendingRun) -> None:
        # The run's output goes out as it comes, from this task: no follower task
        # to start and cancel, and a run that printed nothing is answered in the
        # pass that sees it end. Between the last look at the output and the wait
        # there is no checkpoint, so no change is missed.
        try:
            while True:
                await self._sender.drain(request.id, request.session, run)
                if pending.done:
                    return
                await pending.wait_changed()
        except ConnectionLost:
            raise
        except Exception:
            # A bug in forwarding must not cost the client its result.
            logger.exception("forwarding the output of execute %d failed", request.id)
        await pending.result()

    def _input_handler(self, request: Execute, run: Run) -> InputHandler:
        async def answer(prompt: InputPrompt) -> str | None:
            if self._conn.framed.gone:
                return None  # nobody to ask: input() sees end-of-file
            pending = PendingInput()
            self._inputs[request.id] = pending
            try:
                if run.follower is not None:
                    # The prompt and everything printed before it go out first.
                    await self._sender.drain(request.id, request.session, run)
                await self._sender.send(
                    InputRequest(
                        id=request.id,
                        session=request.session,
                        prompt=str(prompt),
                        secret=prompt.secret,
                    )
                )
                return await pending.wait()
            except (ConnectionLost, LocalProtocolError):
                return None
            finally:
                if self._inputs.get(request.id) is pending:
                    del self._inputs[request.id]

        return answer

    async def _start(self, request: Start) -> None:
        self._service.authorize(self._conn.principal, Operation.START)
        self._core.refuse_new_work()
        info = await self._service.start(
            self._conn.principal,
            request.session,
            request.code,
            path=request.path,
            args=dict(request.args) if request.args is not None else None,
            name=request.name,
            autodispose=request.autodispose,
            loop=request.loop,
        )
        await self._sender.reply(request.id, to_json(info))

    async def _list(self, request: ListSessions) -> None:
        infos = self._service.sessions(self._conn.principal, *request.patterns, state=request.state)
        # Each unchanged snapshot's JSON text is made once (wire._encoded).
        await self._sender.reply(request.id, encode_records(infos))

    async def _stop(self, request: Stop) -> None:
        # The audit log line waits for the answer to be out, unless answers are queued
        # already: a peer that does not read would hold the line back as long as it likes.
        audit: list[Callable[[], object]] = []
        later = self._conn.framed.queued_bytes == 0
        outcomes = self._service.stop(
            self._conn.principal,
            *request.targets,
            reason=request.reason,
            force=request.force,
            log_later=audit if later else None,
        )
        # No schedule point: the reader goes straight on to what came with the stop.
        await self._sender.reply(
            request.id, {k: o.value for k, o in outcomes.items()}, then=audit, schedule_point=False
        )

    async def _ticket(self, request: Ticket) -> None:
        principal = self._conn.principal
        ticket: StopTicket | None
        if request.ticket is not None:
            ticket = self._service.ticket(principal, request.ticket)
        else:
            assert request.session is not None  # the message checked: exactly one
            ticket = self._service.stop_ticket(principal, request.session)
        await self._sender.reply(request.id, None if ticket is None else to_json(ticket))

    async def _tickets(self, request: Tickets) -> None:
        tickets = self._service.tickets(self._conn.principal)
        await self._sender.reply(request.id, [to_json(ticket) for ticket in tickets])

    async def _wait(self, request: Wait) -> None:
        finished = await self._service.wait(
            self._conn.principal, *request.sessions, timeout=request.timeout, any=request.any
        )
        # The task ends here: a schedule point would only put off the cork's release.
        await self._sender.reply(
            request.id, [to_json(info) for info in finished], schedule_point=False
        )

    async def _receive(self, request: Receive) -> None:
        result = self._service.receive(
            self._conn.principal, request.session, run=request.run, keep=request.keep
        )
        await self._sender.send_result(lambda r: Result(id=request.id, value=to_json(r)), result)

    async def _remove(self, request: Remove) -> None:
        removed = await self._service.remove(
            self._conn.principal, *request.sessions, force=request.force
        )
        await self._sender.reply(request.id, removed)

    async def _complete(self, request: Complete) -> None:
        found = await self._service.complete(
            self._conn.principal, request.session, request.text, request.cursor
        )
        await self._sender.reply(request.id, [to_json(c) for c in found])

    async def _signature(self, request: SignatureAt) -> None:
        found = await self._service.signature(
            self._conn.principal, request.session, request.text, request.cursor
        )
        await self._sender.reply(request.id, None if found is None else to_json(found))

    async def _subscribe(self, request: Subscribe) -> None:
        self._check_stream(request.id)
        principal = self._conn.principal
        # An attached client holds the session: it does not expire under a REPL that
        # sits at its prompt.
        with self._service.attached(principal, request.session) as info:
            # A from_offset past the end starts at the end (documented). An attaching
            # client wants to see where a running job stands: it has seen no progress
            # yet, so any progress the session reports is news.
            run = Run(min(request.from_offset, info.output_offset))
            run.follower = self._follower(request.session, run.offset)
            with self._stream(request.id):
                await self._sender.pump(request.id, request.session, run)
            # A cancelled stream may have taken items it did not send; a removed session
            # still gets what it printed last.
            if not run.follower.closed:
                run.backlog.clear()
            else:
                await self._sender.drain(request.id, request.session, run)
        await self._sender.reply(request.id, None)

    async def _watch(self, request: Watch) -> None:
        self._check_stream(request.id)
        async with self._service.watch(
            self._conn.principal, *request.patterns, locations=request.locations
        ) as changes:
            with self._stream(request.id):
                async for change in changes:
                    await self._sender.send(
                        StateChanged(
                            id=request.id, session=change.session, previous=change.previous
                        )
                    )
        await self._sender.reply(request.id, None)
