"""The REPL's writer (``_screen``) with no prompt showing: colours, lines, take-back."""

from __future__ import annotations

from spe_host.repl._screen import Screen


def _screen(color: bool) -> tuple[Screen, list[str]]:
    written: list[str] = []
    return Screen(written.append, color=color), written


def test_styles_colour_each_line_and_leave_newlines_bare() -> None:
    screen, written = _screen(color=True)
    screen.show("one\n\ntwo\n", "error")
    screen.show("plain\n")
    assert "".join(written) == "\x1b[31mone\x1b[0m\n\n\x1b[31mtwo\x1b[0m\nplain\n"


def test_no_colour_writes_text_as_it_is() -> None:
    screen, written = _screen(color=False)
    screen.show("careful\n", "warning")
    assert written == ["careful\n"]


def test_start_line_ends_a_partial_line_once() -> None:
    screen, written = _screen(color=False)
    screen.show("partial")
    assert not screen.at_line_start
    screen.start_line()
    screen.start_line()
    assert "".join(written) == "partial\n"


def test_take_back_erases_only_the_unfinished_last_line() -> None:
    screen, written = _screen(color=False)
    screen.show("done\nwho? ")
    screen.take_back("what? ")  # not what is on the screen: left alone
    assert written == ["done\nwho? "]
    screen.take_back("who? ")
    assert written[-1] == "\r"
    assert screen.at_line_start
    assert screen.tail == "done\n"
