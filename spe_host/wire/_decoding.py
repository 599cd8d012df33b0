"""One frame's JSON text -> its value: msgspec for long frames, :mod:`json` as the rule.

Theory of operation
-------------------
:func:`json.loads` is the reference: what it accepts, with NaN and the infinities
refused, is acceptable JSON, and its errors word what was wrong. For a long frame (a
listing of 10,000 sessions is megabytes) msgspec's decoder gives the same value in
less than half the time, so it goes first there. It accepts less than
:func:`json.loads` - a lone surrogate escape (``"\\ud800"``, which is how output
bytes that are not UTF-8 travel), a number out of a float's range - and refuses the
rest as :func:`json.loads` does: invalid UTF-8, NaN, trailing text. Whatever it does
not take goes to :func:`json.loads` as every frame did before, so a frame decodes to
the same value, or fails with the same error, as it would by :func:`json.loads`
alone. Where both accept, the values are equal (duplicate keys: the last wins,
in the first one's place).

msgspec is imported the first time a long frame comes: a short-lived ``spe-host ls``
of a few sessions, and every small frame, never pay for its import (12-15 ms).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

__all__ = ["LONG_FRAME", "loads"]

#: Frames at least this long (bytes) try msgspec first; below it the two decoders
#: take about the same few microseconds and json.loads saves msgspec's import.
LONG_FRAME: Final = 64 * 1024

_fast: Callable[[bytes | bytearray], object] | None = None
_refused: tuple[type[BaseException], ...] = ()


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def loads(line: bytes | bytearray) -> object:
    """Decode one frame's bytes as :func:`json.loads` of their UTF-8 text would.

    NaN and the infinities are refused.

    Raises:
        UnicodeDecodeError: The bytes are not UTF-8.
        json.JSONDecodeError: They are not JSON.
        ValueError: They hold NaN, an infinity, or an integer too long to convert.
        RecursionError: Arrays or objects nest too deep.
    """
    if len(line) >= LONG_FRAME:
        fast = _fast if _fast is not None else _load_fast()
        try:
            return fast(line)
        except _refused:
            pass  # json.loads gives the value or the error, as for any frame
    return json.loads(line.decode("utf-8"), parse_constant=_reject_constant)


def _load_fast() -> Callable[[bytes | bytearray], object]:
    global _fast, _refused
    import msgspec

    # ValidationError (a number out of range) is a DecodeError; RecursionError is
    # msgspec's depth limit, which json.loads then words as before.
    _refused = (msgspec.DecodeError, RecursionError)
    _fast = msgspec.json.Decoder().decode
    return _fast
