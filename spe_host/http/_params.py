"""Reading a request: query parameters of a given type, and the JSON body as a dataclass.

Bad input is a sentence, never a 500: a query parameter that is not a number or a
boolean, or a body field of the wrong type, is 422 (``InvalidArgument``); a body that
is not JSON at all is 400 (``ProtocolError``). The body's size is bounded by the app's
middleware before it is read (413).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypeVar

from starlette.requests import Request

from .._errors import ProtocolError
from .._rules import MAX_STOP_REASON
from ..service import InvalidArgument
from ._encode import from_json

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["check_reason", "query_bool", "query_float", "query_str", "read_body", "whole_number"]

T = TypeVar("T", bound="DataclassInstance")

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


def query_str(request: Request, name: str) -> str | None:
    """The query parameter ``name``, or None when it is not given."""
    return request.query_params.get(name)


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """The boolean query parameter ``name`` (``true``/``false``, ``1``/``0``).

    Raises:
        InvalidArgument: It is not a boolean.
    """
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InvalidArgument(f"the query parameter {name!r} is {value!r}; write true or false")


def query_float(request: Request, name: str) -> float | None:
    """The number query parameter ``name``, or None when it is not given.

    Raises:
        InvalidArgument: It is not a finite number of at least 0.
    """
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise InvalidArgument(
            f"the query parameter {name!r} is {value!r}; it must be a number of at least 0"
        )
    return number


def check_reason(reason: str | None) -> str | None:
    """``reason`` if it is a stop reason the socket protocol would take too.

    Raises:
        InvalidArgument: It is longer than :data:`~spe_host._rules.MAX_STOP_REASON`.
    """
    if reason is not None and len(reason) > MAX_STOP_REASON:
        raise InvalidArgument(
            f"'reason' must be at most {MAX_STOP_REASON} characters, "
            f"not {len(reason)}; say why in fewer words"
        )
    return reason


async def read_body(request: Request, cls: type[T]) -> T:
    """The request's JSON body as the dataclass ``cls`` (an empty body is ``{}``).

    Raises:
        ProtocolError: The body is not JSON (400).
        InvalidArgument: It does not fit ``cls`` (422, naming the field).
    """
    raw = await request.body()
    if not raw.strip():
        return from_json(cls, {})
    try:
        data = json.loads(raw)
    # ValueError covers bad UTF-8, bad JSON and an integer too long to convert.
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            f"the request body is not valid JSON ({exc}); send a JSON object "
            "with Content-Type: application/json"
        ) from None
    return from_json(cls, data)


def whole_number(text: str) -> int | None:
    """``text`` as a whole number of at most 18 digits (an offset, a run number), or None."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
