"""The journal tests' fixture: every SQLite connection a test opens is closed after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.journal import Connections


@pytest.fixture
def connections() -> Iterator[Connections]:
    """Connections to journal files, closed at teardown (see ``support.journal``)."""
    held = Connections()
    yield held
    held.close()
