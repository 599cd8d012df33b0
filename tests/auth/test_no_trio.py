"""The modules that guard the way in are plain standard library, with no trio.

Only the per-peer locks of :mod:`spe_host.auth._throttle` need trio; everything else
that came out of the old ``spe_host.auth._auth`` must stay usable (and testable)
without an event loop.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

PURE_MODULES = [
    "spe_host.auth._files",
    "spe_host.auth._peer",
    "spe_host.auth._tokens",
    "spe_host.transport._address",
    "spe_host.transport._tls",
]


@pytest.mark.parametrize("name", PURE_MODULES)
def test_module_does_not_import_trio(name: str) -> None:
    source = Path(importlib.import_module(name).__file__ or "").read_text()
    assert re.search(r"^\s*(import|from)\s+trio\b", source, re.MULTILINE) is None
