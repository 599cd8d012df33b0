"""Parse a script, check it, rewrite it and compile it, one top-level statement at a time.

Theory of operation
-------------------
``_rewrite`` puts an abort check before every statement; this module turns a script's
source into the list of compiled :class:`Statement` objects the runner runs in order.
Each top-level statement is compiled as a module of its own, because the runner runs
the statements that ``await`` in the trio thread and the others in a worker thread.
Before that it refuses a script that binds the names the checks use, and it registers
the source with :mod:`linecache` so tracebacks show the script's lines.

A script nested too deep to compile gets plain ``compile``'s own error. Between what
the parser takes and what compiling a *tree* takes there is a gap on 3.11 and 3.12
(see :func:`_compile` and docs/conformance.md).

Compiling is the largest part of running a short statement, and a REPL sends the
same few statements again and again, so the statements of recent sources are kept
(:data:`CACHE_ENTRIES` of them, least recently used first out, keyed by source and
mode). Code objects carry their file name, which differs per run (``<session 'etl'
#3>``); a hit is renamed with ``code.replace`` (nested functions and classes too),
which costs a few percent of compiling, so every traceback names its own run.

The module knows nothing of trio or sessions.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import linecache
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import CodeType

from ._rewrite import (
    CHECK_NAME,
    FLAG_NAME,
    RESERVED_NAMES,
    instrument_statement,
    instrument_tree,
    sets_up_annotations,
)

__all__ = [
    "CHECK_NAME",
    "FLAG_NAME",
    "RESERVED_NAMES",
    "Statement",
    "compile_script",
    "forget_source",
    "instrument_tree",
    "register_source",
]

_TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
# Python 3.11 converts a tree handed to compile() back with a recursion counted
# against sys.getrecursionlimit(), while its compiler allows three times that depth.
_SCALED_RECURSION = sys.version_info < (3, 12)
_recursion_limit_lock = threading.Lock()

#: How many compiled sources are kept for reuse.
CACHE_ENTRIES = 256
# Longer sources are compiled every time: they are rarely sent twice, and keeping
# them would hold up to CACHE_ENTRIES script files in memory.
_CACHE_MAX_SOURCE = 16 * 1024


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled top-level statement of a script.

    Attributes:
        code: The compiled code object (an ``eval`` expression when ``display``).
        is_async: True when running it yields a coroutine (it awaits at top level).
        display: True for the last expression of an interactive execution, whose
            value is shown and bound to ``_``.
        lineno: The first line of the statement in the script.
    """

    code: CodeType
    is_async: bool
    display: bool
    lineno: int


# -- checking and compiling a script -------------------------------------------------


def _reserved_use(tree: ast.AST) -> tuple[str, ast.AST] | None:
    for node in ast.walk(tree):
        names: list[str | None] = []
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.alias):
            names.extend([node.asname, node.name])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.extend(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar):
            names.append(node.name)
        elif isinstance(node, ast.MatchMapping):
            names.append(node.rest)
        for name in names:
            if name in RESERVED_NAMES:
                return name, node
    return None


def _future_flags(body: list[ast.stmt]) -> int:
    flags = 0
    for stmt in body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            for alias in stmt.names:
                feature = getattr(__future__, alias.name, None)
                if feature is not None:
                    flags |= feature.compiler_flag
    return flags


def register_source(filename: str, source: str) -> None:
    """Make ``source`` available to :mod:`linecache` (and so to tracebacks) as ``filename``."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    # mtime None marks an entry that linecache.checkcache() must not throw away.
    linecache.cache[filename] = (len(source), None, lines, filename)


def forget_source(filename: str) -> None:
    """Drop a source registered with :func:`register_source`."""
    linecache.cache.pop(filename, None)


def _compile(tree: ast.Module | ast.Expression, filename: str, mode: str, flags: int) -> CodeType:
    code: CodeType
    try:
        code = compile(tree, filename, mode, flags, True)
        return code
    except RecursionError:
        if not _SCALED_RECURSION:
            raise
    # Python 3.11 only, for a tree the parser built at the normal limit (so no deeper
    # than plain compile takes): allow the conversion the depth the compiler allows.
    # The lock keeps two deep compiles from restoring each other's limits.
    with _recursion_limit_lock:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit * 4)
        try:
            code = compile(tree, filename, mode, flags, True)
            return code
        finally:
            sys.setrecursionlimit(limit)


def _too_deep(source: str, filename: str, error: RecursionError) -> RecursionError:
    """The error for a script too deep to rewrite: plain compile's own if it has one."""
    try:
        compile(source, filename, "exec", _TOP_LEVEL_AWAIT, True)
    except RecursionError as plain:
        return plain
    return RecursionError(
        f"{filename} nests deeper than spe_host can rewrite on this Python "
        f"({error}); split the deepest expression or statement into smaller ones"
    )


def compile_script(source: str, filename: str, *, interactive: bool) -> list[Statement]:
    """Parse, check, instrument and compile a script, one top-level statement at a time.

    The source is registered with :mod:`linecache` under ``filename`` so that
    tracebacks show the script's own lines; the caller forgets it when it is done.

    Args:
        source: The script's text.
        filename: The name tracebacks show, such as ``<session 'etl' #3>``.
        interactive: When True the last statement, if it is an expression, is
            compiled for display (its value is shown and bound to ``_``).

    Returns:
        The compiled statements, in order.

    Raises:
        SyntaxError: The script does not parse, or it uses a name reserved for the
            abort checks.
        RecursionError: The script nests too deep: the same error plain ``compile``
            raises for it.
    """
    register_source(filename, source)
    cacheable = len(source) <= _CACHE_MAX_SOURCE
    if cacheable:
        cached = _cache.get((source, interactive))
        if cached is not None:
            # Built directly: dataclasses.replace looks the fields up at every call.
            return [
                Statement(_renamed(s.code, filename), s.is_async, s.display, s.lineno)
                for s in cached
            ]
    try:
        statements = _compile_script(source, filename, interactive=interactive)
    except RecursionError as error:
        raise _too_deep(source, filename, error) from None
    if cacheable:
        _cache.put((source, interactive), statements)
    return statements


def _renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` with ``filename`` as its file name, and that of every code object in it."""
    if code.co_filename == filename:
        return code
    consts = code.co_consts
    if any(isinstance(const, CodeType) for const in consts):
        consts = tuple(
            _renamed(const, filename) if isinstance(const, CodeType) else const for const in consts
        )
    return code.replace(co_filename=filename, co_consts=consts)


class _StatementCache:
    """Compiled statements of recent sources, least recently used out first.

    Used from the trio thread and from session threads, hence the lock.
    """

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._kept: OrderedDict[tuple[str, bool], list[Statement]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, bool]) -> list[Statement] | None:
        with self._lock:
            statements = self._kept.get(key)
            if statements is not None:
                self._kept.move_to_end(key)
            return statements

    def put(self, key: tuple[str, bool], statements: list[Statement]) -> None:
        with self._lock:
            self._kept[key] = statements
            self._kept.move_to_end(key)
            while len(self._kept) > self._entries:
                self._kept.popitem(last=False)


_cache = _StatementCache(CACHE_ENTRIES)


def _compile_script(source: str, filename: str, *, interactive: bool) -> list[Statement]:
    tree = compile(source, filename, "exec", ast.PyCF_ONLY_AST | _TOP_LEVEL_AWAIT, True)
    assert isinstance(tree, ast.Module)
    reserved = _reserved_use(tree)
    if reserved is not None:
        name, node = reserved
        lineno = getattr(node, "lineno", 1)
        line = linecache.getline(filename, lineno)
        raise SyntaxError(
            f"the name {name!r} is reserved by spe_host for its abort checks; "
            "rename it in your script",
            (filename, lineno, getattr(node, "col_offset", 0) + 1, line),
        )
    flags = _future_flags(tree.body) | _TOP_LEVEL_AWAIT
    annotations = sets_up_annotations(tree.body)
    statements: list[Statement] = []
    last = len(tree.body) - 1
    for index, stmt in enumerate(tree.body):
        if interactive and index == last and isinstance(stmt, ast.Expr):
            # The runner runs the check itself before evaluating a displayed expression.
            expression = ast.Expression(body=stmt.value)
            instrument_tree(expression)
            code = _compile(expression, filename, "eval", flags)
            display = True
        else:
            module = instrument_statement(stmt, first=index == 0, annotations=annotations)
            code = _compile(module, filename, "exec", flags)
            display = False
        statements.append(
            Statement(
                code=code,
                is_async=bool(code.co_flags & inspect.CO_COROUTINE),
                display=display,
                lineno=stmt.lineno,
            )
        )
    return statements
