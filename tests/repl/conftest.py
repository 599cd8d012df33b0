"""Fixtures of the REPL tests: a prompt_toolkit pipe to type into."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    """Keys sent to it arrive at the prompt as if typed."""
    with create_pipe_input() as pipe_input:
        yield pipe_input
