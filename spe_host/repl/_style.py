"""How the prompt looks: colours of the prompt, the code and the toolbar; the lexer.

The class names (``prompt.session``, ``toolbar.state.running``...) are the ones the
fragments in ``_prompt.py`` use; one toolbar colour per session state.

The code's colours are a *style* (:func:`make_style`): ``default`` uses the terminal's
own ANSI palette (bright variants where the plain ones are dark), so it reads on a
dark background and on most light ones, where pygments' default (dark blue, dark
green) is hard to read on black; ``none`` colours no code; any other name is a
pygments style (``monokai``, ``solarized-light``, ``friendly``...).
"""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.styles import BaseStyle, Style, merge_styles, style_from_pygments_cls
from pygments.lexers.python import PythonLexer
from pygments.styles import get_all_styles, get_style_by_name
from pygments.util import ClassNotFound

__all__ = ["STYLE", "STYLES", "continuation", "make_lexer", "make_style"]

STYLE = Style.from_dict(
    {
        "prompt.session": "ansicyan",
        "prompt": "ansigreen bold",
        "prompt.continuation": "ansigreen",
        "bottom-toolbar": "noreverse bg:#222222 #aaaaaa",
        "toolbar.host": "bg:#005f87 #ffffff bold",
        "toolbar.session": "bold #ffffff",
        "toolbar.state.idle": "bg:#2e7d32 #ffffff",
        "toolbar.state.new": "bg:#555555 #ffffff",
        "toolbar.state.running": "bg:#b58900 #000000",
        "toolbar.state.stopping": "bg:#c62828 #ffffff",
        "toolbar.state.closed": "bg:#555555 #ffffff",
        "toolbar.mode.worker": "#aaaaaa",
        "toolbar.mode.loop": "bg:#6c3483 #ffffff bold",
        "toolbar.hint": "#999999",
        "toolbar.paste": "bg:#005f00 #ffffff bold",
        "toolbar.signature": "#dddddd",
    }
)


#: The code colours that read on a dark terminal, in its own ANSI palette.
_DEFAULT_CODE = Style.from_dict(
    {
        "pygments.keyword": "ansibrightmagenta",
        "pygments.keyword.constant": "ansibrightcyan",
        "pygments.name.builtin": "ansibrightcyan",
        "pygments.name.function": "ansibrightblue",
        "pygments.name.class": "ansibrightblue bold",
        "pygments.name.decorator": "ansibrightyellow",
        "pygments.name.namespace": "ansibrightcyan",
        "pygments.string": "ansibrightgreen",
        "pygments.number": "ansibrightyellow",
        "pygments.operator.word": "ansibrightmagenta",
        "pygments.comment": "ansibrightblack italic",
    }
)

#: The style names the REPL knows besides pygments' own.
STYLES = ("default", "none")


def make_style(name: str = "default") -> BaseStyle:
    """The prompt's style: the toolbar's and prompt's colours, and the code's ``name``.

    Raises:
        ValueError: ``name`` is neither ``default``, ``none`` nor a pygments style.
    """
    if name == "default":
        return merge_styles([_DEFAULT_CODE, STYLE])
    if name == "none":
        return STYLE
    try:
        code = style_from_pygments_cls(get_style_by_name(name))
    except ClassNotFound:
        known = ", ".join([*STYLES, *sorted(get_all_styles())])
        raise ValueError(f"there is no style {name!r}; the styles are: {known}") from None
    return merge_styles([code, STYLE])


def make_lexer() -> Lexer:
    """The Python syntax highlighter of the prompt (pygments through prompt_toolkit)."""
    return PygmentsLexer(PythonLexer)


def continuation(width: int, line_number: int, wrap_count: int) -> StyleAndTextTuples:
    """The ``...`` in front of a statement's second and later lines."""
    return [("class:prompt.continuation", "... ".rjust(width))]
