"""The checks the rewrite leaves out: after an instant test whose branch only hands on.

A recursive base case (``if n < 2: return n``) would otherwise pay two checks per
call; these tests pin which checks go, which stay, and that recursion still stops.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Any

import pytest

from spe_host import ScriptAborted
from spe_host.engine._instrument import CHECK_NAME, FLAG_NAME, compile_script, instrument_tree


class Counting:
    """A stand-in for the slow path: counts its calls, raises after ``limit`` of them."""

    def __init__(self, limit: float = float("inf")) -> None:
        self.calls = 0
        self.limit = limit

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls > self.limit:
            raise ScriptAborted("stopped by the test")
        return True


def run(source: str, checks: Counting) -> dict[str, Any]:
    ns: dict[str, Any] = {FLAG_NAME: True, CHECK_NAME: checks}
    for statement in compile_script(source, "<instant>", interactive=False):
        exec(statement.code, ns)
    return ns


def shape(body: list[ast.stmt]) -> list[Any]:
    """A body as ``CHECK`` for each inserted check, an ``if`` as its test and branch."""
    out: list[Any] = []
    for stmt in body:
        if isinstance(stmt, ast.If) and ast.unparse(stmt.test) == FLAG_NAME:
            out.append(CHECK)
        elif isinstance(stmt, ast.If):
            out.append((ast.unparse(stmt.test), shape(stmt.body)))
        elif isinstance(stmt, ast.While):
            out.append(("while", shape(stmt.body)))
        else:
            out.append(ast.unparse(stmt))
    return out


def function_body(source: str) -> list[Any]:
    """The shape of the rewritten body of the source's one function."""
    tree = instrument_tree(ast.parse(textwrap.dedent(source)))
    assert isinstance(tree, ast.Module)
    (function,) = (stmt for stmt in tree.body if isinstance(stmt, ast.FunctionDef))
    return shape(function.body)


CHECK = "CHECK"

FIB = """\
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
"""


def test_a_base_case_and_the_statement_after_it_have_no_check_of_their_own() -> None:
    assert function_body(FIB) == [
        CHECK,  # the function's entry: every call meets it
        ("n < 2", ["return n"]),
        "return fib(n - 1) + fib(n - 2)",
    ]


@pytest.mark.parametrize("branch", ["return n", "return None", "return", "pass", "return 0"])
def test_each_statement_that_only_hands_on_loses_its_check(branch: str) -> None:
    source = f"def f(n):\n    if n is None or not n > 2:\n        {branch}\n    g()\n"
    assert function_body(source) == [
        CHECK,
        ("n is None or not n > 2", [branch]),
        "g()",
    ]


@pytest.mark.parametrize(
    ("test", "branch"),
    [
        ("f(n)", "return n"),  # a call may run for long: the check after it stays
        ("n.x < 2", "return n"),  # so may an attribute (a property)
        ("n[0] < 2", "return n"),
        ("n < 2", "return n + 1"),  # the branch computes: it keeps its check
        ("n < 2", "x = n"),
    ],
)
def test_a_test_or_branch_that_may_run_code_keeps_both_checks(test: str, branch: str) -> None:
    source = f"def f(n):\n    if {test}:\n        {branch}\n    g()\n"
    body = function_body(source)
    assert body == [CHECK, (test, [CHECK, branch]), CHECK, "g()"]


def test_a_loop_body_keeps_its_check_before_an_instant_branch() -> None:
    source = "def f(n):\n    while True:\n        if n:\n            continue\n        n = 1\n"
    assert function_body(source) == [CHECK, ("while", [CHECK, ("n", ["continue"]), "n = 1"])]


def test_a_recursion_meets_one_check_per_call_and_still_stops() -> None:
    checks = Counting()
    ns = run(FIB + "total = fib(15)\n", checks)
    assert ns["total"] == 610
    calls = 1973  # fib(15) calls fib 1973 times
    assert checks.calls == calls + 2  # and each top-level statement once
    with pytest.raises(ScriptAborted):
        run(FIB + "fib(40)\n", Counting(limit=1000))


def test_an_instant_branch_gives_the_same_results_as_plain_python() -> None:
    source = textwrap.dedent(
        """
        def classify(n):
            if n < 0:
                return -1
            if n == 0:
                return 0
            if n > 100:
                pass
            return 1
        out = [classify(n) for n in (-5, 0, 7, 500)]
        """
    )
    plain: dict[str, Any] = {}
    exec(source, plain)
    assert run(source, Counting())["out"] == plain["out"] == [-1, 0, 1, 1]
