"""What a pending stop waits for: the call the session's thread sits in, read from outside.

Theory of operation
-------------------
A stop lands at the script's next check. When it does not land at once, the
session's thread is in a call that carries no check: a native call (``time.sleep``,
``socket.recv``) or a library's own Python code. :class:`BlockedReader` says which,
without running anything in that thread: it reads the thread's frames with
``sys._current_frames()`` and finds the innermost *script* frame (the rewritten
code of a session). The callee is then

* the Python frame that script frame called (a library function), named by its
  module and qualified name (``spinlib.spin()``; private module parts such as
  ``trio._timeouts`` are left out: ``trio.sleep()``), or
* when the script frame is the innermost one and its current instruction
  (``f_lasti``) is a call, the callable that instruction calls: a native function
  has no frame, so its name is read from the bytecode that loaded it, by walking
  the statement's instructions with their stack effects (``time.sleep()``).

The time it has been blocked counts from the first sample that saw the same script
frame at the same instruction calling the same callee; samples are taken when the
stop is requested, on every ``info()``, and by ``watch``'s location sampler.
"""

from __future__ import annotations

import dis
import functools
import sys
import time
from types import CodeType, FrameType, TracebackType

from ._traceback import is_internal

__all__ = ["BlockedReader", "awaited_in", "callee_name"]

_NAME_LOADS = frozenset(
    {
        "LOAD_NAME",
        "LOAD_GLOBAL",
        "LOAD_FAST",
        "LOAD_FAST_CHECK",
        "LOAD_DEREF",
        "LOAD_CLASSDEREF",
        "LOAD_FROM_DICT_OR_GLOBALS",
    }
)
_ATTR_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_NO_EFFECT = frozenset({"PRECALL", "KW_NAMES", "CACHE", "EXTENDED_ARG", "NOP"})


def callee_name(frame: FrameType) -> str:
    """``module.qualname()`` of the function ``frame`` runs, private module parts left out."""
    module = str(frame.f_globals.get("__name__", "?"))
    public = [part for part in module.split(".") if not part.startswith("_")] or [module]
    return f"{'.'.join(public)}.{frame.f_code.co_qualname}()"


def awaited_in(tb: TracebackType | None, script_files: set[str]) -> str:
    """What the innermost script frame of ``tb`` was awaiting (``trio.sleep()``)."""
    callee = "an await"
    after_script = False
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename in script_files:
            after_script = True
        elif after_script:
            callee = callee_name(frame)
            after_script = False
        tb = tb.tb_next
    return callee


@functools.lru_cache(maxsize=256)
def _instructions(code: CodeType) -> tuple[dis.Instruction, ...]:
    return tuple(dis.get_instructions(code))


def _call_window(instruction: dis.Instruction) -> int | None:
    """How many stack entries a call instruction takes (the callable among them)."""
    name, arg = instruction.opname, instruction.arg or 0
    if name == "CALL_FUNCTION_EX":
        return 3 + (arg & 1)
    if name == "CALL_KW":
        return arg + 3
    if name.startswith("CALL"):
        return arg + 2
    return None


def called_at(code: CodeType, lasti: int) -> str | None:
    """The name of what the call instruction at ``lasti`` calls (``time.sleep()``), or None.

    None when the instruction there is not a call; ``a native call`` when the
    callable was not loaded by name.
    """
    instructions = _instructions(code)
    index = next((i for i, ins in enumerate(instructions) if ins.offset == lasti), None)
    if index is None:
        return None
    window = _call_window(instructions[index])
    if window is None:
        return None
    positions = instructions[index].positions
    line = None if positions is None else positions.lineno
    start = index
    while start > 0:
        previous = instructions[start - 1].positions
        if previous is None or previous.lineno != line:
            break
        start -= 1
    stack: list[str | None] = []
    for ins in instructions[start:index]:
        if ins.opname in _NO_EFFECT:
            continue
        taken = _call_window(ins)
        if taken is not None:
            del stack[max(0, len(stack) - taken) :]
            stack.append(None)
            continue
        try:
            effect = dis.stack_effect(
                ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None, jump=False
            )
        except ValueError:
            return "a native call"
        if ins.opname in _NAME_LOADS:
            stack.extend([str(ins.argval)] * effect)
        elif ins.opname == "LOAD_FAST_LOAD_FAST":
            stack.extend(str(name) for name in ins.argval)
        elif ins.opname in _ATTR_LOADS:
            base = stack.pop() if stack else None
            dotted = f"{base}.{ins.argval}" if base else str(ins.argval)
            stack.extend([dotted] * (effect + 1))
        elif effect > 0:
            stack.extend([None] * effect)
        elif effect < 0:
            del stack[max(0, len(stack) + effect) :]
    named = next((entry for entry in stack[-window:] if entry), None)
    return f"{named}()" if named else "a native call"


class BlockedReader:
    """Reads what one session thread is blocked in, and for how long (see the module)."""

    def __init__(self) -> None:
        self._key: tuple[int, int, str] | None = None
        self._since = 0.0

    def read(self, thread: int, script_files: set[str]) -> str | None:
        """``time.sleep() called at job.py:12 for 3.2 s``, or None if not blocked in a call."""
        frame = sys._current_frames().get(thread)
        callee: str | None = None
        inner: FrameType | None = None
        while frame is not None and frame.f_code.co_filename not in script_files:
            inner, frame = frame, frame.f_back
        if frame is not None:
            if inner is None:
                callee = called_at(frame.f_code, frame.f_lasti)
            elif not is_internal(inner.f_code.co_filename):
                callee = callee_name(inner)
        if frame is None or callee is None:
            self._key = None
            return None
        now = time.monotonic()
        key = (id(frame), frame.f_lasti, callee)
        if key != self._key:
            self._key, self._since = key, now
        where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        return f"{callee} called at {where} for {now - self._since:.1f} s"
