"""How one connection's answers go out: frames fitted to the limit, streams forwarded in order.

Theory of operation
-------------------
A final answer must fit in one frame. A ``result`` that does not is answered
``too_large``; a result carrying an execution's value keeps the value's head, with a
note saying how much was cut, and its output keeps the newest part, led by the marker
the output buffer uses for dropped text (the output was streamed already and stays
replayable by offset).

A session's output and progress reach a client through an engine
:class:`~spe_host.service.OutputCursor`, pumped by a task of the request. The frames of
one flush (a few chunks) are joined and queued as one, whole or not at all: one write
and one wake-up of the client a batch, not one a chunk. To a client that takes binary
output frames (protocol 1.5) a chunk's bytes go as the engine holds them, never
decoded or escaped, and the batch's join is their one copy. When a pump is cancelled
(the run ended, the client cancelled) the items it took but did not queue go back to
the run's backlog, and the next flush starts with them: nothing is lost or doubled. A
lock per run keeps the order when the input handler flushes too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence

import trio

from .._errors import LocalProtocolError
from .._model import (
    ExecutionResult,
    OutputChunk,
    Progress,
    byte_length,
    chunk_bytes,
    dropped_marker,
)
from ..service import OutputCursor
from ..transport import FramedStream
from ..transport._framed import Written
from ..wire import JSON, Error, Message, Output, Result, encode_message
from ..wire import Progress as ProgressEvent

__all__ = ["Run", "Sender"]

# Chunks of output taken from a follower per flush: a reader far behind holds one batch
# at a time in memory, not everything the session's buffer still has.
_BATCH_CHUNKS = 4


@dataclasses.dataclass
class Run:
    """The follower of one ``execute``, once its session exists, and its send lock."""

    offset: int
    follower: OutputCursor | None = None
    lock: trio.Lock = dataclasses.field(default_factory=trio.Lock)
    # Items a cancelled pump had taken from the follower but not sent yet.
    backlog: list[OutputChunk | Progress] = dataclasses.field(default_factory=list)


class Sender:
    """The sending side of one server connection.

    Args:
        framed: The connection's framed stream.
        max_frame: The frame limit, for the sentences that name it.
    """

    def __init__(self, framed: FramedStream, max_frame: int) -> None:
        self._framed = framed
        self._max_frame = max_frame

    async def send(self, message: Message) -> None:
        await self._framed.send(message)

    async def reply(
        self,
        request_id: int,
        value: JSON,
        *,
        then: Sequence[Callable[[], object]] = (),
        schedule_point: bool = True,
    ) -> None:
        """Answer a request with ``result``; ``then`` runs once the answer is on the stream.

        Or once it never will be: ``then`` runs exactly once however the send ends.
        ``schedule_point`` as for :meth:`FramedStream.send_frame`.
        """
        try:
            frame = self._framed.connection.send(Result(id=request_id, value=value))
        except LocalProtocolError as exc:
            if exc.error_code != "too_large":
                raise
            frame = self._framed.connection.send(
                Error(
                    id=request_id,
                    code="too_large",
                    message=f"the answer to request {request_id} does not fit in a frame of "
                    f"{self._max_frame} bytes; ask for less at a time",
                )
            )
        if not then:
            await self._framed.send_frame(frame, schedule_point=schedule_point)
            return
        written = _Once(then)
        try:
            await self._framed.send_frame(frame, written=written, schedule_point=schedule_point)
        except BaseException:
            written()  # the frame was not queued (or, cancelled late, it runs once anyway)
            raise

    async def send_result(
        self,
        make: Callable[[ExecutionResult], Message],
        result: ExecutionResult,
        written: Written | None = None,
    ) -> None:
        """Send a message carrying a result, trimming its output to fit a frame.

        ``written`` is called once the frame is on the stream, or never will be.
        """
        connection = self._framed.connection
        try:
            frame = connection.send(make(result))
        except LocalProtocolError as exc:
            if exc.error_code != "too_large":
                raise
            frame = connection.send(make(self._trimmed(make, result)))
        await self._framed.send_frame(frame, written=written)

    def _trimmed(
        self, make: Callable[[ExecutionResult], Message], result: ExecutionResult
    ) -> ExecutionResult:
        # The value is what the user waits for: it keeps its head, with a note saying
        # how much was cut. The output was streamed already (and stays replayable by
        # offset): it keeps its newest part, led by the marker the output buffer uses
        # for dropped text, in what room is left.
        value = result.value
        empty = dataclasses.replace(result, output="", value=None if value is None else "")
        budget = self._max_frame - len(encode_message(make(empty))) - 64
        if value is not None:
            value = _fitted_value(value, budget // 2 if result.output else budget)
            budget -= _json_size(value)
        output = result.output
        total = byte_length(output)
        keep = max(0, budget)
        tail = output[-keep:] if keep else ""
        while tail:
            marker = dropped_marker(total - byte_length(tail))
            excess = _json_size(marker + tail) - budget
            if excess <= 0:
                return dataclasses.replace(result, value=value, output=marker + tail)
            tail = tail[excess:]
        return dataclasses.replace(result, value=value, output=dropped_marker(total))

    async def _forward(
        self,
        request_id: int,
        session: str,
        items: list[OutputChunk | Progress],
        backlog: list[OutputChunk | Progress] | None = None,
    ) -> None:
        """Send ``items`` in order, in one write; on cancellation they go back to ``backlog``.

        Their frames are joined and queued as one, so a batch costs one write (and one
        wake-up of the peer), not one per chunk; the queueing is whole or nothing, so
        nothing is lost or doubled when a pump is cancelled and the next flush starts
        with them.
        """
        if not items:
            return
        try:
            connection = self._framed.connection
            if connection.binary_output:
                # Each chunk's bytes go into the batch as they are: the join below is
                # the only copy of them in this thread.
                frames: list[bytes | memoryview] = []
                for item in items:
                    if isinstance(item, OutputChunk):
                        frames += connection.send_output(
                            id=request_id,
                            session=session,
                            offset=item.offset,
                            data=chunk_bytes(item),
                            dropped=item.dropped,
                        )
                    else:
                        frames.append(connection.send(_event(request_id, session, item)))
            else:
                frames = [connection.send(_event(request_id, session, item)) for item in items]
            first = frames[0]
            frame = first if len(frames) == 1 and type(first) is bytes else b"".join(frames)
            await self._framed.send_frame(frame)
        except BaseException:
            if backlog is not None:
                backlog[:0] = items
            raise

    async def pump(self, request_id: int, session: str, run: Run) -> None:
        """Forward the follower's output and progress until its session is closed."""
        follower = run.follower
        assert follower is not None
        while True:
            await follower.wait()
            async with run.lock:
                items = await self.flush(request_id, session, run)
            if not items and follower.closed:
                return

    async def flush(self, request_id: int, session: str, run: Run) -> list[OutputChunk | Progress]:
        """Send what was left unsent, then what the follower has now (hold ``run.lock``)."""
        assert run.follower is not None
        items = [*run.backlog, *run.follower.pending(_BATCH_CHUNKS)]
        run.backlog.clear()
        await self._forward(request_id, session, items, run.backlog)
        return items

    async def drain(self, request_id: int, session: str, run: Run) -> None:
        """Flush until nothing is left: before ``done`` or a prompt.

        Takes ``run.lock`` without a checkpoint when it is free, so an answer whose run
        printed nothing more goes out in the same scheduling pass.
        """
        try:
            run.lock.acquire_nowait()
        except trio.WouldBlock:
            await run.lock.acquire()
        try:
            while await self.flush(request_id, session, run):
                pass
        finally:
            run.lock.release()


class _Once:
    """Calls its functions, in order, the first time it is called."""

    __slots__ = ("_calls",)

    def __init__(self, calls: Sequence[Callable[[], object]]) -> None:
        self._calls: Sequence[Callable[[], object]] | None = calls

    def __call__(self) -> None:
        calls, self._calls = self._calls, None
        for call in calls or ():
            call()


def _event(request_id: int, session: str, item: OutputChunk | Progress) -> Message:
    if isinstance(item, OutputChunk):
        return Output(
            id=request_id,
            session=session,
            offset=item.offset,
            text=item.text,
            dropped=item.dropped,
        )
    return ProgressEvent(id=request_id, session=session, percent=item.percent, message=item.message)


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _fitted_value(value: str, budget: int) -> str:
    """``value`` if it fits in ``budget`` bytes (as JSON), else its head and a note."""
    if _json_size(value) <= budget:
        return value
    total = byte_length(value)
    head = value[: max(0, budget)]
    while True:
        note = (
            f"\n[... {total - byte_length(head)} of the value's {total} bytes cut: it does "
            "not fit in a frame; the whole value is `_` in the session]"
        )
        excess = _json_size(head + note) - budget
        if excess <= 0 or not head:
            return head + note
        head = head[: -max(excess, 1)]
