"""Typing Python at the prompt (``_keys``, ``_style``): when Enter runs the input, the
auto-indent, the key bindings through a real PromptSession, the lexer.
"""

from __future__ import annotations

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput

from spe_host.repl._keys import (
    dedent_for_keyword,
    indent_for_next_line,
    needs_more_input,
    python_key_bindings,
)
from spe_host.repl._style import make_lexer

# --- continuation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "more"),
    [
        ("", False),
        ("x = 1", False),
        ("def f():", True),
        ("def f():\n    return 1", True),
        ("def f():\n    return 1\n", False),  # a blank line ends the block
        ("for i in range(3):\n    print(i)\n    ", False),  # whitespace-only last line
        ("if x:\n    pass\nelse:", True),
        ("class A:\n    x = 1\n\n    y = 2", True),  # a pasted blank line inside
        ("(1,", True),
        ("x = [\n1,\n2]", False),
        ("'''doc", True),
        ("@decorator", True),
        ("x = 1 \\", True),
        ("await trio.sleep(1)", False),  # top-level await is a complete statement
        ("async with lock:", True),
        ("x = )", False),  # a syntax error is sent, so the host reports it
        ("x = 1\ny = 2", False),  # several statements, pasted
        ("%ls", False),
        ("%stop etl", False),
    ],
)
def test_needs_more_input(text: str, more: bool) -> None:
    assert needs_more_input(text) is more


@pytest.mark.parametrize(
    ("before", "indent"),
    [
        ("x = 1", ""),
        ("def f():", "    "),
        ("    if x:", "        "),
        ("    if x:  # comment", "        "),
        ("        return x", "    "),
        ("    pass", ""),
        ("    y = 2", "    "),
        ("for i in range(3):\n    print(i)", "    "),
    ],
)
def test_indent_for_next_line(before: str, indent: str) -> None:
    assert indent_for_next_line(before) == indent


# --- lexer ------------------------------------------------------------------------


def test_lexer_highlights_python() -> None:
    get_line = make_lexer().lex_document(Document('def f(x):\n    return "hi"'))
    first = get_line(0)
    assert ("class:pygments.keyword", "def") in first
    assert any("name.function" in style and text == "f" for style, text in first)
    assert any("string" in style for style, _ in get_line(1))


# --- key bindings through a real PromptSession --------------------------------------------


def _prompt(pipe: PipeInput, keys: str) -> str:
    session: PromptSession[str] = PromptSession(
        multiline=True,
        key_bindings=python_key_bindings(),
        input=pipe,
        output=DummyOutput(),
    )
    pipe.send_text(keys)
    return session.prompt()


def test_enter_runs_a_complete_statement(pipe: PipeInput) -> None:
    assert _prompt(pipe, "x = 1\r") == "x = 1"


def test_enter_continues_and_auto_indents(pipe: PipeInput) -> None:
    # No spaces typed: the body is indented, `return` dedents, the blank line ends it.
    assert _prompt(pipe, "def f(x):\rif x:\rreturn 1\rreturn 2\r\r") == (
        "def f(x):\n    if x:\n        return 1\n    return 2\n"
    )


def test_enter_inside_brackets_continues(pipe: PipeInput) -> None:
    assert _prompt(pipe, "(1,\r2)\r") == "(1,\n2)"


def test_tab_and_backspace_in_indentation(pipe: PipeInput) -> None:
    # Tab at the start of a line indents; Backspace removes a whole level.
    assert _prompt(pipe, "if 1:\r\t\x7fpass\r\r") == "if 1:\n    pass\n"


def test_escape_enter_runs_as_is(pipe: PipeInput) -> None:
    assert _prompt(pipe, "def f():\x1b\r") == "def f():"


def test_ctrl_r_enter_takes_the_match_and_leaves_the_search(pipe: PipeInput) -> None:
    # Defect 1: Enter in the search field takes the match and runs it, as readline's
    # (the statement's own Enter used to handle it and left the search showing).
    session: PromptSession[str] = PromptSession(
        multiline=True,
        key_bindings=python_key_bindings(),
        history=InMemoryHistory(['print("hello")', "x = 1"]),
        input=pipe,
        output=DummyOutput(),
    )
    pipe.send_text("\x12hel\r")
    assert session.prompt() == 'print("hello")'
    assert not session.app.layout.is_searching


@pytest.mark.parametrize(
    ("before", "columns"),
    [
        ("if x:\n    y = 1\n    else", 4),
        ("try:\n    f()\n    except ValueError as exc", 4),
        ("if a:\n    if b:\n        f()\n        elif c", 4),
        ("try:\n    f()\n    finally", 4),
        ("if x:\n    y = 1\nelse", 0),  # at the top already
        ("if a:\n    if b:\n        f()\n    else", 0),  # dedented by hand
        ("if x:\n    y = 1\n    z = {1", 0),  # not a clause
        ("    else", 0),  # nothing above it
    ],
)
def test_dedent_for_keyword(before: str, columns: int) -> None:
    assert dedent_for_keyword(before) == columns


def test_else_dedents_as_it_is_typed(pipe: PipeInput) -> None:
    # No indentation typed or removed by hand: `else:` lands under its `if`.
    assert _prompt(pipe, "if x:\ry = 1\relse:\ry = 2\r\r") == (
        "if x:\n    y = 1\nelse:\n    y = 2\n    "
    )
