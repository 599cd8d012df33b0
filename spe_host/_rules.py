"""The rules every layer applies the same way: session ids, patterns, output bytes.

Pure functions with no trio and no I/O, re-exported by :mod:`spe_host._model`: the
session-id and run-id rules, the wildcard test and the limits a request's patterns (and
a stop's reason) must keep,
and the one mapping between output text and the bytes (and so the offsets) of a
session's output stream.
"""

from __future__ import annotations

import re
import reprlib
from typing import Final

from ._records import record

__all__ = [
    "DEFAULT_REQUEST_LIMITS",
    "MAX_PATTERNS",
    "MAX_PATTERN_LENGTH",
    "MAX_STOP_REASON",
    "WILDCARDS",
    "RequestLimits",
    "byte_length",
    "check_patterns",
    "check_session_id",
    "decode_output",
    "dropped_marker",
    "encode_output",
    "is_pattern",
    "parse_run_id",
    "printable",
    "run_id",
]

#: The characters that make a target an ``fnmatch`` pattern rather than an exact id.
WILDCARDS: Final = "*?["
_SESSION_ID: Final = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")


def is_pattern(target: str) -> bool:
    """True if ``target`` holds a wildcard (``*``, ``?`` or ``[``), so it names a pattern."""
    return any(c in target for c in WILDCARDS)


#: The longest pattern (or id) a request may name, in characters. Ids have at most
#: 128; the rest is room for classes such as ``[0-9]``.
MAX_PATTERN_LENGTH: Final = 1024
#: The most ids and patterns one request may name.
MAX_PATTERNS: Final = 64
#: The longest reason a stop may give, in characters: a sentence, not a document.
MAX_STOP_REASON: Final = 1000


def check_patterns(
    patterns: tuple[str, ...],
    *,
    max_length: int = MAX_PATTERN_LENGTH,
    max_count: int = MAX_PATTERNS,
) -> tuple[str, ...]:
    """Return ``patterns`` if they are within the limits a request must keep.

    Args:
        patterns: The ids and wildcards one request names.
        max_length: The longest one allowed, in characters.
        max_count: The most allowed.

    Raises:
        ValueError: There are too many, or one is too long.
    """
    if len(patterns) > max_count:
        raise ValueError(
            f"the request names {len(patterns)} sessions or patterns; at most {max_count} "
            "are allowed, so split it or use a wildcard"
        )
    for pattern in patterns:
        if len(pattern) > max_length:
            raise ValueError(
                f"a pattern of {len(pattern)} characters was refused; patterns may have at "
                f"most {max_length}"
            )
    return patterns


@record
class RequestLimits:
    """The bounds a host puts on what one request may ask of it (docs/security.md).

    Attributes:
        max_pattern_length: The longest id or pattern a request may name, in characters.
        max_patterns: The most ids and patterns one request may name.
        max_script_size: The largest script file ``start(path=...)`` reads, in bytes.
    """

    max_pattern_length: int = MAX_PATTERN_LENGTH
    max_patterns: int = MAX_PATTERNS
    max_script_size: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_pattern_length", "max_patterns", "max_script_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    def check_patterns(self, patterns: tuple[str, ...]) -> tuple[str, ...]:
        """Return ``patterns`` if they keep these limits (see :func:`check_patterns`)."""
        return check_patterns(
            patterns, max_length=self.max_pattern_length, max_count=self.max_patterns
        )


#: The limits a host keeps unless it is given others.
DEFAULT_REQUEST_LIMITS: Final = RequestLimits()


#: Lone surrogates that stand for no byte: surrogateescape uses U+DC80-U+DCFF only.
_NOT_A_BYTE: Final = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def encode_output(text: str) -> bytes:
    """The bytes of an output stream that ``text`` stands for: the one rule.

    The stream is UTF-8, and bytes that are not UTF-8 travel as the lone surrogates
    U+DC80-U+DCFF (``surrogateescape``, what ``os.listdir`` gives for undecodable
    names), so they go back to the very bytes they came from. Any other lone
    surrogate (a script printing ``"\\ud800"``) stands for no byte: it is written as
    U+FFFD, so every text can be written.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _NOT_A_BYTE.sub("\ufffd", text).encode("utf-8", "surrogateescape")


def decode_output(data: bytes | bytearray | memoryview) -> str:
    """The text of the output bytes ``data``; :func:`encode_output` gives them back."""
    return str(data, "utf-8", "surrogateescape")


def byte_length(text: str) -> int:
    """How many bytes of an output stream ``text`` stands for (see :func:`encode_output`).

    The one rule every layer uses to turn output text into offsets, so the count is
    exact for any text a chunk of the stream carries.
    """
    return len(encode_output(text))


def printable(text: str) -> str:
    """``text`` fit for a terminal: undecodable bytes shown as U+FFFD."""
    return encode_output(text).decode("utf-8", "replace")


def dropped_marker(count: int) -> str:
    """The line that stands in for ``count`` bytes of output dropped at a bound."""
    return f"[... {count} bytes dropped]\n"


def check_session_id(session: str) -> str:
    """Return ``session`` if it is a valid session id.

    Raises:
        ValueError: It is not: ids are 1-128 letters, digits and ``_ . : @ + -``.
    """
    if _SESSION_ID.fullmatch(session) is None:
        raise ValueError(
            f"{session!r} is not a valid session id; use 1-128 letters, digits and "
            "any of _ . : @ + -"
        )
    return session


def run_id(session: str, number: int) -> str:
    """The id of a session's ``number``-th run: ``run_id("etl", 7) == "etl#7"``.

    Session ids hold no ``#``, so the id splits back unambiguously (:func:`parse_run_id`).
    """
    return f"{session}#{number}"


def parse_run_id(run: str) -> tuple[str, int]:
    """Split a run id such as ``etl#7`` into its session id and its number.

    Raises:
        ValueError: It is not a valid session id, ``#``, and a number from 1 up.
    """
    session, sep, number = run.rpartition("#")
    if (
        not sep
        or _SESSION_ID.fullmatch(session) is None
        or not number.isascii()
        or not number.isdigit()
        or number.startswith("0")
        or len(number) > 18
    ):
        raise ValueError(
            f"{reprlib.repr(run)} is not a valid run id; a run id is a session id, '#' "
            "and the run's number from 1 up, such as etl#7"
        )
    return session, int(number)
