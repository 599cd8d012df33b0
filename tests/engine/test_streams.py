"""Stream routing (``_redirect``) and the bounded output buffer (``_streams``)."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio
import trio.testing

from spe_host._model import byte_length
from spe_host.engine import _redirect
from spe_host.engine._redirect import use_sink
from spe_host.engine._streams import OutputBuffer, Signal, dropped_marker

# -- the output buffer -------------------------------------------------------------


async def test_read_returns_text_with_offsets() -> None:
    with trio.fail_after(2):
        buffer = OutputBuffer(limit=100)
        buffer.write("hello ")
        buffer.write("world\n")
        piece = buffer.read()
        assert (piece.offset, piece.text, piece.dropped, piece.end) == (0, "hello world\n", 0, 12)
        assert buffer.read(6).text == "world\n"
        tail = buffer.read(piece.end)
        assert (tail.text, tail.dropped, tail.end) == ("", 0, 12)
        assert buffer.text_since(6) == "world\n"


async def test_undecodable_bytes_keep_their_offsets_and_any_text_is_writable() -> None:
    # The reliability issue's reproduction: what os.listdir gives for an undecodable
    # name, then a line; reading from the end of the first gives exactly the second.
    with trio.fail_after(5):
        buffer = OutputBuffer()
        buffer.write("name: b\udcff\udcfeh\n")
        first = buffer.read(0)
        assert (first.text, first.end) == ("name: b\udcff\udcfeh\n", 11)
        assert byte_length(first.text) == first.end
        buffer.write("next line\n")
        after = buffer.read(first.end)
        assert (after.offset, after.text, after.dropped) == (11, "next line\n", 0)
        assert buffer.text_since(first.end) == "next line\n"
        # A lone surrogate that stands for no byte is written, as U+FFFD.
        buffer.write("a\ud800b\udfff\n")
        last = buffer.read(after.end)
        assert last.text == "a\ufffdb\ufffd\n"
        assert last.end == buffer.end_offset == after.end + byte_length(last.text)


async def test_the_bound_drops_the_oldest_text_and_says_exactly_how_much() -> None:
    with trio.fail_after(2):
        buffer = OutputBuffer(limit=100)
        written = "".join(f"line {i:03d}\n" for i in range(30))  # 270 bytes
        for line in written.splitlines(keepends=True):
            buffer.write(line)
        assert buffer.end_offset == len(written)
        held = buffer.end_offset - buffer.start_offset
        assert 0 < held <= 100
        piece = buffer.read(0)
        # A reader from the start is told exactly how many bytes it missed...
        assert piece.dropped == buffer.start_offset == len(written) - held
        assert piece.offset == buffer.start_offset
        # ...and gets exactly the newest text.
        assert piece.text == written[-held:]
        # A reader that had seen part of the dropped text misses less.
        assert buffer.read(10).dropped == buffer.start_offset - 10
        # A reader within the held text misses nothing.
        assert buffer.read(buffer.start_offset + 1).dropped == 0
        text = buffer.text_since(0)
        assert text == dropped_marker(piece.dropped) + written[-held:]
        assert text.startswith(f"[... {piece.dropped} bytes dropped]\n")


async def test_a_single_write_larger_than_the_bound() -> None:
    with trio.fail_after(2):
        buffer = OutputBuffer(limit=64)
        buffer.write("x" * 1000)
        piece = buffer.read(0)
        assert piece.end == 1000
        assert len(piece.text) <= 64
        assert piece.dropped + len(piece.text) == 1000


async def test_the_bound_never_splits_a_utf8_character() -> None:
    with trio.fail_after(2):
        buffer = OutputBuffer(limit=15)
        for _ in range(20):
            buffer.write("é€")  # 2 + 3 bytes
        piece = buffer.read(0)
        assert "\ufffd" not in piece.text
        assert piece.text
        assert set(piece.text) <= {"é", "€"}
        assert piece.dropped + len(piece.text.encode()) == 100


async def test_bad_offsets_and_limits_are_rejected() -> None:
    with trio.fail_after(2):
        buffer = OutputBuffer(limit=10)
        buffer.write("abc")
        with pytest.raises(ValueError, match="outside the output stream"):
            buffer.read(4)
        with pytest.raises(ValueError, match="outside the output stream"):
            buffer.read(-1)
        with pytest.raises(ValueError, match="at least one byte"):
            OutputBuffer(limit=0)


async def test_wait_beyond_wakes_when_another_thread_writes() -> None:
    with trio.fail_after(2):
        buffer = OutputBuffer(limit=100)
        buffer.write("a")
        await buffer.wait_beyond(0)  # already beyond: returns at once
        woke = trio.Event()

        async def subscriber() -> None:
            await buffer.wait_beyond(1)
            woke.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(subscriber)
            await trio.testing.wait_all_tasks_blocked()
            assert not woke.is_set()
            await trio.to_thread.run_sync(buffer.write, "b")
            await woke.wait()
        assert buffer.read(1).text == "b"


async def test_a_writer_never_waits_for_a_subscriber_that_falls_behind() -> None:
    with trio.fail_after(5):
        buffer = OutputBuffer(limit=1000)
        seen = buffer.end_offset  # a subscriber that reads once and then stalls

        def flood() -> None:
            for i in range(10_000):
                buffer.write(f"{i:05d}\n")

        await trio.to_thread.run_sync(flood)  # returns: nothing blocked the writer
        piece = buffer.read(seen)
        assert piece.dropped == 60_000 - (piece.end - piece.offset)  # told it lagged
        assert piece.text.endswith("09999\n")


async def test_signal_posts_one_wake_up_per_batch_of_fires() -> None:
    with trio.fail_after(2):
        signal = Signal()
        wakes = 0
        original = signal._wake

        def counting_wake() -> None:
            nonlocal wakes
            wakes += 1
            original()

        signal._wake = counting_wake  # type: ignore[method-assign]

        def fire_many() -> None:
            for _ in range(1000):
                signal.fire()

        # Block the trio thread while another thread fires, so that no wake-up
        # can run in between: they must all coalesce into one.
        thread = threading.Thread(target=fire_many)
        thread.start()
        thread.join()
        await trio.testing.wait_all_tasks_blocked()
        assert wakes == 1
        waiting = trio.Event()

        async def waiter() -> None:
            waiting.set()
            await signal.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await waiting.wait()
            signal.fire()  # from the trio thread: wakes directly
        assert wakes == 2


# -- the routing proxies -------------------------------------------------------------


class ListSink:
    def __init__(self, lines: list[str] | None = None) -> None:
        self.written: list[str] = []
        self.lines = lines or []

    def write(self, text: str) -> None:
        self.written.append(text)

    def readline(self) -> str:
        return self.lines.pop(0) if self.lines else ""

    @property
    def text(self) -> str:
        return "".join(self.written)


class FakeConsole(io.StringIO):
    """A stream with a file descriptor, like a real console."""

    def __init__(self, text: str = "", fd: int = 1) -> None:
        super().__init__(text)
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


@contextmanager
def fake_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Stand-in process streams with the proxies installed over them.

    Used inside the test body: pytest puts its own capture streams back in place
    between a fixture's setup and the test call.
    """
    out, err = FakeConsole(fd=1), FakeConsole(fd=2)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdin", FakeConsole("from the console\n", fd=0))
    _redirect.install()
    try:
        yield out, err
    finally:
        _redirect.uninstall()
        monkeypatch.undo()


def test_install_is_counted_and_the_last_uninstall_restores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err, inp = io.StringIO(), io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdin", inp)
    _redirect.install()
    proxy = sys.stdout
    assert proxy is not out
    _redirect.install()
    assert sys.stdout is proxy  # not wrapped twice
    _redirect.uninstall()
    assert sys.stdout is proxy  # one host is still open
    _redirect.uninstall()
    assert (sys.stdout, sys.stderr, sys.stdin) == (out, err, inp)


def test_writes_inside_a_sink_go_to_it_and_others_pass_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = ListSink()
    with fake_console(monkeypatch) as (out, err):
        print("before")
        with use_sink(sink):
            print("inside")
            print("to stderr", file=sys.stderr)
            sys.stdout.writelines(["a", "b\n"])
            sys.stdout.flush()
            assert _redirect._current.get() is sink
        print("after")
        assert _redirect._current.get() is None
    assert sink.text == "inside\nto stderr\nab\n"
    assert out.getvalue() == "before\nafter\n"
    assert err.getvalue() == ""


def test_a_sink_is_reset_when_its_block_raises() -> None:
    sink = ListSink()
    with pytest.raises(RuntimeError), use_sink(sink):
        raise RuntimeError
    assert _redirect._current.get() is None


def test_another_thread_writing_at_the_same_moment_is_unaffected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = ListSink()
    barrier = threading.Barrier(2)

    def app_thread() -> None:
        barrier.wait()
        for i in range(200):
            print("app", i)

    with fake_console(monkeypatch) as (out, _):
        thread = threading.Thread(target=app_thread)
        thread.start()
        with use_sink(sink):
            barrier.wait()
            for i in range(200):
                print("script", i)
        thread.join()
    assert sink.text == "".join(f"script {i}\n" for i in range(200))
    assert out.getvalue() == "".join(f"app {i}\n" for i in range(200))


async def test_worker_threads_inherit_the_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(2), fake_console(monkeypatch) as (out, _):
        sink = ListSink()
        with use_sink(sink):
            await trio.to_thread.run_sync(print, "from a worker")
        assert sink.text == "from a worker\n"
        assert out.getvalue() == ""


def test_stdin_reads_from_the_sink_inside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = ListSink(["from the session\n"])
    with fake_console(monkeypatch):
        with use_sink(sink):
            assert sys.stdin.readline() == "from the session\n"
            assert not sys.stdin.isatty()
        assert sys.stdin.readline() == "from the console\n"


def test_stdin_without_an_original_reads_end_of_file() -> None:
    proxy = _redirect._InProxy(None)
    assert proxy.readline() == ""
    assert not proxy.isatty()


def test_inside_a_sink_the_streams_are_not_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # input() reads the terminal directly (bypassing sys.stdin) when sys.stdin and
    # sys.stdout have the console's file descriptors, so inside a sink the proxies
    # must not claim them.
    with fake_console(monkeypatch):
        assert (sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()) == (0, 1, 2)
        with use_sink(ListSink()):
            assert not sys.stdout.isatty()
            with pytest.raises(io.UnsupportedOperation):
                sys.stdout.fileno()
            with pytest.raises(io.UnsupportedOperation):
                sys.stderr.fileno()
            with pytest.raises(io.UnsupportedOperation):
                sys.stdin.fileno()
