"""A listing's records are encoded once while they live, and the frame is the same bytes."""

from __future__ import annotations

import dataclasses
import gc
import json
from typing import Any

import pytest
from support.client import session_info

from spe_host._model import SessionInfo, SessionState
from spe_host.wire import EncodedArray, Result, _encoded, encode_message, encode_records, to_json


def _info(id: str, message: str | None = None) -> SessionInfo:
    return dataclasses.replace(session_info(id, SessionState.IDLE), progress_message=message)


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The records the memo had to encode, in order."""
    seen: list[object] = []
    plain = _encoded.encode

    def counting(record: object) -> Any:
        seen.append(record)
        return plain(record)

    monkeypatch.setattr(_encoded, "encode", counting)
    return seen


def test_a_listing_frame_is_byte_for_byte_the_plain_one() -> None:
    infos = [_info("a"), _info("b", "é \U0001f600"), _info("c")]
    spliced = encode_message(Result(id=4, value=encode_records(infos)))
    plain = encode_message(Result(id=4, value=[to_json(info) for info in infos]))
    assert spliced == plain
    assert json.loads(spliced)["value"][1]["progress_message"] == "é \U0001f600"


def test_a_record_that_lives_on_is_encoded_once(encoded: list[object]) -> None:
    infos = [_info(f"s{index}") for index in range(50)]
    first = encode_records(infos)
    changed = _info("s7", "moved on")
    second = encode_records([*infos[:7], changed, *infos[8:]])
    assert encoded == [*infos, changed]  # the second listing encoded only the new one
    assert second.parts[7] != first.parts[7]
    assert second.parts[:7] == first.parts[:7]


def test_the_memo_forgets_a_record_when_it_goes(encoded: list[object]) -> None:
    before = len(_encoded._memo)
    infos = [_info(f"gone{index}") for index in range(20)]
    encode_records(infos)
    assert len(_encoded._memo) == before + 20
    del infos
    encoded.clear()
    gc.collect()
    assert len(_encoded._memo) == before
    # A new record at a reused address is encoded anew, never given the old text.
    again = _info("fresh")
    assert json.loads(encode_records([again]).parts[0])["id"] == "fresh"


def test_text_with_lone_surrogates_travels_as_escapes() -> None:
    odd = _info("s", "\ud800 half")
    frame = encode_message(Result(id=1, value=encode_records([odd])))
    frame.decode("utf-8")  # valid UTF-8 on the wire
    assert json.loads(frame)["value"][0]["progress_message"] == "\ud800 half"


def test_an_encoded_array_reads_as_the_values_it_holds() -> None:
    infos = [_info("a"), _info("b")]
    array = encode_records(infos)
    assert isinstance(array, EncodedArray)
    assert len(array) == 2
    assert array[1] == to_json(infos[1])
    assert list(array) == [to_json(info) for info in infos]
    assert array[:1] == [to_json(infos[0])]


def test_an_unchanged_listing_gives_back_the_last_array(encoded: list[object]) -> None:
    infos = [_info(f"u{index}") for index in range(5)]
    first = encode_records(infos)
    again = encode_records(iter(infos))
    assert again is first
    assert encoded == infos  # nothing encoded the second time
    assert again.text() is first.text()  # joined once


@pytest.mark.parametrize("change", ["one record", "added", "removed", "reordered"])
def test_any_change_to_a_listing_gives_a_new_array_with_todays_text(change: str) -> None:
    infos = [_info(f"c{index}") for index in range(4)]
    encode_records(infos)
    if change == "one record":
        now = [*infos[:2], _info("c2", "moved on"), infos[3]]
    elif change == "added":
        now = [*infos, _info("c4")]
    elif change == "removed":
        now = infos[1:]
    else:
        now = infos[::-1]
    text = encode_records(now).text()
    assert json.loads(text) == [to_json(info) for info in now]


def test_a_record_that_died_is_never_taken_for_the_new_one_at_its_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ids of a call can equal the last call's when objects were freed and their
    # addresses reused; here the new record is given the dead one's id outright.
    monkeypatch.setattr(_encoded, "id", lambda record: 7, raising=False)
    old = [_info("d")]
    encode_records(old)
    del old
    fresh = _info("n", "new")
    assert json.loads(encode_records([fresh]).text()) == [to_json(fresh)]


def test_a_frame_with_its_end_is_the_frame_and_the_end() -> None:
    infos = [_info("a"), _info("b")]
    for value in (encode_records(infos), [to_json(info) for info in infos]):
        message = Result(id=1, value=value)
        assert encode_message(message, end=b"\n") == encode_message(message) + b"\n"
