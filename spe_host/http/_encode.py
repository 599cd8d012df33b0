"""JSON in and out: any model or API dataclass to JSON values, request bodies to dataclasses.

Theory of operation
-------------------
:func:`to_json` walks a value: a dataclass becomes an object of its fields, a
:class:`enum.StrEnum` its string, a list or tuple an array. The model keeps times as
Unix seconds; the API shows them as ISO 8601 UTC strings. Which floats are times is
one set, :data:`TIME_FIELDS`, read by the OpenAPI generator too (``format:
date-time``); ``landed_at`` is a place (``job.py:13``), not a time.

:func:`from_json` is the inverse for request bodies: it checks a decoded JSON object
against a dataclass's field types (``str``, ``int``, ``float``, ``bool``, ``list[...]``,
``dict[str, object]``, optional ones and enums) and refuses an unknown or missing
field, or one of the wrong type, with :class:`~spe_host.service.InvalidArgument`
(422) and a sentence naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

from starlette.responses import JSONResponse

from ..service import InvalidArgument

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "TIME_FIELDS",
    "ApiResponse",
    "JsonValue",
    "from_json",
    "iso_time",
    "json_response",
    "to_json",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

#: The fields that hold a time (Unix seconds in the model, ISO 8601 UTC in the API).
TIME_FIELDS: Final = frozenset(
    {
        "created_at",
        "last_accessed",
        "run_started_at",
        "run_ended_at",
        "requested_at",
        "landed_time",
        "finished_at",
        "forced_at",
        "started_at",
        "expires_at",
    }
)

T = TypeVar("T", bound="DataclassInstance")


def iso_time(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC with microseconds: ``2026-12-01T23:05:01.123456Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(value: object) -> JsonValue:
    """The JSON value of ``value``: a dataclass, enum, list, dict or plain JSON value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _field_json(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"{type(value).__name__} has no JSON form in the HTTP API")


def _field_json(name: str, value: object) -> JsonValue:
    if name in TIME_FIELDS and isinstance(value, int | float) and not isinstance(value, bool):
        return iso_time(value)
    return to_json(value)


def from_json(cls: type[T], data: object) -> T:
    """Build the dataclass ``cls`` from a decoded JSON request body.

    Raises:
        InvalidArgument: ``data`` is not an object, or a field is unknown, missing or
            of the wrong type (the sentence names it).
    """
    if not isinstance(data, dict):
        raise InvalidArgument(
            f"the request body must be a JSON object, not {_kind(data)}; "
            f"send {{{', '.join(repr(f.name) for f in dataclasses.fields(cls))}: ...}}"
        )
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known.keys())
    if unknown:
        raise InvalidArgument(
            f"the request body has the unknown field(s) {', '.join(map(repr, unknown))}; "
            f"the fields are {', '.join(map(repr, known))}"
        )
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for name, spec in known.items():
        if name not in data:
            required = (
                spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            )
            if required:
                raise InvalidArgument(f"the request body needs the field {name!r}")
            continue
        values[name] = _check(name, hints[name], data[name])
    return cls(**values)


def _check(name: str, kind: object, value: object) -> object:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        for option in args:
            try:
                return _check(name, option, value)
            except InvalidArgument:
                continue
        raise _wrong(name, kind, value)
    if kind is type(None):
        if value is None:
            return None
    elif kind is object:
        return value
    elif kind is bool or kind is str:
        if isinstance(value, kind):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif origin is list:
        if isinstance(value, list):
            return [_check(f"{name}[{i}]", args[0], item) for i, item in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return {key: _check(f"{name}.{key}", args[1], item) for key, item in value.items()}
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in kind)
            raise InvalidArgument(
                f"the field {name!r} is {value!r}, which is none of {choices}"
            ) from None
    raise _wrong(name, kind, value)


def _wrong(name: str, kind: object, value: object) -> InvalidArgument:
    shown = getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
    return InvalidArgument(f"the field {name!r} must be {shown}, not {_kind(value)}")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)


class ApiResponse(JSONResponse):
    """A JSON response of the API (``application/json``, compact, UTF-8).

    Output text may hold lone surrogates (bytes that were not UTF-8); inside a JSON
    string ``backslashreplace`` writes them as ``\\udcxx`` escapes, which is valid
    JSON that decodes to the same text.
    """

    def render(self, content: object) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def json_response(
    value: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> ApiResponse:
    """An :class:`ApiResponse` of ``to_json(value)``."""
    return ApiResponse(to_json(value), status_code=status, headers=headers)
