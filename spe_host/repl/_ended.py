"""The end of a run the REPL did not start itself: a status line, and its traceback.

A job started from another console (``spe-host start``) or by the embedding app runs
in the attached session while the prompt shows; its output streams above the prompt
(``_follow.py``), and the host pushes its end to the REPL's watch. :class:`RunEnds`
turns that push into a line saying how the run ended, with the run's traceback when
it failed or was stopped (fetched with ``receive(keep=True)``, so the result stays for
whoever receives it). The line waits until the output has reached the offset where the
run ended, so it comes after the run's last output, not in the middle of it.

Attaching again after a run ended meanwhile works the same way: the replay of the
output is followed by how the last run ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .._errors import SpeError, TransportError
from .._model import SessionInfo, SessionState

if TYPE_CHECKING:
    from ._repl import Repl

__all__ = ["RunEnds"]


class RunEnds:
    """Reports the end of each run of the attached session, once.

    Args:
        repl: The REPL to report in.
    """

    def __init__(self, repl: Repl) -> None:
        self._repl = repl
        self._known: set[str] = set()

    def known(self, run: str | None) -> None:
        """Never report ``run``: the REPL ran it (and showed its result) or saw it end."""
        if run:
            self._known.add(run)

    def changed(self, nursery: trio.Nursery, info: SessionInfo | None) -> None:
        """The host pushed the session's state: report a run that has just ended."""
        if info is None or not _ended(info) or info.run is None or info.run in self._known:
            return
        if self._repl.interrupts.exec_scope is not None:
            return  # the REPL's own statement: its result shows when it comes back
        self._known.add(info.run)
        nursery.start_soon(self._report, info)

    async def _report(self, info: SessionInfo) -> None:
        repl = self._repl
        status = info.last_status or "ended"
        name = f" ({info.name})" if info.name else ""
        took = ""
        if info.run_started_at is not None and info.run_ended_at is not None:
            took = f" after {info.run_ended_at - info.run_started_at:.1f} s"
        text = f"run {info.run}{name} {_VERB.get(status, status)}{took}\n"
        style = "note" if status == "completed" else "error"
        if status != "completed" and info.run is not None:
            try:
                result = await repl.client.receive(info.id, info.run, keep=True)
            except TransportError:
                raise
            except SpeError:
                pass  # received or dropped already: the status line says what is known
            else:
                if result.error:
                    text += result.error if result.error.endswith("\n") else result.error + "\n"
        repl.follower.show_at(info.output_offset, text, style)


_VERB = {"completed": "completed", "failed": "failed", "aborted": "was stopped"}


def _ended(info: SessionInfo) -> bool:
    return info.state == SessionState.IDLE and info.run_ended_at is not None
