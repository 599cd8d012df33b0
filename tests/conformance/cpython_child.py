"""Run one of CPython's own test modules, plain or instrumented, and print what passed.

Usage (the suite in this folder runs it in a fresh process per module and mode)::

    python tests/conformance/cpython_child.py test_grammar plain
    python tests/conformance/cpython_child.py test_grammar instrumented

The module's source comes from the interpreter's own ``test`` package. *plain* runs
it as ``exec`` of the whole file; *instrumented* compiles it with spe_host's
``compile_script`` and runs its statements one by one in the module's namespace,
exactly as a session runs a script (with the check names a session's namespace
holds). Either way the module object is registered in ``sys.modules`` under its
real name, so doctests and ``load_tests`` find it, and its unittest suite runs.

Prints one JSON object: the passing test ids, the failing ones with the end of their
tracebacks, the number skipped, the seconds loading took (compiling and running the
module body) and the seconds the tests took.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import tokenize
import types
import unittest
from typing import Any

MODES = ("plain", "instrumented")


class _Recorder(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.passed: list[str] = []
        self.failed: dict[str, str] = {}

    def addSuccess(self, test: unittest.TestCase) -> None:
        self.passed.append(test.id())

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self.failed[test.id()] = self.failures[-1][1][-1500:]

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self.failed[test.id()] = self.errors[-1][1][-1500:]

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed[subtest.id()] = self._exc_info_to_string(err, test)[-1500:]


def _load(name: str, mode: str) -> types.ModuleType:
    spec = importlib.util.find_spec(f"test.{name}")
    if spec is None or spec.origin is None:
        raise SystemExit(f"this Python has no test.{name}")
    with tokenize.open(spec.origin) as file:
        source = file.read()
    module = types.ModuleType(spec.name)
    module.__file__ = spec.origin
    module.__spec__ = spec
    module.__loader__ = spec.loader
    module.__package__ = spec.parent
    sys.modules[spec.name] = module
    namespace = module.__dict__
    if mode == "plain":
        exec(compile(source, spec.origin, "exec", dont_inherit=True), namespace)
        return module
    from spe_host.engine._checkpoint import StopFlags, checkpoint
    from spe_host.engine._instrument import CHECK_NAME, compile_script

    StopFlags().add(namespace)
    namespace[CHECK_NAME] = checkpoint
    for statement in compile_script(source, spec.origin, interactive=False):
        if statement.is_async:
            raise SystemExit(f"test.{name} awaits at top level: not a test module")
        exec(statement.code, namespace)
    return module


def main(name: str, mode: str) -> None:
    if mode not in MODES:
        raise SystemExit(f"the mode must be one of {MODES}, not {mode!r}")
    started = time.perf_counter()
    module = _load(name, mode)
    loaded = time.perf_counter()
    result = _Recorder()
    unittest.defaultTestLoader.loadTestsFromModule(module).run(result)
    report = {
        "passed": sorted(result.passed),
        "failed": result.failed,
        "skipped": len(result.skipped),
        "load_seconds": loaded - started,
        "run_seconds": time.perf_counter() - loaded,
    }
    sys.stdout.flush()
    sys.__stdout__.write("\n" + json.dumps(report) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
