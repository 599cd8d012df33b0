"""Exception-group flattening: raise the one error a nursery wrapped, as itself.

trio's nurseries wrap whatever their tasks raise in an :class:`ExceptionGroup`, even a
single exception. Where the other tasks of a nursery are plumbing that never raises
(a reader, a writer, a prompt answered in the background), a group out of that
nursery holds what the caller's own code raised, and callers should be able to write
``except SessionBusy:`` rather than ``except* SessionBusy:``. :func:`sole_exception`
unwraps such a group when it holds exactly one leaf, and leaves any other group alone,
so two real failures are never reduced to one.

It is pure Python (no trio), so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["leaves", "sole_exception"]


def leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    """The exceptions in ``group`` and its nested groups, depth first, groups left out."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaves(exc)
        else:
            yield exc


@contextmanager
def sole_exception() -> Iterator[None]:
    """Raise the one exception an exception group from the block holds, as itself.

    A group with several leaves propagates unchanged.
    """
    sole: BaseException | None = None
    try:
        yield
    except BaseExceptionGroup as group:
        found = list(leaves(group))
        if len(found) != 1:
            raise
        sole = found[0]
    if sole is not None:
        # Raised outside the handler, so the group does not become its __context__.
        raise sole
