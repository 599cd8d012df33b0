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

:func:`encode` and :func:`decode` run a per-class encoder and decoder that
:mod:`._compiled` generates with the schema; the field-by-field decoder here is
their slow path, which words every error.

Only the shapes the protocol uses are understood (strings, non-negative integers,
finite numbers, booleans, arrays of strings, JSON objects, any JSON value, string
enums, nested records, and each of them or null); any other annotation is a bug in a
message class and fails when its schema is first derived.
"""

from __future__ import annotations

import enum
import re
import reprlib
import types
from collections.abc import Callable
from dataclasses import MISSING, Field, fields, is_dataclass
from typing import Final, TypeVar, cast, get_args, get_type_hints

from spe_host._errors import LocalProtocolError
from spe_host._records import record

from ._compiled import (
    Decoder,
    Encoder,
    ListDecoder,
    compile_decoder,
    compile_encoder,
    compile_list_decoder,
)
from ._fields import (
    JSON,
    Bind,
    Invalid,
    _AnyJSON,
    _Count,
    _Enum,
    _Instance,
    _JSONHint,
    _Mismatch,
    _NotOneOf,
    _Number,
    _Object,
    _Optional,
    _Spec,
    _Strings,
    describe,
)

__all__ = ["JSON", "Checked", "Invalid", "decode", "decode_list", "describe", "encode", "schema"]

_R = TypeVar("_R")


_WORDS: dict[type, str] = {}


def _words(kind: type) -> str:
    # ExecutionResult -> "execution result"; once per class: a server-built record
    # checks its nested records every time it is built (a `done`'s result).
    words = _WORDS.get(kind)
    if words is None:
        words = _WORDS[kind] = re.sub(r"(?<!^)(?=[A-Z])", " ", kind.__name__).lower()
    return words


@record
class _Record(_Spec):
    kind: type

    @property
    def words(self) -> str:
        return _words(self.kind)

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

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        # The nested decoder words its own errors (about the nested record).
        return [f"{var} = {bind(_plan(self.kind).decode)}({var}, {bind(self.what)})"]

    def encode_expr(self, var: str, bind: Bind) -> str:
        return f"{bind(_plan(self.kind).encode)}({var})"


class _Nested(Exception):
    """A nested record failed; the argument is the nested record's own sentence."""


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


@record
class _Field:
    name: str
    spec: _Spec
    # Makes the field's default, or None for a required field.
    default: Callable[[], object] | None

    @property
    def required(self) -> bool:
        return self.default is None


def _default_of(f: Field[object]) -> Callable[[], object] | None:
    if f.default_factory is not MISSING:
        return f.default_factory
    if f.default is not MISSING:
        value = f.default
        return lambda: value
    return None


@record
class _Plan:
    """A class's fields, and its generated encoder and decoder."""

    fields: tuple[_Field, ...]
    encode: Encoder
    decode: Decoder
    # The field-by-field decoder the generated ones fall back on.
    slow: Decoder


_PLANS: dict[type, _Plan] = {}
_ABSENT: Final = object()


def _plan(cls: type) -> _Plan:
    found = _PLANS.get(cls)
    if found is None:
        hints = get_type_hints(cls, localns={"JSON": _JSONHint})
        specs = tuple(_Field(f.name, _spec_for(hints[f.name]), _default_of(f)) for f in fields(cls))

        def slow(obj: object, what: str) -> object:
            return _decode_slowly(cls, specs, obj, what)

        found = _Plan(
            fields=specs,
            encode=compile_encoder(cls, specs),
            decode=compile_decoder(cls, specs, slow=slow, checked=issubclass(cls, Checked)),
            slow=slow,
        )
        _PLANS[cls] = found
    return found


def schema(cls: type) -> tuple[_Field, ...]:
    """Return the fields of a dataclass with their wire types, derived once per class."""
    return _plan(cls).fields


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
    plan = _PLANS.get(cls) or _plan(cls)
    return cast(_R, plan.decode(obj, what))


# Made on first use: few classes come in arrays.
_LIST_DECODERS: dict[type, ListDecoder] = {}


def decode_list(cls: type[_R], objs: list[object], what: str) -> list[_R]:
    """Build a record of ``cls`` from each item of ``objs``, as :func:`decode` does.

    Raises:
        Invalid: An item is not a valid record (the first such, as :func:`decode` words it).
    """
    decoder = _LIST_DECODERS.get(cls)
    if decoder is None:
        plan = _plan(cls)
        checked = issubclass(cls, Checked)
        decoder = compile_list_decoder(cls, plan.fields, slow=plan.slow, checked=checked)
        _LIST_DECODERS[cls] = decoder
    return cast("list[_R]", decoder(objs, what))


def _decode_slowly(cls: type, specs: tuple[_Field, ...], obj: object, what: str) -> object:
    # The generated decoder's slow path: field by field, each error a sentence.
    if not isinstance(obj, dict):
        raise Invalid(f"{what} must be a JSON object, not {describe(obj)}")
    values: dict[str, object] = {}
    for f in specs:
        raw = obj.get(f.name, _ABSENT)
        if raw is _ABSENT:
            if f.required:
                raise Invalid(f"{what} is missing the '{f.name}' field")
            continue
        try:
            values[f.name] = f.spec.decode(raw)
        except _Mismatch as exc:
            raise Invalid(_sentence(what, f.name, exc, raw)) from None
    if issubclass(cls, Checked):
        return cls._decoded(values)
    return cls(**values)


def encode(record: object) -> dict[str, JSON]:
    """Return the fields of a record as a JSON-ready dict (field names are wire names)."""
    plan = _PLANS.get(type(record)) or _plan(type(record))
    return plan.encode(record)


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

    @classmethod
    def _decoded(cls, values: dict[str, object]) -> Checked:
        """Build a record from decoded fields, each checked as it was decoded.

        Only the checks across fields (:meth:`_problem`) are left to run.

        Raises:
            Invalid: They fail.
        """
        record = object.__new__(cls)
        for f in schema(cls):
            value = values[f.name] if f.name in values else f.default()  # type: ignore[misc]
            object.__setattr__(record, f.name, value)
        problem = record._problem()
        if problem is not None:
            raise Invalid(f"{record._what()} is invalid: {problem}")
        return record

    def _what(self) -> str:
        return f"the {type(self).__name__}"

    def _problem(self) -> str | None:
        return None
