"""The REPL client: ``spe-host attach``, a prompt_toolkit prompt on a remote session.

Theory of operation
-------------------
Two threads, one job each, as trio's own ``_repl.py`` splits them:

* The **trio thread** owns the connection. It sends what the user typed, streams the
  session's output (``_follow.py``), answers ``input()``, turns Ctrl-C into a ``stop``
  request (``_interrupt.py``) and keeps the toolbar's view of the session fresh.
* The **prompt thread** runs prompt_toolkit's synchronous ``PromptSession.prompt()``
  (``_prompt.py``), which brings its own asyncio loop. Completion calls back into trio
  with the trio token, so it can use the connection; everything else crosses the
  threads only as the prompt's return value.

Only one of them writes to the terminal at a time. While a statement runs there is no
prompt, and output is written straight out. While the prompt is showing, output (from a
background job in the session, or a thread the script left running) is printed above
the prompt and the line being edited is redrawn intact (``_screen.py``).

The REPL remembers, per host and session, the output offset it had seen when it
detached; attaching again subscribes from there, so what the session printed while
you were away is replayed first (``_history.py``, which also keeps the input history).

The toolbar's view of the session (``Repl.info``) is read once when the REPL attaches,
then kept fresh by the host: the REPL watches the attached session (``Client.watch``)
and each pushed change replaces ``info`` and redraws the prompt, so a job that another
client starts, its progress and its end show at once, with no polling; while a
statement runs, the same pushes tell what a pending stop waits for (``_interrupt.py``). ``%session``
ends that watch and watches the new session.

This module is the loop itself: attach, prompt, run what was typed (a ``%`` command
goes to ``_commands.py``), show the result, follow the output, detach.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import trio
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output as TerminalOutput

from .._errors import SessionBusy, SpeError, TransportError
from .._model import ExecutionResult, InputPrompt, SessionInfo, SessionState, StateChange
from ._client import OutputChunk, ProgressReport, ReplClient
from ._commands import MetaCommands, is_exit
from ._display import attach_banner, show_result
from ._ended import RunEnds
from ._follow import Follower
from ._history import Mark, load_mark, mark_path, save_mark, start_offset, state_dir
from ._interrupt import Interrupts
from ._keys import PromptOptions
from ._prompt import Prompts, run_prompt
from ._screen import Screen, stdout_writer
from ._style import make_style
from ._terminal import terminal_output, typing_ahead

__all__ = ["Repl"]


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
        loop: Start in loop mode (``%loop`` switches it).
        style: The code's colours: ``default`` (the terminal's ANSI palette, for dark
            and light backgrounds), ``none``, or a pygments style name (default:
            ``$SPE_HOST_STYLE``, else ``default``).

    Attributes:
        session: The session attached now (``%session`` changes it).
        info: The host's last word on that session (None: it does not exist yet),
            as the host pushed it.
        screen: Where everything the REPL prints goes.
        interrupts: What Ctrl-C stops.
        prompts: The statement and ``input()`` prompts.
        loop: Run statements in loop mode: in the app's trio thread, where its trio
            objects work directly but a blocking call freezes the app. Sent with
            each statement; shown in the toolbar.
        options: What F2 and F6 switch (completion while typing, paste mode).
        style: The style the prompt uses.
        pages: Show ``help(obj)`` and ``obj?`` through the pager (on a terminal).
        echoes: Keys typed while a statement runs are echoed (not on the terminal).
        follower: What streams the session's output.
        run_ends: What reports the end of runs the REPL did not start.
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
        loop: bool = False,
        style: str | None = None,
    ) -> None:
        self.client = client
        self.session = session
        self.loop = loop
        self.host_label = host_label
        if color is None:
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self.screen = Screen(write or stdout_writer(sys.stdout), color=color)
        self.state_dir = state_dir() if state is None else state
        self.info: SessionInfo | None = None
        self.interrupts = Interrupts(self)
        #: On the real terminal: keys typed while a statement runs wait for the prompt.
        self._terminal = input is None and output is None and sys.stdin.isatty()
        #: Whether keys typed while a statement runs are echoed.
        self.echoes = not self._terminal
        if self._terminal:
            output = terminal_output()
        self.prompts = Prompts(self, input, output)
        self.run_ends = RunEnds(self)
        self.pages = self._terminal
        self.options = PromptOptions()
        self.style = style or os.environ.get("SPE_HOST_STYLE") or "default"
        self._style_error: str | None = None
        try:
            make_style(self.style)
        except ValueError as exc:
            self._style_error = f"{exc}; using the default style"
            self.style = "default"
        #: A line to put back into the next prompt (it could not run yet).
        self.kept = ""
        self._commands = MetaCommands(self)
        self.follower = Follower(client, self.screen, self._gone)
        self._replay_all = replay_all
        self._handle_signals = handle_signals
        self._nursery: trio.Nursery | None = None
        self._watch_scope: trio.CancelScope | None = None

    async def run(self) -> None:
        """Run until the user detaches (Ctrl-D or ``%detach``).

        Raises:
            SpeError: The connection failed; the session is unaffected.
        """
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self._handle_signals:
                await nursery.start(self.interrupts.watch)
            try:
                # Between prompts, keys typed wait for the next one (not echoed, not
                # lost); prompt_toolkit's raw mode comes back to this one.
                with self._typing_ahead():
                    await self.enter(self.session, banner=True)
                    await self._loop()
            finally:
                self._save_mark()
                self.prompts.close()
                nursery.cancel_scope.cancel()

    async def _loop(self) -> None:
        while True:
            self._follow()
            self.screen.start_line()
            kept, self.kept = self.kept, ""
            try:
                text = await run_prompt(self.screen, self.prompts.statement(), default=kept)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            code = text.strip("\n").rstrip()
            if not code.strip():
                continue
            if is_exit(code):
                self.screen.show(f"{code.strip()} detaches, as Ctrl-D does\n", "note")
                break
            try:
                if not await self._commands.run(code):
                    break
            except TransportError:
                raise
            except SpeError as exc:
                # Only a lost connection ends the REPL; anything else the host says
                # is shown, and the prompt comes back.
                self.screen.start_line()
                self.screen.show(f"{exc}\n", "error")
        self.screen.start_line()
        host = "" if self.host_label == "default" else f" {self.host_label}"
        self.screen.show(
            f"detached from session {self.session!r}; it lives on "
            f"(`spe-host attach{host} --session {self.session}` comes back)\n",
            "note",
        )

    # -- attaching to a session --------------------------------------------------------

    async def enter(self, session: str, *, banner: bool = False) -> None:
        """Attach to ``session``: watch it, read its state once, pick the replay offset.

        The statement prompt is reset too: its history and toolbar are the session's.
        """
        await self.follower.stop()
        self._save_mark()
        self.session = session
        self.info = None
        # Watch first, then read the state: any change after the reading is pushed.
        await self._watch(session)
        await self._refresh_info()
        info = self.info
        mark = load_mark(mark_path(self.state_dir, self.host_label, session))
        offset = start_offset(mark, info, replay_all=self._replay_all)
        self.follower.offset = offset
        self.follower.forget()
        self.prompts.reset()
        if banner:
            self.screen.show(attach_banner(self), "note")
            if self._style_error is not None:
                self.screen.show(self._style_error + "\n", "warning")
        if info is not None and offset < info.output_offset:
            self.screen.show(
                f"--- output of session {session!r} since you left "
                f"({info.output_offset - offset} bytes) ---\n",
                "note",
            )
            # A run that ended while you were away says how, after its output.
            if self._nursery is not None:
                self.run_ends.changed(self._nursery, info)
        if info is not None:
            self.run_ends.known(info.run)

    def _save_mark(self) -> None:
        info = self.info
        if info is not None and info.id == self.session:
            save_mark(
                mark_path(self.state_dir, self.host_label, self.session),
                Mark(info.created_at, self.follower.offset),
            )

    async def _refresh_info(self) -> None:
        session = self.session
        infos = await self.client.sessions(session)
        if session == self.session:
            self.info = next((i for i in infos if i.id == session), None)

    async def _watch(self, session: str) -> None:
        """Follow the state changes of ``session`` alone, ending the previous watch."""
        if self._watch_scope is not None:
            self._watch_scope.cancel()
        self._watch_scope = None
        if self._nursery is not None:
            self._watch_scope = await self._nursery.start(self._watch_changes, session)

    async def _watch_changes(
        self, session: str, task_status: trio.TaskStatus[trio.CancelScope]
    ) -> None:
        with trio.CancelScope() as scope:
            async with self.client.watch(session, locations=True) as changes:
                task_status.started(scope)
                async for change in changes:
                    self._changed(change)

    def _changed(self, change: StateChange) -> None:
        info = change.session
        if info.id != self.session:
            return
        self.info = None if info.state == SessionState.CLOSED else info
        self.interrupts.changed(self.info)
        if self._nursery is not None:
            self.run_ends.changed(self._nursery, self.info)
        app = self.screen.app
        if app is None:
            return
        # The prompt runs in its own thread; invalidate() is its thread-safe redraw,
        # and fails only if that thread's loop has just closed (the prompt ended).
        with contextlib.suppress(RuntimeError):
            app.invalidate()
        if self.interrupts.exec_scope is None:
            # At the prompt: a session created meanwhile (say by `spe-host start`)
            # starts streaming now rather than after the next statement.
            self._follow()

    # -- following the session's output while at the prompt ----------------------------

    def _follow(self) -> None:
        """Stream the session's output above the prompt, from the offset seen last."""
        if self.info is not None and self._nursery is not None:
            self.follower.start(self._nursery, self.session)

    def _gone(self, session: str, removed: bool) -> None:
        if session != self.session:
            return
        self.info = None
        self.follower.offset = 0
        if removed:
            self.screen.show(f"session {session!r} was removed\n", "note")

    # -- running code -------------------------------------------------------------------

    async def run_code(
        self,
        code: str,
        *,
        interactive: bool = True,
        on_output: Callable[[OutputChunk | ProgressReport], object] | None = None,
    ) -> ExecutionResult | None:
        """Run ``code`` in the session, streaming its output; show its result.

        Args:
            code: The statement (or a file's code).
            interactive: Show the value of a final expression, and bind it to ``_``.
            on_output: Where the output goes (default: the screen, through the
                follower).

        Returns:
            The result, or None if the statement could not run or was left running.
        """
        await self.follower.stop()
        result: ExecutionResult | None = None
        try:
            with self.interrupts.running() as scope:
                result = await self.client.execute(
                    self.session,
                    code,
                    interactive=interactive,
                    on_output=self.follower.on_event if on_output is None else on_output,
                    on_input=self._answer_input,
                    loop=self.loop,
                )
        except SessionBusy as exc:
            # A background run holds the session: the line waits in the prompt.
            self.kept = code
            self.screen.show(
                f"{exc}\n(the line is kept in the prompt; %stop stops the run, %wait waits "
                "for it; its output shows here)\n",
                "error",
            )
        if result is None and scope.cancelled_caught:
            self.screen.start_line()
            self.screen.show(
                f"stopped waiting; the statement goes on in session {self.session!r} "
                "and its output shows here\n",
                "warning",
            )
        elif result is not None:
            self.run_ends.known(result.run)
            show_result(self.screen, result)
        return result

    def _typing_ahead(self) -> contextlib.AbstractContextManager[None]:
        return typing_ahead() if self._terminal else contextlib.nullcontext()

    async def _answer_input(self, prompt: InputPrompt) -> str | None:
        """Answer the script's ``input()`` with an inline prompt (None: end of file);
        a ``getpass()`` answer is not echoed."""
        answer_prompt = self.prompts.answer()
        # input() writes its prompt to the script's stdout, which was streamed here
        # already. prompt_toolkit redraws from the start of the line when it accepts
        # the answer and would wipe a prompt it did not draw itself, so the streamed
        # copy is erased and prompt_toolkit draws the prompt.
        self.screen.take_back(prompt)
        try:
            answer = await run_prompt(self.screen, answer_prompt, prompt, secret=prompt.secret)
            # Accepting the answer moved the terminal's cursor to a fresh line.
            self.screen.at_line_start = True
            return answer
        except EOFError:
            return None
        except KeyboardInterrupt:
            await self.interrupts.interrupt()
            return None
