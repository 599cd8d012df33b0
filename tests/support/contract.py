"""A small import-graph checker for the layer contract (see docs/architecture.md).

A rule names a layer (a top-level module or folder of ``spe_host``) and the layers
and third-party roots it may not import. Relative imports are resolved against the
importing module, so ``from ..server import x`` counts as importing ``spe_host.server``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

# layer -> what it may not import. Names are first components below ``spe_host``
# (``engine``, ``wire``, ...) or third-party top-level packages (``trio``).
_ABOVE_ENGINE = frozenset(
    {"wire", "transport", "service", "server", "client", "auth", "repl", "cli", "testing"}
)
_PURE = _ABOVE_ENGINE | {"trio", "engine"}
RULES: Mapping[str, frozenset[str]] = {
    "_model": _PURE | {"http", "journal"},
    "_rules": _PURE | {"http", "journal", "_model", "_errors"},
    "_deferred": _PURE | {"http", "journal", "_model", "_errors"},
    "_jedi": _PURE | {"http", "journal"},
    "_access": _PURE | {"http", "journal"},
    "_errors": _PURE | {"_model"},
    "wire": _PURE - {"wire"},
    "engine": _ABOVE_ENGINE,
    # The journal observes the host; the engine builds it (open_host(journal=...)), the
    # CLI reads its files, so it may reach neither.
    "journal": _ABOVE_ENGINE | {"engine", "http"},
    "auth": _ABOVE_ENGINE - {"auth"} | {"engine"},
    "transport": frozenset({"engine", "service", "server", "client", "repl", "cli", "testing"}),
    "service": frozenset({"wire", "transport", "server", "client", "repl", "cli", "testing"}),
    "server": frozenset({"engine", "client", "repl", "cli", "testing"}),
    # The HTTP API is a front end beside the server: the host only through the service.
    "http": frozenset({"engine", "server", "client", "wire", "repl", "cli", "testing"}),
    "client": frozenset({"engine", "service", "server", "repl", "cli", "testing"}),
    "repl": _ABOVE_ENGINE - {"client", "repl"} | {"engine"},
    "cli": frozenset({"engine", "service", "server", "wire", "transport", "testing"}),
}

# The one composition root besides the package's __init__: the `serve` verb embeds a
# host and serves it, so it may reach the engine, the service and the server.
EXEMPT: Mapping[str, frozenset[str]] = {
    "spe_host.cli._serve": frozenset({"engine", "service", "server"}),
}


def _lazy_names(root: Path) -> dict[str, str]:
    # The package root re-exports names of other layers on first use (a `_LAZY` table
    # in its __init__): `from spe_host import Host` is an import of the engine.
    init = root / "__init__.py"
    if not init.exists():
        return {}
    for node in ast.walk(ast.parse(init.read_text())):
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "_LAZY" and node.value is not None:
            table = ast.literal_eval(node.value)
            assert isinstance(table, dict)
            return {str(k): str(v) for k, v in table.items()}
    return {}


def _imports(
    path: Path, module: str, is_package: bool, package: str, lazy: Mapping[str, str]
) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == package:
                # `from spe_host import x` / `from .. import x`: x is a layer (a module)
                # or a name the root re-exports from one.
                yield from (f"{package}.{lazy.get(alias.name, alias.name)}" for alias in node.names)
            else:
                yield target


def _layer(name: str, package: str) -> str:
    parts = name.split(".")
    if parts[0] != package:
        return parts[0]
    return parts[1] if len(parts) > 1 else ""


def check_tree(root: Path, package: str, rules: Mapping[str, frozenset[str]]) -> list[str]:
    """Every forbidden import under ``root`` (the package's folder), as sentences."""
    problems: list[str] = []
    lazy = _lazy_names(root)
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        is_package = relative.name == "__init__"
        parts = [package, *relative.parts[:-1]] if is_package else [package, *relative.parts]
        module = ".".join(parts)
        layer = parts[1] if len(parts) > 1 else ""
        forbidden = rules.get(layer, frozenset()) - EXEMPT.get(module, frozenset())
        for name in _imports(path, module, is_package, package, lazy):
            target = _layer(name, package)
            if target in forbidden and target != layer:
                shown = name if name.split(".")[0] == package else name.split(".")[0]
                problems.append(f"{module} imports {shown} ({layer} may not import {target})")
    return problems
