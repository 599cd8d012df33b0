"""Fixtures of the REPL tests: a prompt_toolkit pipe to type into, and a real host.

``served`` is a real :class:`spe_host.Host` with a real :class:`spe_host.Client` on it
(:func:`spe_host.testing.open_test_client`: the whole stack over an in-memory stream),
so the REPL is tested against the host's own wildcards, stop outcomes, waits and
output streams rather than an imitation of them. Scripts in its sessions can call
``native_call()``, which blocks until the test sets the ``gate``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input
from support.engine import NativeCall
from support.repl import Harness

import spe_host
from spe_host.testing import open_test_client


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    """Keys sent to it arrive at the prompt as if typed."""
    with create_pipe_input() as pipe_input:
        yield pipe_input


@pytest.fixture
async def served(native_call: NativeCall) -> AsyncIterator[tuple[spe_host.Host, spe_host.Client]]:
    """A host whose sessions know ``native_call``, and an admin client connected to it."""
    async with spe_host.open_host(
        idle_timeout=None, shutdown_timeout=2.0, namespace={"native_call": native_call}
    ) as host:
        try:
            async with open_test_client(host) as client:
                yield host, client
        finally:
            # A script still inside native_call() returns, so the host closes at once.
            native_call.release.set()


@pytest.fixture
def harness(
    pipe: PipeInput, tmp_path: Path, served: tuple[spe_host.Host, spe_host.Client]
) -> Harness:
    host, client = served
    return Harness(pipe, tmp_path, host, client)
