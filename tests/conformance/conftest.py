"""Runs CPython's own language tests plain and instrumented, once per pytest session.

``cpython_runs`` runs every module of :data:`MODULES` in both modes, each in a fresh
interpreter (``cpython_child.py``), two at a time (the CI machines have two cores),
and keeps the results; ``test_cpython_language`` compares them module by module, and
the terminal summary prints the table (module, plain passed, instrumented passed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

# The twenty core modules, then more language tests where this Python has them.
MODULES = (
    "test_grammar",
    "test_patma",
    "test_generators",
    "test_with",
    "test_exceptions",
    "test_contextlib",
    "test_coroutines",
    "test_listcomps",
    "test_setcomps",
    "test_dictcomps",
    "test_genexps",
    "test_scope",
    "test_class",
    "test_funcattrs",
    "test_except_star",
    "test_asyncgen",
    "test_syntax",
    "test_keywordonlyarg",
    "test_unpack_ex",
    "test_raise",
    "test_types",
    "test_type_aliases",  # 3.12+
    "test_type_params",  # 3.12+
    "test_decorators",
    "test_named_expressions",
    "test_super",
)
CHILD = Path(__file__).with_name("cpython_child.py")
PROJECT = Path(__file__).resolve().parents[2]  # the child imports this tree's spe_host
CHILD_TIMEOUT = 120.0
WORKERS = 2


@dataclass(frozen=True)
class Run:
    """What one module's suite did in one mode."""

    passed: frozenset[str]
    failed: dict[str, str]
    skipped: int
    load_seconds: float  # compiling and running the module body
    run_seconds: float  # running its tests


def missing_test_package() -> str | None:
    """Why CPython's tests cannot run here, or None when they can."""
    if importlib.util.find_spec("test") is None or importlib.util.find_spec("test.support") is None:
        return (
            f"Python {platform.python_version()} ({sys.executable}) ships without the "
            "`test` package (CPython's own tests); install a build that has it, such as "
            "pyenv's, to run the conformance suite"
        )
    return None


def available(module: str) -> bool:
    return importlib.util.find_spec(f"test.{module}") is not None


def run_child(module: str, mode: str) -> Run:
    process = subprocess.run(
        [sys.executable, str(CHILD), module, mode],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(PROJECT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "PYTHONWARNINGS": "",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        check=False,
    )
    lines = process.stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise AssertionError(
            f"{module} ({mode}) exited with {process.returncode}:\n{process.stderr[-3000:]}"
        )
    report = json.loads(lines[-1])
    return Run(
        passed=frozenset(report["passed"]),
        failed=report["failed"],
        skipped=report["skipped"],
        load_seconds=report["load_seconds"],
        run_seconds=report["run_seconds"],
    )


def run_all(modules: list[str]) -> dict[tuple[str, str], Run]:
    jobs = [(module, mode) for module in modules for mode in ("plain", "instrumented")]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = list(pool.map(lambda job: run_child(*job), jobs))
    return dict(zip(jobs, runs, strict=True))


_RUNS = pytest.StashKey[dict[tuple[str, str], Run]]()


@pytest.fixture(scope="session")
def cpython_runs(request: pytest.FixtureRequest) -> dict[tuple[str, str], Run]:
    """Every available module of MODULES, run plain and instrumented."""
    reason = missing_test_package()
    if reason is not None:
        pytest.skip(reason)
    runs = run_all([module for module in MODULES if available(module)])
    request.config.stash[_RUNS] = runs
    return runs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cpython_module" in metafunc.fixturenames:
        metafunc.parametrize("cpython_module", MODULES)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    runs = config.stash.get(_RUNS, None)
    if runs:
        terminalreporter.write_line("")
        for line in table(runs):
            terminalreporter.write_line(line)


def table(runs: dict[tuple[str, str], Run]) -> list[str]:
    """Module, tests passed plain and instrumented, and the seconds the tests took."""
    row = "{:<22} {:>12} {:>19} {:>14} {:>14}".format
    lines = [
        f"CPython {platform.python_version()} language tests, plain and instrumented:",
        row("module", "plain passed", "instrumented passed", "plain tests s", "instr. tests s"),
    ]
    totals = [0, 0, 0.0, 0.0]
    for module in sorted({module for module, _ in runs}, key=MODULES.index):
        plain, instrumented = runs[module, "plain"], runs[module, "instrumented"]
        cells = [
            len(plain.passed),
            len(instrumented.passed),
            plain.run_seconds,
            instrumented.run_seconds,
        ]
        same = "" if plain.passed == instrumented.passed else "  (different tests)"
        lines.append(row(module, *cells[:2], *(f"{c:.2f}" for c in cells[2:])) + same)
        totals = [total + cell for total, cell in zip(totals, cells, strict=True)]
    lines.append(row("total", *totals[:2], *(f"{t:.2f}" for t in totals[2:])))
    return lines
