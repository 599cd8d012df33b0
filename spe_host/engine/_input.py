"""``input()`` in a script: who answers it, and the sentence when nobody can.

A run's ``input()`` (and ``getpass.getpass()``) asks the client that submitted the run
through its :data:`InputHandler`; :func:`input_refusal` says why a call cannot wait
for an answer where it is made, and the script sees that as an ``EOFError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._model import InputPrompt

__all__ = ["InputHandler", "input_refusal"]

#: Answers ``input()`` and ``getpass.getpass()``: takes the prompt (a str whose
#: ``secret`` is true for getpass), returns the line (None for end-of-file).
InputHandler = Callable[[InputPrompt], Awaitable[str | None]]


def input_refusal(
    session_id: str,
    *,
    answerable: bool,
    in_loop_statement: bool,
    on_session_thread: bool,
) -> str | None:
    """Why ``input()`` cannot wait for an answer here, or None if it can.

    Args:
        session_id: The session of the run.
        answerable: The run has an input handler (a client that submitted it).
        in_loop_statement: The call is made by a loop-mode statement that holds the
            event loop (not one that awaits).
        on_session_thread: The call is made on the session's own thread, by a
            synchronous statement.
    """
    if not answerable:
        return (
            f"session {session_id!r} runs in the background with no client "
            "attached to answer input(); give it values when you start it instead "
            "(spe-host start --arg NAME=VALUE, or start(args=...) in Python)"
        )
    if in_loop_statement:
        return (
            "input() cannot wait for an answer in loop mode: the statement holds the "
            "app's event loop, which the answer has to come through; read input "
            "in worker mode (%loop off)"
        )
    if not on_session_thread:
        return (
            "input() cannot wait for an answer inside a statement that awaits or in "
            "a thread the script started; read input in a statement of its own"
        )
    return None
