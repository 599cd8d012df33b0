"""How the prompt looks: colours of the prompt and toolbar, the Python lexer.

The class names (``prompt.session``, ``toolbar.state.running``...) are the ones the
fragments in ``_prompt.py`` use; one toolbar colour per session state.
"""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.styles import Style
from pygments.lexers.python import PythonLexer

__all__ = ["STYLE", "continuation", "make_lexer"]

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
        "toolbar.hint": "#777777",
    }
)


def make_lexer() -> Lexer:
    """The Python syntax highlighter of the prompt (pygments through prompt_toolkit)."""
    return PygmentsLexer(PythonLexer)


def continuation(width: int, line_number: int, wrap_count: int) -> StyleAndTextTuples:
    """The ``...`` in front of a statement's second and later lines."""
    return [("class:prompt.continuation", "... ".rjust(width))]
