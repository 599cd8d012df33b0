"""``/api/sessions``: list and read sessions, stop, start, execute, runs, remove.

Every endpoint authenticates first (:func:`~._auth.principal`: 401 before anything
else, 403 for the operator role), then reads its parameters and body (422, 400), then
calls one :class:`~spe_host.service.Service` operation, whose errors answer with their
own status (404 unknown session, 409 busy). Stops answer 202 with a task to poll
(:mod:`._tasks`); a start answers 202 with the ``Location`` of its run's result.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .._model import ExecutionResult, SessionState, StopOutcome, run_id
from ..service import InvalidArgument, Operation
from ._auth import principal
from ._context import context
from ._encode import json_response
from ._params import check_reason, query_bool, query_str, read_body, whole_number
from ._resources import run_path, session_resource, task_path
from ._routing import ApiRoute
from ._tasks import stop_task
from ._types import (
    ExecuteRequest,
    RunList,
    Session,
    SessionList,
    StartRequest,
    StopManyRequest,
    Task,
    TaskList,
)

__all__ = ["ROUTES"]

#: How long a client should wait before polling a task it was just given.
RETRY_AFTER = "1"


async def list_sessions(request: Request) -> Response:
    """``GET /api/sessions[?state=][&pattern=...]``."""
    who = await principal(request, Operation.LIST)
    patterns = request.query_params.getlist("pattern")
    state = query_str(request, "state")
    if state is not None and state not in set(SessionState):
        raise InvalidArgument(
            f"the query parameter 'state' is {state!r}; it is one of "
            + ", ".join(s.value for s in SessionState)
        )
    infos = context(request).service.sessions(who, *patterns, state=state)
    return json_response(SessionList(sessions=[session_resource(i) for i in infos]))


async def get_session(request: Request) -> Response:
    """``GET /api/sessions/{id}``."""
    who = await principal(request, Operation.LIST)
    info = context(request).service.session(who, request.path_params["id"])
    return json_response(session_resource(info))


async def stop_session(request: Request) -> Response:
    """``POST /api/sessions/{id}?action=stop[&reason=][&force=]``: 202 and a task."""
    who = await principal(request, Operation.STOP)
    ctx = context(request)
    reason = check_reason(query_str(request, "reason"))
    force = query_bool(request, "force")
    info = ctx.service.session(who, request.path_params["id"])
    outcome = ctx.service.stop(who, info.id, reason=reason, force=force)[info.id]
    task = stop_task(ctx, who, info, outcome, reason)
    headers = {"Location": task_path(task.id), "Retry-After": RETRY_AFTER}
    return json_response(task, 202, headers)


async def stop_many(request: Request) -> Response:
    """``POST /api/sessions/stop {"ids": [...]}``: 202 and a task per matched session."""
    who = await principal(request, Operation.STOP)
    ctx = context(request)
    body = await read_body(request, StopManyRequest)
    if not body.ids:
        raise InvalidArgument("the field 'ids' is empty; name at least one session or pattern")
    check_reason(body.reason)
    outcomes = ctx.service.stop(who, *body.ids, reason=body.reason, force=body.force)
    tasks = []
    not_found = []
    for key, outcome in outcomes.items():
        if outcome is StopOutcome.NOT_FOUND:
            not_found.append(key)
        else:
            info = ctx.service.session(who, key)
            tasks.append(stop_task(ctx, who, info, outcome, body.reason))
    return json_response(
        TaskList(tasks=tasks, not_found=not_found), 202, {"Retry-After": RETRY_AFTER}
    )


async def start_session(request: Request) -> Response:
    """``POST /api/sessions/{id}?action=start {"code"|"path", "args", "name"}``: 202."""
    who = await principal(request, Operation.START)
    body = await read_body(request, StartRequest)
    info = await context(request).service.start(
        who,
        request.path_params["id"],
        body.code,
        path=body.path,
        args=body.args,
        name=body.name,
    )
    location = run_path(info.id, info.run) if info.run else None
    headers = {"Location": location} if location else None
    return json_response(session_resource(info), 202, headers)


async def execute(request: Request) -> Response:
    """``POST /api/sessions/{id}/execute {"code"}``: run it, answer with its result."""
    who = await principal(request, Operation.EXECUTE)
    body = await read_body(request, ExecuteRequest)
    result = await context(request).service.execute(
        who, request.path_params["id"], body.code, interactive=body.interactive
    )
    return json_response(result)


async def list_runs(request: Request) -> Response:
    """``GET /api/sessions/{id}/runs``: the kept results, oldest first (none is cleared)."""
    who = await principal(request, Operation.RECEIVE)
    runs = context(request).service.runs(who, request.path_params["id"])
    return json_response(RunList(runs=runs))


async def get_run(request: Request) -> Response:
    """``GET /api/sessions/{id}/runs/{run}[?keep=true]``: receive that run's result."""
    keep = query_bool(request, "keep")
    # Without keep the result is cleared: a change, so a cookie needs its CSRF token.
    who = await principal(request, Operation.RECEIVE, changes=not keep)
    session = request.path_params["id"]
    run = request.path_params["run"]
    # "7" is short for "etl#7": a '#' must be written %23 in a path.
    number = whole_number(run)
    if number is not None:
        run = run_id(session, number)
    result = context(request).service.receive(who, session, run=run, keep=keep)
    return json_response(result)


async def delete_session(request: Request) -> Response:
    """``DELETE /api/sessions/{id}[?force=true]``: 204, or 409 while it runs."""
    who = await principal(request, Operation.REMOVE)
    ctx = context(request)
    force = query_bool(request, "force")
    info = ctx.service.session(who, request.path_params["id"])
    await ctx.service.remove(who, info.id, force=force)
    return Response(status_code=204)


_ID = "/api/sessions/{id}"

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "GET",
        "/api/sessions",
        list_sessions,
        "List the sessions, oldest first; filter by state and by ids or wildcards.",
        Operation.LIST,
        query={"state": str, "pattern": list[str]},
        responses={200: SessionList},
    ),
    ApiRoute(
        "POST",
        "/api/sessions/stop",
        stop_many,
        "Stop every session the ids and wildcards name; a task per session.",
        Operation.STOP,
        body=StopManyRequest,
        responses={202: TaskList},
    ),
    ApiRoute(
        "GET",
        _ID,
        get_session,
        "Read a session: its state, current run, progress, location and stop.",
        Operation.LIST,
        responses={200: Session},
    ),
    ApiRoute(
        "POST",
        _ID,
        stop_session,
        "Ask the session to stop at its next statement; answers a task to poll.",
        Operation.STOP,
        query={"reason": str, "force": bool},
        responses={202: Task},
        action="stop",
    ),
    ApiRoute(
        "POST",
        _ID,
        start_session,
        "Start a background run of code or of a host-side script file.",
        Operation.START,
        body=StartRequest,
        responses={202: Session},
        action="start",
    ),
    ApiRoute(
        "DELETE",
        _ID,
        delete_session,
        "Remove a session; a running one only with force=true.",
        Operation.REMOVE,
        query={"force": bool},
        responses={204: None},
    ),
    ApiRoute(
        "POST",
        f"{_ID}/execute",
        execute,
        "Run code in the session (created if missing) and answer with its result.",
        Operation.EXECUTE,
        body=ExecuteRequest,
        responses={200: ExecutionResult},
    ),
    ApiRoute(
        "GET",
        f"{_ID}/runs",
        list_runs,
        "List the results the session keeps, oldest first, without clearing them.",
        Operation.RECEIVE,
        responses={200: RunList},
    ),
    ApiRoute(
        "GET",
        f"{_ID}/runs/{{run}}",
        get_run,
        "Receive a run's result (cleared unless keep=true); the run is etl%237 or 7.",
        Operation.RECEIVE,
        query={"keep": bool},
        responses={200: ExecutionResult},
    ),
)
