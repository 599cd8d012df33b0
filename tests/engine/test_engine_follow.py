"""Following a session's output and progress (``Host.follow`` and ``Follower``)."""

from __future__ import annotations

import dataclasses
import itertools
import pickle
import threading

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from support.engine import wait_location

import spe_host
from spe_host import Progress, SessionNotFound
from spe_host._model import OutputChunk, chunk_bytes, output_chunk
from spe_host.engine import Follower
from spe_host.engine._follow import _chunk_end, _Span, _whole_characters


def chunks_of(items: list[OutputChunk | Progress]) -> list[OutputChunk]:
    return [item for item in items if isinstance(item, OutputChunk)]


def assert_contiguous(chunks: list[OutputChunk]) -> None:
    """Each chunk starts exactly where the bytes of the one before it end."""
    for before, after in itertools.pairwise(chunks):
        assert after.offset == before.offset + len(before.text.encode())
        assert after.dropped == 0


async def test_output_comes_in_chunks_whose_offsets_are_byte_offsets(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        text = "ab€d" * 5 + "😀x" * 3 + "\n"  # 1-, 3- and 4-byte characters
        await host.execute("s", f"print('start')\nprint({text[:-1]!r})")
        follower = host.follow("s", chunk_chars=5, progress=Progress())
        items = follower.pending()
        chunks = chunks_of(items)
        assert items == chunks  # no progress was reported
        assert len(chunks) > 1
        assert all(0 < len(chunk.text) <= 5 for chunk in chunks)
        assert all(len(chunk.text.encode()) <= 5 for chunk in chunks)
        assert chunks[0].offset == 0
        assert_contiguous(chunks)
        assert "".join(chunk.text for chunk in chunks) == "start\n" + text
        assert "\ufffd" not in "".join(chunk.text for chunk in chunks)
        session = host.session("s")
        assert follower.offset == session.output.end_offset == len(("start\n" + text).encode())
        assert follower.pending() == []  # nothing new

        # From an offset in the middle: the text from that byte on.
        middle = host.follow("s", len(b"start\n"), progress=Progress())
        assert "".join(c.text for c in chunks_of(middle.pending())) == text


async def test_a_follower_behind_the_bound_is_told_how_much_it_missed() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(idle_timeout=None, output_limit=100) as host:
            await host.execute("s", "for i in range(100):\n    print(f'{i:04d}')")
            buffer = host.session("s").output
            assert buffer.end_offset == 500
            follower = host.follow("s", 0, chunk_chars=16, progress=Progress())
            chunks = chunks_of(follower.pending())
            assert chunks[0].dropped == chunks[0].offset == buffer.start_offset > 0
            assert_contiguous(chunks)
            held = "".join(f"{i:04d}\n" for i in range(100))[buffer.start_offset :]
            assert "".join(chunk.text for chunk in chunks) == held
            assert follower.offset == 500

            # A follower that had seen some of the dropped text misses less.
            later = host.follow("s", 10, progress=Progress())
            assert chunks_of(later.pending())[0].dropped == buffer.start_offset - 10


async def test_offsets_past_the_end_start_at_the_end_and_bad_ones_are_refused(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        await host.execute("s", "print('abc')")
        follower = host.follow("s", 10**9, progress=Progress())
        assert follower.offset == 4
        assert follower.pending() == []
        await host.execute("s", "print('more')")
        assert [c.text for c in chunks_of(follower.pending())] == ["more\n"]
        with pytest.raises(ValueError, match="negative"):
            host.follow("s", -1)
        with pytest.raises(ValueError, match="at least 4"):
            host.follow("s", chunk_chars=3)
        with pytest.raises(SessionNotFound):
            host.follow("nope")


async def test_progress_is_delivered_when_it_is_news(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        await host.execute("s", "spe.progress(10, 'first')")
        # No progress known: the current one is news, before the output.
        fresh = host.follow("s")
        assert fresh.pending() == [Progress(10.0, "first")]
        assert fresh.pending() == []
        # Told the progress already: nothing.
        told = host.follow("s", progress=Progress(10.0, "first"))
        assert told.pending() == []
        session = host.start(
            "s", "print('a')\nspe.progress(50, 'half')\ngate.wait()", args={"gate": gate}
        )
        await wait_location(session, 3)
        items = told.pending()
        assert items == [
            Progress(50.0, "half"),
            OutputChunk(session="s", offset=0, text="a\n"),
        ]
        assert told.pending() == []
        gate.set()
        await host.wait("s")


async def test_next_wakes_when_the_worker_thread_writes(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        session = host.start("s", "gate.wait()\nprint('late')\n", args={"gate": gate})
        await wait_location(session, 1)
        follower = host.follow("s", progress=Progress())
        got: list[OutputChunk] = []

        async def follow_line() -> None:
            while not got or not got[-1].text.endswith("\n"):
                got.extend(chunks_of(await follower.next()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow_line)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            gate.set()  # the worker prints, from its own thread
        assert got[0].offset == 0
        assert_contiguous(got)
        assert "".join(chunk.text for chunk in got) == "late\n"

        # A write from any thread, not only a script's, wakes a follower.
        got.clear()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow_line)
            await trio.testing.wait_all_tasks_blocked()
            await trio.to_thread.run_sync(session.output.write, "direct\n")
        assert got == [OutputChunk(session="s", offset=5, text="direct\n")]


async def test_next_wakes_on_progress_from_the_worker_thread(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        session = host.start("s", "gate.wait()\nspe.progress(1, 'one')\n", args={"gate": gate})
        await wait_location(session, 1)
        follower = host.follow("s", progress=Progress())
        async with trio.open_nursery() as nursery:

            async def release() -> None:
                await trio.testing.wait_all_tasks_blocked()
                gate.set()

            nursery.start_soon(release)
            assert await follower.next() == [Progress(1.0, "one")]
        await host.wait("s")


async def test_wait_takes_nothing_and_pending_takes_it_once(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("s", "print('x')")
        follower = host.follow("s", progress=Progress())
        await follower.wait()  # returns at once: there is news
        await follower.wait()  # still there: wait took nothing
        assert [c.text for c in chunks_of(follower.pending())] == ["x\n"]
        with trio.move_on_after(0.05) as scope:
            await follower.wait()
        assert scope.cancelled_caught  # nothing new, session open: it waits


async def test_closing_the_session_ends_the_follow(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("s", "print('x')")
        follower = host.follow("s", progress=Progress())
        assert chunks_of(follower.pending())
        assert not follower.closed
        got: list[list[OutputChunk | Progress]] = []

        async def follow() -> None:
            got.append(await follower.next())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            await host.remove("s")
        assert got == [[]]
        assert follower.closed
        assert await follower.next() == []  # at once, every time


async def test_what_is_left_is_delivered_when_the_session_closes(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("s", "pass")
        follower = host.follow("s", progress=Progress())
        session = host.session("s")
        session.output.write("last words\n")  # not yet taken when the session goes
        await host.remove("s")
        assert await follower.next() == [OutputChunk(session="s", offset=0, text="last words\n")]
        assert await follower.next() == []


async def test_pending_reads_the_buffer_once_however_many_chunks(
    host: spe_host.Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trio.fail_after(5):
        await host.execute("s", "print('y' * 10000)")
        buffer = host.session("s").output
        reads = 0
        read_pieces = buffer.read_pieces

        def counting(
            from_offset: int = 0, limit: int | None = None
        ) -> tuple[int, list[bytes | memoryview]]:
            nonlocal reads
            reads += 1
            return read_pieces(from_offset, limit)

        monkeypatch.setattr(buffer, "read_pieces", counting)
        follower = Follower(host.session("s"), 0, chunk_chars=100, progress=Progress())
        chunks = chunks_of(follower.pending())
        assert len(chunks) == 101
        assert reads == 1
        # A follower keeps its place and its last progress, not the text it delivered.
        assert set(vars(follower)) <= {"session", "offset", "chunk_chars", "_progress"}


async def test_a_bounded_pending_takes_one_batch_and_cuts_between_characters(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        # 3-byte characters, so a limit of whole chunks falls inside one now and then.
        text = "€" * 5000 + "\n"
        await host.execute("s", f"print({'€' * 5000!r})")
        follower = Follower(host.session("s"), 0, chunk_chars=100, progress=Progress())
        got: list[OutputChunk] = []
        while batch := chunks_of(follower.pending(max_chunks=4)):
            assert len(batch) <= 4
            assert sum(len(c.text.encode()) for c in batch) <= 400
            assert batch[0].offset == (got[-1].end if got else 0)
            got.extend(batch)
        assert "".join(c.text for c in got) == text
        assert follower.offset == len(text.encode())


@pytest.mark.parametrize("split", [None, 1, 2, 3, 7])
def test_chunks_are_cut_between_characters(split: int | None) -> None:
    # The same cuts whether the bytes are one piece or views of several.
    def span(data: bytes) -> _Span:
        if split is None:
            return _Span([data])
        return _Span([data[:split], memoryview(data)[split:]])

    data = "a😀".encode() * 3  # 1 + 4 bytes, repeated
    assert _chunk_end(span(data), 0, 4) == 1  # the emoji does not fit after the 'a'
    assert _chunk_end(span(data), 1, 4) == 5  # the emoji alone
    assert _chunk_end(span(data), 0, 5) == 5
    assert _chunk_end(span(data), 0, 7) == 6
    assert _chunk_end(span(data), 10, 100) == len(data)
    stray = b"\x80" * 10  # not UTF-8 at all: cut where the limit says
    assert _chunk_end(span(stray), 0, 4) == 4
    assert _whole_characters(span(data)) == len(data)
    assert _whole_characters(span(data[:-1])) == len(data) - 4


@given(
    data=st.binary(max_size=64)
    | st.text(max_size=24).map(lambda t: t.encode("utf-8", "surrogatepass")),
    cuts=st.lists(st.integers(0, 64), max_size=4),
    begin=st.integers(0, 64),
    end=st.integers(0, 64),
)
def test_a_span_reads_its_pieces_as_one_run_of_bytes(
    data: bytes, cuts: list[int], begin: int, end: int
) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces: list[bytes | memoryview] = [
        memoryview(data)[a:b] if i % 2 else data[a:b]
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    raw = _Span(pieces)
    assert raw.size == len(data)
    assert bytes(raw[i] for i in range(len(data))) == data
    begin, end = min(begin, len(data)), min(max(begin, end), len(data))
    assert b"".join(raw.cut(begin, end)) == data[begin:end]


def test_a_followers_chunk_holds_its_bytes_until_its_text_is_read() -> None:
    raw = "héllo €\n".encode() + b"\xff"
    pieces: list[bytes | memoryview] = [raw[:2], memoryview(raw)[2:]]  # cut inside the é
    chunk = output_chunk("s", 10, pieces, dropped=3)
    assert chunk_bytes(chunk) is pieces  # as they are: nothing decoded
    assert chunk.end == 10 + len(raw)  # counted without decoding
    assert chunk_bytes(chunk) is pieces
    eager = OutputChunk(
        session="s", offset=10, text=raw.decode("utf-8", "surrogateescape"), dropped=3
    )
    assert chunk == eager
    assert hash(chunk) == hash(eager)
    assert repr(chunk) == repr(eager)
    assert pickle.loads(pickle.dumps(chunk)) == eager
    assert dataclasses.replace(chunk, dropped=0).text == eager.text
    # Once read, the text is kept, and the bytes are the text's.
    assert b"".join(chunk_bytes(chunk)) == raw
    assert chunk.end == eager.end
