"""The field types of the wire schema: what one field may hold, how it decodes and encodes.

Each :class:`_Spec` knows three things about one field type (see :mod:`._schema`,
which derives a record's fields from its annotations): ``check(value)`` for a value
built in this process, ``decode(value)`` for what ``json.loads`` produced, and
``encode(value)`` for its JSON form. A mismatch is a :class:`_Mismatch` naming what
was expected; :mod:`._schema` turns it into a sentence about the field and its record.
"""

from __future__ import annotations

import abc
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast

__all__ = ["JSON", "Invalid", "describe"]

# Covariant containers, so that a producer can pass a list[dict[str, JSON]] as a JSON value.
JSON: TypeAlias = "Mapping[str, JSON] | Sequence[JSON] | str | int | float | bool | None"


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

    def decode(self, value: object) -> object:
        # check() inlined: this runs for most fields of every record a peer sends.
        if not isinstance(value, self.kind):
            raise _Mismatch(self.expected)
        return value


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
        if type(value) is float and math.isfinite(value):
            return value
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
        if type(value) is str:
            try:
                return self.kind(value)
            except ValueError:
                pass
        self.check(value)  # raises: value is no member's string
        return self.kind(str(value))

    def encode(self, value: object) -> JSON:
        return str(value)


@dataclass(frozen=True)
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
