"""Typing Python at the prompt: when Enter runs the input, how new lines are indented.

:func:`needs_more_input` decides, as the Python REPL does, whether the buffer is a
complete statement; :func:`indent_for_next_line` is the auto-indent; and
:func:`python_key_bindings` wires both into Enter, Tab and Backspace (as ptpython's
key bindings do). ``run_piped`` groups lines into statements with the same rule.
"""

from __future__ import annotations

import ast
import codeop
import re

from prompt_toolkit.application.current import get_app
from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

__all__ = ["INDENT", "indent_for_next_line", "needs_more_input", "python_key_bindings"]

INDENT = "    "

_DEDENT_AFTER = re.compile(r"^\s*(return|pass|break|continue|raise)\b")


def needs_more_input(text: str) -> bool:
    """Whether the statement typed so far is unfinished, as the Python REPL decides.

    ``codeop`` in ``single`` mode says whether the source is an incomplete statement
    (an open block, bracket or string); like the Python REPL, a blank last line ends a
    block. Top-level ``await`` is allowed. A syntax error is "complete": it is sent, and
    the host reports it with a proper traceback.

    Args:
        text: The whole input buffer.

    Returns:
        True if Enter should open a new line rather than run the input.
    """
    if not text.strip() or text.lstrip().startswith("%"):
        return False
    last_line = text.rsplit("\n", 1)[-1]
    if "\n" in text and not last_line.strip():
        return False
    # A fresh compiler per call: CommandCompiler remembers `from __future__` imports.
    compiler = codeop.CommandCompiler()
    compiler.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        return compiler(text, "<input>", "single") is None
    except (SyntaxError, ValueError, OverflowError):
        return False


def indent_for_next_line(text_before_cursor: str) -> str:
    """The indentation a new line should start with (auto-indent).

    The new line keeps the current line's indentation, one level more after a line
    ending with ``:`` and one level less after ``return``, ``pass``, ``break``,
    ``continue`` or ``raise``.

    Args:
        text_before_cursor: The buffer's text up to the cursor.

    Returns:
        The whitespace to insert after the newline.
    """
    line = text_before_cursor.rsplit("\n", 1)[-1]
    indent = line[: len(line) - len(line.lstrip())]
    code = line.rstrip()
    if "#" in code and not code.endswith(":"):
        # A trailing comment hides the colon; quoting is rare enough at a prompt
        # that splitting on the last '#' is good enough here.
        code = code.rsplit("#", 1)[0].rstrip()
    if code.endswith(":"):
        return indent + INDENT
    if _DEDENT_AFTER.match(line):
        return indent[: max(0, len(indent) - len(INDENT))]
    return indent


def python_key_bindings() -> KeyBindings:
    """Enter, Tab and Backspace as a Python prompt wants them (as in ptpython).

    * Enter runs the input when it is a complete statement and the cursor is at the
      end; otherwise it opens a new line, auto-indented. With a completion selected in
      the menu, Enter just accepts it.
    * Esc Enter runs the input as it is.
    * Tab in the indentation inserts four spaces instead of completing.
    * Backspace in the indentation removes back to the previous indent stop.
    """
    bindings = KeyBindings()

    def line_before_cursor() -> str:
        return get_app().current_buffer.document.current_line_before_cursor

    @Condition
    def in_indentation() -> bool:
        return not line_before_cursor().strip()

    @Condition
    def after_indentation() -> bool:
        before = line_before_cursor()
        return bool(before) and not before.strip()

    @bindings.add("enter", eager=True)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.complete_state = None
            return
        document = buffer.document
        at_end = not document.text_after_cursor.strip()
        if at_end and not needs_more_input(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n" + indent_for_next_line(document.text_before_cursor))

    @bindings.add("escape", "enter")
    def _run_as_is(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("tab", filter=in_indentation)
    def _indent(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(INDENT)

    @bindings.add("backspace", filter=after_indentation)
    def _dedent(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        before = buffer.document.current_line_before_cursor
        remove = len(before) % len(INDENT) or len(INDENT)
        buffer.delete_before_cursor(min(remove, len(before)))

    return bindings
