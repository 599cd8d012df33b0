"""The rewrite that puts an abort check before every statement (``_instrument``).

These tests run the compiled statements by hand, with a stand-in for the runner's
slow path, so they need neither trio nor threads.
"""

from __future__ import annotations

import ast
import linecache
import sys
import textwrap
import traceback
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spe_host import ScriptAborted
from spe_host.engine import _instrument, _rewrite
from spe_host.engine._instrument import (
    CHECK_NAME,
    FLAG_NAME,
    compile_script,
    forget_source,
    instrument_tree,
    register_source,
)

# -- helpers -------------------------------------------------------------------------


def is_check(stmt: ast.stmt) -> bool:
    """True for the ``if __spe_abort__: __spe_checkpoint__()`` the rewrite inserts."""
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Name)
        and stmt.test.id == FLAG_NAME
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], ast.Expr)
        and isinstance(stmt.body[0].value, ast.Call)
        and isinstance(stmt.body[0].value.func, ast.Name)
        and stmt.body[0].value.func.id == CHECK_NAME
        and not stmt.orelse
    )


def is_expression_check(node: ast.expr) -> bool:
    """True for the ``not __spe_abort__ or __spe_checkpoint__()`` filter."""
    return (
        isinstance(node, ast.BoolOp)
        and isinstance(node.op, ast.Or)
        and isinstance(node.values[0], ast.UnaryOp)
        and isinstance(node.values[0].operand, ast.Name)
        and node.values[0].operand.id == FLAG_NAME
        and isinstance(node.values[1], ast.Call)
        and isinstance(node.values[1].func, ast.Name)
        and node.values[1].func.id == CHECK_NAME
    )


class Checks:
    """A stand-in for the runner's slow path: counts calls, raises after ``limit``."""

    def __init__(self, limit: float = float("inf")) -> None:
        self.calls = 0
        self.limit = limit
        self.lines: list[int] = []

    def __call__(self) -> bool:
        self.calls += 1
        self.lines.append(sys._getframe(1).f_lineno)
        if self.calls > self.limit:
            raise ScriptAborted("stopped by the test")
        return True


def run_instrumented(
    source: str,
    *,
    flag: bool = True,
    checks: Checks | None = None,
    namespace: dict[str, Any] | None = None,
    filename: str = "<test>",
) -> dict[str, Any]:
    """Compile ``source`` with compile_script and exec its statements in order."""
    ns: dict[str, Any] = {} if namespace is None else namespace
    ns[FLAG_NAME] = flag
    ns[CHECK_NAME] = checks if checks is not None else Checks()
    for statement in compile_script(source, filename, interactive=False):
        exec(statement.code, ns)
    return ns


def frame_names(tb: TracebackType | None) -> list[str]:
    names = []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def raising_position(tb: TracebackType | None, filename: str) -> tuple[int, int, int, int]:
    """Line, end line, column and end column of the innermost instruction of ``filename``."""
    where = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            where = tb
        tb = tb.tb_next
    assert where is not None
    line, end_line, col, end_col = list(where.tb_frame.f_code.co_positions())[where.tb_lasti // 2]
    assert None not in (line, end_line, col, end_col)
    return line, end_line, col, end_col  # type: ignore[return-value]


# Every kind of statement body Python has, each with more than one statement.
ALL_BODIES = '''
"""The module docstring."""
from __future__ import annotations
import contextlib
x = 1
for i in range(2):
    x += i
    x -= 0
else:
    x -= 1
    x += 1
while x > 100:
    x -= 1
    x += 0
else:
    y = 2
    y += 0
if x:
    a = 1
    a += 0
elif y:
    a = 2
    a += 0
else:
    a = 3
    a += 0
with contextlib.nullcontext():
    b = 1
    b += 0
try:
    c = 1
    c += 0
except ValueError:
    c = 2
    c += 0
else:
    c = 3
    c += 0
finally:
    d = 4
    d += 0
try:
    e = 1
    e += 0
except* ValueError:
    e = 2
    e += 0
match x:
    case 1:
        m = 1
        m += 0
    case _:
        m = 2
        m += 0
def f(n):
    """f's docstring."""
    global x
    return n
async def g():
    """g's docstring."""
    async for q in h():
        q += 0
        q -= 0
    async with k():
        q = 1
        q += 0
class C:
    """C's docstring."""
    z = 1
    def method(self):
        nonlocal_free = 1
        return nonlocal_free
'''


def statement_lists(node: ast.AST) -> list[tuple[ast.AST, str, list[ast.stmt]]]:
    """Every statement list in the tree, skipping the inserted checks themselves."""
    found = []
    for field in ("body", "orelse", "finalbody"):
        value = getattr(node, field, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            found.append((node, field, value))
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt) and is_check(child):
            continue
        found.extend(statement_lists(child))
    return found


# -- the rewrite, structurally -------------------------------------------------------


def test_a_check_precedes_every_statement_at_every_depth() -> None:
    tree = instrument_tree(ast.parse(ALL_BODIES))
    lists = statement_lists(tree)
    # Module, for/else, while/else, if/elif/else, with, try/except/else/finally,
    # try/except*, match cases, def, async def, async for, async with, class, method.
    assert len(lists) == 24
    for node, field, body in lists:
        keeps_docstring = isinstance(
            node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        )
        rest = list(body)
        if keeps_docstring and field == "body" and isinstance(rest[0], ast.Expr):
            assert isinstance(rest[0].value, ast.Constant)
            rest = rest[1:]  # the docstring stays first
        while isinstance(node, ast.Module) and isinstance(rest[0], ast.ImportFrom):
            assert rest[0].module == "__future__"
            rest = rest[1:]  # and so do __future__ imports
        where = f"{type(node).__name__}.{field} at line {getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Module | ast.ClassDef) and field == "body":
            # Then the declaration that makes the checks global-name loads.
            declaration = rest.pop(0)
            assert isinstance(declaration, ast.Global), where
            assert declaration.names == [FLAG_NAME, CHECK_NAME], where
        assert len(rest) % 2 == 0, where
        for check, stmt in zip(rest[::2], rest[1::2], strict=True):
            assert is_check(check), where
            assert not is_check(stmt), where
            assert check.lineno == stmt.lineno, where


def test_every_comprehension_checks_before_its_own_filters() -> None:
    source = textwrap.dedent(
        """
        l = [a for a in xs if a > 0 if a < 9]
        s = {a for a in xs}
        d = {a: b for a in xs for b in ys if b}
        g = (a for a in xs if a < 0)
        """
    )
    tree = instrument_tree(ast.parse(source))
    generators = [n for n in ast.walk(tree) if isinstance(n, ast.comprehension)]
    assert len(generators) == 5
    for generator in generators:
        assert generator.ifs, "every comprehension gets a filter"
        assert is_expression_check(generator.ifs[0]), "the check comes first"
        assert not any(is_expression_check(i) for i in generator.ifs[1:])
    # The script's own filters are still there, after the check.
    first = generators[0]
    assert [ast.unparse(i) for i in first.ifs[1:]] == ["a > 0", "a < 9"]


def test_compile_script_splits_top_level_statements() -> None:
    source = "x = 1\nfor i in range(3):\n    x += i\n\nx\n"
    statements = compile_script(source, "<split>", interactive=False)
    assert [s.lineno for s in statements] == [1, 2, 5]
    assert not any(s.display or s.is_async for s in statements)


def test_interactive_mode_compiles_the_last_expression_for_display() -> None:
    statements = compile_script("x = 41\nx + 1\n", "<display>", interactive=True)
    assert [s.display for s in statements] == [False, True]
    ns = run_instrumented("x = 41\n", flag=False)
    assert eval(statements[-1].code, ns) == 42
    # Only the *last* statement, and only an expression.
    statements = compile_script("1\nx = 2\n", "<display>", interactive=True)
    assert [s.display for s in statements] == [False, False]
    # Script mode never displays.
    statements = compile_script("x = 41\nx + 1\n", "<display>", interactive=False)
    assert [s.display for s in statements] == [False, False]


def test_statements_that_await_are_marked_async() -> None:
    source = textwrap.dedent(
        """
        import trio
        await trio.sleep(0)
        async with lock:
            pass
        async for item in stream:
            pass
        async def later():
            await trio.sleep(0)
        """
    ).lstrip()
    statements = compile_script(source, "<await>", interactive=False)
    assert [s.is_async for s in statements] == [False, True, True, True, False]
    last = compile_script("await trio.sleep(0)", "<await>", interactive=True)[-1]
    assert last.display
    assert last.is_async


@pytest.mark.parametrize("module", [_instrument, _rewrite])
def test_the_rewrite_and_compile_modules_import_no_trio(module: ModuleType) -> None:
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    assert "trio" not in imported
    assert {name for name in imported if name.startswith(".")} <= {"._rewrite"}
    assert "ast" in imported  # sanity: the walk saw the imports


# -- the checks, dynamically -----------------------------------------------------------


def test_checks_run_before_each_statement_in_loops_functions_and_classes() -> None:
    source = textwrap.dedent(
        """
        total = 0
        def add(n):
            global total
            total += n
        for i in range(3):
            add(i)
        class K:
            attr = 1
        """
    ).lstrip()
    checks = Checks()
    ns = run_instrumented(source, checks=checks)
    assert ns["total"] == 3
    # line 1 once, def once, for once, body 3x, in add: global+augassign 3x each
    # (global is a statement too), class once, its body once.
    assert checks.lines.count(1) == 1
    assert checks.lines.count(6) == 3
    assert checks.lines.count(4) == 3
    assert checks.lines.count(3) == 3
    assert checks.lines.count(8) == 1


def test_the_fast_path_never_calls_the_slow_path() -> None:
    checks = Checks(limit=0)  # would raise at its first call
    ns = run_instrumented(
        "xs = [i for i in range(5) if i % 2]\nfor j in xs:\n    k = j\n",
        flag=False,
        checks=checks,
    )
    assert ns["xs"] == [1, 3]
    assert checks.calls == 0


def test_a_raising_check_stops_a_top_level_infinite_loop() -> None:
    checks = Checks(limit=1000)
    ns: dict[str, Any] = {}
    with pytest.raises(ScriptAborted):
        run_instrumented("n = 0\nwhile True:\n    n += 1\n", checks=checks, namespace=ns)
    assert 900 < ns["n"] < 1000


@pytest.mark.parametrize(
    "statement",
    [
        "sum(1 for _ in itertools.count())",
        "for v in (n for n in itertools.count() if n < 0): pass",
        "[n for n in itertools.count() if n < 0]",
        "{n for n in itertools.count() if n < 0}",
        "{n: n for n in itertools.count() if n < 0}",
    ],
)
def test_a_check_inside_comprehensions_stops_them(statement: str) -> None:
    checks = Checks(limit=1000)
    with pytest.raises(ScriptAborted) as info:
        run_instrumented(f"import itertools\n{statement}\n", checks=checks)
    # It was raised by the comprehension's own check, not at a statement boundary:
    # the script's innermost frame was at the check that sits on the loop's target.
    # (From 3.12 list, set and dict comprehensions have no frame of their own.)
    comprehension = next(
        node
        for node in ast.walk(ast.parse(statement))
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp)
    )
    target = comprehension.generators[0].target
    line, _, col, end_col = raising_position(info.value.__traceback__, "<test>")
    assert line == 2
    assert (col, end_col) == (target.col_offset, target.end_col_offset), statement
    assert checks.calls == 1001


def test_a_function_defined_by_the_script_is_checked_when_called_later() -> None:
    ns = run_instrumented("def spin():\n    while True:\n        pass\n", flag=False)
    ns[FLAG_NAME] = True
    ns[CHECK_NAME] = Checks(limit=10)
    with pytest.raises(ScriptAborted) as info:
        ns["spin"]()
    assert "spin" in frame_names(info.value.__traceback__)


# -- what the rewrite must not change -------------------------------------------------


def test_docstrings_and_future_imports_keep_their_meaning() -> None:
    source = textwrap.dedent(
        '''
        """The module docstring."""
        from __future__ import annotations
        def f(x: NotDefinedAnywhere) -> int:
            """f's docstring."""
            return 1
        class C:
            """C's docstring."""
            field: AlsoNotDefined
        async def g():
            """g's docstring."""
        '''
    ).lstrip()
    ns = run_instrumented(source)
    assert ns["__doc__"] == "The module docstring."
    assert ns["f"].__doc__ == "f's docstring."
    assert ns["C"].__doc__ == "C's docstring."
    assert ns["g"].__doc__ == "g's docstring."
    assert ns["f"].__annotations__ == {"x": "NotDefinedAnywhere", "return": "int"}
    assert ns["C"].__annotations__ == {"field": "AlsoNotDefined"}


def test_a_string_that_is_not_first_is_not_a_docstring() -> None:
    ns = run_instrumented('x = 1\n"not a docstring"\n')
    assert ns.get("__doc__") is None
    ns = run_instrumented('def f():\n    x = 1\n    "not a docstring"\n')
    assert ns["f"].__doc__ is None


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("__spe_abort__ = 1", FLAG_NAME),
        ("x = __spe_checkpoint__", CHECK_NAME),
        ("def f(__spe_abort__):\n    pass", FLAG_NAME),
        ("f = lambda __spe_checkpoint__: 0", CHECK_NAME),
        ("import os as __spe_abort__", FLAG_NAME),
        ("from os import __spe_abort__", FLAG_NAME),
        ("def __spe_checkpoint__():\n    pass", CHECK_NAME),
        ("class __spe_abort__:\n    pass", FLAG_NAME),
        ("def f():\n    global __spe_abort__", FLAG_NAME),
        ("for __spe_abort__ in []:\n    pass", FLAG_NAME),
        ("match 1:\n    case __spe_abort__:\n        pass", FLAG_NAME),
        ("match 1:\n    case [*__spe_abort__]:\n        pass", FLAG_NAME),
        ("match 1:\n    case {**__spe_checkpoint__}:\n        pass", CHECK_NAME),
    ],
)
def test_a_reserved_name_is_a_clear_syntax_error(source: str, name: str) -> None:
    with pytest.raises(SyntaxError) as info:
        compile_script("x = 0\n" + source + "\n", "<reserved>", interactive=False)
    message = str(info.value)
    assert name in message
    assert "reserved" in message
    assert "rename" in message
    lines = ("x = 0\n" + source).splitlines()
    assert info.value.lineno == 1 + next(i for i, line in enumerate(lines) if name in line)
    assert info.value.filename == "<reserved>"


def test_a_syntax_error_carries_the_scripts_filename_and_line() -> None:
    with pytest.raises(SyntaxError) as info:
        compile_script("x = 1\ny = (\n", "<broken>", interactive=False)
    assert info.value.filename == "<broken>"
    assert info.value.lineno == 2


def test_source_is_registered_with_linecache_for_tracebacks() -> None:
    filename = "<linecache test #1>"
    source = "def f():\n    return 1 / 0\n"
    try:
        ns = run_instrumented(source, flag=False, filename=filename)
        assert linecache.getline(filename, 2) == "    return 1 / 0\n"
        linecache.checkcache()  # must not throw our entry away
        assert linecache.getline(filename, 2) == "    return 1 / 0\n"
        with pytest.raises(ZeroDivisionError) as info:
            ns["f"]()
        text = "".join(traceback.format_exception(info.value))
        assert f'File "{filename}", line 2, in f' in text
        assert "return 1 / 0" in text
    finally:
        forget_source(filename)
    assert linecache.getline(filename, 2) == ""


def test_register_source_without_trailing_newline() -> None:
    register_source("<no newline>", "a = 1\nb = 2")
    try:
        assert linecache.getline("<no newline>", 2) == "b = 2\n"
    finally:
        forget_source("<no newline>")


# -- hypothesis: instrumented and plain programs end the same --------------------------

VARIABLES = ("a", "b", "c", "d")


@st.composite
def expressions(draw: st.DrawFn) -> str:
    v = draw(st.sampled_from(VARIABLES))
    w = draw(st.sampled_from(VARIABLES))
    k = draw(st.integers(0, 9))
    return draw(
        st.sampled_from(
            [
                f"({v} + {k}) % 1009",
                f"({v} * {w} + {k}) % 1009",
                f"{v} - {w}",
                f"sum([x * {k} for x in range({v} % 6) if x % 2 == 0])",
                f"len({{x % 5 for x in range({w} % 9) if x != {k}}})",
                f"sum({{x: x * {k} for x in range({v} % 5)}}.values())",
                f"sum(x for x in range({w} % 7) if x > {k % 4})",
                f"sum(y for x in range({k % 4}) for y in range(x))",
                f"max([{v}, {w}, {k}])",
            ]
        )
    )


@st.composite
def conditions(draw: st.DrawFn) -> str:
    v = draw(st.sampled_from(VARIABLES))
    k = draw(st.integers(0, 9))
    return draw(st.sampled_from([f"{v} % 2 == 0", f"{v} > {k}", f"{v} != {k}", "True"]))


@st.composite
def blocks(draw: st.DrawFn, depth: int, functions: list[str], loop: bool) -> list[str]:
    """A list of source lines at indentation zero."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        lines.extend(draw(statements(depth, functions, loop)))
    return lines


def indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


@st.composite
def statements(draw: st.DrawFn, depth: int, functions: list[str], loop: bool) -> list[str]:
    v = draw(st.sampled_from(VARIABLES))
    simple = ["assign", "augment", "list"]
    if functions:
        simple.append("call")
    if loop:
        simple.append("break")
    compound = ["for", "while", "if", "try_finally", "try_except"] if depth < 3 else []
    kind = draw(st.sampled_from(simple + compound))
    k = draw(st.integers(0, 4))
    if kind == "assign":
        return [f"{v} = {draw(expressions())}"]
    if kind == "augment":
        return [f"{v} += {k}"]
    if kind == "list":
        return [f"seen.append({v})"]
    if kind == "call":
        f = draw(st.sampled_from(functions))
        return [f"{v} = {f}({draw(st.sampled_from(VARIABLES))}) % 1009"]
    if kind == "break":
        return [f"if {draw(conditions())}:", "    break"]
    body = draw(blocks(depth + 1, functions, loop or kind in ("for", "while")))
    if kind == "for":
        return [f"for i{depth} in range({k}):", *indent(body)]
    if kind == "while":
        counter = f"w{depth}"
        return [
            f"{counter} = 0",
            f"while {counter} < {k}:",
            f"    {counter} += 1",
            *indent(body),
        ]
    if kind == "if":
        lines = [f"if {draw(conditions())}:", *indent(body)]
        if draw(st.booleans()):
            lines += [
                f"elif {draw(conditions())}:",
                *indent(draw(blocks(depth + 1, functions, loop))),
            ]
        if draw(st.booleans()):
            lines += ["else:", *indent(draw(blocks(depth + 1, functions, loop)))]
        return lines
    if kind == "try_finally":
        cleanup = draw(blocks(depth + 1, functions, False))
        return ["try:", *indent(body), "finally:", *indent(cleanup)]
    # try_except: a division that may fail, then a handler
    w = draw(st.sampled_from(VARIABLES))
    return [
        "try:",
        f"    {v} = {w} // ({v} % 3)",
        *indent(body),
        "except ZeroDivisionError:",
        *indent(draw(blocks(depth + 1, functions, loop))),
    ]


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines = [f"{name} = {draw(st.integers(0, 20))}" for name in VARIABLES]
    lines.append("seen = []")
    functions: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.integers(0, 3)) == 0:
            name = f"f{len(functions)}"
            body = draw(blocks(1, [], False))
            doc = ['    """A docstring."""'] if draw(st.booleans()) else []
            lines += [
                f"def {name}(p):",
                *doc,
                "    global a, b, c, d",
                *indent(body),
                f"    return p + {draw(st.sampled_from(VARIABLES))}",
            ]
            functions.append(name)
        else:
            lines.extend(draw(statements(0, functions, False)))
    return "\n".join(lines) + "\n"


def comparable(namespace: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in namespace.items():
        if key in ("__builtins__", FLAG_NAME, CHECK_NAME):
            continue
        if callable(value):
            out[key] = ("callable", value.__name__, value.__doc__)
        else:
            out[key] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=programs(), flag=st.booleans())
def test_instrumented_and_plain_programs_end_with_the_same_namespace(
    source: str, flag: bool
) -> None:
    plain: dict[str, Any] = {}
    exec(compile(source, "<plain>", "exec"), plain)
    checks = Checks()
    try:
        instrumented = run_instrumented(source, flag=flag, checks=checks, filename="<hyp>")
    finally:
        forget_source("<hyp>")
    assert comparable(instrumented) == comparable(plain), source
    if flag:
        # The slow path ran (at least once per top-level statement) and never raised.
        assert checks.calls >= len(ast.parse(source).body)
    else:
        assert checks.calls == 0


# Keep an explicit example of each construct in the grammar, so a regression in one
# shows up even if hypothesis happens not to draw it.
FIXED_PROGRAM = textwrap.dedent(
    """
    a, b, c, d = 3, 4, 5, 6
    seen = []
    def f0(p):
        \"\"\"doc\"\"\"
        global a, b, c, d
        for i in range(3):
            a += i
        return p + a
    for i0 in range(4):
        w1 = 0
        while w1 < 3:
            w1 += 1
            if a % 2 == 0:
                break
            elif b > 2:
                b = f0(b) % 1009
            else:
                c += 1
        try:
            d = a // (d % 3)
        except ZeroDivisionError:
            d = 7
        try:
            seen.append([x for x in range(i0) if x])
        finally:
            seen.append({x: x for x in range(3)})
    c = sum(x for x in range(10) if x > 4) + len({x % 3 for x in range(9)})
    """
)


@pytest.mark.parametrize("flag", [False, True])
def test_a_fixed_program_ends_the_same_instrumented_and_plain(flag: bool) -> None:
    plain: dict[str, Any] = {}
    exec(FIXED_PROGRAM, plain)
    assert comparable(run_instrumented(FIXED_PROGRAM, flag=flag)) == comparable(plain)
