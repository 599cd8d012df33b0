"""The REPL on a real host, for the REPL tests: a recording client and a harness.

:class:`Recorded` is the real client, recording the calls whose effect only the call
itself shows; :class:`Harness` is a Repl on it, fed through a prompt_toolkit pipe,
writing into a list of strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import trio
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput

import spe_host
from spe_host._model import (
    Completion,
    ExecutionResult,
    InputPrompt,
    OutputChunk,
    ProgressReport,
    SessionInfo,
    SessionState,
    Signature,
    StopOutcome,
)
from spe_host.client import StateWatch, Subscription
from spe_host.repl import Repl

__all__ = ["Harness", "Recorded", "namespace"]


class Recorded:
    """The real client, recording the calls whose effect only the call itself shows."""

    def __init__(self, client: spe_host.Client) -> None:
        self.client = client
        self.role = client.role
        self.server = client.server
        self.pid = client.pid
        self.executed: list[tuple[str, str]] = []
        self.loops: list[bool] = []
        self.answers: list[str | None] = []
        self.stops: list[tuple[str, ...]] = []
        self.forced: list[bool] = []
        self.subscribed: list[tuple[str, int]] = []
        self.completed: list[tuple[str, str, int | None]] = []
        self.signatures: list[tuple[str, str, int | None]] = []

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
    ) -> ExecutionResult:
        self.executed.append((session, code))
        self.loops.append(loop)

        async def answer(prompt: InputPrompt) -> str | None:
            assert on_input is not None
            reply = await on_input(prompt)
            self.answers.append(reply)
            return reply

        return await self.client.execute(
            session,
            code,
            interactive=interactive,
            on_output=on_output,
            on_input=None if on_input is None else answer,
            on_progress=on_progress,
            loop=loop,
        )

    async def sessions(self, *patterns: str, state: str | None = None) -> list[SessionInfo]:
        return await self.client.sessions(*patterns, state=state)

    async def stop(
        self, *targets: str, reason: str | None = None, force: bool = False
    ) -> dict[str, StopOutcome]:
        self.stops.append(targets)
        self.forced.append(force)
        return await self.client.stop(*targets, reason=reason, force=force)

    async def wait(
        self, *sessions: str, timeout: float | None = None, any: bool = False
    ) -> list[SessionInfo]:
        return await self.client.wait(*sessions, timeout=timeout, any=any)

    async def receive(
        self, session: str, run: str | None = None, *, keep: bool = False
    ) -> ExecutionResult:
        return await self.client.receive(session, run, keep=keep)

    async def complete(
        self, session: str, text: str, cursor: int | None = None
    ) -> list[Completion]:
        self.completed.append((session, text, cursor))
        return await self.client.complete(session, text, cursor)

    async def signature(
        self, session: str, text: str, cursor: int | None = None
    ) -> Signature | None:
        self.signatures.append((session, text, cursor))
        return await self.client.signature(session, text, cursor)

    def subscribe(
        self, session: str, from_offset: int = 0
    ) -> AbstractAsyncContextManager[Subscription]:
        self.subscribed.append((session, from_offset))
        return self.client.subscribe(session, from_offset)

    def watch(
        self, *patterns: str, locations: bool = False
    ) -> AbstractAsyncContextManager[StateWatch]:
        return self.client.watch(*patterns, locations=locations)


class Harness:
    """A Repl on a real host's client, fed through a pipe, writing into a string."""

    def __init__(
        self, pipe: PipeInput, state: Path, host: spe_host.Host, client: spe_host.Client
    ) -> None:
        self.pipe = pipe
        self.state = state
        self.host = host
        self.client = Recorded(client)
        self.written: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.written)

    def repl(self, session: str = "main", **kwargs: object) -> Repl:
        options: dict[str, object] = {
            "host_label": "testhost",
            "input": self.pipe,
            "output": DummyOutput(),
            "write": self.written.append,
            "color": False,
            "state": self.state,
            "handle_signals": False,
        }
        options.update(kwargs)
        return Repl(self.client, session, **options)  # type: ignore[arg-type]

    async def run(self, keys: str, session: str = "main", **kwargs: object) -> Repl:
        repl = self.repl(session, **kwargs)
        self.pipe.send_text(keys)
        with trio.fail_after(10):
            await repl.run()
        return repl

    def running(self, session: str) -> bool:
        """Whether the host runs ``session`` now."""
        return bool(self.host.sessions(session, state=SessionState.RUNNING))

    def start(self, session: str, code: str, *, name: str | None = None) -> None:
        """Run ``code`` in ``session`` in the background, as another console would."""
        self.host.start(session, code, name=name)

    async def run_elsewhere(self, session: str, code: str) -> None:
        """Run ``code`` in ``session`` to its end, as another console would."""
        self.host.start(session, code)
        with trio.fail_after(5):
            await self.host.wait(session)


def namespace(harness: Harness, session: str = "main") -> dict[str, object]:
    """The live namespace of a session on the host."""
    return harness.host.session(session).namespace
