"""The REPL client: ``spe-host attach``, a prompt_toolkit prompt on a remote session.

Theory of operation
-------------------
Two threads, one job each, as trio's own ``_repl.py`` splits them:

* The **trio thread** owns the connection. It sends what the user typed, streams the
  session's output, answers ``input()``, turns Ctrl-C into a ``stop`` request and keeps
  the toolbar's view of the session fresh.
* The **prompt thread** runs prompt_toolkit's synchronous ``PromptSession.prompt()``
  (``trio.to_thread.run_sync``), which brings its own asyncio loop. Completion calls back
  into trio with ``trio.from_thread.run`` and the trio token, so it can use the
  connection; everything else crosses the threads only as the prompt's return value.

Only one of them writes to the terminal at a time. While a statement runs there is no
prompt, and output is written straight out. While the prompt is showing, output (from a
background job in the session, or a thread the script left running) is handed to the
prompt's loop and printed with ``run_in_terminal``, so it appears *above* the prompt and
the line being edited is redrawn intact.

Ctrl-C has two meanings. At the prompt the terminal is in raw mode, so Ctrl-C is a key:
prompt_toolkit raises ``KeyboardInterrupt`` from ``prompt()`` and the line is cleared.
While a statement runs the terminal is in cooked mode, so Ctrl-C is a SIGINT, which
trio delivers to a signal receiver instead of raising ``KeyboardInterrupt`` in some
random task: the first one asks the host to stop the session (the REPL says the stop is
pending, and shows the abort when ``done`` arrives), the third one stops waiting.

Output has byte offsets (see docs/protocol.md). The REPL remembers, per host and
session, the offset it had seen when it detached; attaching again subscribes from there,
so what the session printed while you were away is replayed first. The same directory
holds a history file per host and session.
"""

from __future__ import annotations

import ast
import codeop
import contextlib
import json
import math
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import trio
from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application, run_in_terminal
from prompt_toolkit.application.current import get_app
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.output import Output as TerminalOutput
from prompt_toolkit.styles import Style
from pygments.lexers.python import PythonLexer

from .._errors import (
    LocalProtocolError,
    PermissionDenied,
    SessionBusy,
    SessionNotFound,
    SpeError,
)
from .._model import Completion as WireCompletion
from .._model import ExecutionResult, SessionInfo, check_session_id, is_pattern
from ..wire import Output, Progress

__all__ = [
    "META_COMMANDS",
    "RemoteCompleter",
    "Repl",
    "ReplClient",
    "format_age",
    "format_sessions",
    "format_table",
    "history_path",
    "indent_for_next_line",
    "make_lexer",
    "needs_more_input",
    "run_piped",
    "state_dir",
]

INDENT = "    "
# How long a Tab may wait for the host's completions before the menu gives up.
COMPLETE_TIMEOUT = 3.0
# How often the toolbar's view of the session (state, running line) is refreshed.
POLL_INTERVAL = 1.0

#: The REPL's own commands; a line starting with ``%`` is never valid Python.
META_COMMANDS: dict[str, str] = {
    "%ls [PATTERN ...]": "list the host's sessions (all, or those matching the patterns)",
    "%stop [SESSION ...]": "ask sessions to stop at their next statement (default: this one)",
    "%session [SESSION]": "switch to another session (created when you first run code in it)",
    "%wait [SESSION ...] [SECONDS]": "wait for sessions to finish; Ctrl-C stops waiting",
    "%help": "show this help",
    "%detach": "leave the REPL; the session lives on (same as Ctrl-D)",
}

_KEYS_HELP = """\
Keys: Enter runs a complete statement (a blank line ends a block); Esc Enter runs the
input as it is; Tab completes from the session's live namespace; Ctrl-C at the prompt
clears the line, while a statement runs it stops the session (press it three times to
stop waiting); Ctrl-D on an empty line detaches and leaves the session running."""

_DEDENT_AFTER = re.compile(r"^\s*(return|pass|break|continue|raise)\b")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.@+-]")


# --- the client, as the REPL needs it ------------------------------------------------------


class ReplClient(Protocol):
    """The part of :class:`spe_host._client.Client` that the REPL uses."""

    role: str
    server: str
    pid: int

    async def execute(
        self,
        session: str,
        code: str,
        *,
        interactive: bool = True,
        on_output: Callable[[Output], object] | None = None,
        on_input: Callable[[str], Awaitable[str | None]] | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> ExecutionResult: ...

    async def sessions(self, *patterns: str, state: str | None = None) -> list[SessionInfo]: ...

    async def stop(self, *targets: str) -> dict[str, str]: ...

    async def wait(
        self, *sessions: str, timeout: float | None = None, any: bool = False
    ) -> list[SessionInfo]: ...

    async def complete(
        self, session: str, text: str, cursor: int | None = None
    ) -> list[WireCompletion]: ...

    def subscribe(
        self, session: str, from_offset: int = 0
    ) -> AbstractAsyncContextManager[AsyncIterator[Output | Progress]]: ...


# --- pure helpers: continuation, indentation, lexer, tables --------------------------------


def needs_more_input(text: str) -> bool:
    """Whether the statement typed so far is unfinished, as the Python REPL decides.

    ``codeop`` in ``single`` mode says whether the source is an incomplete statement
    (an open block, bracket or string); like the Python REPL, a blank last line ends a
    block. Top-level ``await`` is allowed. A syntax error is "complete": it is sent, and
    the host reports it with a proper traceback.

    Args:
        text: The whole input buffer.

    Returns:
        True if Enter should open a new line rather than run the input.
    """
    if not text.strip() or text.lstrip().startswith("%"):
        return False
    last_line = text.rsplit("\n", 1)[-1]
    if "\n" in text and not last_line.strip():
        return False
    # A fresh compiler per call: CommandCompiler remembers `from __future__` imports.
    compiler = codeop.CommandCompiler()
    compiler.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        return compiler(text, "<input>", "single") is None
    except (SyntaxError, ValueError, OverflowError):
        return False


def indent_for_next_line(text_before_cursor: str) -> str:
    """The indentation a new line should start with (auto-indent).

    The new line keeps the current line's indentation, one level more after a line
    ending with ``:`` and one level less after ``return``, ``pass``, ``break``,
    ``continue`` or ``raise``.

    Args:
        text_before_cursor: The buffer's text up to the cursor.

    Returns:
        The whitespace to insert after the newline.
    """
    line = text_before_cursor.rsplit("\n", 1)[-1]
    indent = line[: len(line) - len(line.lstrip())]
    code = line.rstrip()
    if "#" in code and not code.endswith(":"):
        # A trailing comment hides the colon; quoting is rare enough at a prompt
        # that splitting on the last '#' is good enough here.
        code = code.rsplit("#", 1)[0].rstrip()
    if code.endswith(":"):
        return indent + INDENT
    if _DEDENT_AFTER.match(line):
        return indent[: max(0, len(indent) - len(INDENT))]
    return indent


def make_lexer() -> Lexer:
    """The Python syntax highlighter of the prompt (pygments through prompt_toolkit)."""
    return PygmentsLexer(PythonLexer)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Align columns like ``docker ps``: two spaces apart, no trailing blanks.

    Args:
        headers: The column titles.
        rows: The cells, as text.

    Returns:
        The table, one line per row with the headers first, ending with a newline.
    """
    table = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    return "\n".join(lines) + "\n"


def format_age(seconds: float) -> str:
    """A short age such as ``5s``, ``3m``, ``2h`` or ``4d``."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _format_progress(info: SessionInfo) -> str:
    parts = []
    if info.progress_percent is not None:
        parts.append(f"{info.progress_percent:.0f}%")
    if info.progress_message:
        parts.append(info.progress_message)
    return " ".join(parts) or "-"


def format_sessions(infos: Sequence[SessionInfo], *, now: float | None = None) -> str:
    """The human table of sessions that ``spe-host ls`` and ``%ls`` print.

    Args:
        infos: The sessions.
        now: The current Unix time (for the AGE column); defaults to now.

    Returns:
        An aligned table with a header line.
    """
    now = time.time() if now is None else now
    return format_table(
        ["SESSION", "STATE", "JOB", "PROGRESS", "LOCATION", "LAST", "AGE"],
        (
            [
                info.id,
                info.state,
                info.name or "-",
                _format_progress(info),
                info.location or "-",
                info.last_status or "-",
                format_age(now - info.created_at),
            ]
            for info in infos
        ),
    )


# --- where the REPL keeps its state ------------------------------------------------------


def state_dir() -> Path:
    """The directory for REPL history and replay marks.

    ``$XDG_STATE_HOME/spe-host``, else ``~/.local/state/spe-host``. History can hold
    secrets typed at the prompt, so the directory is created private (0700).
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "spe-host"


def _safe_name(text: str) -> str:
    # Host labels may be addresses ("unix:/run/..."); keep them one path component.
    name = _UNSAFE_NAME.sub("_", text).strip(".") or "_"
    return name[:120]


def history_path(host_label: str, session: str, base: Path | None = None) -> Path:
    """Where the input history of ``session`` on the host ``host_label`` is kept.

    Args:
        host_label: The host's name or address as the user gave it.
        session: The session id.
        base: The state directory (default: :func:`state_dir`).

    Returns:
        ``base/history/<host>/<session>``.
    """
    base = state_dir() if base is None else base
    return base / "history" / _safe_name(host_label) / _safe_name(session)


def _mark_path(base: Path, host_label: str, session: str) -> Path:
    return base / "seen" / _safe_name(host_label) / f"{_safe_name(session)}.json"


def _private_dirs(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


@dataclass(frozen=True)
class _Mark:
    """How far a session's output was seen; ``created_at`` tells a new session apart."""

    created_at: float
    offset: int


def _load_mark(path: Path) -> _Mark | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _Mark(float(data["created_at"]), int(data["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_mark(path: Path, mark: _Mark) -> None:
    with contextlib.suppress(OSError):
        _private_dirs(path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"created_at": mark.created_at, "offset": mark.offset}))
        tmp.replace(path)


# --- completion -----------------------------------------------------------------------------


class RemoteCompleter(Completer):
    """Completes Python from the session's live namespace on the host.

    Lines that start with ``%`` are the REPL's own commands; they are completed locally,
    and their session arguments from the host's session list.

    Args:
        fetch: Given the buffer's text and the cursor position, returns the host's
            completions (the protocol's ``complete``). It is called from the prompt
            thread; errors mean "no completions": completion never breaks the prompt.
        session_ids: Returns the ids of the host's sessions, for ``%session`` & co.
    """

    def __init__(
        self,
        fetch: Callable[[str, int], Sequence[WireCompletion]],
        session_ids: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self._fetch = fetch
        self._session_ids = session_ids

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Yield the completions for the word before the cursor."""
        text, cursor = document.text, document.cursor_position
        if text.lstrip().startswith("%") and "\n" not in text:
            yield from self._meta(document)
            return
        try:
            candidates = self._fetch(text, cursor)
        except Exception:
            return
        for item in candidates:
            if item.start > cursor:
                continue
            yield Completion(
                item.text,
                start_position=item.start - cursor,
                display=item.display or item.text,
                display_meta=item.kind,
            )

    def _meta(self, document: Document) -> Iterable[Completion]:
        before = document.text_before_cursor.lstrip()
        words = before.split()
        if len(words) <= 1 and not before.endswith(" "):
            for usage in META_COMMANDS:
                command = usage.split()[0]
                if command.startswith(before):
                    yield Completion(command, -len(before), display_meta=META_COMMANDS[usage])
            return
        if words[0] not in ("%stop", "%session", "%wait") or self._session_ids is None:
            return
        word = "" if before.endswith(" ") else words[-1]
        try:
            ids = self._session_ids()
        except Exception:
            return
        for session_id in ids:
            if session_id.startswith(word):
                yield Completion(session_id, -len(word))


# --- the terminal -----------------------------------------------------------------------------

_COLORS = {"error": "\x1b[31m", "note": "\x1b[2;3m", "warning": "\x1b[33m"}
_RESET = "\x1b[0m"


class _Screen:
    """Everything the REPL prints goes through here, from the trio thread only.

    While a prompt is showing, text is handed to the prompt's asyncio loop and printed
    with ``run_in_terminal``, so it lands above the prompt; a partial line is held back
    until its newline (or until the prompt ends), because the redrawn prompt would
    overwrite it. With no prompt showing, text is written straight out.
    """

    def __init__(self, write: Callable[[str], None], *, color: bool) -> None:
        self._write = write
        self.color = color
        #: The prompt application showing now, if any (set by the REPL).
        self.app: Application[Any] | None = None
        self._pending = ""
        self.at_line_start = True
        #: The end of what was written last (to tell whether a prompt is showing).
        self.tail = ""

    def show(self, text: str, style: str = "") -> None:
        """Print ``text``; ``style`` is ``""`` (script output), ``error``, ``note``..."""
        if not text:
            return
        if style and self.color:
            text = "".join(
                f"{_COLORS[style]}{line}{_RESET}{end}" if line else end
                for line, end in _split_lines(text)
            )
        app = self.app
        loop = app.loop if app is not None and app.is_running else None
        if loop is not None:
            head, newline, tail = (self._pending + text).rpartition("\n")
            self._pending = tail
            if not newline:
                return
            try:
                loop.call_soon_threadsafe(self._write_above, head + newline)
                return
            except RuntimeError:
                # The prompt's loop closed in the meantime: nothing is showing any more.
                text = head + newline + self._pending
                self._pending = ""
        self._emit(text)

    def flush(self) -> None:
        """Write a held-back partial line (call once the prompt has ended)."""
        pending, self._pending = self._pending, ""
        self._emit(pending)

    def start_line(self) -> None:
        """Make sure the next thing printed starts a line (before a prompt)."""
        self.flush()
        if not self.at_line_start:
            self._emit("\n")

    def take_back(self, partial: str) -> None:
        """Erase ``partial`` if it is the unfinished last line on the screen."""
        self.flush()
        if partial and not self.at_line_start and self.tail.rpartition("\n")[2] == partial:
            self._write("\r\x1b[2K" if self.color else "\r")
            self.at_line_start = True
            self.tail = self.tail[: -len(partial)]

    def _emit(self, text: str) -> None:
        if text:
            self._write(text)
            self.at_line_start = text.endswith("\n")
            self.tail = (self.tail + text)[-200:]

    def _write_above(self, text: str) -> None:
        # In the prompt thread's asyncio loop.
        run_in_terminal(lambda: self._emit(text), in_executor=False)


def _split_lines(text: str) -> Iterable[tuple[str, str]]:
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield body, line[len(body) :]


def _stdout_writer(stream: TextIO) -> Callable[[str], None]:
    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return write


# --- the REPL -------------------------------------------------------------------------------


class Repl:
    """An interactive prompt attached to one session of a host.

    Args:
        client: A connected client.
        session: The session to attach to (created on the first statement run).
        host_label: How the user named the host; it keys the history and replay files
            and shows in the toolbar.
        input: The prompt_toolkit input (default: the terminal); tests pass a pipe.
        output: The prompt_toolkit output (default: the terminal); tests pass
            ``DummyOutput``.
        write: Where printed text goes (default: ``sys.stdout``).
        color: Color errors and notes (default: when stdout is a terminal and
            ``NO_COLOR`` is not set).
        state: The directory for history and replay marks (default: :func:`state_dir`).
        replay_all: On a first attach, replay all the output the host still holds
            (by default only what was printed since you last detached is replayed).
        handle_signals: Turn SIGINT into a stop while a statement runs (needs the main
            thread; tests driving the prompt with a pipe turn it off).
        poll_interval: Seconds between refreshes of the toolbar's session state.
    """

    def __init__(
        self,
        client: ReplClient,
        session: str,
        *,
        host_label: str = "default",
        input: Input | None = None,
        output: TerminalOutput | None = None,
        write: Callable[[str], None] | None = None,
        color: bool | None = None,
        state: Path | None = None,
        replay_all: bool = False,
        handle_signals: bool = True,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.client = client
        self.session = session
        self.host_label = host_label
        self._input = input
        self._output = output
        if color is None:
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self._screen = _Screen(write or _stdout_writer(sys.stdout), color=color)
        self._state = state_dir() if state is None else state
        self._replay_all = replay_all
        self._handle_signals = handle_signals
        self._poll_interval = poll_interval
        self._info: SessionInfo | None = None
        self._offset = 0
        self._trio_token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._follow_scope: trio.CancelScope | None = None
        self._follow_done = trio.Event()
        self._exec_scope: trio.CancelScope | None = None
        self._wait_scope: trio.CancelScope | None = None
        self._interrupts = 0
        self._prompt_session: PromptSession[str] | None = None
        self._input_session: PromptSession[str] | None = None

    # -- the main loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Run until the user detaches (Ctrl-D or ``%detach``).

        Raises:
            SpeError: The connection failed; the session is unaffected.
        """
        self._trio_token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self._handle_signals:
                await nursery.start(self._watch_interrupts)
            try:
                await self._enter(self.session, banner=True)
                nursery.start_soon(self._poll_info)
                await self._loop()
            finally:
                self._save_mark()
                nursery.cancel_scope.cancel()

    async def _loop(self) -> None:
        while True:
            await self._follow()
            self._screen.start_line()
            try:
                text = await self._prompt(self._main_session())
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            code = text.strip("\n").rstrip()
            if not code.strip():
                continue
            if code.lstrip().startswith("%"):
                if not await self._meta(code.strip()):
                    break
                continue
            await self._run_code(code)
        self._screen.start_line()
        host = "" if self.host_label == "default" else f" {self.host_label}"
        self._screen.show(
            f"detached from session {self.session!r}; it lives on "
            f"(`spe-host attach{host} --session {self.session}` comes back)\n",
            "note",
        )

    async def _prompt(self, prompt_session: PromptSession[str], message: str | None = None) -> str:
        """Run ``prompt()`` in a worker thread; on cancellation close it and wait."""
        finished = threading.Event()
        abandoned = False

        def pre_run() -> None:
            if abandoned:  # cancelled before the prompt even started
                prompt_session.app.exit(exception=EOFError())

        def run() -> str:
            try:
                if message is None:
                    return prompt_session.prompt(pre_run=pre_run)
                return prompt_session.prompt(message, pre_run=pre_run)
            finally:
                finished.set()

        self._screen.app = prompt_session.app
        try:
            return await trio.to_thread.run_sync(run, abandon_on_cancel=True)
        except trio.Cancelled:
            abandoned = True
            _exit_app(prompt_session.app)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(finished.wait, 2.0)
            raise
        finally:
            self._screen.app = None
            self._screen.flush()

    # -- attaching to a session --------------------------------------------------------

    async def _enter(self, session: str, *, banner: bool = False) -> None:
        """Attach to ``session``: refresh its state, pick the replay offset, reset the prompt."""
        await self._unfollow()
        self._save_mark()
        self.session = session
        self._info = None
        await self._refresh_info()
        info = self._info
        self._offset = self._start_offset(info)
        self._prompt_session = None
        if banner:
            self._screen.show(self._banner(), "note")
        if info is not None and self._offset < info.output_offset:
            self._screen.show(
                f"--- output of session {session!r} since you left "
                f"({info.output_offset - self._offset} bytes) ---\n",
                "note",
            )

    def _banner(self) -> str:
        info = self._info
        state = "new, created when you run code" if info is None else info.state
        role = getattr(self.client, "role", "admin")
        server = getattr(self.client, "server", self.host_label)
        pid = getattr(self.client, "pid", 0)
        lines = [
            f"attached to {server} (pid {pid}, {role}), session {self.session!r} ({state})",
            "Ctrl-D detaches and leaves the session alive; %help lists the commands",
        ]
        if role != "admin":
            lines.append("an operator may watch and stop sessions but not run code")
        return "\n".join(lines) + "\n"

    def _start_offset(self, info: SessionInfo | None) -> int:
        if info is None:
            return 0  # a new session's output starts at 0
        mark = _load_mark(_mark_path(self._state, self.host_label, self.session))
        if (
            mark is not None
            and math.isclose(mark.created_at, info.created_at, abs_tol=1e-3)
            and mark.offset <= info.output_offset
        ):
            return mark.offset
        return 0 if self._replay_all else info.output_offset

    def _save_mark(self) -> None:
        info = self._info
        if info is not None and info.id == self.session:
            _save_mark(
                _mark_path(self._state, self.host_label, self.session),
                _Mark(info.created_at, self._offset),
            )

    async def _refresh_info(self) -> None:
        session = self.session
        infos = await self.client.sessions(session)
        if session == self.session:
            self._info = next((i for i in infos if i.id == session), None)

    async def _poll_info(self) -> None:
        while True:
            await trio.sleep(self._poll_interval)
            await self._refresh_info()
            if self._screen.app is not None and self._exec_scope is None:
                # At the prompt: a session created meanwhile (say by `spe-host start`)
                # starts streaming now rather than after the next statement.
                await self._follow()

    # -- following the session's output while at the prompt ----------------------------

    async def _follow(self) -> None:
        """Stream the session's output above the prompt, from the offset seen last."""
        if self._follow_scope is not None or self._info is None or self._nursery is None:
            return
        self._follow_done = trio.Event()
        self._follow_scope = trio.CancelScope()
        self._nursery.start_soon(self._follow_task, self.session, self._follow_scope)

    async def _follow_task(self, session: str, scope: trio.CancelScope) -> None:
        try:
            with scope:
                async with self.client.subscribe(session, self._offset) as events:
                    async for event in events:
                        self._on_event(event)
                # The stream ends when the session is removed.
                if session == self.session:
                    self._info = None
                    self._offset = 0
                    self._screen.show(f"session {session!r} was removed\n", "note")
        except SessionNotFound:
            if session == self.session:
                self._info = None
                self._offset = 0
        finally:
            if self._follow_scope is scope:
                self._follow_scope = None
            self._follow_done.set()

    async def _unfollow(self) -> None:
        scope = self._follow_scope
        if scope is not None:
            scope.cancel()
            await self._follow_done.wait()

    def _on_event(self, event: Output | Progress) -> None:
        # Progress shows in the toolbar, from the session's state; the events add nothing.
        if isinstance(event, Progress):
            return
        if event.dropped:
            self._screen.show(f"[... {event.dropped} bytes dropped ...]\n", "note")
        self._screen.show(event.text)
        self._offset = max(self._offset, event.offset + len(event.text.encode("utf-8", "replace")))

    # -- running code -------------------------------------------------------------------

    async def _run_code(self, code: str) -> None:
        await self._unfollow()
        self._interrupts = 0
        info: ExecutionResult | None = None
        try:
            with trio.CancelScope() as scope:
                self._exec_scope = scope
                info = await self.client.execute(
                    self.session,
                    code,
                    interactive=True,
                    on_output=self._on_event,
                    on_input=self._answer_input,
                )
        except SessionBusy as exc:
            self._screen.show(
                f"{exc}\n(%stop stops it, %wait waits for it; its output shows here)\n", "error"
            )
        except (PermissionDenied, SessionNotFound, LocalProtocolError) as exc:
            # LocalProtocolError: the input itself cannot be sent (over the frame limit).
            self._screen.show(f"{exc}\n", "error")
        finally:
            self._exec_scope = None
        if info is None and scope.cancelled_caught:
            self._screen.start_line()
            self._screen.show(
                f"stopped waiting; the statement goes on in session {self.session!r} "
                "and its output shows here\n",
                "warning",
            )
        elif info is not None:
            self._show_result(info)
        await self._refresh_info()

    def _show_result(self, info: ExecutionResult) -> None:
        screen = self._screen
        if info.value is not None:
            screen.start_line()
            screen.show(info.value + "\n")
        if info.error:
            screen.start_line()
            screen.show(info.error if info.error.endswith("\n") else info.error + "\n", "error")
        elif info.status == "aborted":
            screen.start_line()
            screen.show(f"session {info.session!r} was stopped\n", "error")

    async def _answer_input(self, prompt: str) -> str | None:
        """Answer the script's ``input()`` with an inline prompt (None: end of file)."""
        if self._input_session is None:
            self._input_session = PromptSession(input=self._input, output=self._output)
        # input() writes its prompt to the script's stdout, which was streamed here
        # already. prompt_toolkit redraws from the start of the line when it accepts
        # the answer and would wipe a prompt it did not draw itself, so the streamed
        # copy is erased and prompt_toolkit draws the prompt.
        self._screen.take_back(prompt)
        try:
            answer = await self._prompt(self._input_session, prompt)
            # Accepting the answer moved the terminal's cursor to a fresh line.
            self._screen.at_line_start = True
            return answer
        except EOFError:
            return None
        except KeyboardInterrupt:
            await self._interrupt()
            return None

    # -- Ctrl-C -----------------------------------------------------------------------

    async def _watch_interrupts(self, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                # The terminal echoed ^C where the cursor was; what we say goes below it.
                if self._exec_scope is not None and self._interrupts == 0:
                    self._screen.show("\n")
                await self._interrupt()

    async def _interrupt(self) -> None:
        """Ctrl-C while something runs: stop the session; the third time, stop waiting."""
        if self._wait_scope is not None:
            self._wait_scope.cancel()
            return
        if self._exec_scope is None:
            return
        self._interrupts += 1
        screen = self._screen
        screen.start_line()
        if self._interrupts == 1:
            outcome = (await self.client.stop(self.session)).get(self.session, "not_found")
            if outcome in ("requested", "already_stopping"):
                screen.show(
                    f"stop requested: session {self.session!r} stops at its next statement "
                    "(a blocking call finishes first)\n",
                    "warning",
                )
            else:
                screen.show(f"stop: {outcome.replace('_', ' ')}\n", "warning")
        elif self._interrupts == 2:
            screen.show(
                "still stopping: the session is inside a call that has not returned yet; "
                "press Ctrl-C again to stop waiting for it\n",
                "warning",
            )
        else:
            self._exec_scope.cancel()

    # -- meta-commands -------------------------------------------------------------------

    async def _meta(self, line: str) -> bool:
        """Run a ``%`` command; returns False to detach."""
        try:
            words = shlex.split(line[1:])
        except ValueError as exc:
            self._screen.show(f"cannot parse {line!r}: {exc}\n", "error")
            return True
        command, args = (words[0], words[1:]) if words else ("help", [])
        screen = self._screen
        try:
            if command == "ls":
                infos = await self.client.sessions(*args)
                screen.show(format_sessions(infos) if infos else "no sessions\n")
            elif command == "stop":
                outcomes = await self.client.stop(*(args or [self.session]))
                screen.show(format_table(["SESSION", "OUTCOME"], sorted(outcomes.items())))
            elif command == "session":
                if len(args) > 1:
                    screen.show("usage: %session [SESSION]\n", "error")
                elif not args:
                    screen.show(f"this is session {self.session!r}\n")
                else:
                    check_session_id(args[0])
                    await self._enter(args[0])
                    state = "new" if self._info is None else self._info.state
                    screen.show(f"switched to session {args[0]!r} ({state})\n", "note")
            elif command == "wait":
                await self._wait(args)
            elif command == "help":
                screen.show(_help_text())
            elif command in ("detach", "exit", "quit"):
                return False
            else:
                screen.show(f"unknown command %{command}; %help lists the commands\n", "error")
        except (SessionNotFound, SessionBusy, PermissionDenied, ValueError) as exc:
            screen.show(f"{exc}\n", "error")
        return True

    async def _wait(self, args: list[str]) -> None:
        timeout: float | None = None
        if args and _is_number(args[-1]):
            timeout = float(args.pop())
        targets = args or [self.session]
        with trio.CancelScope() as scope:
            self._wait_scope = scope
            try:
                finished = await self.client.wait(*targets, timeout=timeout)
            finally:
                self._wait_scope = None
        if scope.cancelled_caught:
            self._screen.start_line()
            self._screen.show("stopped waiting\n", "warning")
            return
        done = {info.id for info in finished}
        if finished:
            self._screen.show(format_sessions(finished))
        pending = [t for t in targets if t not in done and not is_pattern(t)]
        if pending:
            self._screen.show(f"still running: {', '.join(pending)}\n", "warning")

    # -- the prompt ------------------------------------------------------------------------

    def _main_session(self) -> PromptSession[str]:
        if self._prompt_session is None:
            self._prompt_session = self._make_prompt_session()
        return self._prompt_session

    def _make_prompt_session(self) -> PromptSession[str]:
        history: History
        try:
            path = history_path(self.host_label, self.session, self._state)
            _private_dirs(path.parent)
            history = FileHistory(str(path))
        except OSError:
            history = InMemoryHistory()
        return PromptSession(
            self._message,
            multiline=True,
            lexer=make_lexer(),
            completer=RemoteCompleter(self._fetch_completions, self._fetch_session_ids),
            complete_in_thread=True,
            # Completion asks the host (jedi in the host's process): on Tab only, not
            # on every keystroke.
            complete_while_typing=False,
            auto_suggest=AutoSuggestFromHistory(),
            history=history,
            enable_history_search=False,
            key_bindings=python_key_bindings(),
            prompt_continuation=_continuation,
            bottom_toolbar=self._toolbar,
            style=_STYLE,
            refresh_interval=0.5,
            input=self._input,
            output=self._output,
        )

    def _message(self) -> StyleAndTextTuples:
        return [("class:prompt.session", f"{self.session} "), ("class:prompt", ">>> ")]

    def _toolbar(self) -> FormattedText:
        info = self._info
        state = "new" if info is None else info.state
        parts: StyleAndTextTuples = [
            ("class:toolbar.host", f" {self.host_label} "),
            ("class:toolbar", " session "),
            ("class:toolbar.session", self.session),
            ("class:toolbar", "  "),
            (f"class:toolbar.state.{state}", f" {state} "),
        ]
        if info is not None and info.location:
            parts.append(("class:toolbar", f"  at {info.location}"))
        if info is not None and info.state in ("running", "stopping"):
            progress = _format_progress(info)
            if progress != "-":
                parts.append(("class:toolbar", f"  {progress}"))
        parts.append(("class:toolbar.hint", "   Tab complete · Ctrl-D detach · %help"))
        return FormattedText(parts)

    def _fetch_completions(self, text: str, cursor: int) -> list[WireCompletion]:
        # Called in a prompt_toolkit completion thread: hop into trio with the token.
        return trio.from_thread.run(
            self._complete_remote, text, cursor, trio_token=self._trio_token
        )

    async def _complete_remote(self, text: str, cursor: int) -> list[WireCompletion]:
        with trio.move_on_after(COMPLETE_TIMEOUT):
            try:
                return await self.client.complete(self.session, text, cursor)
            except SpeError:
                return []
        return []

    def _fetch_session_ids(self) -> list[str]:
        async def ids() -> list[str]:
            with trio.move_on_after(COMPLETE_TIMEOUT):
                return [info.id for info in await self.client.sessions()]
            return []

        return trio.from_thread.run(ids, trio_token=self._trio_token)


def _exit_app(app: Application[Any]) -> None:
    """Ask a prompt running in another thread to end with EOFError."""

    def exit_now() -> None:
        if app.is_running and app.future is not None and not app.future.done():
            app.exit(exception=EOFError())

    loop = app.loop
    if loop is not None and app.is_running:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(exit_now)


def _continuation(width: int, line_number: int, wrap_count: int) -> StyleAndTextTuples:
    return [("class:prompt.continuation", "... ".rjust(width))]


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0


def _help_text() -> str:
    width = max(len(usage) for usage in META_COMMANDS)
    lines = [f"  {usage.ljust(width)}  {text}" for usage, text in META_COMMANDS.items()]
    return "Commands:\n" + "\n".join(lines) + "\n" + _KEYS_HELP + "\n"


_STYLE = Style.from_dict(
    {
        "prompt.session": "ansicyan",
        "prompt": "ansigreen bold",
        "prompt.continuation": "ansigreen",
        "bottom-toolbar": "noreverse bg:#222222 #aaaaaa",
        "toolbar.host": "bg:#005f87 #ffffff bold",
        "toolbar.session": "bold #ffffff",
        "toolbar.state.idle": "bg:#2e7d32 #ffffff",
        "toolbar.state.new": "bg:#555555 #ffffff",
        "toolbar.state.running": "bg:#b58900 #000000",
        "toolbar.state.stopping": "bg:#c62828 #ffffff",
        "toolbar.state.closed": "bg:#555555 #ffffff",
        "toolbar.hint": "#777777",
    }
)


def python_key_bindings() -> KeyBindings:
    """Enter, Tab and Backspace as a Python prompt wants them (as in ptpython).

    * Enter runs the input when it is a complete statement and the cursor is at the
      end; otherwise it opens a new line, auto-indented. With a completion selected in
      the menu, Enter just accepts it.
    * Esc Enter runs the input as it is.
    * Tab in the indentation inserts four spaces instead of completing.
    * Backspace in the indentation removes back to the previous indent stop.
    """
    bindings = KeyBindings()

    def line_before_cursor() -> str:
        return get_app().current_buffer.document.current_line_before_cursor

    @Condition
    def in_indentation() -> bool:
        return not line_before_cursor().strip()

    @Condition
    def after_indentation() -> bool:
        before = line_before_cursor()
        return bool(before) and not before.strip()

    @bindings.add("enter", eager=True)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.complete_state = None
            return
        document = buffer.document
        at_end = not document.text_after_cursor.strip()
        if at_end and not needs_more_input(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n" + indent_for_next_line(document.text_before_cursor))

    @bindings.add("escape", "enter")
    def _run_as_is(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("tab", filter=in_indentation)
    def _indent(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(INDENT)

    @bindings.add("backspace", filter=after_indentation)
    def _dedent(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        before = buffer.document.current_line_before_cursor
        remove = len(before) % len(INDENT) or len(INDENT)
        buffer.delete_before_cursor(min(remove, len(before)))

    return bindings


# --- stdin is not a terminal ---------------------------------------------------------------


async def run_piped(
    client: ReplClient,
    session: str,
    stream: TextIO,
    *,
    write: Callable[[str], None] | None = None,
    error: Callable[[str], None] | None = None,
) -> bool:
    """Run statements read from a pipe (``echo 'print(1)' | spe-host attach``).

    Lines are grouped into statements the way the prompt groups them; each statement runs
    when it is complete, its output and value go to ``write`` and errors to ``error``.
    ``input()`` in the script reads the next line of the stream.

    Args:
        client: A connected client.
        session: The session to run in.
        stream: Where the statements come from.
        write: Where output goes (default: stdout).
        error: Where tracebacks go (default: stderr).

    Returns:
        True if every statement completed, False if one failed or was aborted.
    """
    out = write or _stdout_writer(sys.stdout)
    err = error or _stdout_writer(sys.stderr)
    ok = True

    async def read_line() -> str:
        return await trio.to_thread.run_sync(stream.readline, abandon_on_cancel=True)

    async def answer(prompt: str) -> str | None:
        out(prompt)
        line = await read_line()
        return line.rstrip("\n") if line else None

    async def run(code: str) -> None:
        nonlocal ok
        if not code.strip():
            return
        info = await client.execute(
            session,
            code,
            interactive=True,
            on_output=lambda event: out(event.text),
            on_input=answer,
        )
        if info.value is not None:
            out(info.value + "\n")
        if info.error:
            err(info.error if info.error.endswith("\n") else info.error + "\n")
        ok = ok and info.status == "completed"

    buffered = ""
    while line := await read_line():
        buffered += line
        # Without its own newline, so that a blank line shows as an empty last line.
        if not needs_more_input(buffered[:-1] if buffered.endswith("\n") else buffered):
            code, buffered = buffered.rstrip(), ""
            await run(code)
    await run(buffered.rstrip())
    return ok
