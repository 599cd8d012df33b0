"""What the REPL does with a line: ``%`` commands, ``obj?``, ``help(obj)``, or Python.

A line starting with ``%`` is never valid Python, so the REPL runs it itself instead
of sending it to the host; nor is ``obj?`` (IPython's "tell me about obj"). The
IPython-style commands that look at live objects (``%timeit``, ``%who``, ``obj?``)
send a small program to the session (``_magic.py``). ``help(obj)`` and ``obj?`` go
through a pager on a terminal. Anything else is Python, run in the session.
:data:`META_COMMANDS` is the list ``%help`` prints and the completer offers;
:class:`MetaCommands` runs one line against the REPL that owns it. A command's
failure (an unknown session, a bad pattern, no permission) is printed and the prompt
comes back; only ``%detach``, ``exit()`` and a statement raising ``SystemExit`` end
the REPL.
"""

from __future__ import annotations

import ast
import math
import pydoc
import re
import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from .._errors import PermissionDenied, SessionBusy, SessionNotFound
from .._format import format_sessions, format_table
from .._model import ExecutionResult, OutputChunk, ProgressReport, check_session_id, is_pattern
from ._magic import inspect_code, timeit_code, who_code

if TYPE_CHECKING:
    from ._repl import Repl

__all__ = ["META_COMMANDS", "MetaCommands", "help_text", "is_exit", "raised_system_exit"]

#: The REPL's own commands; a line starting with ``%`` is never valid Python.
META_COMMANDS: dict[str, str] = {
    "%ls [PATTERN ...]": "list the host's sessions (all, or those matching the patterns)",
    "%stop [SESSION ...]": "ask sessions to stop at their next statement (default: this one)",
    "%session [SESSION]": "switch to another session (created when you first run code in it)",
    "%wait [SESSION ...] [SECONDS]": "wait for sessions to finish; Ctrl-C stops waiting",
    "%loop [on|off]": "on: run statements in the app's trio thread, where its trio objects "
    "work but a blocking call freezes the app; off (default): on the session's own thread",
    "%time STATEMENT": "run the statement and say how long it took on the host",
    "%timeit [-n N] [-r R] STATEMENT": "time a statement as IPython does (in the session)",
    "%who": "list the names defined in the session",
    "%history [N]": "show the last N statements typed in this session (default 20)",
    "%run FILE": "run a local file's code in the session",
    "%paste [on|off]": "paste mode (also F6): Enter adds lines as they are, a line of "
    "`--` alone or Esc Enter runs them",
    "OBJ? / OBJ??": "describe OBJ: type, signature and docstring; ?? shows its source",
    "%help": "show this help",
    "%detach": "leave the REPL; the session lives on (same as Ctrl-D)",
}

_KEYS_HELP = """\
Keys: Enter runs a complete statement (a blank line ends a block); Esc Enter runs the
input as it is; Tab completes from the session's live namespace (F2: while typing);
F6 paste mode; Ctrl-R searches the history; Ctrl-C at the prompt clears the line,
while a statement runs it stops the session (a second time forces the stop, a third
stops waiting); Ctrl-D on an empty line (or exit()) detaches and leaves the session
running; Ctrl-Z suspends the REPL."""

_DETACH = frozenset({"detach", "exit", "quit"})
_HELP_ON = re.compile(r"^\s*(\?\??)?(.+?)(\?\??)?\s*$", re.DOTALL)
_HISTORY_DEFAULT = 20
# The commands followed by a Python statement, taken as it is.
_RAW = re.compile(r"^%(time|timeit)(?:\s+(.*))?$", re.DOTALL)
_TIMEIT_OPTION = re.compile(r"^-([nr])\s*(\d+)\s+")


def is_exit(code: str) -> bool:
    """Whether ``code`` is ``exit``/``quit`` alone or called (which detaches)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False
    node = tree.body[0].value
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Name) and node.id in ("exit", "quit")


def raised_system_exit(result: ExecutionResult) -> bool:
    """Whether a statement failed by raising ``SystemExit`` (``sys.exit()``)."""
    lines = (result.error or "").strip().splitlines()
    return result.status == "failed" and bool(lines) and lines[-1].startswith("SystemExit")


def _inspected(line: str) -> tuple[str, bool] | None:
    """``(expr, source)`` when ``line`` is ``expr?``, ``expr??``, ``?expr`` or ``??expr``."""
    match = _HELP_ON.match(line)
    if match is None or not (match.group(1) or match.group(3)):
        return None
    expr = match.group(2).strip()
    try:
        ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError):
        return None
    return expr, (match.group(1) or match.group(3)) == "??"


def _help_call(code: str) -> bool:
    """Whether ``code`` is one call ``help(obj)`` (which goes through the pager)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False
    call = tree.body[0].value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "help"
        and bool(call.args)
    )


def help_text() -> str:
    """What ``%help`` prints: the commands, then the keys."""
    width = max(len(usage) for usage in META_COMMANDS)
    lines = [f"  {usage.ljust(width)}  {text}" for usage, text in META_COMMANDS.items()]
    return "Commands:\n" + "\n".join(lines) + "\n" + _KEYS_HELP + "\n"


class MetaCommands:
    """Runs ``%`` lines against a REPL: its client, its session, its screen.

    Args:
        repl: The REPL the commands act on (``%session`` switches its session).
    """

    def __init__(self, repl: Repl) -> None:
        self._repl = repl
        self._commands: dict[str, Callable[[list[str]], Awaitable[None]]] = {
            "ls": self._ls,
            "stop": self._stop,
            "session": self._session,
            "wait": self._wait,
            "loop": self._loop,
            "time": self._time,
            "timeit": self._timeit,
            "who": self._who,
            "history": self._history,
            "run": self._run_file,
            "paste": self._paste,
            "help": self._help,
        }

    async def run(self, code: str) -> bool:
        """Run what was typed: a ``%`` line, ``obj?``, ``help(obj)`` or Python.

        Args:
            code: The input as typed (stripped of blank lines around it).

        Returns:
            False if it asks to detach, else True.
        """
        if code.lstrip().startswith("%"):
            return await self._meta(code.strip())
        inspected = _inspected(code)
        if inspected is not None:
            expr, source = inspected
            await self._paged(inspect_code(expr, source=source))
            return True
        if _help_call(code):
            await self._paged(code)
            return True
        return await self._python(code)

    async def _python(self, code: str, *, interactive: bool = True) -> bool:
        result = await self._repl.run_code(code, interactive=interactive)
        if result is not None and raised_system_exit(result):
            self._repl.screen.show("SystemExit detaches, as Ctrl-D does\n", "note")
            return False
        return True

    async def _paged(self, code: str) -> None:
        """Run ``code``, then show its output through the pager on a terminal."""
        repl = self._repl
        if not repl.pages:
            await repl.run_code(code)
            return
        pieces: list[str] = []

        def collect(event: OutputChunk | ProgressReport) -> None:
            if isinstance(event, OutputChunk):
                pieces.append(event.text)
                repl.follower.offset = max(repl.follower.offset, event.end)

        await repl.run_code(code, on_output=collect)
        if pieces:
            await trio.to_thread.run_sync(pydoc.pager, "".join(pieces))

    async def _meta(self, line: str) -> bool:
        screen = self._repl.screen
        raw = _RAW.match(line)
        try:
            if raw is not None:
                # Python follows: its quotes are its own, not a shell's.
                words = [raw.group(1), *([raw.group(2)] if raw.group(2) else [])]
            else:
                words = shlex.split(line[1:])
        except ValueError as exc:
            screen.show(f"cannot parse {line!r}: {exc}\n", "error")
            return True
        command, args = (words[0], words[1:]) if words else ("help", [])
        if command in _DETACH:
            return False
        handler = self._commands.get(command)
        if handler is None:
            screen.show(f"unknown command %{command}; %help lists the commands\n", "error")
            return True
        try:
            await handler(args)
        except (SessionNotFound, SessionBusy, PermissionDenied, ValueError) as exc:
            screen.show(f"{exc}\n", "error")
        return True

    async def _ls(self, args: list[str]) -> None:
        infos = await self._repl.client.sessions(*args)
        self._repl.screen.show(format_sessions(infos) if infos else "no sessions\n")

    async def _stop(self, args: list[str]) -> None:
        outcomes = await self._repl.client.stop(*(args or [self._repl.session]))
        self._repl.screen.show(format_table(["SESSION", "OUTCOME"], sorted(outcomes.items())))

    async def _session(self, args: list[str]) -> None:
        repl = self._repl
        if len(args) > 1:
            repl.screen.show("usage: %session [SESSION]\n", "error")
        elif not args:
            repl.screen.show(f"this is session {repl.session!r}\n")
        else:
            check_session_id(args[0])
            await repl.enter(args[0])
            state = "new" if repl.info is None else repl.info.state
            repl.screen.show(f"switched to session {args[0]!r} ({state})\n", "note")

    async def _wait(self, args: list[str]) -> None:
        repl = self._repl
        timeout: float | None = None
        if args and _is_number(args[-1]):
            timeout = float(args.pop())
        targets = args or [repl.session]
        with repl.interrupts.waiting() as scope:
            finished = await repl.client.wait(*targets, timeout=timeout)
        if scope.cancelled_caught:
            repl.screen.start_line()
            repl.screen.show("stopped waiting\n", "warning")
            return
        done = {info.id for info in finished}
        if finished:
            repl.screen.show(format_sessions(finished))
        pending = [t for t in targets if t not in done and not is_pattern(t)]
        if pending:
            repl.screen.show(f"still running: {', '.join(pending)}\n", "warning")

    async def _loop(self, args: list[str]) -> None:
        repl = self._repl
        if len(args) > 1 or (args and args[0] not in ("on", "off")):
            repl.screen.show("usage: %loop [on|off]\n", "error")
            return
        if args:
            repl.loop = args[0] == "on"
        if repl.loop:
            repl.screen.show(
                "loop mode: statements run in the app's trio thread; trio objects work "
                "directly, but a blocking call freezes the app (%loop off leaves it)\n",
                "note",
            )
        else:
            repl.screen.show(
                "worker mode: statements run on the session's own thread; reach the "
                "app's trio objects with spe.run_sync(fn, *args) (%loop on for loop mode)\n",
                "note",
            )

    async def _time(self, args: list[str]) -> None:
        code = args[0] if args else ""
        if not code.strip():
            self._repl.screen.show("usage: %time STATEMENT\n", "error")
            return
        result = await self._repl.run_code(code)
        if result is not None:
            took = result.finished_at - result.started_at
            self._repl.screen.show(f"Wall time: {_duration(took)} (on the host)\n", "note")

    async def _timeit(self, args: list[str]) -> None:
        number, repeat = 0, 7
        stmt = args[0] if args else ""
        while option := _TIMEIT_OPTION.match(stmt):
            if option.group(1) == "n":
                number = int(option.group(2))
            else:
                repeat = max(1, int(option.group(2)))
            stmt = stmt[option.end() :]
        if not stmt.strip():
            self._repl.screen.show("usage: %timeit [-n N] [-r R] STATEMENT\n", "error")
            return
        await self._repl.run_code(timeit_code(stmt, number=number, repeat=repeat))

    async def _who(self, args: list[str]) -> None:
        await self._repl.run_code(who_code())

    async def _history(self, args: list[str]) -> None:
        repl = self._repl
        count = int(args[0]) if args and args[0].isdigit() else _HISTORY_DEFAULT
        # Newest first in the history; shown oldest first, numbered from the oldest.
        entries = list(repl.prompts.statement().history.get_strings())
        if entries and entries[-1].lstrip().startswith("%history"):
            entries.pop()  # this very command
        shown = entries[-count:] if count else []
        first = len(entries) - len(shown) + 1
        lines = []
        for number, entry in enumerate(shown, first):
            body = entry.replace("\n", "\n" + " " * 6)
            lines.append(f"{number:>4}  {body}\n")
        repl.screen.show("".join(lines) or "no history yet\n")

    async def _run_file(self, args: list[str]) -> None:
        repl = self._repl
        if len(args) != 1:
            repl.screen.show("usage: %run FILE\n", "error")
            return
        try:
            path = await trio.Path(args[0]).expanduser()
            code = await path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            repl.screen.show(f"cannot read {args[0]!r}: {exc}\n", "error")
            return
        await repl.run_code(code, interactive=False)

    async def _paste(self, args: list[str]) -> None:
        repl = self._repl
        if len(args) > 1 or (args and args[0] not in ("on", "off")):
            repl.screen.show("usage: %paste [on|off]\n", "error")
            return
        repl.options.paste_mode = not args or args[0] == "on"
        if repl.options.paste_mode:
            repl.screen.show(
                "paste mode: Enter adds lines as they are; a line of `--` alone or "
                "Esc Enter runs them (F6 or %paste off leaves it)\n",
                "note",
            )
        else:
            repl.screen.show("paste mode off\n", "note")

    async def _help(self, args: list[str]) -> None:
        self._repl.screen.show(help_text())


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} \u00b5s"


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0
