"""Completion of names in a session's live namespace, without running any of its code.

Theory of operation
-------------------
Completing looks at live objects, and looking can run the script's code: a
property's getter, ``__getattr__``, ``__dir__``, a descriptor's ``__get__``. That
code may block, take long or have effects, and the person pressing Tab asked for
none of it. So completion only *reads*:

* A dotted name (``app.config.ti``) - what people complete almost always - is
  resolved and listed statically: each step with :func:`inspect.getattr_static`,
  names from the ``__dict__`` of the object and of the classes of its MRO (read
  through ``type``'s own descriptors, so a metaclass cannot step in). A step that
  lands on a property or another descriptor stops there: its value is whatever its
  code returns, and that code is not run.
* Anything else (``"abc".up``, ``f().x``) goes to jedi, which infers from the source,
  with its unsafe executions off and with every value hidden whose class could run
  code when jedi lists or probes it (``__getattr__``, ``__getattribute__``,
  ``__dir__``; a module's ``__getattr__``). jedi is a dependency of spe_host.

Completion still runs off the trio thread (:class:`CompletionSlots`), because even
reading a large namespace takes time, and it is bounded so that nobody can use it up:
a session has at most one completion in flight - a new one waits for the last,
within its own timeout - and a completion that times out is abandoned, which frees
its place among the ``threads`` awaited at once; the abandoned thread is still the
session's one in flight until it returns, so one session holds at most one thread.

Names of spe_host's own (``__spe_*``) are never offered, the same candidate is
offered once, and at most 1000 are.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import keyword
import logging
import math
import re
import threading
import types
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

import trio

from .._model import Completion
from ._session import ScriptSession

__all__ = ["CompletionSlots", "complete", "interpreter", "read_namespace"]

logger = logging.getLogger("spe_host")
_T = TypeVar("_T")

_MAX_COMPLETIONS: Final = 1000
_RESERVED_PREFIX: Final = "__spe_"
_WORD: Final = re.compile(r"[\w.]*$")
# Hooks through which listing or probing an object runs its class's code.
_HOOKS: Final = ("__getattr__", "__getattribute__", "__dir__")
# Class attributes whose values are plain code or data, so reading them runs nothing.
_PLAIN: Final = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
    staticmethod,
    classmethod,
    type,
)
_CLASS_DICT: Final = type.__dict__["__dict__"]
_CLASS_MRO: Final = type.__dict__["__mro__"]
_CLASS_MODULE: Final = type.__dict__["__module__"]


def _is(value: object, kinds: type | tuple[type, ...]) -> bool:
    # Not isinstance(): for a value that is not of the kind it reads value.__class__,
    # which a class of the script's may compute (``__getattribute__``).
    return issubclass(type(value), kinds)


class CompletionSlots:
    """How many completions may run, per session and in all.

    Args:
        threads: The most completions awaited at once (abandoned ones not counted).
    """

    def __init__(self, threads: int) -> None:
        self._awaited = trio.CapacityLimiter(threads)
        # Abandoned threads are bounded by the one-per-session rule, not by this.
        self._threads = trio.CapacityLimiter(math.inf)
        self._in_flight: dict[str, trio.Event] = {}

    def busy(self, session: str) -> bool:
        """True while a completion of ``session`` runs (abandoned or not)."""
        return session in self._in_flight

    async def run(self, session: str, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` in a worker thread as ``session``'s one completion in flight."""
        while (previous := self._in_flight.get(session)) is not None:
            await previous.wait()
        done = trio.Event()
        self._in_flight[session] = done
        token = trio.lowlevel.current_trio_token()
        lock = threading.Lock()
        state = ["waiting"]

        def finish() -> None:
            done.set()
            if self._in_flight.get(session) is done:
                del self._in_flight[session]

        def work() -> tuple[_T, ...]:
            with lock:
                if state[0] == "given up":
                    return ()  # nobody waits for the answer any more
                state[0] = "running"
            try:
                return (fn(),)
            finally:
                # The run is over when the host closes: nobody is left to tell.
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(finish)

        try:
            async with self._awaited:
                found = await trio.to_thread.run_sync(
                    work, abandon_on_cancel=True, limiter=self._threads
                )
        except BaseException:
            with lock:
                never_ran = state[0] == "waiting"
                state[0] = "given up"
            if never_ran:
                finish()
            raise
        finish()
        return found[0]


async def complete(
    session: ScriptSession | tuple[str, dict[str, Any]],
    text: str,
    cursor: int,
    *,
    limiter: CompletionSlots,
    timeout: float = 5.0,
) -> list[Completion]:
    """Completion candidates for ``text`` at ``cursor`` in the session's namespace.

    Completing is using the session: its idle expiry slides.

    Args:
        session: The session whose namespace is completed in, or the id and the
            namespace of one that does not exist yet (what it would start with).
        text: The source being edited.
        cursor: Where the cursor is in ``text`` (code points).
        limiter: The slots completion runs in (one per session in flight).
        timeout: Seconds after which the answer is no candidates (and a warning is
            logged), waiting for the session's previous completion included.

    Returns:
        The candidates, each once, at most 1000.

    Raises:
        ValueError: ``cursor`` is outside ``text``.
    """
    return await read_namespace(
        session,
        lambda namespace: _completions(namespace, text, cursor),
        text,
        cursor,
        limiter=limiter,
        timeout=timeout,
        empty=[],
        what="completion",
        answered="no candidates",
    )


async def read_namespace(
    session: ScriptSession | tuple[str, dict[str, Any]],
    fn: Callable[[dict[str, Any]], _T],
    text: str,
    cursor: int,
    *,
    limiter: CompletionSlots,
    timeout: float,
    empty: _T,
    what: str,
    answered: str,
) -> _T:
    """Run ``fn`` on the session's namespace in ``limiter``, as :func:`complete` does.

    ``empty`` is the answer when it takes longer than ``timeout`` (a warning says
    that ``what`` took too long and was ``answered``); ``cursor`` is checked against
    ``text`` first.
    """
    if not 0 <= cursor <= len(text):
        raise ValueError(
            f"the cursor ({cursor}) is outside the text, which has {len(text)} characters"
        )
    if isinstance(session, ScriptSession):
        session.touch()
        session_id, namespace = session.id, session.namespace
    else:
        session_id, namespace = session
    found = empty
    with trio.move_on_after(timeout) as scope:
        found = await limiter.run(session_id, lambda: fn(namespace))
    if scope.cancelled_caught:
        logger.warning(
            "%s in session %r took longer than %g s; answered %s",
            what,
            session_id,
            timeout,
            answered,
        )
    return found


def _completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    # dict() copies in one C call, so a script mutating its namespace in another thread
    # cannot make the copy fail halfway; completion then reads the copy.
    snapshot = dict(namespace)
    match = _WORD.search(text[:cursor])
    word = match.group() if match else ""
    found: list[Completion] = []
    try:
        if _is_dotted_name(word):
            found = _static_completions(snapshot, word, cursor)
        else:
            found = _jedi_completions(snapshot, text, cursor)
    except Exception:
        logger.debug("completion failed; answered no candidates", exc_info=True)
        found = []
    seen: set[tuple[str, int]] = set()
    result: list[Completion] = []
    for completion in found:
        name = completion.text.rsplit(".", 1)[-1]
        key = (completion.text, completion.start)
        if name.startswith(_RESERVED_PREFIX) or key in seen:
            continue
        seen.add(key)
        result.append(completion)
        if len(result) >= _MAX_COMPLETIONS:
            break
    return result


def _is_dotted_name(word: str) -> bool:
    *parents, last = word.split(".")
    return all(p.isidentifier() for p in parents) and (not last or last.isidentifier())


def _jedi_completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    lines = text[:cursor].split("\n")
    script = interpreter(namespace, text)
    return [
        Completion(
            text=c.name,
            start=cursor - c.get_completion_prefix_length(),
            display=c.name,
            kind=c.type,
        )
        for c in script.complete(len(lines), len(lines[-1]))
    ]


def interpreter(namespace: dict[str, Any], text: str) -> Any:
    """A ``jedi.Interpreter`` on ``text`` that sees only the namespace's inert values
    and runs no code of the script's (no properties, no live ``__getitem__``)."""
    import jedi

    inert = {name: value for name, value in namespace.items() if not _runs_code(value)}
    script = jedi.Interpreter(text, [inert])
    # Per script, not jedi's global setting.
    script._inference_state.allow_unsafe_executions = False
    return script


def _static_completions(namespace: dict[str, Any], word: str, cursor: int) -> list[Completion]:
    *parents, prefix = word.split(".")
    start = cursor - len(prefix)
    if not parents:
        names = {**vars(builtins), **namespace}
        found = [
            Completion(text=kw, start=start, display=kw, kind="keyword")
            for kw in keyword.kwlist
            if kw.startswith(prefix)
        ]
        found += _candidates(names, prefix, start)
        return found
    obj = namespace.get(parents[0], vars(builtins).get(parents[0], _MISSING))
    for name in parents[1:]:
        if obj is _MISSING:
            break
        obj = _attribute(obj, name)
        # A descriptor found on a class is what its code returns, unknown here.
        if not _is_plain(obj):
            return []
    if obj is _MISSING:
        return []
    return _candidates(_attributes(obj), prefix, start)


_MISSING: Final = object()


def _candidates(names: dict[str, Any], prefix: str, start: int) -> list[Completion]:
    # Like rlcompleter: private names only when asked for with "_", dunders with "__".
    hidden = "" if prefix.startswith("__") else "__" if prefix.startswith("_") else "_"
    return [
        Completion(text=name, start=start, display=name, kind=_kind(value))
        for name, value in sorted(names.items())
        if name.startswith(prefix) and not (hidden and name.startswith(hidden))
    ]


def _kind(value: Any) -> str:
    if _is(value, types.ModuleType):
        return "module"
    if _is(value, type):
        return "class"
    if _is(value, _PLAIN) or callable(value):
        return "function"
    return "name"


def _attribute(obj: Any, name: str) -> Any:
    try:
        value = inspect.getattr_static(obj, name)
    except AttributeError:
        return _MISSING
    if _is(value, (staticmethod, classmethod)):
        return value.__func__
    return value


def _attributes(obj: Any) -> dict[str, Any]:
    """The attributes of ``obj`` by name, read from dicts only."""
    found: dict[str, Any] = {}
    classes = list(_mro(type(obj)))
    if _is(obj, type):
        classes = list(_mro(obj)) + classes
    for klass in reversed(classes):
        found.update(_CLASS_DICT.__get__(klass))
    own = _instance_dict(obj)
    if own is not None:
        found.update(own)
    return found


def _mro(klass: type) -> Iterable[type]:
    return tuple(_CLASS_MRO.__get__(klass))


def _instance_dict(obj: Any) -> dict[str, Any] | None:
    if _is(obj, type):
        return None
    for klass in _mro(type(obj)):
        slot = _CLASS_DICT.__get__(klass).get("__dict__")
        if slot is not None:
            # Only the C slots read the dict without running anything.
            if not _is(slot, (types.GetSetDescriptorType, types.MemberDescriptorType)):
                return None
            own = slot.__get__(obj)
            return own if _is(own, dict) else None
    return None


def _is_plain(value: Any) -> bool:
    """False for a descriptor whose value only its code knows (a property, say)."""
    if _is(value, (*_PLAIN, types.ModuleType)):
        return True
    return not any("__get__" in _CLASS_DICT.__get__(k) for k in _mro(type(value)))


def _runs_code(value: Any) -> bool:
    """True if listing or probing ``value`` could run code of the script's."""
    if _is(value, types.ModuleType):
        own = _instance_dict(value) or {}
        return "__getattr__" in own or "__dir__" in own
    classes = list(_mro(type(value)))
    if _is(value, type):
        classes += _mro(value)
    return any(
        hook in _CLASS_DICT.__get__(k) and _CLASS_MODULE.__get__(k) != "builtins"
        for k in classes
        for hook in _HOOKS
    )
