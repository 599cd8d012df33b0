"""Batched output (``_batch``, ``_flush``, ``_held``): what the speed relies on, and what
it must not change - order, streaming while a job runs, flushes before a prompt and a
result, writers in threads, bounded memory."""

from __future__ import annotations

import logging
import random
import sys
import threading
import types

import pytest
import trio
import trio.testing

import spe_host
from spe_host import ExecutionStatus, OutputChunk
from spe_host._model import encode_output
from spe_host.engine import _redirect
from spe_host.engine._batch import CHUNK_BYTES, DRAIN_BYTES, ERRORS
from spe_host.engine._flush import Flusher
from spe_host.engine._held import CHUNK, Held
from spe_host.engine._streams import OutputBuffer


async def _follow_until(host: spe_host.Host, session: str, text: str) -> str:
    follower = host.follow(session, from_offset=0)
    seen = ""
    while text not in seen:
        seen += "".join(i.text for i in await follower.next() if isinstance(i, OutputChunk))
    return seen


async def test_a_print_in_a_session_calls_no_python_code_of_spe_host(
    host: spe_host.Host,
) -> None:
    # The whole speed-up: inside an execution, print's lookup of sys.stdout.write
    # gives the session stream's C write, so a profile sees no Python call at all.
    code = (
        "import sys\n"
        "kind = type(sys.stdout.write).__name__, type(sys.stderr.write).__name__\n"
        "calls = []\n"
        "def count(frame, event, arg):\n"
        "    if event == 'call':\n"
        "        calls.append(frame.f_code.co_filename)\n"
        "def run():\n"  # one statement: no statement ends inside the profiled stretch
        "    sys.setprofile(count)\n"
        "    for i in range(1000):\n"
        "        print(i)\n"
        "        print(-i, file=sys.stderr)\n"
        "    sys.setprofile(None)\n"
        "run()\n"
    )
    with trio.fail_after(10):
        result = await host.execute("s", code)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        namespace = host.session("s").namespace
        assert namespace["kind"] == ("builtin_function_or_method",) * 2
        assert [name for name in namespace["calls"] if "spe_host" in name] == []
        assert result.output == "".join(f"{i}\n{-i}\n" for i in range(1000))


@pytest.mark.parametrize("wait", ["gate.wait()", "while not gate.is_set():\n    pass"])
async def test_a_short_line_reaches_a_follower_while_the_job_blocks_or_spins(
    host: spe_host.Host, wait: str
) -> None:
    # No write follows and no statement ends: only the timed flush can hand it over.
    gate = threading.Event()
    with trio.fail_after(10):
        host.start("s", f"print('one short line')\n{wait}\n", args={"gate": gate})
        try:
            assert "one short line\n" in await _follow_until(host, "s", "one short line\n")
            assert host.session("s").is_active()
        finally:
            gate.set()
        await host.wait("s")


async def test_the_flusher_hands_a_running_scripts_text_over_with_no_read() -> None:
    with trio.fail_after(10):
        woken = trio.Event()
        buffer = OutputBuffer(on_wake=woken.set)
        buffer.begin_run()
        try:
            await trio.to_thread.run_sync(buffer.writer, "left in the stream\n")
            await woken.wait()  # nothing here reads: the flusher thread moved it
            assert buffer._held.end == len("left in the stream\n")
        finally:
            buffer.end_run()


async def test_between_runs_a_late_line_goes_over_at_its_newline() -> None:
    # A thread that a run left behind still holds the stream's write.
    with trio.fail_after(10):
        woken = trio.Event()
        buffer = OutputBuffer(on_wake=woken.set)
        buffer.begin_run()
        buffer.end_run()
        await trio.to_thread.run_sync(buffer.writer, "late line\n")
        await woken.wait()
        assert buffer._held.end == len("late line\n")


async def test_prints_before_input_are_in_the_buffer_when_the_prompt_is_taken(
    host: spe_host.Host,
) -> None:
    held_at_prompt: list[str] = []

    async def answer(prompt: str) -> str:
        held_at_prompt.append(host.session("s").output.read(start).text)
        return "fine"

    lines = "".join(f"line {i}\n" for i in range(5000))
    with trio.fail_after(10):
        start = 0  # a fresh session: its output starts here
        code = "for i in range(5000):\n    print('line', i)\nprint('open', end='')\nx = input('? ')"
        result = await host.execute("s", code, input_handler=answer)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        assert held_at_prompt == [lines + "open? "]
        assert result.output == lines + "open? "


async def test_threads_the_script_starts_lose_nothing_and_keep_their_order(
    host: spe_host.Host,
) -> None:
    code = (
        "import contextvars, threading\n"
        "def write(name):\n"
        "    for i in range(3000):\n"
        "        print(f'{name}{i}')\n"
        "threads = [threading.Thread(target=contextvars.copy_context().run, args=(write, n))\n"
        "           for n in 'abcd']\n"
        "for t in threads:\n"
        "    t.start()\n"
        "for t in threads:\n"
        "    t.join()\n"
    )
    with trio.fail_after(20):
        result = await host.execute("s", code)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        lines = result.output.splitlines()
        assert len(lines) == 4 * 3000  # no line lost or torn in two
        for name in "abcd":
            assert [line for line in lines if line[0] == name] == [
                f"{name}{i}" for i in range(3000)
            ]


async def test_a_stopped_printing_job_keeps_whole_lines_up_to_the_stop(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        host.start("s", "i = 0\nwhile True:\n    print('line', i)\n    i += 1\n")
        await _follow_until(host, "s", "line 1000\n")
        host.stop("s")
        await host.wait("s")
        result = host.receive("s", keep=True)
        assert result.status is ExecutionStatus.ABORTED
        count = host.session("s").namespace["i"]
        # Every line printed before the stop, each whole, and nothing after it.
        assert result.output in (
            "".join(f"line {i}\n" for i in range(count)),
            "".join(f"line {i}\n" for i in range(count + 1)),
        )


async def test_the_host_note_after_a_run_follows_its_output() -> None:
    with trio.fail_after(10):
        buffer = OutputBuffer()
        buffer.begin_run()
        buffer.writer("script text, open")
        buffer.write("\nhost note\n")  # written by the host: after what is held
        buffer.end_run()
        assert buffer.read(0).text == "script text, open\nhost note\n"


def test_print_flush_hands_a_sinks_text_over_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    class Gathering:
        def __init__(self) -> None:
            self.gathered: list[str] = []
            self.flushed: list[str] = []

        def write(self, text: str) -> None:
            self.gathered.append(text)

        def flush(self) -> None:
            self.flushed += self.gathered
            self.gathered.clear()

        def readline(self, secret: bool = False) -> str:
            return ""

    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    sink = Gathering()
    _redirect.install()
    try:
        with _redirect.use_sink(sink):
            print("now", flush=True)
            print("later")
    finally:
        _redirect.uninstall()
    assert (sink.flushed, sink.gathered) == (["now", "\n"], ["later", "\n"])


@pytest.mark.parametrize(
    "text",
    ["plain", "é€😀", "b\udcff\udcfe", "a\ud800b\udfff", "\udc80\udc7f\udd00", "x" * 9000],
)
def test_the_streams_error_handler_is_the_one_bytes_text_rule(text: str) -> None:
    assert text.encode("utf-8", ERRORS) == encode_output(text)


async def test_text_of_any_kind_comes_through_the_stream_exactly() -> None:
    with trio.fail_after(10):
        buffer = OutputBuffer()
        pieces = ["plain\n", "é€😀", "b\udcff\n", "a\ud800b\n", "y" * (3 * CHUNK_BYTES), "end\n"]
        buffer.begin_run()
        for piece in pieces:
            buffer.writer(piece)
        buffer.end_run()
        raw = b"".join(encode_output(piece) for piece in pieces)
        assert buffer.read_bytes(0) == (0, raw)
        assert buffer.end_offset == len(raw)


async def test_what_a_script_writes_to_the_binary_side_is_kept_and_the_host_lives() -> None:
    # The binary side's write is a list's append and checks nothing: a str, an int,
    # a bytearray written there used to fail the drain and take the host down.
    raw = "import sys\nraw = sys.stdout.write.__self__.buffer\n"
    with trio.fail_after(10):
        async with spe_host.open_host(idle_timeout=None) as host:
            result = await host.execute(
                "s",
                raw + 'raw.write("a str\\n")\nraw.write(5)\n'
                'raw.write(bytearray(b"ba\\n"))\nprint("after")',
            )
            assert result.status is ExecutionStatus.COMPLETED
            assert result.output == "a str\n5ba\nafter\n"
            again = await host.execute("s", 'raw.write("alone")\nprint()')
            assert again.output == "alone\n"
            odd = (
                "class B(bytes): pass\n"
                "class X:\n    def __repr__(self): raise RuntimeError('no')\n"
                'm = memoryview(b"gone")\nraw.write(m)\nm.release()\n'
                'raw.write(B(b"sub"))\nraw.write(X())\nprint()'
            )
            result = await host.execute("s", odd)
            assert result.status is ExecutionStatus.COMPLETED
            assert result.output.startswith("<released memory at ")
            assert "sub<__main__.X object at " in result.output
            alone = await host.execute("s", 'raw.write(B(b"only"))\nprint()')
            assert alone.output == "only\n"


def test_held_bytes_read_back_exactly_and_stay_near_the_bound() -> None:
    # Random pieces, from single bytes to several chunks, against a plain reference.
    rng = random.Random(15)
    for limit in (64, 1000, 3 * CHUNK):
        held, reference = Held(limit), bytearray()
        for step in range(3000):
            size = rng.choice([1, 7, 80, 500, CHUNK - 1, CHUNK + 3, 2 * CHUNK])
            piece = bytes([97 + step % 26]) * size
            held.append(piece)
            reference += piece
            assert held.end == len(reference)
            assert held.end - held.start <= max(limit, size)
            assert len(held._chunks) <= limit // CHUNK + 2  # tiny pieces do not pile up
            if step % 50 == 0:
                begin = rng.randint(held.start, held.end)
                last = rng.randint(begin, held.end)
                assert held.read(begin, last) == bytes(reference[begin:last])
        assert held.read(held.start, held.end) == bytes(reference[held.start :])


def test_held_bytes_never_start_inside_a_character() -> None:
    held = Held(100)
    for _ in range(200):
        held.append("é€😀".encode())
    assert held.read(held.start, held.end).decode("utf-8")  # strict: whole characters


def test_held_bytes_skip_a_characters_tail_at_the_head_of_the_next_chunk() -> None:
    # Lone surrogates' bytes can be continuation bytes at a chunk's end and the next
    # one's head: a cut that skips them to the end of one chunk goes on into the next.
    limit = next(n for n in range(CHUNK, 2 * CHUNK) if n - n // 8 == CHUNK + 5)
    held = Held(limit)
    held.append(b"a" * (CHUNK - 2) + b"\x80" * 2)
    held.append(b"\x80" * 3 + b"b" * CHUNK)  # the cut lands at offset CHUNK - 2
    assert held.start == CHUNK + 3
    assert held.read(held.start, held.end) == b"b" * CHUNK


async def test_the_backlog_of_one_long_c_level_print_goes_over_in_bounded_pieces() -> None:
    # print(*lines) is one C call that lets no flusher in; the flush after it moves the
    # backlog into the buffer (and the journal) piece by piece, not as one copy.
    with trio.fail_after(10):
        pieces: list[int] = []
        buffer = OutputBuffer(4 * DRAIN_BYTES, on_data=lambda offset, raw: pieces.append(len(raw)))
        buffer.begin_run()
        try:
            print(*["x" * 999] * 4000, file=types.SimpleNamespace(write=buffer.writer))
            buffer.flush()
            assert sum(pieces) == 4_000_000
            assert max(pieces) <= DRAIN_BYTES + CHUNK_BYTES
        finally:
            buffer.end_run()
        assert buffer.end_offset == 4_000_000


def test_the_flusher_goes_on_past_a_buffer_whose_flush_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing:
        def flush(self) -> None:
            raise RuntimeError("this buffer is broken")

    class Counting:
        def __init__(self) -> None:
            self.calls = 0
            self.twice = threading.Event()

        def flush(self) -> None:
            self.calls += 1
            if self.calls == 2:
                self.twice.set()

    flusher, failing, counting = Flusher(interval=0.001, grace=0), Failing(), Counting()
    flusher.add(failing)  # flushed first in every round
    flusher.add(counting)
    try:
        assert counting.twice.wait(timeout=10)
    finally:
        flusher.discard(failing)
        flusher.discard(counting)
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1  # logged once, not at every round
    assert failures[0].exc_info is not None
    assert "broken" in str(failures[0].exc_info[1])


async def test_a_script_that_detaches_its_stream_fails_alone_and_the_next_run_prints(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        code = "import sys\nprint('kept')\nsys.stdout.write.__self__.detach()\nprint('lost')\n"
        result = await host.execute("s", code)
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        assert "detached" in result.error
        assert result.output == "kept\n"
        result = await host.execute("s", "print('back')")
        assert (result.status, result.output) == (ExecutionStatus.COMPLETED, "back\n")
