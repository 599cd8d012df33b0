"""How a statement's result shows: its value pretty-printed and shortened, its error;
and the banner the REPL shows when it attaches.

The host sends a value as its ``repr``. When that is a literal (a list, a dict, a
tuple of numbers and strings...), the REPL reads it back and pretty-prints it to the
terminal's width, as IPython does; anything else shows as the host made it. A long
value is shortened to :data:`MAX_LINES` lines (or as many characters), with a note
saying how much was left out: the whole value is ``_`` in the session.
"""

from __future__ import annotations

import ast
import pprint
import re
import shutil
from typing import TYPE_CHECKING

from .._model import ExecutionResult
from ._screen import Screen

if TYPE_CHECKING:
    from ._repl import Repl

__all__ = ["MAX_LINES", "attach_banner", "format_value", "show_result"]

#: The most lines a value shows; the rest is summed up in a note.
MAX_LINES = 100
# Reading back a repr costs time and memory: only short ones are pretty-printed.
_PRETTY_LIMIT = 100_000
# The note the server ends a value with when it had to cut it (server/_sending.py).
_HOST_NOTE = re.compile(r"\n(\[\.\.\. \d+ of the value's \d+ bytes cut: [^\n]*\])\Z")


def format_value(value: str, width: int, max_lines: int = MAX_LINES) -> str:
    """``value`` (a repr) pretty-printed to ``width`` columns and shortened.

    A value the host cut to fit a frame ends with the host's note, which says how
    much of the whole value was cut: that note is kept, in place of the REPL's own.

    Args:
        value: The repr the host sent.
        width: The terminal's width.
        max_lines: The most lines to show.

    Returns:
        The text to show, without a final newline.
    """
    cut_by_host = _HOST_NOTE.search(value)
    if cut_by_host is not None:
        value = value[: cut_by_host.start()]
    text = _pretty(value, width)
    lines = text.split("\n")
    note = None if cut_by_host is None else cut_by_host.group(1)
    if len(lines) > max_lines:
        text = "\n".join(lines[:max_lines])
        note = note or f"[... {len(lines) - max_lines} more lines; the value is `_`]"
    elif len(text) > width * max_lines:
        cut = len(text) - width * max_lines
        text = text[: width * max_lines]
        note = note or f"[... {cut} more characters; the value is `_`]"
    return text if note is None else f"{text}\n{note}"


def _pretty(value: str, width: int) -> str:
    if len(value) <= width or len(value) > _PRETTY_LIMIT:
        return value
    try:
        obj = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return value
    # Only when reading it back gave the very value the host showed (a subclass of
    # dict with its own repr would not).
    if repr(obj) != value:
        return value
    return pprint.pformat(obj, width=width, sort_dicts=False, compact=True)


def show_result(screen: Screen, result: ExecutionResult, width: int | None = None) -> None:
    """Show a statement's value, then its traceback or that it was stopped.

    Args:
        screen: Where to show it.
        result: The statement's result.
        width: The terminal's width (default: asked of the terminal).
    """
    if result.value is not None:
        columns = shutil.get_terminal_size().columns if width is None else width
        screen.start_line()
        screen.show(format_value(result.value, max(20, columns - 1)) + "\n")
    if result.error:
        screen.start_line()
        screen.show(result.error if result.error.endswith("\n") else result.error + "\n", "error")
    elif result.status == "aborted":
        screen.start_line()
        # A host older than protocol 1.2 names no run.
        what = f"run {result.run}" if result.run else f"session {result.session!r}"
        screen.show(f"{what} was stopped\n", "error")


def attach_banner(repl: Repl) -> str:
    """What the REPL says when it attaches: where, as whom, and how to leave."""
    info = repl.info
    state = "new, created when you run code" if info is None else info.state
    role = getattr(repl.client, "role", "admin")
    server = getattr(repl.client, "server", repl.host_label)
    pid = getattr(repl.client, "pid", 0)
    lines = [
        f"attached to {server} (pid {pid}, {role}), session {repl.session!r} ({state})",
        "Ctrl-D detaches and leaves the session alive; %help lists the commands",
    ]
    if role != "admin":
        lines.append("an operator may watch and stop sessions but not run code")
    return "\n".join(lines) + "\n"
