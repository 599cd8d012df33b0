"""The import contract: which layer may import which, checked on the source.

Each module's imports are read with ``ast`` (no module is executed), including
imports inside functions and under ``TYPE_CHECKING``, and matched against
:data:`support.contract.RULES`. The checker is tested first on a tree it must refuse,
so a contract that silently passes everything cannot go unnoticed.
"""

from __future__ import annotations

from pathlib import Path

from support.contract import RULES, check_tree

import spe_host

PACKAGE = Path(spe_host.__file__).parent


def test_the_package_keeps_the_contract() -> None:
    assert check_tree(PACKAGE, "spe_host", RULES) == []


def test_the_checker_refuses_a_forbidden_import(tmp_path: Path) -> None:
    root = tmp_path / "spe_host"
    (root / "engine").mkdir(parents=True)
    (root / "server").mkdir()
    (root / "wire").mkdir()
    (root / "http").mkdir()
    for folder in (root, root / "engine", root / "server", root / "wire", root / "http"):
        (folder / "__init__.py").write_text("")
    (root / "_model.py").write_text("import enum\n")
    (root / "engine" / "_host.py").write_text("from .._model import x\nfrom ..server import y\n")
    (root / "server" / "_serve.py").write_text(
        "def f():\n    from spe_host.engine._host import Host\n"
    )
    (root / "wire" / "_codec.py").write_text("import trio\n")
    (root / "__init__.py").write_text('_LAZY = {"Host": "engine"}\n')
    (root / "server" / "_admit.py").write_text("from .. import Host\nfrom .. import wire\n")
    (root / "http" / "_app.py").write_text(
        "from ..service import Service\nfrom ..engine import Host\n"
    )
    problems = check_tree(root, "spe_host", RULES)
    assert sorted(problems) == [
        "spe_host.engine._host imports spe_host.server (engine may not import server)",
        "spe_host.http._app imports spe_host.engine (http may not import engine)",
        "spe_host.server._admit imports spe_host.engine (server may not import engine)",
        "spe_host.server._serve imports spe_host.engine._host (server may not import engine)",
        "spe_host.wire._codec imports trio (wire may not import trio)",
    ]
