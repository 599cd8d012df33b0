"""Fixtures of the HTTP API's tests: the host's tokens."""

from __future__ import annotations

import pytest

from spe_host.auth import TokenTable


@pytest.fixture
def tokens() -> TokenTable:
    """Fresh admin and operator tokens for the app under test."""
    return TokenTable.generate()
