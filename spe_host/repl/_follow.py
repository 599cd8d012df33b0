"""Following a session's output: stream it to the screen from the byte offset seen last.

Output has byte offsets (see docs/protocol.md). The :class:`Follower` subscribes from
the offset the REPL has seen, writes every chunk to the screen (above the prompt when
one is showing) and advances the offset, whether the chunk came from the
subscription or from a statement the REPL runs itself. The REPL stops following
while it runs a statement (the execution streams the same output) and when it
switches sessions; the offset is what it saves as the replay mark on detach.
A note can wait for the output to reach an offset (:meth:`Follower.show_at`): how a
run ended shows after that run's last output.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from .._errors import SessionNotFound
from .._model import dropped_marker, printable
from ._client import OutputChunk, ProgressReport, ReplClient
from ._screen import Screen

__all__ = ["Follower"]


class Follower:
    """Streams one session's output to a screen, at most one subscription at a time.

    Args:
        client: The connection.
        screen: Where the output goes.
        on_gone: Called with the session id and True when the session was removed
            while followed, or False when it turned out not to exist.
    """

    def __init__(
        self,
        client: ReplClient,
        screen: Screen,
        on_gone: Callable[[str, bool], None],
    ) -> None:
        self._client = client
        self._screen = screen
        self._on_gone = on_gone
        #: The end of the output seen so far, in bytes.
        self.offset = 0
        self._scope: trio.CancelScope | None = None
        self._done = trio.Event()
        self._waiting: list[tuple[int, str, str]] = []

    def start(self, nursery: trio.Nursery, session: str) -> None:
        """Follow ``session`` from :attr:`offset`, unless already following."""
        if self._scope is not None:
            return
        self._done = trio.Event()
        self._scope = trio.CancelScope()
        nursery.start_soon(self._follow, session, self._scope)

    async def stop(self) -> None:
        """Stop following, and wait until the subscription has ended."""
        scope = self._scope
        if scope is not None:
            scope.cancel()
            await self._done.wait()

    def show_at(self, offset: int, text: str, style: str = "") -> None:
        """Show ``text`` once the output seen reaches ``offset`` (at once if it has)."""
        self._waiting.append((offset, text, style))
        self._show_reached()

    def forget(self) -> None:
        """Drop the notes still waiting (the REPL switched sessions)."""
        self._waiting.clear()

    def _show_reached(self) -> None:
        waiting, self._waiting = self._waiting, []
        for offset, text, style in waiting:
            if offset <= self.offset:
                self._screen.start_line()
                self._screen.show(text, style)
            else:
                self._waiting.append((offset, text, style))

    def on_event(self, event: OutputChunk | ProgressReport) -> None:
        """Show an output chunk and advance the offset past it."""
        # Progress shows in the toolbar, from the session's state; the events add nothing.
        if isinstance(event, ProgressReport):
            return
        if event.dropped:
            self._screen.show(dropped_marker(event.dropped), "note")
        self._screen.show(printable(event.text))
        self.offset = max(self.offset, event.end)
        if self._waiting:
            self._show_reached()

    async def _follow(self, session: str, scope: trio.CancelScope) -> None:
        try:
            with scope:
                async with self._client.subscribe(session, self.offset) as events:
                    async for event in events:
                        self.on_event(event)
                # The stream ends when the session is removed.
                self._on_gone(session, True)
        except SessionNotFound:
            self._on_gone(session, False)
        finally:
            if self._scope is scope:
                self._scope = None
            self._done.set()
