"""What the verbs print: ``--json`` objects and tables on stdout, sentences on stderr.

``--json`` prints the protocol's own objects (docs/cli.md, "JSON output"), so scripts
never parse the human tables; :func:`session_json` is the one place that shapes a
session for it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .._format import format_sessions, format_table
from .._model import SessionInfo

__all__ = ["PROG", "err", "print_json", "print_sessions", "print_table", "session_json"]

PROG = "spe-host"


def session_json(info: SessionInfo) -> dict[str, Any]:
    """A session as ``--json`` prints it: the protocol's SessionInfo, plus ``progress``.

    Args:
        info: The session.

    Returns:
        Every SessionInfo field, and ``progress`` as ``{"percent", "message"}``.
    """
    data: dict[str, Any] = dataclasses.asdict(info)
    data["progress"] = {"percent": info.progress_percent, "message": info.progress_message}
    return data


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def print_sessions(infos: Sequence[SessionInfo]) -> None:
    """Print sessions as the ``ls`` table."""
    print(format_sessions(infos), end="", flush=True)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print an aligned table with a header line."""
    print(format_table(headers, rows), end="", flush=True)


def err(message: str) -> None:
    """Print a sentence on stderr, prefixed with the program's name."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
