"""``@record``: a frozen, slotted dataclass that costs next to nothing to define.

Theory of operation
-------------------
Every value type of :mod:`spe_host._model` and every message of :mod:`spe_host.wire`
is a frozen dataclass with slots, and every process that imports spe_host defines
all of them. :func:`dataclasses.dataclass` writes the source of six methods per
frozen class (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``,
``__delattr__``) and compiles each one: about a millisecond a class, which for the
~40 classes was a fifth of ``spe-host serve``'s start-up.

:func:`record` gets the same classes for less. It lets :func:`dataclasses.dataclass`
do the bookkeeping it does cheaply (the fields, the slots, ``__match_args__``), asking
it for no methods, and then gives the class:

* the methods that are the same for every class (``__repr__``, ``__eq__``,
  ``__hash__``, the frozen ``__setattr__`` and ``__delattr__``, the pickling pair),
  written once here and reading the class's field names from class attributes;
* an ``__init__`` that writes the class's real ``__init__`` (the one dataclasses
  would write: same parameters, defaults, factories and ``__post_init__`` call) the
  first time the class is built, puts it on the class, and hands over to it. A class
  never built costs no compiling at all.

So a record is a dataclass for every caller: :func:`dataclasses.fields`,
:func:`~dataclasses.replace`, :func:`~dataclasses.asdict` and
:func:`~dataclasses.is_dataclass` work, instances compare and hash by their fields,
repr as a dataclass does (fields declared ``repr=False`` left out), and assigning to
one raises :class:`dataclasses.FrozenInstanceError`. For type checkers it is a
frozen dataclass (:func:`typing.dataclass_transform`).
"""

from __future__ import annotations

import dataclasses
import inspect
import reprlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

_C = TypeVar("_C", bound=type)


@overload
@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: _C, /) -> _C: ...


@overload
def record(*, kw_only: bool = False, weakref_slot: bool = False) -> Callable[[_C], _C]: ...


def record(
    cls: _C | None = None, /, *, kw_only: bool = False, weakref_slot: bool = False
) -> _C | Callable[[_C], _C]:
    """Make ``cls`` a frozen dataclass with slots, as ``@dataclass(frozen=True, slots=True)``.

    Args:
        cls: The class (when used as ``@record`` without arguments).
        kw_only: Every field is keyword-only, as with ``dataclass(kw_only=True)``.
        weakref_slot: Add a ``__weakref__`` slot, as with ``dataclass(weakref_slot=True)``.

    Raises:
        TypeError: A field without a default follows one with a default among the
            positional fields, as :func:`dataclasses.dataclass` says.
    """

    def wrap(cls: _C) -> _C:
        return _record(cls, kw_only=kw_only, weakref_slot=weakref_slot)

    return wrap if cls is None else wrap(cls)


def _record(cls: _C, *, kw_only: bool, weakref_slot: bool) -> _C:
    if not cls.__doc__:
        # dataclasses would name an undocumented class by inspect.signature(), which
        # costs more than the rest of the class on its first call.
        cls.__doc__ = f"{cls.__name__}({', '.join(inspect.get_annotations(cls))})"
    own_eq = "__eq__" in cls.__dict__
    with _defining, _thawed_bases(cls):
        made: Any = dataclasses.dataclass(
            init=False,
            repr=False,
            eq=False,
            slots=True,
            kw_only=kw_only,
            weakref_slot=weakref_slot,
        )(cls)
    # What it is, for dataclasses and for whoever reads the flags: a subclass made
    # with @dataclass(frozen=True) checks its bases' frozen flag.
    made.__dataclass_params__.frozen = True
    made.__dataclass_params__.eq = True
    fields = dataclasses.fields(made)
    _check_supported(made, fields)
    _check_order(fields)
    names = tuple(f.name for f in fields)
    made._record_shown = tuple(f.name for f in fields if f.repr)
    # staticmethod: a lambda on the class would become a method of it.
    made._record_key = staticmethod(_key([f.name for f in fields if f.compare]))
    hashed = [f.name for f in fields if (f.compare if f.hash is None else f.hash)]
    made._record_hash_key = staticmethod(_key(hashed))
    made._record_names = names
    shared = {**_SHARED, "__init__": _first_init(made)}
    if own_eq and made.__dict__.get("__hash__", dataclasses.MISSING) is None:
        del made.__hash__  # Python's None for a class with its own __eq__, not the body's
    for name, method in shared.items():
        # As dataclasses does: a method the class body defines stays.
        if name not in made.__dict__:
            setattr(made, name, method)
    result: _C = made
    return result


# One record made at a time: _thawed_bases changes its bases' flags meanwhile.
_defining = threading.Lock()


@contextmanager
def _thawed_bases(cls: type) -> Iterator[None]:
    # dataclasses refuses a non-frozen class over a frozen one, and a record is made
    # as a non-frozen dataclass (no generated __setattr__): its frozen bases read as
    # not frozen while it is made.
    frozen = [
        params
        for base in cls.__mro__[1:]
        if (params := base.__dict__.get("__dataclass_params__")) is not None and params.frozen
    ]
    for params in frozen:
        params.frozen = False
    try:
        yield
    finally:
        for params in frozen:
            params.frozen = True


def _check_supported(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> None:
    # What the __init__ below does not write: refuse it at the definition rather
    # than make instances that lack a field.
    for f in fields:
        if not f.init:
            raise TypeError(
                f"{cls.__qualname__}.{f.name}: a record has no field(init=False); "
                f"use @dataclasses.dataclass(frozen=True) for this class"
            )
    annotations = inspect.get_annotations(cls)
    for name in cls.__dataclass_fields__:  # type: ignore[attr-defined]
        if "InitVar" in str(annotations.get(name, "")):
            raise TypeError(
                f"{cls.__qualname__}.{name}: a record has no InitVar; "
                f"use @dataclasses.dataclass(frozen=True) for this class"
            )


def _check_order(fields: tuple[dataclasses.Field[Any], ...]) -> None:
    seen_default = False
    for f in fields:
        if not f.init or f.kw_only:
            continue
        if _has_default(f):
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _key(names: list[str]) -> Callable[[object], tuple[object, ...]]:
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda r: (one(r),)
    return lambda r: ()


def _first_init(cls: type) -> Callable[..., None]:
    # No named self: a field may be called that.
    def __init__(*args: object, **kwargs: object) -> None:
        init = _init_for(cls)
        type.__setattr__(cls, "__init__", init)
        init(*args, **kwargs)

    return __init__


_FACTORY = object()  # the default of a field that has a default_factory


def _init_for(cls: type) -> Callable[..., None]:
    # The __init__ dataclasses writes for a frozen class, minus what records never use.
    fields = [f for f in dataclasses.fields(cls) if f.init]
    me = "__record_self__" if any(f.name == "self" for f in fields) else "self"
    values: dict[str, object] = {
        "__name__": cls.__module__,
        "__record_set__": object.__setattr__,
        "_FACTORY": _FACTORY,
    }
    params: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        text = f.name
        if f.default is not dataclasses.MISSING:
            values[f"_dflt_{f.name}"] = f.default
            text += f"=_dflt_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            values[f"_fact_{f.name}"] = f.default_factory
            text += "=_FACTORY"
            body.append(f"if {f.name} is _FACTORY: {f.name} = _fact_{f.name}()")
        (keyword if f.kw_only else params).append(text)
        body.append(f"__record_set__({me}, {f.name!r}, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append(f"{me}.__post_init__()")
    signature = ", ".join([me, *params, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n" + "".join(f"    {line}\n" for line in body or ["pass"])
    exec(compile(source, f"<record {cls.__qualname__}.__init__>", "exec"), values)
    init: Callable[..., None] = values["__init__"]  # type: ignore[assignment]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
    return f"{self.__class__.__qualname__}({shown})"


def _eq(self: Any, other: Any) -> object:
    if other.__class__ is self.__class__:
        return self._record_key(self) == self._record_key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self._record_hash_key(self))


def _setattr(self: object, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[object]:
    return [getattr(self, name) for name in self._record_names]


def _setstate(self: Any, state: list[object]) -> None:
    for name, value in zip(self._record_names, state, strict=True):
        object.__setattr__(self, name, value)


_SHARED: dict[str, Callable[..., object]] = {
    "__repr__": _repr,
    "__eq__": _eq,
    "__hash__": _hash,
    "__setattr__": _setattr,
    "__delattr__": _delattr,
    "__getstate__": _getstate,
    "__setstate__": _setstate,
}
