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
from dataclasses import dataclass

from prompt_toolkit import search
from prompt_toolkit.application.current import get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_focus, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

__all__ = [
    "INDENT",
    "PromptOptions",
    "dedent_for_keyword",
    "indent_for_next_line",
    "needs_more_input",
    "python_key_bindings",
]

INDENT = "    "

_DEDENT_AFTER = re.compile(r"^\s*(return|pass|break|continue|raise)\b")
# The clauses that continue a block's header rather than its body.
_CLAUSE = re.compile(r"^\s*(else|elif\b.*|except\b.*|finally)\s*$")


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


def dedent_for_keyword(text_before_cursor: str) -> int:
    """How many columns to dedent the current line when ``:`` is typed (auto-dedent).

    The auto-indent leaves a new line at the body's level; typing ``else:``, ``elif
    ...:``, ``except ...:`` or ``finally:`` there moves the clause back one level, under
    its ``if`` or ``try``. A line already dedented by hand (indented less than the line
    above it) is left alone.

    Args:
        text_before_cursor: The buffer's text up to the cursor, before the ``:``.

    Returns:
        The number of leading spaces to remove (0: none).
    """
    *above, line = text_before_cursor.split("\n")
    if not _CLAUSE.match(line):
        return 0
    indent = len(line) - len(line.lstrip(" "))
    previous = next((text for text in reversed(above) if text.strip()), None)
    if indent == 0 or previous is None:
        return 0
    if indent < len(previous) - len(previous.lstrip(" ")):
        return 0
    return indent % len(INDENT) or len(INDENT)


@dataclass
class PromptOptions:
    """What the function keys switch (the toolbar shows both).

    Attributes:
        paste_mode: F6: Enter adds lines as they are, with no indentation added; a line
            of ``--`` alone (or Esc Enter) runs them, and a ``%`` command runs at once.
            For terminals without bracketed paste, where a pasted block arrives as
            typed keys.
        complete_while_typing: F2: offer completions as you type, not only on Tab.
    """

    paste_mode: bool = False
    complete_while_typing: bool = False


#: The line that ends a paste in paste mode (IPython's ``%cpaste`` uses it too).
PASTE_END = "--"


def python_key_bindings(options: PromptOptions | None = None) -> KeyBindings:
    """Enter, Tab and Backspace as a Python prompt wants them (as in ptpython).

    * Enter runs the input when it is a complete statement and the cursor is at the
      end; otherwise it opens a new line, auto-indented. With a completion selected in
      the menu, Enter just accepts it.
    * Enter in the Ctrl-R search takes the match and runs it, as readline does.
    * Esc Enter runs the input as it is.
    * Tab in the indentation inserts four spaces instead of completing.
    * Backspace in the indentation removes back to the previous indent stop.
    * ``:`` after ``else``, ``elif``, ``except`` or ``finally`` dedents the line.
    * F6 switches paste mode, F2 completion while typing (see :class:`PromptOptions`).
    """
    bindings = KeyBindings()
    opts = PromptOptions() if options is None else options

    def line_before_cursor() -> str:
        return get_app().current_buffer.document.current_line_before_cursor

    @Condition
    def in_indentation() -> bool:
        return not line_before_cursor().strip()

    @Condition
    def after_indentation() -> bool:
        before = line_before_cursor()
        return bool(before) and not before.strip()

    def enter(buffer: Buffer) -> None:
        if opts.paste_mode:
            paste_enter(buffer)
            return
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

    def paste_enter(buffer: Buffer) -> None:
        document = buffer.document
        if "\n" not in buffer.text and buffer.text.lstrip().startswith("%"):
            buffer.validate_and_handle()  # a command (%paste off) runs at once
            return
        if document.current_line.strip() != PASTE_END:
            buffer.insert_text("\n")
            return
        lines = document.lines
        del lines[document.cursor_position_row]
        buffer.document = Document("\n".join(lines))
        buffer.validate_and_handle()

    @bindings.add("f6")
    def _paste_mode(event: KeyPressEvent) -> None:
        opts.paste_mode = not opts.paste_mode

    @bindings.add("f2")
    def _complete_while_typing(event: KeyPressEvent) -> None:
        opts.complete_while_typing = not opts.complete_while_typing

    # Only in the statement buffer: the Ctrl-R search field has its own Enter below.
    @bindings.add("enter", eager=True, filter=has_focus(DEFAULT_BUFFER))
    def _enter(event: KeyPressEvent) -> None:
        enter(event.current_buffer)

    # As readline's: Enter in the Ctrl-R search takes the match and runs it when it
    # is a complete statement (Esc takes it to edit).
    @bindings.add("enter", eager=True, filter=is_searching)
    def _enter_in_search(event: KeyPressEvent) -> None:
        search.accept_search()
        buffer = event.app.current_buffer
        buffer.cursor_position = len(buffer.text)
        enter(buffer)

    @bindings.add("escape", "enter", filter=has_focus(DEFAULT_BUFFER))
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

    @bindings.add(":", filter=has_focus(DEFAULT_BUFFER) & Condition(lambda: not opts.paste_mode))
    def _colon(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        columns = dedent_for_keyword(buffer.document.text_before_cursor)
        if columns:
            start = buffer.cursor_position + buffer.document.get_start_of_line_position()
            text = buffer.text[:start] + buffer.text[start + columns :]
            buffer.document = Document(text, buffer.cursor_position - columns)
        buffer.insert_text(":")

    return bindings
