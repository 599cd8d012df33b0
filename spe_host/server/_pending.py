"""An ``input()`` in a script, waiting for the client's ``input_reply``."""

from __future__ import annotations

import trio

__all__ = ["PendingInput"]


class PendingInput:
    """An ``input()`` waiting for its ``input_reply`` (or for the connection to end)."""

    def __init__(self) -> None:
        self._event = trio.Event()
        self._text: str | None = None

    def answer(self, text: str | None) -> None:
        """Give the answer (None: end-of-file); only the first one counts."""
        if not self._event.is_set():
            self._text = text
            self._event.set()

    async def wait(self) -> str | None:
        """The answer, once it has come."""
        await self._event.wait()
        return self._text
