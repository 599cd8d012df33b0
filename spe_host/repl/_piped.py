"""``spe-host attach`` when stdin is not a terminal: statements read from a pipe.

No prompt, no toolbar, no replay: lines are grouped into statements with the prompt's
own rule (:func:`needs_more_input`), each runs as soon as it is complete, and the
script's ``input()`` reads the next line of the same stream. ``input()`` writes its
prompt to the script's output, which streams here: it is not written again. Output
the host dropped at a bound shows as the same ``[... N bytes dropped]`` marker the
REPL shows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import trio

from .._errors import SpeError, TransportError
from .._model import InputPrompt, dropped_marker, printable
from ._client import OutputChunk, ProgressReport, ReplClient
from ._keys import needs_more_input
from ._screen import stdout_writer

__all__ = ["run_piped"]


async def run_piped(
    client: ReplClient,
    session: str,
    stream: TextIO,
    *,
    write: Callable[[str], None] | None = None,
    error: Callable[[str], None] | None = None,
    loop: bool = False,
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
        loop: Run the statements in loop mode (in the app's trio thread).

    Returns:
        True if every statement completed, False if one failed or was aborted.
    """
    out = write or stdout_writer(sys.stdout)
    err = error or stdout_writer(sys.stderr)
    ok = True

    async def read_line() -> str:
        return await trio.to_thread.run_sync(stream.readline, abandon_on_cancel=True)

    async def answer(prompt: InputPrompt) -> str | None:
        # The prompt came with the output already; the answer (a getpass() one too)
        # is read from the pipe and never written back.
        line = await read_line()
        return line.rstrip("\n") if line else None

    def show(event: OutputChunk | ProgressReport) -> None:
        if isinstance(event, OutputChunk):
            if event.dropped:
                out(dropped_marker(event.dropped))
            out(printable(event.text))

    async def run(code: str) -> None:
        nonlocal ok
        if not code.strip():
            return
        try:
            info = await client.execute(
                session, code, interactive=True, on_output=show, on_input=answer, loop=loop
            )
        except TransportError:
            raise
        except SpeError as exc:
            # Only a lost connection ends the run; the next statement may still go.
            err(f"{exc}\n")
            ok = False
            return
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
