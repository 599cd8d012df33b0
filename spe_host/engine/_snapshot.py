"""A session's snapshot (:class:`~spe_host.SessionInfo`), made again only after a change.

Theory of operation
-------------------
A listing asks every session for its snapshot, and most sessions are idle and have not
changed since the last listing. An idle session's snapshot depends on a handful of
values: its state, when it was last used, where its output ends, its name, its
autodispose flag, its progress and how its last run ended. Everything else it shows
is fixed while no run goes (the id, the creation time, the current or last run and
its stop ticket change only as a run begins or ends, and that changes the state).
So :class:`Snapshot` keeps the last snapshot with those values as its key, and builds
a new one only when the key differs: reading the key is a few attribute loads, where
building is fifteen fields and two clock conversions. :func:`snapshots` does that for
a listing in one loop (no call per session but the output's ``end_offset``).

The same object is handed out until something changes, which lets the wire codec
keep its JSON text too (``spe_host.wire.encode_records``). A running session is
built afresh every time: the line it runs and its pending stop's ``blocked_in``
move without any event. Trio thread only, like every change of a session's state.

A listing asked again with nothing changed anywhere need not look at its sessions at
all: :class:`Listing` keeps the last one with the listing stamp (``_changes``) read
before it was made, and while that is still the stamp - and the listing asked for the
same sessions and held none that runs - hands out the same snapshots again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .._model import SessionInfo, SessionState
from . import _changes

if TYPE_CHECKING:
    from ._session import ScriptSession

__all__ = ["Listing", "Snapshot", "build", "snapshots"]

_RUNNING = (SessionState.RUNNING, SessionState.STOPPING)


def build(session: ScriptSession) -> SessionInfo:
    """Make the session's snapshot from its current values."""
    progress = session.progress
    runs = session.runs
    return SessionInfo(
        id=session.id,
        name=session.name,
        state=session.state,
        progress_percent=progress.percent,
        progress_message=progress.message,
        location=session.location,
        last_status=session.last_status,
        created_at=session._created_unix,
        last_accessed=session.last_accessed.timestamp(),
        autodispose=session.autodispose,
        output_offset=session.output.end_offset,
        run=runs.current,
        run_started_at=runs.started_at,
        run_ended_at=runs.ended_at,
        stop=session.stop_ticket(),
    )


class Snapshot:
    """The last snapshot of one session, and the values it was made from."""

    __slots__ = ("_info", "_key")

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._info: SessionInfo | None = None

    def of(self, session: ScriptSession) -> SessionInfo:
        """The session's snapshot: the last one if nothing it shows has changed.

        ``self`` is ``session``'s own (``session._snapshot``), which :func:`snapshots`
        keeps up to date.
        """
        return snapshots((session,))[0]


class Listing:
    """The last listing of a host's sessions, handed out again while nothing changed.

    One per front end (the service's): it holds the snapshots of one listing, never
    a session.
    """

    __slots__ = ("_asked", "_infos", "_stamp")

    def __init__(self) -> None:
        self._stamp = 0
        self._asked: object = None
        self._infos: tuple[SessionInfo, ...] | None = None

    def get(
        self, asked: object, sessions: Callable[[], Iterable[ScriptSession]]
    ) -> list[SessionInfo]:
        """The snapshots of ``sessions()``, the last listing's if nothing changed since.

        Args:
            asked: What the listing asked for (its patterns and state filter), compared
                with ``==``: the same question over the same sessions has the same answer.
            sessions: Finds the sessions (it may raise; nothing is kept then).
        """
        stamp = _changes.stamp  # before anything is looked at (see _changes)
        infos = self._infos
        if infos is not None and stamp == self._stamp and asked == self._asked:
            return list(infos)
        self._infos = None
        found, idle = _snapshots(sessions())
        if idle:  # a running session's line moves without a change of the stamp
            self._stamp, self._asked, self._infos = stamp, asked, tuple(found)
        return found


def snapshots(sessions: Iterable[ScriptSession]) -> list[SessionInfo]:
    """Each session's snapshot (:meth:`Snapshot.of`), in one pass for a listing."""
    return _snapshots(sessions)[0]


def _snapshots(sessions: Iterable[ScriptSession]) -> tuple[list[SessionInfo], bool]:
    # The snapshots, and whether none of them was running.
    running = _RUNNING
    idle = True
    found: list[SessionInfo] = []
    for session in sessions:
        # The session's own fields, not its properties: this runs for every session
        # of every listing.
        state = session._state
        if state in running:
            found.append(build(session))
            idle = False
            continue
        key = (
            state,
            # Not left to the last-use time: on a clock that does not move (trio's
            # MockClock), two runs would touch the session at the same instant.
            session.runs.count,
            session._touched_at,
            session.output.end_offset,
            session._name,
            session._autodispose,
            session._progress,
            session._last_status,
        )
        kept = session._snapshot
        info = kept._info
        if info is None or key != kept._key:
            kept._info = info = build(session)
            kept._key = key
        found.append(info)
    return found, idle
