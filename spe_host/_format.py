"""Text for people: the session list that ``spe-host ls`` and ``%ls`` print, and what a
pending stop waits for, which that list, ``stop --wait`` and the REPL show.

Pure functions over :mod:`spe_host._model` values; no trio and no prompt_toolkit, so
the one-shot commands of the CLI can print a table without loading the REPL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from ._model import SessionInfo, SessionState, StopPhase, StopTicket

__all__ = [
    "escape_controls",
    "format_age",
    "format_pending",
    "format_progress",
    "format_run_times",
    "format_sessions",
    "format_table",
]


# Control characters in a cell (a job name or progress message with a newline, a tab
# or an escape sequence) would break the table's lines or drive the terminal: each is
# shown escaped, as Python writes it in a string (\n, \t, \x1b).
_ESCAPES = {code: repr(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0))}


def escape_controls(text: str) -> str:
    """``text`` with its control characters escaped as Python writes them (``\\n``)."""
    return text.translate(_ESCAPES)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Align columns like ``docker ps``: two spaces apart, no trailing blanks.

    Args:
        headers: The column titles.
        rows: The cells, as text; control characters are shown escaped (``\\n``).

    Returns:
        The table, one line per row with the headers first, ending with a newline.
    """
    table = [list(headers), *([escape_controls(cell) for cell in row] for row in rows)]
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


def format_pending(ticket: StopTicket | None) -> str | None:
    """What a pending stop waits for: ``deferred: committing batch 12`` or ``blocked in
    time.sleep() called at job.py:12 for 3.2 s``.

    Returns:
        None when there is no ticket, its stop is no longer pending, or nothing is
        known to hold it up (the run is between checks).
    """
    if ticket is None or ticket.phase != StopPhase.REQUESTED:
        return None
    if ticket.deferred is not None:
        return f"deferred: {ticket.deferred}"
    if ticket.blocked_in is not None:
        return f"blocked in {ticket.blocked_in}"
    return None


def format_run_times(info: SessionInfo, *, now: float) -> tuple[str, str]:
    """The STARTED and ENDED cells of the current or last run.

    ``5m ago`` and ``2m ago``; while the run goes, ENDED says ``running for 5m``;
    ``-`` where there is no run (or the host is older than protocol 1.2).
    """
    started = info.run_started_at
    if started is None:
        return "-", "-"
    ended = info.run_ended_at
    if ended is None:
        return f"{format_age(now - started)} ago", f"running for {format_age(now - started)}"
    return f"{format_age(now - started)} ago", f"{format_age(now - ended)} ago"


def format_sessions(infos: Sequence[SessionInfo], *, now: float | None = None) -> str:
    """The human table of sessions that ``spe-host ls`` and ``%ls`` print.

    Every column past STATE is about the session's current or last run: its id, its
    job name, its progress and line, when it started, when it ended (or for how long
    it has been running), and how it ended. While a stop is pending, LOCATION says
    what it waits for instead (:func:`format_pending`), when that is known.

    Args:
        infos: The sessions.
        now: The current Unix time (for STARTED and ENDED); defaults to now.

    Returns:
        An aligned table with a header line.
    """
    now = time.time() if now is None else now
    rows = []
    for info in infos:
        started, ended = format_run_times(info, now=now)
        rows.append(
            [
                info.id,
                info.state,
                info.run or "-",
                info.name or "-",
                format_progress(info),
                format_pending(info.stop) or info.location or "-",
                started,
                ended,
                # The status is the run's shown: none yet while it goes.
                "-" if SessionState(info.state).active else info.last_status or "-",
            ]
        )
    return format_table(
        ["SESSION", "STATE", "RUN", "JOB", "PROGRESS", "LOCATION", "STARTED", "ENDED", "STATUS"],
        rows,
    )
