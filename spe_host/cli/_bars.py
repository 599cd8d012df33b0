"""``wait``'s progress bars on a terminal: one line per session waited for.

Theory of operation
-------------------
:class:`WaitBars` keeps a prompt_toolkit progress bar with one line (a counter) per
session the wait covers, from the first time the session is shown: a session that
reports progress (``spe.progress(percent, message)``) gets a bar, its percentage and
an ETA; one that reports none gets a line too, with its state and a bar that moves to
say it is alive. Each :meth:`WaitBars.show` replaces what the line knew of its
session, so the caller shows every pushed change, and at the end the sessions as read
once more, and the last screen is current for every line.

The ETA counts only the progress made *during* the wait: a job at 90 % when the wait
began says nothing about its speed by that alone. The first percentage seen is the
baseline, and the rest is extrapolated from what was done since (:func:`eta`).
prompt_toolkit's own ``TimeLeft`` divides by the whole percentage instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._format import escape_controls
from .._model import ExecutionStatus, SessionInfo

if TYPE_CHECKING:
    from prompt_toolkit.formatted_text import AnyFormattedText
    from prompt_toolkit.layout.dimension import AnyDimension
    from prompt_toolkit.shortcuts import ProgressBar
    from prompt_toolkit.shortcuts.progress_bar import ProgressBarCounter

__all__ = ["WaitBars", "eta", "format_eta"]


def eta(elapsed: float, first: float, now: float) -> float | None:
    """Seconds left, from the progress made since the wait first saw the session.

    Args:
        elapsed: Seconds since ``first`` was seen.
        first: The percentage first seen.
        now: The percentage now.

    Returns:
        The seconds to 100 % at the pace from ``first`` to ``now``, or None when no
        progress was made yet (no pace to go by).
    """
    made = now - first
    if made <= 0 or elapsed <= 0:
        return None
    return elapsed * max(0.0, 100.0 - now) / made


def format_eta(seconds: float | None) -> str:
    """``eta 1:05`` (``eta 2:03:04`` past an hour), or ``eta ?`` when unknown."""
    if seconds is None:
        return "eta ?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"eta {hours}:{minutes:02}:{secs:02}" if hours else f"eta {minutes}:{secs:02}"


@dataclass
class _Line:
    """What one counter shows beyond prompt_toolkit's own fields."""

    percent: float | None = None
    first: float | None = None
    first_at: float = field(default_factory=time.monotonic)
    ended: ExecutionStatus | None = None

    def see(self, percent: float | None) -> None:
        if percent is not None and self.first is None:
            self.first, self.first_at = percent, time.monotonic()
        self.percent = percent

    def eta_text(self) -> str:
        if self.ended is not None:
            return ""
        if self.percent is None or self.first is None:
            return "eta ?" if self.percent is not None else ""
        return format_eta(eta(time.monotonic() - self.first_at, self.first, self.percent))


class WaitBars:
    """A progress bar line per session waited for, drawn by prompt_toolkit.

    Args:
        title: The line above the bars.
        sessions: The ids the wait covers: only they get a line.
    """

    def __init__(self, title: str, sessions: set[str]) -> None:
        self._title = title
        self._sessions = sessions
        self._bar: ProgressBar | None = None
        self._counters: dict[str, ProgressBarCounter[object]] = {}
        self._lines: dict[int, _Line] = {}

    def show(self, info: SessionInfo) -> None:
        """Show ``info`` on its session's line (creating the line on first sight)."""
        if info.id not in self._sessions:
            return
        counter = self._counters.get(info.id)
        if counter is None:
            counter = self._counters[info.id] = self._open()(label=info.id)
            self._lines[id(counter)] = _Line()
        line = self._lines[id(counter)]
        line.see(info.progress_percent)
        counter.total = None if info.progress_percent is None else 100
        counter.items_completed = round(info.progress_percent or 0)
        counter.label = escape_controls(f"{info.id}: {info.progress_message or info.state}")
        if not info.active:
            line.ended = info.last_status or ExecutionStatus.COMPLETED
            counter.label = escape_controls(f"{info.id}: {line.ended}")
            if line.ended == ExecutionStatus.COMPLETED:
                # Its work is done, whatever it last reported: a full bar, 100 %.
                line.percent = 100.0
                counter.total, counter.items_completed = 100, 100
                counter.done = True
            else:
                counter.stopped = True
        self._open().invalidate()

    def close(self) -> None:
        """Draw the last screen and leave the terminal to the shell."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def _open(self) -> ProgressBar:
        """The progress bar, shown on first use."""
        if self._bar is None:
            self._bar = _progress_bar(self._title, self._lines)
            self._bar.__enter__()
        return self._bar


def _progress_bar(title: str, lines: dict[int, _Line]) -> ProgressBar:
    # Imported here: only `wait` on a terminal needs prompt_toolkit.
    from prompt_toolkit.layout.dimension import D
    from prompt_toolkit.shortcuts import ProgressBar
    from prompt_toolkit.shortcuts.progress_bar import formatters

    class Percent(formatters.Formatter):
        """``  42%``, or ``    -`` for a session that reports no progress."""

        def format(
            self, progress_bar: ProgressBar, progress: ProgressBarCounter[object], width: int
        ) -> AnyFormattedText:
            percent = lines[id(progress)].percent
            return "    -" if percent is None else f"{percent:>4.0f}%"

        def get_width(self, progress_bar: ProgressBar) -> AnyDimension:
            return D.exact(5)

    class Eta(formatters.Formatter):
        """The time left at the pace of the progress made during the wait."""

        def format(
            self, progress_bar: ProgressBar, progress: ProgressBarCounter[object], width: int
        ) -> AnyFormattedText:
            return lines[id(progress)].eta_text().ljust(width)

        def get_width(self, progress_bar: ProgressBar) -> AnyDimension:
            return D.exact(len("eta 00:00:00"))

    shown = [
        formatters.Label(suffix="  "),
        Percent(),
        formatters.Text(" "),
        formatters.Bar(),
        formatters.Text(" "),
        Eta(),
    ]
    return ProgressBar(title=title, formatters=shown)
