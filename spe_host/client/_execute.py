"""One ``execute`` request seen from the client: its events, its prompts, its end.

The host streams a run's output and progress as events of the request, may ask for a
line with ``input_request`` (answered in a task of its own, so a stop while the
prompt waits is seen at once), and ends it with ``done``. Callbacks may be plain
functions or coroutine functions; they get the model values
(:class:`~spe_host.OutputChunk`, :class:`~spe_host.ProgressReport`).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

import trio

from .._errors import SpeError
from .._groups import sole_exception
from .._model import ExecutionResult, InputPrompt, OutputChunk, ProgressReport
from ..wire import Done, Execute, InputRequest, Message, Output
from ..wire import Progress as ProgressEvent
from ._base import raise_error
from ._follow import chunk_of, progress_of
from ._inbox import Inbox
from ._mux import Multiplexer

__all__ = ["InputCallback", "run_execute"]

#: Answers ``input()``: given the prompt (an :class:`InputPrompt`, whose ``secret`` is
#: true for ``getpass.getpass()``), the line (or None, or EOFError, for end-of-file).
InputCallback = Callable[[InputPrompt], Awaitable[str | None] | str | None]

_T = TypeVar("_T")


async def run_execute(
    mux: Multiplexer,
    make: Callable[[int], Execute],
    *,
    on_output: Callable[[OutputChunk], object] | None,
    on_input: InputCallback | None,
    on_progress: Callable[[ProgressReport], object] | None,
    timeout: float,
) -> ExecutionResult:
    """Send the request ``make(id)`` builds and follow it to its ``done``."""
    # Unbounded, as in 0.1: a run's output is never dropped on its way to a slow
    # callback (the host's writer holds back what the socket cannot take), and `done`
    # ends it. Only streams (subscribe, watch) fold what their reader does not take.
    async with mux.request(make, backlog=sys.maxsize) as inbox:
        event = await inbox.get()
        if type(event) is Done:  # a run without output: done is its only event
            return event.result
        event = await _forward(inbox, event, on_output, on_progress)
        if isinstance(event, Done):
            return event.result
        # Most runs never call input(): the nursery that answers prompts opens at the
        # first one, so a plain run costs no nursery.
        with sole_exception():
            async with trio.open_nursery() as prompts:
                while isinstance(event, InputRequest):
                    prompts.start_soon(_answer_input, mux, event, on_input, timeout)
                    event = await _forward(inbox, await inbox.get(), on_output, on_progress)
                prompts.cancel_scope.cancel()
                return event.result
    raise AssertionError("unreachable")  # pragma: no cover


async def _forward(
    inbox: Inbox,
    event: Message,
    on_output: Callable[[OutputChunk], object] | None,
    on_progress: Callable[[ProgressReport], object] | None,
) -> Done | InputRequest:
    """Hand ``event`` and the next ones to their callbacks until a prompt or the end."""
    while True:
        if isinstance(event, Output):
            if on_output is not None:
                await _call(on_output, chunk_of(event))
        elif isinstance(event, ProgressEvent):
            if on_progress is not None:
                await _call(on_progress, progress_of(event))
        elif isinstance(event, Done | InputRequest):
            return event
        else:
            raise_error(event)
        event = await inbox.get()


async def _answer_input(
    mux: Multiplexer, request: InputRequest, on_input: InputCallback | None, timeout: float
) -> None:
    text: str | None = None
    try:
        if on_input is not None:
            answer = on_input(InputPrompt(request.prompt, secret=request.secret))
            text = await answer if inspect.isawaitable(answer) else answer
    except EOFError:
        text = None
    except Exception:
        # The callback failed: answer end-of-file so the script does not wait for an
        # answer that will never come, then let the failure propagate.
        with trio.move_on_after(timeout), suppress(SpeError):
            await mux.reply_input(request.id, None)
        raise
    await mux.reply_input(request.id, text)


async def _call(callback: Callable[[_T], object], argument: _T) -> None:
    result = callback(argument)
    if inspect.isawaitable(result):
        await result
