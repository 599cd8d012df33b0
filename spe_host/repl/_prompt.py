"""The prompts: the statement prompt with its toolbar, the ``input()`` prompt, and how
either runs in its own thread.

prompt_toolkit's ``PromptSession.prompt()`` is synchronous and brings its own asyncio
loop, so :func:`run_prompt` runs it in a worker thread (``trio.to_thread.run_sync``);
the line typed crosses back as its return value. When trio cancels the wait, the
prompt is asked to end (from its own loop) and the thread is waited for briefly, so
two prompts never share the terminal. Completion runs in a prompt_toolkit completion
thread and calls back into trio with the trio token captured when the prompt was
built, so it can use the connection.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import trio
from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output as TerminalOutput

from .._errors import SpeError
from .._format import format_progress
from .._model import Completion as WireCompletion
from .._model import Signature
from ._completer import RemoteCompleter
from ._history import open_history
from ._keys import python_key_bindings
from ._screen import Screen
from ._signature import SignatureHint
from ._style import continuation, make_lexer, make_style

if TYPE_CHECKING:
    from ._repl import Repl

__all__ = ["COMPLETE_TIMEOUT", "Prompts", "run_prompt"]

# How long a Tab may wait for the host's completions before the menu gives up.
COMPLETE_TIMEOUT = 3.0


async def run_prompt(
    screen: Screen,
    prompt_session: PromptSession[str],
    message: str | None = None,
    *,
    default: str = "",
    secret: bool = False,
) -> str:
    """Run ``prompt()`` in a worker thread; on cancellation close it and wait.

    While it runs, ``screen`` writes above the prompt. ``default`` is the text the
    line starts with; ``secret`` reads it without echo (``getpass()``).

    Raises:
        KeyboardInterrupt: Ctrl-C at the prompt.
        EOFError: Ctrl-D on an empty line.
    """
    finished = threading.Event()
    abandoned = False

    def pre_run() -> None:
        if abandoned:  # cancelled before the prompt even started
            prompt_session.app.exit(exception=EOFError())

    def run() -> str:
        try:
            # Always given: a PromptSession keeps is_password from one call to the next.
            if message is None:
                return prompt_session.prompt(pre_run=pre_run, default=default, is_password=secret)
            return prompt_session.prompt(
                message, pre_run=pre_run, default=default, is_password=secret
            )
        finally:
            finished.set()

    screen.app = prompt_session.app
    try:
        return await trio.to_thread.run_sync(run, abandon_on_cancel=True)
    except trio.Cancelled:
        abandoned = True
        _exit_app(prompt_session.app)
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(finished.wait, 2.0)
        raise
    finally:
        screen.app = None
        screen.flush()


def _exit_app(app: Application[Any]) -> None:
    """Ask a prompt running in another thread to end with EOFError."""

    def exit_now() -> None:
        if app.is_running and app.future is not None and not app.future.done():
            app.exit(exception=EOFError())

    loop = app.loop
    if loop is not None and app.is_running:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(exit_now)


class Prompts:
    """The REPL's two prompts, built on first use.

    ``main`` (for statements) is per session: its history file and toolbar belong to
    the session, so :meth:`reset` drops it when the REPL switches sessions.

    Args:
        repl: The REPL the prompts belong to (its client, session and state).
        input: The prompt_toolkit input (None: the terminal).
        output: The prompt_toolkit output (None: the terminal).
    """

    def __init__(self, repl: Repl, input: Input | None, output: TerminalOutput | None) -> None:
        self._repl = repl
        self._input = input
        self._output = output
        #: The statement prompt of the current session, once built.
        self.main: PromptSession[str] | None = None
        self._answer: PromptSession[str] | None = None
        self._trio_token: trio.lowlevel.TrioToken | None = None
        #: The signature of the call under the cursor, for the toolbar.
        self.hint = SignatureHint(self._fetch_signature)

    def statement(self) -> PromptSession[str]:
        """The statement prompt of the current session (call from the trio thread)."""
        if self.main is None:
            self._trio_token = trio.lowlevel.current_trio_token()
            self.main = self._make_main()
        return self.main

    def answer(self) -> PromptSession[str]:
        """The plain prompt that answers the script's ``input()``."""
        if self._answer is None:
            self._answer = PromptSession(input=self._input, output=self._output)
        return self._answer

    def reset(self) -> None:
        """Forget the statement prompt (the session changed)."""
        self.main = None

    def close(self) -> None:
        """Stop the signature hints' thread (the REPL is ending)."""
        self.hint.close()

    def _make_main(self) -> PromptSession[str]:
        repl = self._repl
        session: PromptSession[str] = PromptSession(
            self._message,
            multiline=True,
            lexer=make_lexer(),
            completer=RemoteCompleter(self._fetch_completions, self._fetch_session_ids),
            complete_in_thread=True,
            # Completion asks the host (jedi in the host's process): on Tab, and on
            # every keystroke only when F2 asks for it.
            complete_while_typing=Condition(lambda: repl.options.complete_while_typing),
            auto_suggest=AutoSuggestFromHistory(),
            history=open_history(repl.host_label, repl.session, repl.state_dir),
            enable_history_search=False,
            key_bindings=python_key_bindings(repl.options),
            enable_suspend=True,
            prompt_continuation=continuation,
            bottom_toolbar=self.toolbar,
            style=make_style(repl.style),
            include_default_pygments_style=False,
            input=self._input,
            output=self._output,
        )
        self.hint.follow(session.default_buffer, session.app)
        return session

    def _message(self) -> StyleAndTextTuples:
        return [("class:prompt.session", f"{self._repl.session} "), ("class:prompt", ">>> ")]

    def toolbar(self) -> FormattedText:
        """The bottom toolbar: host, session, state, mode, running line and progress,
        and on a second line the signature of the call under the cursor.

        It is drawn from the REPL's ``info``, which the host's pushed changes keep
        fresh; the REPL redraws the prompt on each change, so no refresh timer runs.
        """
        repl = self._repl
        info = repl.info
        state = "new" if info is None else info.state
        parts: StyleAndTextTuples = [
            ("class:toolbar.host", f" {repl.host_label} "),
            ("class:toolbar", " session "),
            ("class:toolbar.session", repl.session),
            ("class:toolbar", "  "),
            (f"class:toolbar.state.{state}", f" {state} "),
            ("class:toolbar", "  "),
        ]
        # The mode is the REPL's (it goes with each statement), not the session's.
        mode = "loop" if repl.loop else "worker"
        parts.append((f"class:toolbar.mode.{mode}", f" {mode} mode "))
        if info is not None and info.location:
            parts.append(("class:toolbar", f"  at {info.location}"))
        if info is not None and info.state in ("running", "stopping"):
            progress = format_progress(info)
            if progress != "-":
                parts.append(("class:toolbar", f"  {progress}"))
        options = repl.options
        if options.paste_mode:
            parts.append(("class:toolbar.paste", " paste mode: `--` runs "))
        hint = "F2 stop completing as you type" if options.complete_while_typing else "Tab complete"
        parts.append(("class:toolbar.hint", f"   {hint} · F6 paste · Ctrl-D detach · %help"))
        if self.hint.text is not None:
            parts.append(("class:toolbar.signature", f"\n {self.hint.text}"))
        return FormattedText(parts)

    def _fetch_completions(self, text: str, cursor: int) -> list[WireCompletion]:
        # Called in a prompt_toolkit completion thread: hop into trio with the token.
        return trio.from_thread.run(
            self._complete_remote, text, cursor, trio_token=self._trio_token
        )

    async def _complete_remote(self, text: str, cursor: int) -> list[WireCompletion]:
        repl = self._repl
        with trio.move_on_after(COMPLETE_TIMEOUT):
            try:
                return await repl.client.complete(repl.session, text, cursor)
            except SpeError:
                return []
        return []

    def _fetch_signature(self, text: str, cursor: int) -> Signature | None:
        # Called in the hint's thread; None (the host knows nothing, is too old, is
        # gone) lets the hint infer it locally.
        try:
            return trio.from_thread.run(
                self._signature_remote, text, cursor, trio_token=self._trio_token
            )
        except (trio.RunFinishedError, RuntimeError):
            return None

    async def _signature_remote(self, text: str, cursor: int) -> Signature | None:
        repl = self._repl
        with trio.move_on_after(COMPLETE_TIMEOUT):
            try:
                return await repl.client.signature(repl.session, text, cursor)
            except SpeError:
                return None
        return None

    def _fetch_session_ids(self) -> list[str]:
        client = self._repl.client

        async def ids() -> list[str]:
            with trio.move_on_after(COMPLETE_TIMEOUT):
                return [info.id for info in await client.sessions()]
            return []

        return trio.from_thread.run(ids, trio_token=self._trio_token)
