"""Text tables for people: the session list that ``spe-host ls`` and ``%ls`` print.

Pure functions over :mod:`spe_host._model` values; no trio and no prompt_toolkit, so
the one-shot commands of the CLI can print a table without loading the REPL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from ._model import SessionInfo

__all__ = ["format_age", "format_progress", "format_sessions", "format_table"]


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Align columns like ``docker ps``: two spaces apart, no trailing blanks.

    Args:
        headers: The column titles.
        rows: The cells, as text.

    Returns:
        The table, one line per row with the headers first, ending with a newline.
    """
    table = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    return "\n".join(lines) + "\n"


def format_age(seconds: float) -> str:
    """A short age such as ``5s``, ``3m``, ``2h`` or ``4d``."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def format_progress(info: SessionInfo) -> str:
    """A session's progress as ``42% loading``, or ``-`` when it reported none."""
    parts = []
    if info.progress_percent is not None:
        parts.append(f"{info.progress_percent:.0f}%")
    if info.progress_message:
        parts.append(info.progress_message)
    return " ".join(parts) or "-"


def format_sessions(infos: Sequence[SessionInfo], *, now: float | None = None) -> str:
    """The human table of sessions that ``spe-host ls`` and ``%ls`` print.

    Args:
        infos: The sessions.
        now: The current Unix time (for the AGE column); defaults to now.

    Returns:
        An aligned table with a header line.
    """
    now = time.time() if now is None else now
    return format_table(
        ["SESSION", "STATE", "JOB", "PROGRESS", "LOCATION", "LAST", "AGE"],
        (
            [
                info.id,
                info.state,
                info.name or "-",
                format_progress(info),
                info.location or "-",
                info.last_status or "-",
                format_age(now - info.created_at),
            ]
            for info in infos
        ),
    )
