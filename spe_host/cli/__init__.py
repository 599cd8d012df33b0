"""The ``spe-host`` command (the console script is ``spe_host.cli:main``).

Modules: ``_main`` (main, exit codes by exception class), ``_parser`` (one function
per verb), ``_verbs`` (the verbs that talk to a host, through the client only),
``_serve`` (the ``serve`` verb, the command's one composition root), ``_output``
(JSON and tables), ``_exits`` (the exit statuses).
"""

from ._main import main

__all__ = ["main"]
