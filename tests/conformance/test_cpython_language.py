"""Instrumented code behaves exactly like plain Python: CPython's own language tests agree.

Each module of CPython's test suite listed in ``conftest.MODULES`` is run twice in
fresh interpreters, as plain ``exec`` of its source and as spe_host runs a script
(every statement checked); the same tests must pass both ways. A test that fails
plain may fail instrumented too: the sets are compared, not the counts.
"""

from __future__ import annotations

from typing import Any

import pytest


def test_instrumented_module_passes_the_same_tests_as_plain(
    cpython_module: str, cpython_runs: dict[tuple[str, str], Any]
) -> None:
    if (cpython_module, "plain") not in cpython_runs:
        pytest.skip(f"this Python has no test.{cpython_module}")
    plain = cpython_runs[cpython_module, "plain"]
    instrumented = cpython_runs[cpython_module, "instrumented"]
    assert plain.passed, f"test.{cpython_module} ran no test at all"
    lost = sorted(plain.passed - instrumented.passed)
    gained = sorted(instrumented.passed - plain.passed)
    why = "\n".join(f"{test}:\n{instrumented.failed.get(test, '(not run)')}" for test in lost)
    assert not lost, f"pass plain but not instrumented:\n{why}"
    assert not gained, f"pass instrumented but not plain: {gained}"
