"""The ``spe-host`` command (the console script is ``spe_host.cli:main``).

Modules: ``_main`` (main, exit codes by exception class), ``_parser`` (one function
per verb; ``_parser_more``, ``_parser_serve`` and ``_parser_journal`` for the rest),
``_args`` (argument types, shared options), ``_verbs`` (the verbs that talk to a host,
through the client only), ``_stop`` (``stop``), ``_logs`` (``logs``), ``_live``
(``ls --watch`` and ``wait``, from pushed changes) with ``_bars`` (``wait``'s progress
bars), ``_completion`` (shell completion scripts), ``_serve`` (the ``serve`` verb, the
command's one composition root), ``_output`` (JSON and tables), ``_exits`` (the exit
statuses).
"""

from ._main import main

__all__ = ["main"]
