"""The ``stop`` verb: ask sessions to stop, show the stops' tickets, follow them with ``--wait``.

Theory of operation
-------------------
A stop answers at once with an outcome per session; each run it asked to stop has a
ticket (who asked and why, and then what the stop waits for, where it landed and how
the run ended), which the host keeps in the session's ``SessionInfo.stop``. So the
verb reads the sessions once after stopping and prints each outcome with its ticket:
a table, or with ``--json`` an object ``{session: {"outcome", "ticket"}}``. A target
that matched nothing, or a session that was not running, has no ticket. ``--what-if``
asks nothing of the host but a listing, and says ``would_stop`` where ``stop`` would
have said ``requested``.

``--wait`` follows each stop to its end without polling. It opens a watch first (with
locations, so the host's sampler also pushes what a pending stop is blocked in), then
stops, then reads the sessions once, so that no change after the stop is missed. Each
ticket is compared with the one seen before it, and every step is one line:
``etl#7: stop requested by uid 1000 (pid 4242): bad input file``, ``blocked in
time.sleep() called at job.py:12 for 0.4 s`` (once per place: the time it has been
blocked grows with every sample), ``landed at job.py:13``, ``finished aborted``. A
followed session is done once its ticket is finished, or it no longer runs the run
that was stopped, or it is removed (a host older than protocol 1.3 has no tickets:
there, its state says when). The verb exits 0 when every one is done, and 1 if
``--timeout`` passes first.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import trio

from .._errors import ConnectionLost
from .._format import format_pending
from .._model import SessionInfo, SessionState, StopOutcome, StopPhase, StopTicket
from ..client import Client
from ._exits import EXIT_FAILED, EXIT_OK, UsageError
from ._output import err, print_json, print_table, ticket_json
from ._verbs import connected

__all__ = ["WOULD_STOP", "stop", "ticket_steps"]

#: The outcome ``stop --what-if --json`` prints for a session a stop would ask.
WOULD_STOP: Final = "would_stop"

#: The outcomes whose session has a stop to follow.
_FOLLOWED: Final = (StopOutcome.REQUESTED, StopOutcome.ALREADY_STOPPING)
# "... for 3.2 s" grows with every sample; the place is what the line is about.
_FOR_SECONDS: Final = re.compile(r" for [0-9.]+ s$")
_RANK: Final = {StopPhase.REQUESTED: 0, StopPhase.LANDED: 1, StopPhase.FINISHED: 2}


async def stop(args: argparse.Namespace) -> int:
    """``spe-host stop``: ask sessions to stop; exit 1 for no match or (--wait) no stop."""
    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout goes with --wait")
    if args.what_if and (args.reason is not None or args.force):
        raise UsageError("--what-if stops nothing; leave out --reason and --force")
    unstopped: list[str] = []
    async with connected(args) as client:
        if args.what_if:
            outcomes = await _would_stop(client, args.targets)
            tickets: dict[str, StopTicket | None] = {}
        elif args.wait:
            follow = _Follow(show=not args.json)
            outcomes = await follow.run(
                client, args.targets, reason=args.reason, force=args.force, timeout=args.timeout
            )
            tickets = follow.tickets()
            unstopped = follow.unfinished()
        else:
            outcomes = await client.stop(*args.targets, reason=args.reason, force=args.force)
            tickets = _tickets_of(outcomes, await _read(client, args.targets, outcomes))
    if args.json:
        print_json(
            {
                sid: {
                    "outcome": _shown(outcome, what_if=args.what_if),
                    "ticket": ticket_json(tickets.get(sid)),
                }
                for sid, outcome in outcomes.items()
            }
        )
    elif not args.wait:
        print_table(*_outcome_table(outcomes, tickets, what_if=args.what_if))
    missing = [sid for sid, outcome in outcomes.items() if outcome == StopOutcome.NOT_FOUND]
    if missing:
        err(f"no session matches {', '.join(map(repr, missing))}")
    if unstopped:
        err(f"still running after {args.timeout:g} s: {', '.join(unstopped)}")
    return EXIT_FAILED if missing or unstopped else EXIT_OK


def ticket_steps(before: StopTicket | None, now: StopTicket) -> list[str]:
    """The steps a stop took from ``before`` to ``now``, one sentence each.

    Args:
        before: The ticket as last seen, or None if this is the first sight of it.
        now: The ticket as it is now.

    Returns:
        What is new: the request, a force, a note, a new place it is deferred or
        blocked in (while pending), where it landed, how the run finished. Empty if
        nothing is, or if ``now`` is older than ``before``.
    """
    if before is not None and _RANK[now.phase] < _RANK[before.phase]:
        return []  # a push older than what was read already
    steps: list[str] = []
    if before is None:
        reason = "" if now.reason is None else f": {now.reason}"
        steps.append(f"stop requested by {now.requested_by}{reason}")
    if now.forced_at is not None and (before is None or before.forced_at is None):
        steps.append("forced")
    if now.note is not None and (before is None or before.note != now.note):
        steps.append(now.note)
    pending = format_pending(now)
    if pending is not None and _place(pending) != _place(format_pending(before)):
        steps.append(pending)
    if now.landed_at is not None and (before is None or before.landed_at is None):
        steps.append(f"landed at {now.landed_at}")
    if now.phase == StopPhase.FINISHED and (before is None or before.phase != now.phase):
        never = " before the stop landed" if now.landed_at is None else ""
        steps.append(f"finished {now.status or 'without a status'}{never}")
    return steps


def _place(pending: str | None) -> str | None:
    return None if pending is None else _FOR_SECONDS.sub("", pending)


class _Follow:
    """``stop --wait``: the stopped sessions, followed until their stops are over."""

    def __init__(self, *, show: bool) -> None:
        self._show = show
        self._infos: dict[str, SessionInfo] = {}
        self._runs: dict[str, str | None] = {}
        self._done: set[str] = set()

    async def run(
        self,
        client: Client,
        targets: Sequence[str],
        *,
        reason: str | None,
        force: bool,
        timeout: float | None,
    ) -> dict[str, StopOutcome]:
        """Stop ``targets`` and follow them until done or ``timeout``; the outcomes.

        Raises:
            ConnectionLost: The host ended the watch first (it is shutting down).
        """
        async with client.watch(*targets, locations=True) as changes:
            outcomes = await client.stop(*targets, reason=reason, force=force)
            for sid, outcome in outcomes.items():
                if outcome == StopOutcome.NOT_RUNNING:
                    self._say(sid, ["not running"])
            for info in await _read(client, targets, outcomes):
                if outcomes.get(info.id) in _FOLLOWED:
                    self._runs[info.id] = info.stop.run if info.stop is not None else info.run
                    self._see(info)
            with trio.move_on_after(math.inf if timeout is None else timeout):
                if not self.unfinished():
                    return outcomes
                async for change in changes:
                    if change.session.id in self._runs:
                        self._see(change.session)
                    if not self.unfinished():
                        return outcomes
                raise ConnectionLost("the host ended the watch of the stopped sessions")
        return outcomes

    def unfinished(self) -> list[str]:
        """The followed sessions whose stop is not over."""
        return [sid for sid in self._runs if sid not in self._done]

    def tickets(self) -> dict[str, StopTicket | None]:
        """The last ticket seen of each followed session."""
        return {sid: info.stop for sid, info in self._infos.items()}

    def _see(self, info: SessionInfo) -> None:
        sid = info.id
        if sid in self._done:
            return
        run = self._runs[sid]
        before = self._infos.get(sid)
        if info.stop is not None and info.stop.run == run:
            self._say(run, ticket_steps(None if before is None else before.stop, info.stop))
            self._infos[sid] = info
            if info.stop.phase == StopPhase.FINISHED:
                self._done.add(sid)
                return
        elif sid not in self._infos:
            self._infos[sid] = info
        if info.state == SessionState.CLOSED:
            self._say(run or sid, ["removed"])
            self._done.add(sid)
        elif not info.active or info.run != run:
            if info.stop is None:  # a host without tickets: the state tells the end
                self._say(run or sid, [f"finished {info.last_status or 'without a status'}"])
            self._done.add(sid)

    def _say(self, run: str | None, steps: Iterable[str]) -> None:
        if self._show:
            for step in steps:
                print(f"{run}: {step}", flush=True)


async def _read(
    client: Client, targets: Sequence[str], outcomes: Mapping[str, StopOutcome]
) -> list[SessionInfo]:
    """The sessions the stop found, read once (by the targets: fewer names than ids)."""
    if all(outcome == StopOutcome.NOT_FOUND for outcome in outcomes.values()):
        return []
    return [info for info in await client.sessions(*targets) if info.id in outcomes]


def _tickets_of(
    outcomes: Mapping[str, StopOutcome], infos: Iterable[SessionInfo]
) -> dict[str, StopTicket | None]:
    return {info.id: info.stop for info in infos if outcomes.get(info.id) in _FOLLOWED}


def _shown(outcome: StopOutcome, *, what_if: bool) -> str:
    """The outcome as printed: ``--what-if`` stopped nothing, so ``requested`` is
    ``would_stop`` there (``would stop`` in the table)."""
    return WOULD_STOP if what_if and outcome == StopOutcome.REQUESTED else str(outcome)


def _outcome_table(
    outcomes: Mapping[str, StopOutcome],
    tickets: Mapping[str, StopTicket | None],
    *,
    what_if: bool,
) -> tuple[list[str], list[list[str]]]:
    if what_if:
        rows = [
            [sid, "would stop" if outcome == StopOutcome.REQUESTED else str(outcome)]
            for sid, outcome in outcomes.items()
        ]
        return ["SESSION", "OUTCOME"], rows
    rows = []
    for sid, outcome in outcomes.items():
        ticket = tickets.get(sid)
        run, ticket_id = ("-", "-") if ticket is None else (ticket.run, ticket.id)
        rows.append([sid, str(outcome), run, ticket_id])
    return ["SESSION", "OUTCOME", "RUN", "TICKET"], rows


async def _would_stop(client: Client, targets: Sequence[str]) -> dict[str, StopOutcome]:
    """What ``stop`` would answer, from a listing: PowerShell's ``-WhatIf``."""
    would = {
        SessionState.RUNNING: StopOutcome.REQUESTED,
        SessionState.STOPPING: StopOutcome.ALREADY_STOPPING,
    }
    outcomes: dict[str, StopOutcome] = {}
    for target in targets:
        infos = await client.sessions(target)
        if not infos:
            outcomes[target] = StopOutcome.NOT_FOUND
        for info in infos:
            outcomes.setdefault(info.id, would.get(info.state, StopOutcome.NOT_RUNNING))
    return outcomes
