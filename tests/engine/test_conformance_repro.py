"""Scripts that once behaved differently in a session than under plain ``exec`` (issue 16).

Each runs through ``host.execute`` and is compared with the same source run by plain
``exec`` in a fresh namespace: the rewrite's checks must change nothing a script can
see. (tests/conformance runs CPython's own language tests the same two ways.)
"""

from __future__ import annotations

import builtins
import contextlib
import io
import sys
import textwrap
from typing import Any

import pytest
import trio
from support.engine import abort_frames, wait_location

import spe_host
from spe_host import ExecutionStatus
from spe_host.engine._checkpoint import StopFlags, checkpoint
from spe_host.engine._instrument import CHECK_NAME, FLAG_NAME


def plain_run(code: str) -> tuple[str, BaseException | None]:
    """The output of plain ``exec`` of ``code`` in a fresh namespace, and its error."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            # dont_inherit: not this test module's own __future__ imports.
            exec(compile(code, "<plain>", "exec", dont_inherit=True), {"__name__": "__main__"})
        except Exception as exc:
            return out.getvalue(), exc
    return out.getvalue(), None


async def assert_runs_as_plain(host: spe_host.Host, code: str, session: str = "s") -> None:
    expected, error = plain_run(code)
    result = await host.execute(session, code, interactive=False)
    assert result.output == expected, result.error
    if error is None:
        assert result.status is ExecutionStatus.COMPLETED, result.error
    else:
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        last_line = result.error.strip().splitlines()[-1]
        assert last_line == f"{type(error).__name__}: {error}"


# -- code run with other globals, and odd class namespaces ------------------------------

OTHER_GLOBALS = """
import types
def func(s):
    return len(s)
func2 = types.FunctionType(func.__code__, {})
print(func2("abc"))
def side():
    print("ran with other globals")
exec(side.__code__, {})
"""

CUSTOM_CLASS_NAMESPACE = """
class Namespace(dict):
    def __missing__(self, key):
        if key in ("range", "iter", "int", "super", "dict", "sorted"):
            raise KeyError(key)
        return 41  # any other name, as a DSL's namespace answers
class Meta(type):
    @classmethod
    def __prepare__(mcs, name, bases):
        return Namespace()
    def __new__(mcs, name, bases, namespace):
        cls = super().__new__(mcs, name, bases, dict(namespace))
        cls.recorded = sorted(namespace)
        return cls
class C(metaclass=Meta):
    '''A docstring.'''
    a = 1
    b = undefined_name + 1
    for i in range(2):
        a += i
print(C.a, C.b, C.__doc__, C.recorded)
"""


async def test_code_run_with_other_globals_runs_as_in_plain_python(host: spe_host.Host) -> None:
    with trio.fail_after(10):
        await assert_runs_as_plain(host, OTHER_GLOBALS)


async def test_a_class_body_with_a_custom_namespace_runs_as_in_plain_python(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        await assert_runs_as_plain(host, CUSTOM_CLASS_NAMESPACE)


async def test_a_stop_lands_in_code_run_with_other_globals(host: spe_host.Host) -> None:
    code = textwrap.dedent(
        """
        import types
        def spin():
            while True:
                pass
        types.FunctionType(spin.__code__, {})()
        """
    )
    with trio.fail_after(10):
        session = host.start("s", code)
        await wait_location(session, {4, 5})
        host.stop("s")
        await host.wait("s")
        result = host.receive("s")
        assert result.status is ExecutionStatus.ABORTED, result.error
        assert abort_frames(result.error)[-1] == ("<session s #1>", 5, "spin")
        # The fallback flag in builtins fell again once nothing was stopping.
        assert getattr(builtins, FLAG_NAME) is False


async def test_a_stop_lands_in_a_class_body_with_a_custom_namespace(host: spe_host.Host) -> None:
    code = CUSTOM_CLASS_NAMESPACE.replace("range(2)", "iter(int, 1)")
    lines = code.splitlines()
    loop = 1 + next(n for n, line in enumerate(lines) if "for i in" in line)
    with trio.fail_after(10):
        session = host.start("s", code)
        await wait_location(session, {loop, loop + 1})
        host.stop("s")
        await host.wait("s")
        result = host.receive("s")
        assert result.status is ExecutionStatus.ABORTED, result.error
        assert abort_frames(result.error)[-1][1:] == (loop + 1, "C")


# -- deep nesting ----------------------------------------------------------------------


def plain_compiles(code: str) -> bool:
    try:
        compile(code, "<plain>", "exec")
    except RecursionError:
        return False
    return True


def sum_of(terms: int) -> str:
    return "x = " + " + ".join(["'a'"] * terms) + "\nprint(len(x))\n"


def elifs(count: int) -> str:
    branches = "".join(f"elif x == {i}:\n    y = {i}\n" for i in range(count))
    return f"x = {count - 1}\nif x < 0:\n    y = -1\n{branches}print(y)\n"


@pytest.mark.parametrize(
    "code",
    [sum_of(1000), elifs(1000), sum_of(2000)],
    ids=["1000 terms", "1000 elifs", "2000 terms"],
)
async def test_deeply_nested_code_compiles_as_under_plain_compile(
    host: spe_host.Host, code: str
) -> None:
    assert plain_compiles(code)
    with trio.fail_after(30):
        if sys.version_info[:2] == (3, 12) and code == sum_of(2000):
            # 3.12 converts a syntax tree for the compiler within a fixed C recursion
            # budget of about 1,500 levels, half of what its parser accepts.
            result = await host.execute("s", code, interactive=False)
            assert result.status is ExecutionStatus.FAILED
            assert "nests deeper than spe_host can rewrite on this Python" in str(result.error)
            return
        await assert_runs_as_plain(host, code)


async def test_code_too_deep_for_plain_compile_fails_with_its_error(host: spe_host.Host) -> None:
    code = sum_of(12_000)
    with pytest.raises(RecursionError) as plain:
        compile(code, "<plain>", "exec")
    with trio.fail_after(30):
        result = await host.execute("s", code, interactive=False)
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.strip().splitlines()[-1] == f"RecursionError: {plain.value}"
    assert sys.getrecursionlimit() == 1000  # a raised limit was put back


# -- what a tracer sees -------------------------------------------------------------------

TRACED = """
import sys
def deco(f):
    return f
def target():
    @deco
    @deco
    def f():
        return 1
    for x in (
            [1, 2]):
        y = x
    ys = [x * 2
          for x in range(3)]
    g = list(x
             for x in range(2))
    d = {k: v
         for k, v in [(1, 2)]}
    z = (
        1 +
        f())
    return ys, g, d, z
events = []
def tracer(frame, event, arg):
    if frame.f_code.co_filename == target.__code__.co_filename:
        if event == "line":
            events.append((frame.f_code.co_name, frame.f_lineno - target.__code__.co_firstlineno))
        return tracer
    return None
try:  # one statement: plain Python traces no more of the module frame either
    sys.settrace(tracer)
    target()
finally:
    sys.settrace(None)
print(events)
"""

# A comprehension whose loop target is on a line of its own, and whose element is on
# yet another line.
TRACED_SPREAD_COMPREHENSION = TRACED.replace(
    """    ys = [x * 2
          for x in range(3)]""",
    """    ys = [
        x * 2
        for x in
            range(3)
    ]""",
)


@pytest.mark.parametrize(
    "code",
    [
        TRACED,
        pytest.param(
            TRACED_SPREAD_COMPREHENSION,
            marks=pytest.mark.xfail(
                sys.version_info < (3, 12),
                reason="3.11 gives a comprehension's filter jumps the comprehension's "
                "first line: one more line event per item (docs/conformance.md)",
                strict=True,
            ),
        ),
    ],
    ids=["statements and comprehensions", "comprehension spread over lines"],
)
async def test_a_tracer_sees_the_line_events_of_plain_python(
    host: spe_host.Host, code: str
) -> None:
    with trio.fail_after(10):
        await assert_runs_as_plain(host, code)


# -- __annotations__ at top level ---------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "print(__annotations__)\nx: int = 1\nprint(__annotations__)\n",
        '"""Doc."""\nprint(__annotations__)\nif True:\n    y: str\n',
        "from __future__ import annotations\nprint(__annotations__)\nz: Later = 1\n",
        "print(__annotations__)\ndef f():\n    x: int = 1\n",
        "print(__annotations__)\n",
    ],
    ids=["annotated later", "in an if", "future import", "only in a function", "none"],
)
async def test_annotations_before_the_first_annotated_assignment(
    host: spe_host.Host, code: str
) -> None:
    with trio.fail_after(10):
        # A fresh session each: plain exec runs in a fresh namespace too.
        await assert_runs_as_plain(host, code, session=f"s{abs(hash(code))}")


# -- the flags: written only when a group starts or ends stopping ------------------------


class RecordingNamespace(dict[str, Any]):
    """A namespace that counts the writes of the fast-path flag."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[object] = []

    def __setitem__(self, key: str, value: object) -> None:
        if key == FLAG_NAME:
            self.writes.append(value)
        super().__setitem__(key, value)


def test_the_flag_is_written_only_when_stopping_starts_or_ends() -> None:
    flags, namespace = StopFlags(), RecordingNamespace()
    flags.add(namespace)
    first, second, never_stopped = object(), object(), object()
    flags.lower_for(never_stopped)  # an execution that ends unstopped writes nothing
    assert namespace.writes == [False]
    flags.raise_for(first)
    flags.raise_for(second)
    flags.raise_for(first)  # asked twice (abandon stops again)
    flags.lower_for(first)
    assert namespace.writes == [False, True]
    assert getattr(builtins, FLAG_NAME) is True  # code with other globals stops too
    flags.lower_for(second)
    assert namespace.writes == [False, True, False]
    assert getattr(builtins, FLAG_NAME) is False


def test_the_builtins_flag_is_up_while_any_group_is_stopping() -> None:
    one, other = StopFlags(), StopFlags()
    a, b = object(), object()
    one.raise_for(a)
    other.raise_for(b)
    one.lower_for(a)
    assert getattr(builtins, FLAG_NAME) is True
    other.lower_for(b)
    assert getattr(builtins, FLAG_NAME) is False
    assert getattr(builtins, CHECK_NAME) is checkpoint
