"""The field schema of every record that crosses the wire, derived from its type hints.

Theory of operation
-------------------
A message or a :mod:`spe_host._model` value is a frozen dataclass, and its field
annotations are the wire schema: :func:`schema` reads them once per class with
:func:`typing.get_type_hints` and turns each into a :class:`_Spec`, a small object
that knows three things about one field type:

* ``check(value)``: is this Python value acceptable (used when a message is built,
  so that an invalid message cannot exist and ``send`` only has to encode it);
* ``decode(value)``: turn what ``json.loads`` produced into the Python value,
  checking it on the way (enums from their strings, nested records from objects);
* ``encode(value)``: the JSON form (enums as their strings, records as objects).

A field without a default is required; unknown keys of an object are ignored, so that
a peer speaking a newer minor version can add optional fields. Every failure is a
sentence naming the field and the record it belongs to ("the 'id' field of the
'execute' message must be a non-negative integer, not a string").

Only the shapes the protocol uses are understood (strings, non-negative integers,
finite numbers, booleans, arrays of strings, JSON objects, any JSON value, string
enums, nested records, and each of them or null); any other annotation is a bug in a
message class and fails when its schema is first derived.
"""

from __future__ import annotations

import abc
import enum
import math
import re
import reprlib
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Final, TypeAlias, TypeVar, cast, get_args, get_type_hints

from spe_host._errors import LocalProtocolError

__all__ = ["JSON", "Checked", "Invalid", "decode", "describe", "encode", "schema"]

# Covariant containers, so that a producer can pass a list[dict[str, JSON]] as a JSON value.
JSON: TypeAlias = "Mapping[str, JSON] | Sequence[JSON] | str | int | float | bool | None"

_R = TypeVar("_R")


class _JSONHint:
    """What the annotation ``JSON`` resolves to while a schema is derived."""


class Invalid(Exception):
    """A decoded record failed its checks; the argument is a complete sentence."""


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class _NotOneOf(_Mismatch):
    """A string outside an enumeration; reported with the value itself."""

    def __init__(self, allowed: str, value: object) -> None:
        super().__init__(f"one of {allowed}")
        self.allowed = allowed
        self.value = value


def describe(value: object) -> str:
    """Name the JSON type of a value, for error sentences ("a string", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a Python {type(value).__name__}"


# --- field types -----------------------------------------------------------------------


class _Spec(abc.ABC):
    """One field type; the default ``decode`` and ``encode`` keep the value as it is."""

    @abc.abstractmethod
    def check(self, value: object) -> None:
        """Raise ``_Mismatch`` unless ``value`` is of this type."""

    def decode(self, value: object) -> object:
        self.check(value)
        return value

    def encode(self, value: object) -> JSON:
        return cast(JSON, value)  # checked when the record was built


@dataclass(frozen=True)
class _Instance(_Spec):
    kind: type
    expected: str

    def check(self, value: object) -> None:
        if not isinstance(value, self.kind):
            raise _Mismatch(self.expected)


class _Count(_Spec):
    def check(self, value: object) -> None:
        # `type() is int` because JSON true is not a number, although Python's bool is one.
        if type(value) is not int or value < 0:
            raise _Mismatch("a non-negative integer")


class _Number(_Spec):
    def check(self, value: object) -> None:
        if type(value) is int or type(value) is float:
            try:
                if math.isfinite(float(value)):
                    return
            except OverflowError:
                pass
        raise _Mismatch("a finite number")

    def decode(self, value: object) -> object:
        self.check(value)
        assert isinstance(value, int | float)
        return float(value)


class _Strings(_Spec):
    def check(self, value: object) -> None:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _Mismatch("an array of strings")


class _Object(_Spec):
    # The values are any JSON; json.dumps rejects what is not when the message is sent.
    def check(self, value: object) -> None:
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise _Mismatch("an object")


class _AnyJSON(_Spec):
    # Whatever json.loads produced is JSON; json.dumps rejects the rest when sending.
    def check(self, value: object) -> None:
        return


@dataclass(frozen=True)
class _Enum(_Spec):
    kind: type[enum.StrEnum]

    def check(self, value: object) -> None:
        # A member, or its wire string: a StrEnum member is equal to its string.
        if isinstance(value, str):
            try:
                self.kind(value)
            except ValueError:
                pass
            else:
                return
        raise _NotOneOf(", ".join(self.kind), value)

    def decode(self, value: object) -> object:
        self.check(value)
        return self.kind(str(value))

    def encode(self, value: object) -> JSON:
        return str(value)


@dataclass(frozen=True)
class _Record(_Spec):
    kind: type

    @property
    def words(self) -> str:
        # ExecutionResult -> "execution result"
        return re.sub(r"(?<!^)(?=[A-Z])", " ", self.kind.__name__).lower()

    @property
    def what(self) -> str:
        return f"the {self.words}"

    def check(self, value: object) -> None:
        if not isinstance(value, self.kind):
            raise _Mismatch(("an " if self.words[0] in "aeiou" else "a ") + self.words)
        try:
            check(value, self.what)
        except LocalProtocolError as exc:
            raise _Nested(str(exc)) from None

    def decode(self, value: object) -> object:
        return decode(self.kind, value, self.what)

    def encode(self, value: object) -> JSON:
        return encode(value)


class _Nested(Exception):
    """A nested record failed; the argument is the nested record's own sentence."""


@dataclass(frozen=True)
class _Optional(_Spec):
    inner: _Spec

    def check(self, value: object) -> None:
        if value is not None:
            self._inner(self.inner.check, value)

    def decode(self, value: object) -> object:
        return None if value is None else self._inner(self.inner.decode, value)

    def encode(self, value: object) -> JSON:
        return None if value is None else self.inner.encode(value)

    @staticmethod
    def _inner(step: Callable[[object], object], value: object) -> object:
        try:
            return step(value)
        except _Mismatch as exc:
            raise _Mismatch(f"{exc.expected} or null") from None


_SIMPLE: Final[dict[object, _Spec]] = {
    str: _Instance(str, "a string"),
    bool: _Instance(bool, "true or false"),
    int: _Count(),
    float: _Number(),
    list[str]: _Strings(),
    dict[str, _JSONHint]: _Object(),
    _JSONHint: _AnyJSON(),
}


def _spec_for(hint: object) -> _Spec:
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return simple
    if isinstance(hint, types.UnionType):
        args = get_args(hint)
        if len(args) == 2 and type(None) in args:
            [inner] = [arg for arg in args if arg is not type(None)]
            return _Optional(_spec_for(inner))
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return _Enum(hint)
    if isinstance(hint, type) and is_dataclass(hint):
        return _Record(hint)
    raise TypeError(f"the wire schema has no rule for the annotation {hint!r}")


# --- schemas ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    spec: _Spec
    required: bool


_SCHEMAS: dict[type, tuple[_Field, ...]] = {}


def schema(cls: type) -> tuple[_Field, ...]:
    """Return the fields of a dataclass with their wire types, derived once per class."""
    found = _SCHEMAS.get(cls)
    if found is None:
        hints = get_type_hints(cls, localns={"JSON": _JSONHint})
        found = tuple(
            _Field(
                f.name,
                _spec_for(hints[f.name]),
                f.default is MISSING and f.default_factory is MISSING,
            )
            for f in fields(cls)
        )
        _SCHEMAS[cls] = found
    return found


def _sentence(what: str, name: str, exc: _Mismatch, value: object) -> str:
    if isinstance(exc, _NotOneOf):
        return (
            f"{what} is invalid: '{name}' must be one of {exc.allowed}, not {reprlib.repr(value)}"
        )
    return f"the '{name}' field of {what} must be {exc.expected}, not {describe(value)}"


def check(record: object, what: str) -> None:
    """Check every field of a record built in this process.

    Raises:
        LocalProtocolError: A field holds a value the protocol does not allow.
    """
    for f in schema(type(record)):
        value = getattr(record, f.name)
        try:
            f.spec.check(value)
        except _Mismatch as exc:
            raise LocalProtocolError(_sentence(what, f.name, exc, value)) from None
        except _Nested as exc:
            raise LocalProtocolError(str(exc)) from None


def decode(cls: type[_R], obj: object, what: str) -> _R:
    """Build a record of ``cls`` from a decoded JSON object, checking every field.

    Raises:
        Invalid: A field is missing, has the wrong type or a bad value.
    """
    if not isinstance(obj, dict):
        raise Invalid(f"{what} must be a JSON object, not {describe(obj)}")
    values: dict[str, object] = {}
    for f in schema(cls):
        if f.name not in obj:
            if f.required:
                raise Invalid(f"{what} is missing the '{f.name}' field")
            continue
        try:
            values[f.name] = f.spec.decode(obj[f.name])
        except _Mismatch as exc:
            raise Invalid(_sentence(what, f.name, exc, obj[f.name])) from None
    try:
        return cls(**values)
    except LocalProtocolError as exc:  # a Checked record's problem across fields
        raise Invalid(str(exc)) from None


def encode(record: object) -> dict[str, JSON]:
    """Return the fields of a record as a JSON-ready dict (field names are wire names)."""
    result: dict[str, JSON] = {}
    for f in schema(type(record)):
        result[f.name] = f.spec.encode(getattr(record, f.name))
    return result


class Checked:
    """A mixin for dataclasses that check their fields when they are built.

    Subclasses name themselves in sentences with :meth:`_what` and may add checks
    across fields (or on values) in :meth:`_problem`.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        what = self._what()
        check(self, what)
        problem = self._problem()
        if problem is not None:
            raise LocalProtocolError(f"{what} is invalid: {problem}")

    def _what(self) -> str:
        return f"the {type(self).__name__}"

    def _problem(self) -> str | None:
        return None
