"""The rewrite of a syntax tree: an abort check before every statement.

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

Nothing of this may show to the script (docs/conformance.md says what still does):

* Module level and class bodies declare both names ``global``, so the check never
  looks in a class namespace (a metaclass's ``__prepare__`` mapping) or in ``exec``'s
  locals; code run with globals of its own (``types.FunctionType(f.__code__, {})``)
  falls back to the harmless pair ``_checkpoint`` keeps in ``builtins``.
* A check carries the location of its statement's first instruction (a comprehension's,
  of the loop target), so tracers see plain Python's line events.
* When a script has a top-level annotation, its first statement carries one that never
  runs, so ``__annotations__`` exists from the start, as under ``exec``.
* The rewrite is iterative (``ast.walk``), so it takes any depth the parser took.

Library code is not rewritten, so a call into a library or a C function runs to
completion and the stop lands at the next check after it returns.

Two checks are left out, both where at most an *instant test* has run since the
previous check: a test of names, constants, comparisons and ``and``/``or``/``not``,
and a statement that only hands control on (``return`` of a name or constant, ``pass``,
``break``, ``continue``). Such a statement gets no check when it heads a branch of an
``if`` with an instant test; and the statement after an ``if`` with an instant test
whose branches are at most one such statement each gets none either. A stop
asked for during that test lands at the next check instead (after a ``return``, the
caller's; after a ``continue``, the loop body's once the loop's test has run), which a
script can only tell apart when the comparison itself runs slow library code. What it
buys: a recursive base case (``if n < 2: return n``) and the statement after it pay no
check of their own, so fib(25) meets 242,787 checks instead of 485,572, one per call
(bench overhead row: 1.19-1.20x plain exec before, 1.10-1.12x after). Every function
body and loop body still starts with a check, so recursion and loops stay stoppable.
"""

from __future__ import annotations

import ast
import sys
from typing import TypeVar

__all__ = [
    "CHECK_NAME",
    "FLAG_NAME",
    "RESERVED_NAMES",
    "instrument_statement",
    "instrument_tree",
    "sets_up_annotations",
]

FLAG_NAME = "__spe_abort__"
CHECK_NAME = "__spe_checkpoint__"
RESERVED_NAMES = frozenset({FLAG_NAME, CHECK_NAME})

_STATEMENT_LISTS = ("body", "orelse", "finalbody")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_KEEPS_DOCSTRING = (ast.Module, *_DEFINITIONS)
_POSITIONS = ("lineno", "col_offset", "end_lineno", "end_col_offset")
# From 3.12 (PEP 709) list, set and dict comprehensions run in the enclosing frame.
_INLINED_COMPREHENSIONS = (
    (ast.ListComp, ast.SetComp, ast.DictComp) if sys.version_info >= (3, 12) else ()
)

_Node = TypeVar("_Node", bound=ast.AST)


# -- the nodes the rewrite inserts -----------------------------------------------------


def _located(node: _Node, at: ast.AST) -> _Node:
    for part in ast.walk(node):
        for position in _POSITIONS:
            setattr(part, position, getattr(at, position, None))
    return node


def _first_evaluated(stmt: ast.stmt) -> ast.AST:
    """The node whose code a statement runs first, for its check's location."""
    first: ast.AST | None = None
    if isinstance(stmt, _DEFINITIONS) and stmt.decorator_list:
        first = stmt.decorator_list[0]
    elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        defaults = [*stmt.args.defaults, *stmt.args.kw_defaults]
        first = next((d for d in defaults if d is not None), None)
    elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.Expr | ast.Return):
        first = stmt.value
    elif isinstance(stmt, ast.For | ast.AsyncFor):
        first = stmt.iter
    elif isinstance(stmt, ast.If | ast.While | ast.Assert):
        first = stmt.test
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        first = stmt.items[0].context_expr
    elif isinstance(stmt, ast.Match):
        first = stmt.subject
    elif isinstance(stmt, ast.Raise):
        first = stmt.exc
    while True:
        if isinstance(first, ast.IfExp):
            first = first.test  # a conditional expression runs its condition first
        elif _INLINED_COMPREHENSIONS and isinstance(first, _INLINED_COMPREHENSIONS):
            first = first.generators[0].iter  # and an inlined one its outer iterable
        else:
            return stmt if first is None else first


def _check_statement(stmt: ast.stmt) -> ast.If:
    call = ast.Call(func=ast.Name(id=CHECK_NAME, ctx=ast.Load()), args=[], keywords=[])
    node = ast.If(
        test=ast.Name(id=FLAG_NAME, ctx=ast.Load()), body=[ast.Expr(value=call)], orelse=[]
    )
    return _located(node, _first_evaluated(stmt))


def _check_expression(generator: ast.comprehension) -> ast.expr:
    node = ast.BoolOp(
        op=ast.Or(),
        values=[
            ast.UnaryOp(op=ast.Not(), operand=ast.Name(id=FLAG_NAME, ctx=ast.Load())),
            ast.Call(func=ast.Name(id=CHECK_NAME, ctx=ast.Load()), args=[], keywords=[]),
        ],
    )
    # The loop has just stored its target: no line event of its own.
    return _located(node, generator.target)


def _declaration(at: ast.AST) -> ast.Global:
    return _located(ast.Global(names=[FLAG_NAME, CHECK_NAME]), at)


def _annotations_setup(at: ast.AST) -> ast.If:
    # Never runs; its annotation makes the compiler create __annotations__ up front.
    # (An attribute target: a global name may not be annotated.)
    target = ast.Attribute(value=ast.Name(id=FLAG_NAME, ctx=ast.Load()), attr="x", ctx=ast.Store())
    annotation = ast.AnnAssign(
        target=target, annotation=ast.Name(id="int", ctx=ast.Load()), simple=0
    )
    return _located(ast.If(test=ast.Constant(value=False), body=[annotation], orelse=[]), at)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


_INSTANT_NODES = (
    ast.Name,
    ast.Constant,
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.Load,
    ast.cmpop,
    ast.boolop,
    ast.unaryop,
)


def _is_instant_test(test: ast.expr) -> bool:
    """Whether a test is names, constants, comparisons and boolean operators only."""
    return all(isinstance(part, _INSTANT_NODES) for part in ast.walk(test))


def _hands_on(stmt: ast.stmt) -> bool:
    """Whether a statement only hands control on: a bare exit or return of a name or constant."""
    if isinstance(stmt, ast.Return):
        return stmt.value is None or isinstance(stmt.value, ast.Name | ast.Constant)
    return isinstance(stmt, ast.Pass | ast.Break | ast.Continue)


def _is_instant_exit(stmt: ast.stmt) -> bool:
    """Whether a statement is an ``if`` of an instant test whose branches only hand on."""
    return (
        isinstance(stmt, ast.If)
        and _is_instant_test(stmt.test)
        and all(
            len(branch) <= 1 and all(map(_hands_on, branch)) for branch in (stmt.body, stmt.orelse)
        )
    )


def _needs_check(node: ast.AST, field: str, body: list[ast.stmt], index: int) -> bool:
    # Since the previous check, at most an instant test has run: this check would add
    # nothing that one did not (module docstring).
    if index == 0:
        return not (
            isinstance(node, ast.If)
            and field in ("body", "orelse")
            and _hands_on(body[0])
            and _is_instant_test(node.test)
        )
    return not _is_instant_exit(body[index - 1])


def _is_future_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


# -- the rewrite -------------------------------------------------------------------------


def _checked_body(node: ast.AST, field: str, body: list[ast.stmt]) -> list[ast.stmt]:
    new_body: list[ast.stmt] = []
    declare = isinstance(node, ast.Module | ast.ClassDef) and field == "body"
    leading = True
    for index, stmt in enumerate(body):
        # Docstrings and __future__ imports must stay first to keep their meaning.
        if leading and (
            (isinstance(node, _KEEPS_DOCSTRING) and field == "body" and _is_docstring(stmt))
            or (isinstance(node, ast.Module) and _is_future_import(stmt))
        ):
            new_body.append(stmt)
            continue
        if leading and declare:
            new_body.append(_declaration(stmt))
        leading = False
        if _needs_check(node, field, body, index):
            new_body.append(_check_statement(stmt))
        new_body.append(stmt)
    return new_body


def _instrument_node(node: ast.AST) -> None:
    if isinstance(node, ast.comprehension):
        node.ifs.insert(0, _check_expression(node))
        return
    for field in _STATEMENT_LISTS:
        body = getattr(node, field, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            setattr(node, field, _checked_body(node, field, body))


def instrument_tree(tree: ast.AST) -> ast.AST:
    """Insert the abort checks into a parsed tree, in place, at every depth.

    Args:
        tree: A module parsed with :func:`ast.parse`, or any node of one.

    Returns:
        The same tree, rewritten.
    """
    # ast.walk is iterative, so any depth the parser accepted is fine; the nodes are
    # collected first, so the inserted checks are not themselves rewritten.
    for node in list(ast.walk(tree)):
        _instrument_node(node)
    return tree


def instrument_statement(stmt: ast.stmt, *, first: bool, annotations: bool) -> ast.Module:
    """A top-level statement, rewritten, as a module of its own to compile.

    Args:
        stmt: The statement, from the script's parsed module.
        first: True for the script's first statement.
        annotations: True when the script has a top-level annotation (see
            :func:`sets_up_annotations`).

    Returns:
        The module: the statement led by the check (and the names' declaration).
    """
    instrument_tree(stmt)
    setup = [_annotations_setup(_first_evaluated(stmt))] if first and annotations else []
    if _is_future_import(stmt) or (first and _is_docstring(stmt)):
        # These must come first to keep their meaning (plain exec() of a leading
        # docstring sets __doc__).
        return ast.Module(body=[stmt, *setup], type_ignores=[])
    body = [_declaration(stmt), *setup, _check_statement(stmt), stmt]
    return ast.Module(body=body, type_ignores=[])


def sets_up_annotations(body: list[ast.stmt]) -> bool:
    """Whether plain ``exec`` of a module with this body creates ``__annotations__``.

    The compiler looks for an annotated assignment in the module's statements and
    every compound statement's bodies, but not inside functions and classes.
    """
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.AnnAssign):
            return True
        if not isinstance(node, _DEFINITIONS):
            todo.extend(
                child
                for child in ast.iter_child_nodes(node)
                if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case)
            )
    return False
