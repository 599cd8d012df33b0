"""The prompt_toolkit REPL that ``spe-host attach`` runs (keys and commands: docs/repl.md).

The modules split the REPL as ptpython splits its own: ``_repl`` (the loop),
``_commands`` (``%`` commands, ``obj?``, ``help()``) with ``_magic`` (the code they run
in the session), ``_completer``, ``_keys`` (Enter, indentation, paste mode),
``_signature`` (the toolbar's call signature), ``_screen`` (output above the prompt),
``_display`` (values pretty-printed and shortened), ``_prompt`` (the prompts and
their thread), ``_style``, ``_terminal`` (cursor-position requests, typing ahead),
``_history`` (history files and replay marks), ``_follow`` (output streaming),
``_ended`` (how a background run ended), ``_interrupt`` (Ctrl-C), ``_piped`` (stdin
not a terminal) and ``_client`` (what the REPL needs from a client).
"""

from ._client import ReplClient
from ._piped import run_piped
from ._repl import Repl

__all__ = ["Repl", "ReplClient", "run_piped"]
