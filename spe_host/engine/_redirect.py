"""Per-context routing of stdout, stderr and stdin to the session that runs.

Theory of operation
-------------------
``sys.stdout``, ``sys.stderr`` and ``sys.stdin`` are process-wide, but a script's
``print`` must reach *its* session and nothing else. So the first host to open puts
proxies in their place (:func:`install`); each proxy looks up a context variable that
the runner sets for the duration of an execution. Worker threads run by
``trio.to_thread`` and trio tasks started by a script inherit the variable, so their
output follows the execution too. Anything written outside an execution - the
embedding program's own threads, the host's logging - finds no sink and passes
straight through to the stream that was there before.

``print`` looks up ``write`` on ``sys.stdout`` at every call, so that lookup is the
whole cost of the routing: the proxies' ``write`` is a property whose getter is the
``get`` of a second context variable, holding the sink's own writer - for an
execution, the C ``write`` of its session's stream (``_batch``). Inside an execution
a ``print`` thus runs no Python code of spe_host at all; outside one, the variable
is unset, ``get`` returns its default - the proxy itself - and print calls it, which
writes to the original stream.

Bytes written to ``sys.stdout.buffer`` are text for the session too (decoded as
UTF-8, a bad byte replaced). ``getpass.getpass()`` opens the process's terminal
itself, which inside an execution is the host's, not the attached client's: while the
proxies are installed it asks through the session as ``input()`` does, marking the
request secret so that the client reads the answer without echoing it.

The proxies are the one piece of global mutable state in spe_host: the streams they
replace are global already, and there is no other way to catch ``print``. They are
installed once, counted, and put back by the last host to close.
"""

from __future__ import annotations

import contextvars
import getpass
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol, TextIO

__all__ = ["Sink", "install", "uninstall", "use_sink"]


class Sink(Protocol):
    """Where an execution's standard streams go.

    A sink that gathers text may also have ``flush()``: ``sys.stdout.flush()``, and
    ``print(..., flush=True)``, call it to hand what it holds over at once.
    """

    def write(self, text: str) -> object:
        """Take text written to stdout or stderr (read once, when the sink is used)."""

    def readline(self, secret: bool = False) -> str:
        """Answer a read from stdin (``input()``; ``secret`` for ``getpass()``)."""


def _no_flush() -> None:
    pass


_current: contextvars.ContextVar[Sink | None] = contextvars.ContextVar(
    "spe_host_sink", default=None
)
# The current sink's write; no default, so that get(proxy) answers the proxy outside.
_writer: contextvars.ContextVar[Callable[[str], object]] = contextvars.ContextVar("spe_host_writer")


@contextmanager
def use_sink(sink: Sink) -> Iterator[None]:
    """Route this context's standard streams to ``sink`` while the block runs."""
    token = _current.set(sink)
    writer = _writer.set(sink.write)
    try:
        yield
    finally:
        _writer.reset(writer)
        _current.reset(token)


class _OutProxy:
    def __init__(self, original: IO[str]) -> None:
        self._original = original

    # The sink's writer inside an execution, else the proxy (see the module's header).
    write = property(_writer.get)

    def __call__(self, text: str) -> int:
        return self._original.write(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        sink = _current.get()
        if sink is None:
            self._original.flush()
        else:
            getattr(sink, "flush", _no_flush)()

    def isatty(self) -> bool:
        return _current.get() is None and self._original.isatty()

    def fileno(self) -> int:
        _refuse_fileno_in_a_sink()
        return self._original.fileno()

    @property
    def buffer(self) -> Any:
        if _current.get() is None:
            original: Any = self._original  # a TextIO's buffer, if it has one
            return original.buffer
        return _BinaryOut(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _BinaryOut:
    # sys.stdout.buffer inside an execution: bytes become the session's text.
    def __init__(self, text: _OutProxy) -> None:
        self._text = text

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = bytes(data)
        self._text.write(chunk.decode("utf-8", "replace"))
        return len(chunk)

    def writelines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


def _getpass(prompt: str = "Password: ", stream: TextIO | None = None) -> str:
    # Inside an execution the answer comes from the attached client, like input()'s.
    sink = _current.get()
    if sink is None:
        return _saved_getpass(prompt, stream)
    sink.write(prompt)
    line = sink.readline(secret=True)
    if not line:
        raise EOFError("no answer to getpass(): the client gave end-of-file")
    return line.rstrip("\n")


def _refuse_fileno_in_a_sink() -> None:
    # Inside an execution the streams are the session's, not the console's. input()
    # reads the terminal itself (bypassing sys.stdin, and out of reach of a stop)
    # when sys.stdin and sys.stdout report the console's descriptors, so they must
    # not report them there.
    if _current.get() is not None:
        raise io.UnsupportedOperation(
            "this stream belongs to a script session and has no file descriptor"
        )


class _InProxy:
    # The process may have no stdin at all (a daemon, CI): reads outside an execution
    # then see end-of-file, as they would on /dev/null.
    def __init__(self, original: IO[str] | None) -> None:
        self._original = original

    def readline(self, size: int = -1) -> str:
        sink = _current.get()
        if sink is not None:
            return sink.readline()
        if self._original is None:
            return ""
        return self._original.readline(size)

    def isatty(self) -> bool:
        return _current.get() is None and self._original is not None and self._original.isatty()

    def fileno(self) -> int:
        _refuse_fileno_in_a_sink()
        if self._original is None:
            raise io.UnsupportedOperation("the process has no standard input")
        return self._original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_installed = 0
_saved: tuple[Any, Any, Any] | None = None
_saved_getpass = getpass.getpass


def install() -> None:
    """Put the routing proxies in place of the standard streams (counted)."""
    global _installed, _saved
    if _installed == 0 or not isinstance(sys.stdout, _OutProxy):
        _saved = (sys.stdout, sys.stderr, sys.stdin)
        sys.stdout = _OutProxy(sys.stdout)
        sys.stderr = _OutProxy(sys.stderr)
        sys.stdin = _InProxy(sys.stdin)
        getpass.getpass = _getpass
    _installed += 1


def uninstall() -> None:
    """Undo one :func:`install`; the last one puts the original streams back."""
    global _installed, _saved
    _installed = max(0, _installed - 1)
    if _installed == 0 and _saved is not None:
        # Someone (pytest, say) may have replaced our proxies since: leave theirs alone.
        if isinstance(sys.stdout, _OutProxy):
            sys.stdout = _saved[0]
        if isinstance(sys.stderr, _OutProxy):
            sys.stderr = _saved[1]
        if isinstance(sys.stdin, _InProxy):
            sys.stdin = _saved[2]
        if getpass.getpass is _getpass:
            getpass.getpass = _saved_getpass
        _saved = None
