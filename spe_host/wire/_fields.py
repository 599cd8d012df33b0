"""The field types of the wire schema: what one field may hold, how it decodes and encodes.

Each :class:`_Spec` knows three things about one field type (see :mod:`._schema`,
which derives a record's fields from its annotations): ``check(value)`` for a value
built in this process, ``decode(value)`` for what ``json.loads`` produced, and
``encode(value)`` for its JSON form. A mismatch is a :class:`_Mismatch` naming what
was expected; :mod:`._schema` turns it into a sentence about the field and its record.

Each also gives the same two jobs as source text, for the per-class functions that
:mod:`._compiled` generates: ``decode_lines`` accepts, inline, the values that
``json.loads`` produces in the usual case and runs ``fail`` for anything else (the
generated function then decodes the record the slow way, which converts what it can
and words the error), and ``encode_expr`` is an expression for the JSON form. The
defaults call ``decode`` and ``encode``, so a spec without text of its own is still
exact.
"""

from __future__ import annotations

import abc
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias, cast

from spe_host._records import record

__all__ = ["JSON", "Bind", "Invalid", "describe"]

# Covariant containers, so that a producer can pass a list[dict[str, JSON]] as a JSON value.
JSON: TypeAlias = "Mapping[str, JSON] | Sequence[JSON] | str | int | float | bool | None"


#: Puts a value in a generated function's globals and returns the name it goes by.
Bind: TypeAlias = Callable[[object], str]


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

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        """Source lines that leave ``var`` decoded, or run ``fail`` when unsure."""
        return [
            "try:",
            f"    {var} = {bind(self.decode)}({var})",
            f"except {bind(_Mismatch)}:",
            f"    {fail}",
        ]

    def encode_expr(self, var: str, bind: Bind) -> str:
        """A source expression for the JSON form of ``var``."""
        if type(self).encode is _Spec.encode:
            return var
        return f"{bind(self.encode)}({var})"


@record
class _Instance(_Spec):
    kind: type
    expected: str

    def check(self, value: object) -> None:
        if not isinstance(value, self.kind):
            raise _Mismatch(self.expected)

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        # json.loads makes exact strs and bools; a subclass takes the slow way.
        return [f"if type({var}) is not {bind(self.kind)}:", f"    {fail}"]


class _Count(_Spec):
    def check(self, value: object) -> None:
        # `type() is int` because JSON true is not a number, although Python's bool is one.
        if type(value) is not int or value < 0:
            raise _Mismatch("a non-negative integer")

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        return [f"if type({var}) is not int or {var} < 0:", f"    {fail}"]


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
        if type(value) is float and math.isfinite(value):
            return value
        self.check(value)
        assert isinstance(value, int | float)
        return float(value)

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        # x - x is 0.0 for a finite float and NaN for an infinity or a NaN; an int
        # (converted to float) takes the slow way.
        return [f"if type({var}) is not float or {var} - {var} != 0.0:", f"    {fail}"]


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

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        return []


@record
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
        if type(value) is str:
            try:
                return self.kind(value)
            except ValueError:
                pass
        self.check(value)  # raises: value is no member's string
        return self.kind(str(value))

    def encode(self, value: object) -> JSON:
        return str(value)

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        members = bind({member.value: member for member in self.kind})
        return [
            f"{var} = {members}.get({var}) if type({var}) is str else None",
            f"if {var} is None:",
            f"    {fail}",
        ]

    def encode_expr(self, var: str, bind: Bind) -> str:
        return f"str({var})"


@record
class _Optional(_Spec):
    inner: _Spec

    def check(self, value: object) -> None:
        if value is not None:
            try:
                self.inner.check(value)
            except _Mismatch as exc:
                raise _Mismatch(f"{exc.expected} or null") from None

    def decode(self, value: object) -> object:
        if value is None:
            return None
        try:
            return self.inner.decode(value)
        except _Mismatch as exc:
            raise _Mismatch(f"{exc.expected} or null") from None

    def encode(self, value: object) -> JSON:
        return None if value is None else self.inner.encode(value)

    def decode_lines(self, var: str, bind: Bind, fail: str) -> list[str]:
        inner = self.inner.decode_lines(var, bind, fail)
        if not inner:
            return []
        return [f"if {var} is not None:", *(f"    {line}" for line in inner)]

    def encode_expr(self, var: str, bind: Bind) -> str:
        inner = self.inner.encode_expr(var, bind)
        return var if inner == var else f"(None if {var} is None else {inner})"
