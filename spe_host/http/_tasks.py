"""``/api/tasks``: stops as tasks to poll, and the ``?wait=`` long-poll.

Theory of operation
-------------------
``POST /api/sessions/{id}?action=stop`` answers 202 with a task (Veeam's shape); the
task *is* the host's stop ticket, read afresh on every GET, so HTTP and socket
clients see the same thing. ``Running`` until the run is over, then ``Finished`` with
``result: {success, message}``: success when the run ended ABORTED.

``GET /api/tasks/{id}?wait=S`` returns at the ticket's next change, or after S
seconds (at most :data:`MAX_WAIT`) with the task as it is, like Google's
``WaitOperation``. It subscribes to the ticket's session (``service.watch`` with
locations, so a pending stop's ``blocked_in``, sampled twice a second, is news too)
*before* reading the ticket, so a change between the read and the wait is never
missed, and compares the ticket after each pushed change. A Finished task returns
at once: it will not change again.
"""

from __future__ import annotations

import trio
from starlette.requests import Request
from starlette.responses import Response

from .._errors import NoResult, SessionNotFound
from .._model import SessionInfo, StopOutcome, StopTicket
from ..service import Operation, Principal
from ._auth import principal
from ._context import ApiContext, context
from ._encode import json_response
from ._params import query_float
from ._resources import task_resource
from ._routing import ApiRoute
from ._types import Task, TaskList, TaskState

__all__ = ["MAX_WAIT", "ROUTES", "stop_task"]

#: The longest ``?wait=`` honoured, in seconds; a longer one waits this long.
MAX_WAIT = 60.0


def _unknown(task_id: str) -> SessionNotFound:
    return SessionNotFound(
        f"there is no task {task_id!r}: it was deleted, went with its run's result, or "
        "never existed; GET /api/tasks lists the tasks there are"
    )


def _ticket(ctx: ApiContext, who: Principal, task_id: str) -> StopTicket:
    try:
        return ctx.service.ticket(who, task_id)
    except NoResult:
        raise _unknown(task_id) from None


def find_task(ctx: ApiContext, who: Principal, task_id: str) -> Task:
    """The task ``task_id`` as it is now.

    Raises:
        SessionNotFound: There is none (404).
    """
    if ctx.tasks.forgotten(task_id):
        raise _unknown(task_id)
    own = ctx.tasks.get(task_id)
    if own is not None:
        return own
    return task_resource(_ticket(ctx, who, task_id))


def stop_task(
    ctx: ApiContext, who: Principal, info: SessionInfo, outcome: StopOutcome, reason: str | None
) -> Task:
    """The task that answers a stop of ``info``'s session which had ``outcome``."""
    if outcome is StopOutcome.NOT_RUNNING:
        return ctx.tasks.not_running(info, who.requested_by, reason)
    ticket = ctx.service.stop_ticket(who, info.id)
    if ticket is None:
        # The run ended and its ticket went between the stop and this read.
        return ctx.tasks.not_running(info, who.requested_by, reason)
    return task_resource(ticket)


async def _next_change(ctx: ApiContext, who: Principal, task_id: str, seconds: float) -> Task:
    task = find_task(ctx, who, task_id)
    if task.state is TaskState.FINISHED or seconds <= 0:
        return task
    ticket = _ticket(ctx, who, task_id)
    with trio.move_on_after(min(seconds, MAX_WAIT)):
        async with ctx.service.watch(who, ticket.session, locations=True) as changes:
            # Read again now that changes are coming: one made before the watch began
            # would otherwise go unseen until the next.
            if _ticket(ctx, who, task_id) != ticket:
                return find_task(ctx, who, task_id)
            async for _ in changes:
                if _ticket(ctx, who, task_id) != ticket:
                    break
    return find_task(ctx, who, task_id)


async def list_tasks(request: Request) -> Response:
    """``GET /api/tasks``: every task, newest first."""
    who = await principal(request, Operation.LIST)
    ctx = context(request)
    tasks = [
        task_resource(ticket)
        for ticket in ctx.service.tickets(who)
        if not ctx.tasks.forgotten(ticket.id)
    ]
    tasks += ctx.tasks.own()
    tasks.sort(key=lambda task: task.requested_at, reverse=True)
    return json_response(TaskList(tasks=tasks))


async def get_task(request: Request) -> Response:
    """``GET /api/tasks/{id}[?wait=S]``: the task, after its next change with ``wait``."""
    who = await principal(request, Operation.LIST)
    ctx = context(request)
    task_id = request.path_params["id"]
    wait = query_float(request, "wait")
    if wait is None:
        return json_response(find_task(ctx, who, task_id))
    ctx.service.authorize(who, Operation.WATCH)
    with ctx.streams.take():
        return json_response(await _next_change(ctx, who, task_id, wait))


async def delete_task(request: Request) -> Response:
    """``DELETE /api/tasks/{id}``: forget the task (the host's ticket stays with its run)."""
    who = await principal(request, Operation.LIST)
    ctx = context(request)
    task_id = request.path_params["id"]
    find_task(ctx, who, task_id)
    ctx.tasks.forget(task_id)
    return Response(status_code=204)


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "GET",
        "/api/tasks",
        list_tasks,
        "List the tasks (stops) the host keeps, newest first.",
        Operation.LIST,
        responses={200: TaskList},
    ),
    ApiRoute(
        "GET",
        "/api/tasks/{id}",
        get_task,
        "Read a task; with wait=S, answer at its next change or after S seconds (at most 60).",
        Operation.LIST,
        query={"wait": float},
        responses={200: Task},
    ),
    ApiRoute(
        "DELETE",
        "/api/tasks/{id}",
        delete_task,
        "Forget a task in the HTTP API (the host keeps the stop ticket with its run).",
        Operation.LIST,
        responses={204: None},
    ),
)
