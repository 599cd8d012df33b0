"""What the REPL needs from a client: the :class:`ReplClient` protocol.

The REPL reaches a host only through a client (the layer contract). It is written
against this protocol rather than :class:`spe_host.client.Client`, so its tests can
wrap the real client in a recording proxy, and so the values it streams
(``OutputChunk``, ``ProgressReport``) are named in one place. ``watch`` is how the
toolbar learns of changes to the attached session: the host pushes them, the REPL never
polls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .._model import (
    Completion,
    ExecutionResult,
    InputPrompt,
    OutputChunk,
    ProgressReport,
    SessionInfo,
    Signature,
    StateChange,
    StopOutcome,
)

__all__ = ["OutputChunk", "ProgressReport", "ReplClient"]


class ReplClient(Protocol):
    """The part of :class:`spe_host.client.Client` that the REPL uses."""

    role: str
    server: str
    pid: int

    async def execute(
        self,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        on_output: Callable[[OutputChunk], object] | None = None,
        on_input: Callable[[InputPrompt], Awaitable[str | None]] | None = None,
        on_progress: Callable[[ProgressReport], object] | None = None,
        loop: bool = False,
    ) -> ExecutionResult: ...

    async def sessions(self, *patterns: str, state: str | None = None) -> list[SessionInfo]: ...

    async def stop(
        self, *targets: str, reason: str | None = None, force: bool = False
    ) -> dict[str, StopOutcome]: ...

    async def wait(
        self, *sessions: str, timeout: float | None = None, any: bool = False
    ) -> list[SessionInfo]: ...

    async def receive(
        self, session: str, run: str | None = None, *, keep: bool = False
    ) -> ExecutionResult: ...

    async def complete(
        self, session: str, text: str, cursor: int | None = None
    ) -> list[Completion]: ...

    async def signature(
        self, session: str, text: str, cursor: int | None = None
    ) -> Signature | None: ...

    def subscribe(
        self, session: str, from_offset: int = 0
    ) -> AbstractAsyncContextManager[AsyncIterator[OutputChunk | ProgressReport]]: ...

    def watch(
        self, *patterns: str, locations: bool = False
    ) -> AbstractAsyncContextManager[AsyncIterator[StateChange]]: ...
