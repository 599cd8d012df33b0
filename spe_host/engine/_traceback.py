"""The script's own frames: tracebacks without spe_host's, and the line running now.

Theory of operation
-------------------
An exception that ends an execution has travelled through the runner, trio's thread
plumbing and the abort check before and between the script's own frames. The
frames before the first script frame are cut; spe_host's frames are dropped
everywhere (also in the causes and contexts of chained exceptions). The script's
source lines come from ``linecache``, where ``_instrument`` registered them.

An abort is formatted by hand, one line per script frame: it is on the stop's
critical path, and the caret analysis of a full traceback is most of its cost.

Where a running script is comes from the same search, on a live stack: the worker
thread's frames (read with ``sys._current_frames()``, never by running code in that
thread), or the await chain of a statement that awaits in the trio thread.
"""

from __future__ import annotations

import functools
import linecache
import os
import sys
import traceback
from types import CoroutineType, FrameType, TracebackType
from typing import Any

from .._errors import ScriptAborted

__all__ = ["format_error", "is_internal", "script_location"]

# Frames of any spe_host module (the whole package, not just the engine) are internal.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=1024)
def is_internal(filename: str) -> bool:
    """True for a file of spe_host itself, in any of its packages."""
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def _trim(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [frame for frame in te.stack if not is_internal(frame.filename)]
    te.stack = traceback.StackSummary.from_list(kept)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _trim(linked, seen)


def format_error(exc: BaseException, script_files: set[str]) -> str:
    """Format ``exc`` with the script's frames and none of spe_host's.

    Frames before the first script frame are the runner's and trio's plumbing; they
    are cut, and spe_host's own frames (the abort check) are dropped everywhere.
    """
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in script_files:
        tb = tb.tb_next
    if isinstance(exc, ScriptAborted):
        return _format_abort(exc, tb, script_files)
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)
    _trim(te, set())
    return "".join(te.format())


def _format_abort(exc: ScriptAborted, tb: TracebackType | None, script_files: set[str]) -> str:
    # An abort is on the stop's critical path and says only where the script was:
    # one line per script frame, without the caret analysis that a full traceback
    # spends most of its time on (about a fifth of the stop latency).
    lines = ["Traceback (most recent call last):\n"]
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in script_files:
            lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
            source = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            if source:
                lines.append(f"    {source}\n")
        tb = tb.tb_next
    lines.append(f"spe_host.ScriptAborted: {exc}\n")
    return "".join(lines)


def script_location(
    coroutine: CoroutineType[Any, Any, Any] | None, thread: int | None, script_files: set[str]
) -> str | None:
    """``file:line`` of the innermost script frame running now, or None.

    Args:
        coroutine: The statement awaiting in the trio thread, if one is.
        thread: Otherwise, the worker thread running the script, if any.
        script_files: The filenames of script code.
    """
    frame: FrameType | None = None
    if coroutine is not None:
        # An awaiting statement: follow the await chain down to the innermost
        # script coroutine.
        awaited: Any = coroutine
        while isinstance(awaited, CoroutineType):
            inner = awaited.cr_frame
            if inner is not None and inner.f_code.co_filename in script_files:
                frame = inner
            awaited = awaited.cr_await
    elif thread is not None:
        current: FrameType | None = sys._current_frames().get(thread)
        while current is not None:
            if current.f_code.co_filename in script_files:
                frame = current
                break
            current = current.f_back
    if frame is None:
        return None
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
