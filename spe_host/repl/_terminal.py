"""The terminal itself: whether it answers cursor-position requests, and typing ahead.

Theory of operation
-------------------
prompt_toolkit asks the terminal where the cursor is (a *CPR*, ``ESC [6n``) each time
it draws a prompt, and learns only after two seconds without an answer that the
terminal gives none (pexpect, some serial and emacs terminals). Meanwhile it holds
back the end of each prompt for a second, and it prints a warning into the session.
The REPL has several prompts, each with its own renderer, so each would learn it
again. :func:`terminal_output` asks once, before the first prompt, with a short
deadline: a terminal answers a CPR in milliseconds or not at all. With no answer,
the REPL's output never asks again. ``PROMPT_TOOLKIT_NO_CPR=1`` skips the question.

Between prompts (while a statement runs, a command waits, the pager shows) the
terminal would be in its normal ("cooked") mode: what is typed would be echoed into
the output, and a key typed ahead would be eaten by the terminal's line editing (a
Ctrl-D becomes an end-of-file that nothing reads). :func:`typing_ahead` turns the echo
and the line editing off for the whole time the REPL runs (but not the signals: Ctrl-C
still stops a statement, Ctrl-Z still suspends); prompt_toolkit's raw mode comes back
to it after each prompt. What is typed waits, unseen, in the terminal's input queue,
and the next prompt reads it into its line.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import TextIO

from prompt_toolkit.output import Output, create_output
from prompt_toolkit.output.vt100 import Vt100_Output

__all__ = ["CPR_DEADLINE", "answers_cpr", "terminal_output", "typing_ahead"]

#: How long the terminal has to answer the cursor-position request, in seconds.
CPR_DEADLINE = 0.5


def answers_cpr(fd_in: int, fd_out: int, deadline: float = CPR_DEADLINE) -> bool:
    """Whether the terminal answers a cursor-position request within ``deadline``.

    The answer (``ESC [row;col R``) is read and dropped; keys typed meanwhile are lost.

    Args:
        fd_in: The terminal's input.
        fd_out: The terminal's output.
        deadline: Seconds to wait for the answer.
    """
    saved = termios.tcgetattr(fd_in)
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)
        # cbreak leaves the echo on in some versions: an answer must not be shown.
        quiet = termios.tcgetattr(fd_in)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd_in, termios.TCSANOW, quiet)
        os.write(fd_out, b"\x1b[6n")
        answer = b""
        end = time.monotonic() + deadline
        while not answer.endswith(b"R"):
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                return False
            answer += os.read(fd_in, 32)
        return b"\x1b[" in answer
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)


def terminal_output(stdin: TextIO | None = None, stdout: TextIO | None = None) -> Output:
    """prompt_toolkit's output for the terminal, asking for the cursor only if it answers.

    Args:
        stdin: The terminal's input (default: ``sys.stdin``).
        stdout: The terminal's output (default: ``sys.stdout``).
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    output = create_output(stdout)
    if isinstance(output, Vt100_Output) and output.responds_to_cpr:
        try:
            output.enable_cpr = answers_cpr(stdin.fileno(), stdout.fileno())
        except (OSError, ValueError, termios.error):
            output.enable_cpr = False
    return output


@contextlib.contextmanager
def typing_ahead(stdin: TextIO | None = None) -> Iterator[None]:
    """While the block runs, keys typed outside a prompt wait unseen for the next one.

    Echo and line editing are off; signals (Ctrl-C, Ctrl-Z) still work. Nothing
    happens when ``stdin`` is not a terminal.
    """
    stdin = sys.stdin if stdin is None else stdin
    try:
        fd = stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):
        yield
        return
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)
    # Return key presses as they come (no minimum count, no timer).
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, saved)
