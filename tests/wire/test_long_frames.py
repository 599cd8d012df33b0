"""Long frames: msgspec decodes them first, and every value or error is json.loads's."""

from __future__ import annotations

import json

import pytest
from support.wire import handshaken, reject

from spe_host import wire as p
from spe_host.wire import _decoding

_PAD = "x" * _decoding.LONG_FRAME


def _long(body: bytes) -> bytes:
    # `body` inside an object with a string long enough to make the frame long.
    line = b'{"pad":"' + _PAD.encode() + b'","v":' + body + b"}"
    assert len(line) >= _decoding.LONG_FRAME
    return line


def _outcome(decode: object, line: bytes) -> tuple[str, object]:
    try:
        return "value", decode(line)  # type: ignore[operator]
    except (ValueError, RecursionError) as exc:
        return "error", (type(exc), str(exc))


def _reference(line: bytes) -> object:
    return json.loads(line.decode("utf-8"), parse_constant=_decoding._reject_constant)


@pytest.mark.parametrize(
    "body",
    [
        b'"\\ud800"',  # a lone surrogate escape: how output bytes that are not UTF-8 travel
        b'{"\\udcff": "\\udc80"}',  # ...in a key too
        b"1e400",  # out of a float's range: json.loads makes it inf (a field check refuses it)
        b"-1e400",
        b"1" + b"0" * 100,  # a long integer, still convertible
        b"1" + b"0" * 5000,  # an integer too long to convert
        b"NaN",
        b"-Infinity",
        b'{"a": 1, "b": 2, "a": 3}',  # duplicate keys: the last wins, in the first's place
        b'"\\u00e9 \\ud83d\\ude00 \xc3\xa9"',
        b"[" * 100_000 + b"]" * 100_000,  # nested too deep
        b'"\xff"',  # not UTF-8
        b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8: not UTF-8 either
        b'"a\x01"',  # a raw control character
        b"[1,]",
        b"01",
    ],
)
def test_a_long_frame_decodes_as_json_loads_would(body: bytes) -> None:
    line = _long(body)
    got, expected = _outcome(_decoding.loads, line), _outcome(_reference, line)
    assert got == expected
    if got[0] == "value":  # equal and in the same order, keys and all
        assert repr(got[1]) == repr(expected[1])


def test_a_long_frame_with_a_lone_surrogate_reaches_the_message() -> None:
    text = "\udcff" + _PAD
    line = json.dumps({"type": "execute", "id": 1, "session": "s", "code": text}).encode()
    _, server = handshaken()
    server.receive_data(line + b"\n")
    event = server.next_event()
    assert isinstance(event, p.Execute)
    assert event.code == text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"NaN", "acceptable JSON"),
        (b"1" + b"0" * 5000, "acceptable JSON"),
        (b'"\xff"', "not valid UTF-8"),
        (b"[1,]", "not valid JSON"),
    ],
)
def test_a_long_malformed_frame_is_refused_in_the_same_words(body: bytes, words: str) -> None:
    _, server = handshaken()
    exc = reject(server, _long(body) + b"\n")
    assert exc.error_code == "bad_request"
    assert words in str(exc)
