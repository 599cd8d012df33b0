"""The abort check: whose stop it is, and the flag that makes the check cheap.

Theory of operation
-------------------
Every statement of a script is led by ``if __spe_abort__: __spe_checkpoint__()``
(see ``_instrument``). The flag is a plain bool in the namespace, up only while some
execution is stopping, so a script that is not being stopped pays one name load per
statement. :func:`checkpoint`, the slow path, then decides: it raises
:class:`ScriptAborted` only if the execution running in *this context* (a context
variable that :func:`running_as` sets for the duration of a run) is the stopped one,
and not while a ``ScriptAborted`` (or, in a statement that awaits, the
``trio.Cancelled`` the stop caused) is being handled, so ``finally:`` blocks and
``with`` exits run to completion. Inside a stop-deferral zone (:func:`critical`,
``spe.critical``) it stays quiet too: the stop lands at the first check after the zone.
The fast path knows nothing of zones; they cost only a stopped script anything.

The same flag serves the host's interpreter share (``_share``): to make a worker-mode
run give the interpreter its turn, the share raises the flag in that run's namespace
only (:meth:`StopFlags.summon`), and the slow path hands the run to the share's
check-in before it looks at stops. :func:`running_as` seats a run in the share while
its statements run on its session's thread.

:class:`StopFlags` keeps the flags of a host's namespaces together, because a
function one session defined runs with that session's namespace as its globals
while another session calls it. It writes them only when the group starts or ends
stopping, not at every execution's end.

Script code can also run with globals that are no session's (a function rebuilt with
``types.FunctionType(f.__code__, {})``, ``exec(f.__code__, {})``); its checks find
neither name there and fall back to the ``builtins`` module, which holds
``__spe_abort__ = False`` and ``__spe_checkpoint__`` from the first ``StopFlags`` on.
That fallback flag is up while any group of the process is stopping (a count under a
lock: each host runs its own trio thread), so such code still meets its stop, and is a
plain False otherwise, so it costs nothing.
"""

from __future__ import annotations

import builtins
import contextvars
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import trio

from .._errors import ScriptAborted
from . import _instrument
from ._loopfirst import let_off
from ._redirect import use_sink

if TYPE_CHECKING:
    from ._execution import Execution
    from ._share import InterpreterShare, Seat

__all__ = ["StopFlags", "checkpoint", "critical", "running_as"]

_running: contextvars.ContextVar[Execution | None] = contextvars.ContextVar(
    "spe_host_execution", default=None
)
# The run's seat in its host's interpreter share, while it runs on its session thread.
_seat: contextvars.ContextVar[Seat | None] = contextvars.ContextVar("spe_host_seat", default=None)


def _aborted_is_being_handled() -> bool:
    # In a statement that awaits, a stop cancels the statement's cancel scope, so
    # the abort propagates through the script's finally blocks as trio.Cancelled.
    # Cleanup code may handle exceptions of its own while the abort propagates
    # (``finally: try: ... except KeyError: ...``): the abort is then the handled
    # exception's context, so the whole chain is searched.
    exc = sys.exc_info()[1]
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ScriptAborted | trio.Cancelled):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False


def checkpoint() -> bool:
    """The slow path of the abort check (bound as ``__spe_checkpoint__`` in sessions).

    Returns:
        True, so that it can stand in a comprehension's filter.

    Raises:
        ScriptAborted: The execution running in this context has been asked to stop
            and is not already handling the abort.
    """
    execution = _running.get()
    if execution is None:
        # A thread the script started, or code run outside any run: a flag the
        # loop raised for the run it belongs to should not keep it on this path.
        let_off(sys._getframe(1).f_globals)
        return True
    seat = _seat.get()
    if seat is not None and seat.summoned:
        seat.share.check_in(seat)  # may wait for the run's turn
    if not execution.stop_requested:
        return True
    if execution.stop.zones:
        return True  # a deferral zone: the stop lands after it
    if _aborted_is_being_handled():
        return True  # let finally blocks, except handlers and __exit__ finish
    raise execution.stop.abort(_caller_location(sys._getframe(1), execution.script_files))


def _caller_location(frame: FrameType | None, script_files: set[str]) -> str:
    while frame is not None:
        if frame.f_code.co_filename in script_files:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "before its first statement"


@contextmanager
def critical(reason: str) -> Iterator[None]:
    """A stop-deferral zone for the execution running in this context (``spe.critical``).

    Outside any execution (a function the embedding program calls itself) it does
    nothing.
    """
    execution = _running.get()
    if execution is None:
        yield
        return
    try:
        with execution.stop.zone(reason):
            yield
    finally:
        execution.zone_ended()


@contextmanager
def running_as(execution: Execution) -> Iterator[None]:
    """Make ``execution`` this context's: its checks and its standard streams.

    On the execution's session thread it also takes a seat in the host's interpreter
    share, if the host has one.
    """
    token = _running.set(execution)
    share = execution.flags.share
    here = threading.get_ident()
    seat = None
    if share is not None and here == execution.thread.ident:
        seat = share.take_seat(execution, here)
    seat_token = _seat.set(seat)
    try:
        with use_sink(execution):
            yield
    finally:
        _seat.reset(seat_token)
        if seat is not None:
            seat.share.leave(seat)
        _running.reset(token)


class _ProcessFlag:
    """The fallback pair in ``builtins``: up while any group of the process is stopping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = 0

    def install(self) -> None:
        with self._lock:
            setattr(builtins, _instrument.FLAG_NAME, self._stopping > 0)
            setattr(builtins, _instrument.CHECK_NAME, checkpoint)

    def change(self, delta: int) -> None:
        with self._lock:
            self._stopping += delta
            setattr(builtins, _instrument.FLAG_NAME, self._stopping > 0)


_process_flag = _ProcessFlag()


class StopFlags:
    """The fast-path abort flag of a group of namespaces: a host's sessions.

    A function defined in session A and called by session B runs with A's
    namespace as its globals, so a stop of B must raise the flag in A's namespace
    too, or B would never meet its abort inside A's function. The flag is therefore
    up in *every* namespace of the group while *any* execution of the group is
    stopping; the slow path then checks the execution of the current context, so
    the others just pass.

    Used from the trio thread, and from the loop-timeout watchdog's thread while a
    loop-mode statement holds the trio thread; a lock keeps a raise from one and a
    lower from the other from leaving the flag down while a stop is pending. It is
    taken only when a stop starts or ends, never by the check itself.

    The host's interpreter share (:attr:`share`, None: no share) summons one run by
    raising the flag in that run's namespace alone; the flag then stays up there,
    whatever the stops do, until the run has checked in (:meth:`settle`).
    """

    def __init__(self) -> None:
        self._namespaces: dict[int, dict[str, Any]] = {}
        self._stopping: set[int] = set()
        self._summoned: set[int] = set()  # ids of the namespaces summoned by the share
        self._lock = threading.Lock()
        self.share: InterpreterShare | None = None
        _process_flag.install()

    def add(self, namespace: dict[str, Any]) -> None:
        """Put a namespace under this flag."""
        with self._lock:
            self._namespaces[id(namespace)] = namespace
            namespace[_instrument.FLAG_NAME] = bool(self._stopping)

    def discard(self, namespace: dict[str, Any]) -> None:
        """Take a namespace out (its session is gone)."""
        with self._lock:
            self._namespaces.pop(id(namespace), None)

    def raise_for(self, execution: Execution) -> None:
        """An execution is stopping: raise the flag everywhere."""
        with self._lock:
            if id(execution) in self._stopping:
                return
            if not self._stopping:
                _process_flag.change(+1)
                self._write(True)
            self._stopping.add(id(execution))
        if self.share is not None:
            self.share.release(execution)  # a run waiting for its turn wakes to stop

    def lower_for(self, execution: Execution) -> None:
        """An execution is over; the flag falls when no other is stopping.

        Writes nothing unless this ends the group's stopping: most executions end
        without ever being stopped.
        """
        with self._lock:
            if id(execution) not in self._stopping:
                return
            self._stopping.discard(id(execution))
            if not self._stopping:
                _process_flag.change(-1)
                self._write(False)

    def summon(self, namespace: dict[str, Any]) -> None:
        """Raise the flag in one run's namespace: its next check checks in (the share)."""
        with self._lock:
            self._summoned.add(id(namespace))
            namespace[_instrument.FLAG_NAME] = True

    def settle(self, namespace: dict[str, Any]) -> None:
        """The summoned run has checked in: its flag is the group's again."""
        with self._lock:
            self._summoned.discard(id(namespace))
            namespace[_instrument.FLAG_NAME] = bool(self._stopping)

    def _write(self, value: bool) -> None:
        summoned = self._summoned
        for key, namespace in self._namespaces.items():
            namespace[_instrument.FLAG_NAME] = value or key in summoned
