"""A long string's JSON text (an output frame's) is byte for byte what json.dumps makes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spe_host.wire import Output, _encoded, _text, encode_message, message_from_json

# Every character JSON escapes, and neighbours that it does not (DEL, U+2028, non-BMP).
SPECIAL = "".join(chr(code) for code in range(0x20)) + '"\\/\x7f\u2028\u2029é\U0001f600 x'


def _literal(text: str) -> bytes:
    return b'"' + _text.escaped(text) + b'"'


def _plain(message: Output) -> bytes:
    # The frame as json.dumps alone makes it (the code before the fast path).
    return _encoded.dumps(message.to_json())


@given(st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(codec="utf-8")))
@settings(max_examples=300)
def test_the_escaped_text_is_what_dumps_makes(text: str) -> None:
    assert _literal(text) == _encoded.dumps(text)


def test_every_control_character_is_escaped_as_dumps_escapes_it() -> None:
    text = SPECIAL * 3
    assert _literal(text) == _encoded.dumps(text)
    assert json.loads(_literal(text)) == text


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(UnicodeEncodeError):
        _text.escaped("a\udcff")


@pytest.mark.parametrize(
    "text",
    [
        ("x" * 79 + "\n") * 800,  # printed lines: the case the fast path is for
        ('é\t\x1b[31mred\x1b[0m \\ "q"\r\n' * 400),
        "\udcff" + "y" * _text.LONG,  # a stray byte (surrogateescape): the slow path
        "z" * (_text.LONG - 1),  # just short of long: dumps as before
    ],
)
def test_an_output_frame_is_the_same_json_and_reads_back(text: str) -> None:
    message = Output(id=3, session="s", offset=80, text=text, dropped=2)
    frame = encode_message(message)
    assert json.loads(frame) == json.loads(_plain(message))
    if "\udcff" not in text:
        assert frame == _plain(message)  # byte for byte: the wire did not change
    assert message_from_json(json.loads(frame)) == message
