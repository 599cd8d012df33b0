"""The views that follow a host as it changes: ``ls --watch`` and ``wait``'s progress bar.

Theory of operation
-------------------
Neither polls. Both open a watch (:meth:`Client.watch`), through which the host pushes
a :class:`~spe_host._model.StateChange` whenever a matching session is created,
changes state, reports progress or is removed, and then read the sessions once:
opening the watch first means a change after that reading is pushed, never missed.
A change carries the whole :class:`SessionInfo`, so each one replaces what the view
knew of its session and the view is drawn again.

``ls --watch`` keeps a table of the matching sessions and draws it once at the start
and again on every change: over the old one on a terminal, as a new table after a
blank line when piped, or, with ``--json``, as one JSON line per change. On a
terminal it also redraws once a second while a run it shows goes on, so that run's
``running for`` moves with the clock (the host is not asked again for that). It runs until
Ctrl-C (exit code 130, as for every verb) or until the connection ends (exit 3).

``wait`` on a terminal asks the host to ``wait`` for the sessions, as it does when
piped, and meanwhile moves a progress bar line per session (``_bars.py``) from the
pushed changes; when the host's answer comes, the sessions are read once more, every
line is drawn as they are, and the view ends.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import trio

from .._errors import ConnectionLost
from .._format import format_sessions
from .._model import SessionInfo, SessionState, StateChange
from ..client import Client
from ._bars import WaitBars
from ._output import session_json

__all__ = ["wait_with_progress", "watch_sessions"]

# Home the cursor and clear the screen: a terminal shows the newest table alone.
_CLEAR = "\x1b[H\x1b[2J"
# Seconds between two redraws of a table on a terminal while a run it shows goes on.
_TICK = 1.0


async def watch_sessions(
    client: Client,
    patterns: Sequence[str],
    *,
    state: str | None,
    as_json: bool,
    quiet: bool,
) -> NoReturn:
    """``ls --watch``: print the sessions, then again on every change the host pushes.

    Args:
        client: The connection.
        patterns: Ids or wildcards (none: every session), as for ``ls``.
        state: Show only the sessions in this state (with ``as_json``: the changes
            into, within or out of it).
        as_json: One JSON line per change instead of tables.
        quiet: Tables of ids only.

    Raises:
        ConnectionLost: The host ended the watch (it is shutting down).
    """
    view = _JsonLines(state) if as_json else _Tables(state, quiet=quiet, clear=sys.stdout.isatty())
    async with client.watch(*patterns, locations=True) as changes, trio.open_nursery() as clock:
        view.start(await client.sessions(*patterns))
        if isinstance(view, _Tables) and view.ticks:
            clock.start_soon(view.tick)
        async for change in changes:
            view.change(change)
        clock.cancel_scope.cancel()
    raise ConnectionLost("the host ended the watch of its sessions")


class _Tables:
    """The ``ls`` table of the sessions known now, drawn again after every change."""

    def __init__(self, state: str | None, *, quiet: bool, clear: bool) -> None:
        self._state = state
        self._quiet = quiet
        self._clear = clear
        self._sessions: dict[str, SessionInfo] = {}
        self._drawn = False

    @property
    def ticks(self) -> bool:
        """True if the table shows times that move: run times, in place on a terminal."""
        return self._clear and not self._quiet

    def start(self, infos: Iterable[SessionInfo]) -> None:
        self._sessions = {info.id: info for info in infos}
        self._draw()

    async def tick(self) -> None:
        """Redraw every :data:`_TICK` seconds while a run shown goes on; runs until cancelled."""
        while True:
            await trio.sleep(_TICK)
            if any(info.active for info in self._shown()):
                self._draw()

    def change(self, change: StateChange) -> None:
        info = change.session
        if info.state == SessionState.CLOSED:
            self._sessions.pop(info.id, None)
        else:
            self._sessions[info.id] = info
        self._draw()

    def _shown(self) -> list[SessionInfo]:
        return sorted(
            (i for i in self._sessions.values() if self._state in (None, i.state)),
            key=lambda info: info.created_at,
        )

    def _draw(self) -> None:
        shown = self._shown()
        text = "".join(f"{i.id}\n" for i in shown) if self._quiet else format_sessions(shown)
        if self._clear:
            text = _CLEAR + text
        elif self._drawn:
            text = "\n" + text
        self._drawn = True
        sys.stdout.write(text)
        sys.stdout.flush()


class _JsonLines:
    """``ls --watch --json``: a line ``{"session": ..., "previous": ...}`` per change.

    The sessions that exist when the watch starts come first, with ``previous`` null.
    """

    def __init__(self, state: str | None) -> None:
        self._state = state

    def start(self, infos: Iterable[SessionInfo]) -> None:
        for info in infos:
            if self._state in (None, info.state):
                self._print(info, None)

    def change(self, change: StateChange) -> None:
        if self._state in (None, change.session.state, change.previous):
            self._print(change.session, change.previous)

    @staticmethod
    def _print(info: SessionInfo, previous: SessionState | None) -> None:
        line: dict[str, Any] = {"session": session_json(info), "previous": previous}
        print(json.dumps(line, ensure_ascii=False), flush=True)


async def wait_with_progress(
    client: Client,
    targets: Sequence[str],
    initial: Sequence[SessionInfo],
    *,
    timeout: float | None,
    any_: bool,
) -> tuple[list[SessionInfo], list[SessionInfo]]:
    """``wait``, with a progress bar line for each session waited for.

    Args:
        client: The connection.
        targets: Ids or wildcards to wait for.
        initial: The sessions as read before the wait: the ones waited for (their
            progress shows at once).
        timeout: Seconds to wait at most (None: as long as it takes).
        any_: Return as soon as one of them has finished.

    Returns:
        What the host's ``wait`` answered (the sessions that finished), and the
        sessions as read once more after it, which the last screen shows.
    """
    bars = WaitBars("waiting for " + ", ".join(targets), {info.id for info in initial})
    finished: list[SessionInfo] = []
    try:
        async with client.watch(*targets) as changes, trio.open_nursery() as nursery:

            async def wait() -> None:
                finished.extend(await client.wait(*targets, timeout=timeout, any=any_))
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait)
            for info in initial:
                bars.show(info)
            async for change in changes:
                bars.show(change.session)
        # The last screen is current for every line: a change still on its way when
        # the host answered would leave a line behind (one of several sessions showing
        # a stale percentage), so every session is read once more and shown.
        after = await client.sessions(*targets)
        for info in (*finished, *after):
            bars.show(info)
    finally:
        bars.close()
    return finished, after
