"""The REPL's output: one writer for the terminal, whether or not a prompt is showing.

While a prompt is showing, text is handed to the prompt's asyncio loop (it runs in
another thread) and printed with ``run_in_terminal``, so it lands *above* the prompt
and the line being edited is redrawn intact. A partial line is held back until its
newline, or until the prompt ends, because the redrawn prompt would overwrite it.
With no prompt showing, text is written straight out. Errors, warnings and notes are
coloured with plain ANSI codes when colour is on.

While a statement runs, the screen may keep a **status line** under the output (what a
pending stop waits for): it is the last line, redrawn in place as it changes. Output
goes above it - the line is erased, the output written, and the line drawn again once
the output has ended its line - and a prompt that starts erases it, since the prompt
takes the bottom of the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TextIO

from prompt_toolkit.application import Application, run_in_terminal

__all__ = ["Screen", "stdout_writer"]

_COLORS = {"error": "\x1b[31m", "note": "\x1b[2;3m", "warning": "\x1b[33m"}
_RESET = "\x1b[0m"
# Back to the start of the line and clear it: a terminal control, not a colour.
_ERASE_LINE = "\r\x1b[2K"


class Screen:
    """Everything the REPL prints goes through here, from the trio thread only.

    Args:
        write: Writes text to the terminal.
        color: Colour errors, warnings and notes.
    """

    def __init__(self, write: Callable[[str], None], *, color: bool) -> None:
        self._write = write
        self.color = color
        self._app: Application[Any] | None = None
        self._pending = ""
        self._status: str | None = None
        self._status_drawn = False
        self.at_line_start = True
        #: The end of what was written last (to tell whether a prompt is showing).
        self.tail = ""

    @property
    def app(self) -> Application[Any] | None:
        """The prompt application showing now, if any (set while a prompt runs)."""
        return self._app

    @app.setter
    def app(self, app: Application[Any] | None) -> None:
        if app is not None:
            self._erase_status()
        self._app = app

    def show(self, text: str, style: str = "") -> None:
        """Print ``text``; ``style`` is ``""`` (script output), ``error``, ``note``..."""
        if not text:
            return
        text = self._styled(text, style)
        app = self.app
        loop = app.loop if app is not None and app.is_running else None
        if loop is not None:
            head, newline, tail = (self._pending + text).rpartition("\n")
            self._pending = tail
            if not newline:
                return
            try:
                loop.call_soon_threadsafe(self._write_above, head + newline)
                return
            except RuntimeError:
                # The prompt's loop closed in the meantime: nothing is showing any more.
                text = head + newline + self._pending
                self._pending = ""
        self._emit(text)

    def status(self, text: str | None) -> None:
        """Show ``text`` as the live last line while no prompt shows; None removes it."""
        if text == self._status:
            return
        self._erase_status()
        self._status = text
        self._draw_status()

    def flush(self) -> None:
        """Write a held-back partial line (call once the prompt has ended)."""
        pending, self._pending = self._pending, ""
        self._emit(pending)

    def start_line(self) -> None:
        """Make sure the next thing printed starts a line (before a prompt)."""
        self.flush()
        if not self.at_line_start:
            self._emit("\n")

    def take_back(self, partial: str) -> None:
        """Erase ``partial`` if it is the unfinished last line on the screen."""
        self.flush()
        if partial and not self.at_line_start and self.tail.rpartition("\n")[2] == partial:
            self._write("\r\x1b[2K" if self.color else "\r")
            self.at_line_start = True
            self.tail = self.tail[: -len(partial)]

    def _emit(self, text: str) -> None:
        if text:
            self._erase_status()
            self._write(text)
            self.at_line_start = text.endswith("\n")
            self.tail = (self.tail + text)[-200:]
            self._draw_status()

    def _styled(self, text: str, style: str) -> str:
        if not style or not self.color:
            return text
        return "".join(
            f"{_COLORS[style]}{line}{_RESET}{end}" if line else end
            for line, end in _split_lines(text)
        )

    def _erase_status(self) -> None:
        if self._status_drawn:
            self._write(_ERASE_LINE)
            self._status_drawn = False

    def _draw_status(self) -> None:
        # Only on a line of its own: a partial line of output stays where it is.
        if self._status is not None and self.at_line_start and self._app is None:
            self._write(self._styled(self._status, "warning"))
            self._status_drawn = True

    def _write_above(self, text: str) -> None:
        # In the prompt thread's asyncio loop.
        run_in_terminal(lambda: self._emit(text), in_executor=False)


def _split_lines(text: str) -> Iterable[tuple[str, str]]:
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield body, line[len(body) :]


def stdout_writer(stream: TextIO) -> Callable[[str], None]:
    """A writer that writes to ``stream`` and flushes it at once."""

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return write
