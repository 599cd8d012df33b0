"""The REPL's own ``%`` commands: ``%ls``, ``%stop``, ``%session``, ``%wait``, ``%loop``...

A line starting with ``%`` is never valid Python, so the REPL runs it itself instead
of sending it to the host. :data:`META_COMMANDS` is the list ``%help`` prints and the
completer offers; :class:`MetaCommands` runs one line against the REPL that owns it.
A command's failure (an unknown session, a bad pattern, no permission) is printed and
the prompt comes back; only ``%detach`` ends the REPL.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .._errors import PermissionDenied, SessionBusy, SessionNotFound
from .._format import format_sessions, format_table
from .._model import check_session_id, is_pattern

if TYPE_CHECKING:
    from ._repl import Repl

__all__ = ["META_COMMANDS", "MetaCommands", "help_text"]

#: The REPL's own commands; a line starting with ``%`` is never valid Python.
META_COMMANDS: dict[str, str] = {
    "%ls [PATTERN ...]": "list the host's sessions (all, or those matching the patterns)",
    "%stop [SESSION ...]": "ask sessions to stop at their next statement (default: this one)",
    "%session [SESSION]": "switch to another session (created when you first run code in it)",
    "%wait [SESSION ...] [SECONDS]": "wait for sessions to finish; Ctrl-C stops waiting",
    "%loop [on|off]": "on: run statements in the app's trio thread, where its trio objects "
    "work but a blocking call freezes the app; off (default): on the session's own thread",
    "%help": "show this help",
    "%detach": "leave the REPL; the session lives on (same as Ctrl-D)",
}

_KEYS_HELP = """\
Keys: Enter runs a complete statement (a blank line ends a block); Esc Enter runs the
input as it is; Tab completes from the session's live namespace; Ctrl-C at the prompt
clears the line, while a statement runs it stops the session (a second time forces the
stop, a third stops waiting); Ctrl-D on an empty line detaches and leaves the session
running."""

_DETACH = frozenset({"detach", "exit", "quit"})


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
            "help": self._help,
        }

    async def run(self, line: str) -> bool:
        """Run one ``%`` line.

        Args:
            line: The line as typed, starting with ``%``.

        Returns:
            False if the command asks to detach, else True.
        """
        screen = self._repl.screen
        try:
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

    async def _help(self, args: list[str]) -> None:
        self._repl.screen.show(help_text())


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0
