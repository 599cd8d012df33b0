"""A result's output: held as the buffer's bytes at the run's end, decoded when read.

The text must be what an eager decode at the run's end gave, whatever the buffer
drops or takes in afterwards, and every way of reading a record must see that text.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import trio
from support.client import execution_result

import spe_host
from spe_host._deferred import OutputBytes
from spe_host._model import ExecutionResult, defer_output, dropped_marker, encode_output
from spe_host.engine._held import Held
from spe_host.engine._streams import OutputBuffer

# 64 KiB and more per chunk, with characters of two and three bytes cut across chunks.
TEXT = "".join(f"line {i} é € {'x' * (i % 90)}\n" for i in range(3000))


def _deferred(text: str, dropped: int = 0) -> ExecutionResult:
    raw = encode_output(text)
    pieces: list[bytes | memoryview] = [raw[:5], memoryview(raw)[5:]]
    return defer_output(execution_result("s", ""), OutputBytes(dropped, pieces))


async def test_a_results_output_stays_what_the_run_printed_after_the_buffer_drops_it() -> None:
    with trio.fail_after(20):
        limit = 3 * len(encode_output(TEXT)) // 2
        async with spe_host.open_host(output_limit=limit) as host:
            first = await host.execute("s", f"print({TEXT!r}, end='')")
            # The next runs push every byte of the first out of the buffer.
            for _ in range(3):
                await host.execute("s", f"print({TEXT[::-1]!r}, end='')")
            assert host.session("s").output.start_offset > len(encode_output(TEXT))
            assert first.output == TEXT


async def test_a_run_whose_own_output_overflowed_is_led_by_the_marker() -> None:
    with trio.fail_after(20):
        limit = len(encode_output(TEXT)) // 2
        async with spe_host.open_host(output_limit=limit) as host:
            result = await host.execute("s", f"print({TEXT!r}, end='')")
            buffer = host.session("s").output
            dropped = buffer.start_offset
            assert dropped > 0
            kept = encode_output(TEXT)[dropped:].decode("utf-8", "surrogateescape")
            assert result.output == dropped_marker(dropped) + kept


async def test_the_output_since_an_offset_ignores_what_comes_after() -> None:
    with trio.fail_after(5):
        buffer = OutputBuffer(limit=len(encode_output(TEXT)) + 10)
        buffer.write("before\n")
        start = buffer.end_offset
        buffer.write(TEXT)
        since = buffer.output_since(start)
        buffer.write(TEXT)  # drops the first write and part of TEXT; fills the tail
        assert since.text() == TEXT
        assert buffer.text_since(0).startswith(dropped_marker(buffer.start_offset))


def test_held_pieces_do_not_change_with_later_appends_and_drops() -> None:
    held = Held(limit=200_000)
    raw = encode_output(TEXT)
    for at in range(0, len(raw), 7_000):
        held.append(raw[at : at + 7_000])
    pieces = held.pieces(held.start, held.end)
    expected = held.read(held.start, held.end)
    for _ in range(4):
        held.append(raw)  # every chunk taken above is dropped
    assert b"".join(pieces) == expected


def test_a_deferred_output_reads_as_the_text_in_every_way_a_record_is_read() -> None:
    text = "héllo\n" + TEXT
    eager = execution_result("s", text)
    assert _deferred(text).output == text
    assert _deferred(text) == eager
    assert hash(_deferred(text)) == hash(eager)
    assert repr(_deferred(text)) == repr(eager)
    assert pickle.loads(pickle.dumps(_deferred(text))) == eager
    assert copy.copy(_deferred(text)).output == text
    assert dataclasses.asdict(_deferred(text)) == dataclasses.asdict(eager)
    assert dataclasses.replace(_deferred(text), value="1").output == text
    assert type(_deferred(text).output) is str


def test_a_deferred_output_with_dropped_bytes_is_led_by_the_marker() -> None:
    assert _deferred("tail\n", dropped=12).output == dropped_marker(12) + "tail\n"


def test_the_output_is_decoded_once() -> None:
    result = _deferred(TEXT)
    assert result.output is result.output


async def test_the_run_end_does_not_decode_the_output() -> None:
    # The decode of up to the output bound would hold up the trio thread at every
    # run's end, before the subscribers' last output; the first read pays it instead.
    with trio.fail_after(10):
        async with spe_host.open_host() as host:
            result = await host.execute("s", f"print({TEXT!r}, end='')")
            field = ExecutionResult.__dict__["output"]
            assert isinstance(field._slot.__get__(result), OutputBytes)
            assert result.output == TEXT
            assert field._slot.__get__(result) is result.output
