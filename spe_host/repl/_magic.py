"""The code that IPython-style commands run in the session: ``%timeit``, ``%who``, ``obj?``.

These commands look at live objects, so they run on the host, as a statement of the
session. Each is a small program run by ``exec`` in a namespace of its own, which is
handed the session's globals: it prints its answer (the output streams back like any
other) and leaves nothing behind, not even ``_``. The user's text goes in as a string
literal (``repr``), never pasted into the program's source.
"""

from __future__ import annotations

__all__ = ["inspect_code", "timeit_code", "who_code"]

_TIMEIT = """
import math, timeit
timer = timeit.Timer(stmt, globals=ns)
if number == 0:
    number = timer.autorange()[0]
runs = [t / number for t in timer.repeat(repeat=repeat, number=number)]
mean = sum(runs) / len(runs)
std = math.sqrt(sum((t - mean) ** 2 for t in runs) / len(runs))
def fmt(t):
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("\\u00b5s", 1e6)):
        if t >= 1 / scale:
            return f"{t * scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"
loops = "loop" if number == 1 else "loops"
print(f"{fmt(mean)} \\u00b1 {fmt(std)} per loop (mean \\u00b1 std. dev. of {repeat} "
      f"run{'s' if repeat != 1 else ''}, {number} {loops} each)")
"""

_WHO = """
names = sorted(k for k in ns if not k.startswith("_") and k != "spe")
print("  ".join(names) if names else "no names are defined in this session")
"""

_INSPECT = """
import inspect
obj = eval(expr, ns)
lines = [f"Type:      {type(obj).__module__}.{type(obj).__qualname__}"]
if callable(obj):
    try:
        lines.append(f"Signature: {expr}{inspect.signature(obj)}")
    except (TypeError, ValueError):
        pass
try:
    lines.append(f"File:      {inspect.getfile(obj)}")
except TypeError:
    pass
if source:
    try:
        lines.append("Source:\\n" + inspect.getsource(obj).rstrip())
    except (OSError, TypeError):
        lines.append("Source:    not available (defined at the prompt, or built in)")
else:
    text = repr(obj)
    lines.append(f"Value:     {text if len(text) < 200 else text[:200] + '...'}")
    lines.append("Docstring:\\n" + (inspect.getdoc(obj) or "<no docstring>"))
print("\\n".join(lines))
"""


def _program(program: str, **names: object) -> str:
    # globals() is the session's namespace: the statement runs there.
    args = "".join(f", {name!r}: {value!r}" for name, value in names.items())
    return f"exec({program!r}, {{'ns': globals(){args}}})"


def timeit_code(stmt: str, *, number: int = 0, repeat: int = 7) -> str:
    """The statement that times ``stmt`` as IPython's ``%timeit`` (0 loops: automatic)."""
    return _program(_TIMEIT, stmt=stmt, number=number, repeat=repeat)


def who_code() -> str:
    """The statement that lists the session's names, as IPython's ``%who``."""
    return _program(_WHO)


def inspect_code(expr: str, *, source: bool) -> str:
    """The statement that describes ``expr`` (``obj?``), with its source (``obj??``)."""
    return _program(_INSPECT, expr=expr, source=source)
