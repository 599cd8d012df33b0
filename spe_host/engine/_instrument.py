"""Parse a script, put an abort check before every statement, and compile it.

Theory of operation
-------------------
A stop must land at the script's *next statement*, however deep it is nested, so the
rewrite inserts a check before every statement of every body: module level, loop bodies
and their ``else``, ``if``/``elif``/``else``, ``with``, ``try``/``except``/``else``/
``finally``, ``match`` cases, and the bodies of functions and classes the script
defines. Comprehensions and generator expressions get one more check as their first
filter, ahead of the script's own filters, so that a filter that never passes still
meets it.

The check has a fast path and a slow path::

    if __spe_abort__:           # one global-name load and a truth test
        __spe_checkpoint__()    # decides whose stop it is, and raises

``__spe_abort__`` is a plain bool in the session's namespace that the host sets when
a stop is requested; the slow path (supplied by the runner) looks at the execution
running in the *current context* and raises :class:`~spe_host.ScriptAborted` only if
that execution is the one being stopped. In an expression the same check reads
``not __spe_abort__ or __spe_checkpoint__()`` (the slow path returns True).

Library code is not rewritten, so a call into a library or a C function runs to
completion and the stop lands at the next check after it returns.

The module is pure: it knows nothing of trio, sessions or threads. It splits a script
into its top-level statements, compiled one by one, because the runner runs statements
that ``await`` in the trio thread and all the others in a worker thread.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import linecache
from dataclasses import dataclass
from types import CodeType

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

FLAG_NAME = "__spe_abort__"
CHECK_NAME = "__spe_checkpoint__"
RESERVED_NAMES = frozenset({FLAG_NAME, CHECK_NAME})

_TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_STATEMENT_LISTS = ("body", "orelse", "finalbody")


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


def _check_statement(at: ast.AST) -> ast.If:
    node = ast.If(
        test=ast.Name(id=FLAG_NAME, ctx=ast.Load()),
        body=[
            ast.Expr(
                value=ast.Call(func=ast.Name(id=CHECK_NAME, ctx=ast.Load()), args=[], keywords=[])
            )
        ],
        orelse=[],
    )
    return ast.fix_missing_locations(ast.copy_location(node, at))


def _check_expression(at: ast.AST) -> ast.expr:
    node = ast.BoolOp(
        op=ast.Or(),
        values=[
            ast.UnaryOp(op=ast.Not(), operand=ast.Name(id=FLAG_NAME, ctx=ast.Load())),
            ast.Call(func=ast.Name(id=CHECK_NAME, ctx=ast.Load()), args=[], keywords=[]),
        ],
    )
    return ast.fix_missing_locations(ast.copy_location(node, at))


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_future_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


class _Instrumenter(ast.NodeTransformer):
    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        keeps_docstring = isinstance(
            node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        )
        for field in _STATEMENT_LISTS:
            body = getattr(node, field, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            new_body: list[ast.stmt] = []
            for index, stmt in enumerate(body):
                # Docstrings and __future__ imports must stay first to keep their meaning.
                leading = index == len(new_body)
                if leading and (
                    (keeps_docstring and field == "body" and _is_docstring(stmt))
                    or (isinstance(node, ast.Module) and _is_future_import(stmt))
                ):
                    new_body.append(stmt)
                    continue
                new_body.append(_check_statement(stmt))
                new_body.append(stmt)
            setattr(node, field, new_body)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, _check_expression(node.iter))
        return node


def instrument_tree(tree: ast.Module) -> ast.Module:
    """Insert the abort checks into a parsed module, in place.

    Args:
        tree: A module parsed with :func:`ast.parse`.

    Returns:
        The same tree, rewritten.
    """
    result = _Instrumenter().visit(tree)
    assert isinstance(result, ast.Module)
    return result


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
    """
    register_source(filename, source)
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
    statements: list[Statement] = []
    last = len(tree.body) - 1
    for index, stmt in enumerate(tree.body):
        if interactive and index == last and isinstance(stmt, ast.Expr):
            # The runner runs the check itself before evaluating a displayed expression.
            expression = ast.Expression(body=stmt.value)
            _Instrumenter().visit(expression)
            code = compile(expression, filename, "eval", flags, True)
            display = True
        else:
            _Instrumenter().visit(stmt)
            body: list[ast.stmt] = [_check_statement(stmt), stmt]
            if _is_future_import(stmt) or (index == 0 and _is_docstring(stmt)):
                # These must come first to keep their meaning (plain exec() of a leading
                # docstring sets __doc__); any other statement starts with the check.
                body = [stmt]
            module = ast.Module(body=body, type_ignores=[])
            code = compile(module, filename, "exec", flags, True)
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
