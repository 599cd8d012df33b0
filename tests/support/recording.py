"""A recording proxy around a real client, for tests that must show which calls were made.

Tests that claim "no polling" wrap the real :class:`spe_host.Client` in it and assert on
the names of the methods the code under test called.
"""

from __future__ import annotations

from typing import Any

from spe_host.client import Client


class Recording:
    """A client that records the name of every method called on it."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return value(*args, **kwargs)

        return call
