"""The prompt_toolkit REPL that ``spe-host attach`` runs."""

from ._repl import Repl, run_piped

__all__ = ["Repl", "run_piped"]
