"""The prompt_toolkit REPL that ``spe-host attach`` runs.

The modules split the REPL as ptpython splits its own: ``_repl`` (the loop),
``_commands`` (``%`` commands), ``_completer``, ``_keys`` (Enter and indentation),
``_screen`` (output above the prompt), ``_prompt`` (the prompts and their thread),
``_style``, ``_history`` (history files and replay marks), ``_follow`` (output
streaming), ``_interrupt`` (Ctrl-C), ``_piped`` (stdin not a terminal) and ``_client``
(what the REPL needs from a client).
"""

from ._client import ReplClient
from ._piped import run_piped
from ._repl import Repl

__all__ = ["Repl", "ReplClient", "run_piped"]
