"""A stop waits for the requests read before it to begin - and only for them.

``Requests.begun`` holds a ``stop`` back until every request accepted before it has
taken its first step, so a stop read with the ``execute`` it targets finds the run.
With none left to begin it returns at once, without a schedule point: while a
session spins, a scheduling pass costs a system call that may wait a switch interval
for the interpreter lock, before the stop's flag is even up.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from spe_host.server._requests import Requests
from spe_host.wire import ListSessions


def _requests() -> Requests:
    core = SimpleNamespace(service=None, max_frame=1024, limits=None)
    conn: Any = SimpleNamespace(core=core, framed=None)
    return Requests(conn)


async def test_with_every_request_begun_a_stop_is_not_held_for_a_scheduling_pass() -> None:
    requests = _requests()
    with trio.fail_after(5):
        with trio.CancelScope() as scope:
            scope.cancel()
            # A schedule point here would raise Cancelled.
            await requests.begun()
        assert not scope.cancelled_caught


async def test_a_stop_waits_until_the_request_read_before_it_has_begun() -> None:
    requests = _requests()
    request = ListSessions(id=1)
    requests.accept(request)
    order: list[str] = []

    async def stop() -> None:
        await requests.begun()
        order.append("stop")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop)
            await trio.testing.wait_all_tasks_blocked()
            assert order == []
            order.append("begun")
            # The request's first step: what `run` does before it handles the request.
            requests._unbegun -= 1
            requests._all_begun.set()
    assert order == ["begun", "stop"]
