"""What a verb loads: ``ls`` and its kind start without the REPL's libraries or the host.

Each check runs in a fresh interpreter, so what the test process imported already
does not count. ``attach`` and ``serve`` import what they need inside the verb.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Parses and builds everything an `ls` needs, short of connecting.
_LS_PATH = """
from spe_host.cli import main
from spe_host.cli._parser import build_parser
import spe_host.cli._verbs
build_parser().parse_args(["ls", "--json"])
"""

# spe_host/__init__.py re-exports the engine and the server, so importing the package
# loads them whatever the CLI does; this stands an empty package in for it, so that
# only what the CLI's own modules import gets loaded.
_WITHOUT_THE_PACKAGE_INIT = """
import importlib.util, sys, types
spec = importlib.util.find_spec("spe_host")
package = types.ModuleType("spe_host")
package.__path__ = list(spec.submodule_search_locations)
package.__version__ = "0"
sys.modules["spe_host"] = package
"""


def _loaded_after(code: str) -> list[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    modules: list[str] = json.loads(done.stdout)
    return modules


def _under(modules: list[str], *roots: str) -> list[str]:
    return [m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)]


def test_the_ls_path_loads_no_prompt_toolkit_or_pygments() -> None:
    loaded = _loaded_after(_LS_PATH)
    assert "spe_host.cli._verbs" in loaded
    assert _under(loaded, "prompt_toolkit", "pygments", "jedi", "spe_host.repl") == []
    # The journal's verbs read it; the others never load it (nor sqlite3).
    assert _under(loaded, "spe_host.journal", "sqlite3", "spe_host.http", "starlette") == []


def test_the_cli_by_itself_loads_neither_the_engine_nor_the_server() -> None:
    loaded = _loaded_after(_WITHOUT_THE_PACKAGE_INIT + _LS_PATH)
    # The parser names every verb (cli._args.Verb) but imports none of their modules.
    assert _under(loaded, "spe_host.cli._serve", "spe_host.cli._stop", "spe_host.cli._logs") == []
    assert _under(loaded, "spe_host.engine", "spe_host.server", "spe_host.service") == []
    assert _under(loaded, "prompt_toolkit", "pygments", "jedi", "spe_host.repl") == []
