"""The OpenAPI 3.1 document of the HTTP API, generated from the route table and the types.

Theory of operation
-------------------
Every module of the API declares its routes as :class:`~._routing.ApiRoute` values,
and the app mounts exactly those; :func:`openapi` reads the same values, so the
document describes what is served and nothing else. Each route gives a path and
method, its query parameters and their types, its request body's dataclass and the
dataclass of each response; :class:`~._schema.Schemas` turns the types into JSON
Schema (2020-12, the dialect of OpenAPI 3.1) under ``components/schemas``.

Three things are added to what a route declares:

* security: a route that needs an operation accepts a bearer token, a logon id in
  ``X-Session-Id`` or the logon cookie; one without (logon, this document, the
  docs page) says ``security: []``;
* the error answers every operation can give, each with the one error body
  (400 malformed, 401 and 403 for routes behind credentials, 404, 409, 413, 422);
* an event stream (:class:`~._sse.Events`) as ``text/event-stream`` with its
  events and their data schemas under ``x-events`` (OpenAPI 3.1 has no words for
  the events of a stream), and the JSON body the route answers when not streaming.

OpenAPI allows one operation per path and method; the routes that share one and are
told apart by ``?action=`` (stop and start of a session) become one operation with
a required ``action`` enum, a ``oneOf`` request body and their responses merged.

``GET /api/openapi.json`` needs no credentials: the document says what the API is,
nothing about the host's sessions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import __version__
from ._encode import TIME_FIELDS
from ._routing import ApiRoute
from ._schema import JsonSchema, Schemas, describe
from ._types import ErrorBody

__all__ = ["ROUTES", "Events", "Media", "openapi"]

OPENAPI_VERSION: Final = "3.1.0"
#: The statuses of the error body, for every operation (401 and 403: with credentials).
_ERRORS: Final = (400, 401, 403, 404, 409, 413, 422)
_CREDENTIALS: Final = (401, 403)
_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
_SECURITY_SCHEMES: Final = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <token>, the host's admin or operator token.",
    },
    "logon": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Session-Id",
        "description": "X-Session-Id: <id> of a logon session (POST /api/logon).",
    },
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "spe_session",
        "description": "The logon cookie (POST /api/logon?cookie=true); a POST or DELETE "
        "also needs X-CSRF-Token: <the logon's csrf_token>.",
    },
}
_DESCRIPTION: Final = (
    "Run, watch and stop the script sessions of an spe_host host. Times are ISO 8601 UTC; "
    "output offsets are bytes of the session's output stream. Errors answer "
    '{"error": {"code", "message"}} with the same codes and sentences as the wire protocol.'
)


class Media:
    """Declares a response body that is not a JSON dataclass: subclass it, name its type.

    A route's ``responses`` map a status to such a class as to a dataclass.

    Attributes:
        media_type: The body's content type.
        schema: The body's schema.
    """

    media_type: ClassVar[str]
    schema: ClassVar[JsonSchema] = {"type": "string"}


class Events(Media):
    """Declares an event stream (``text/event-stream``): subclass it, name its events.

    Attributes:
        events: Each event's name and the dataclass its ``data`` carries.
        otherwise: The JSON body the same route answers when it is not asked to
            stream (None: it always streams).
    """

    media_type = "text/event-stream"
    events: ClassVar[Mapping[str, type]]
    otherwise: ClassVar[type | None] = None


class OpenApiDocument(Media):
    """An OpenAPI 3.1 document."""

    media_type = "application/json"
    schema: ClassVar[JsonSchema] = {"type": "object", "required": ["openapi", "paths"]}


def openapi(routes: Iterable[ApiRoute], *, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``.

    Args:
        routes: Every route the app serves.
        version: The API's version (the package's).

    Raises:
        TypeError: A route declares a type the document cannot describe.
    """
    schemas = Schemas(TIME_FIELDS)
    grouped: dict[tuple[str, str], list[ApiRoute]] = defaultdict(list)
    for route in routes:
        grouped[route.path, route.method].append(route)
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for (path, method), same in grouped.items():
        paths[_PARAMETER.sub(r"{\1}", path)][method.lower()] = _operation(path, same, schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": "spe_host HTTP API", "version": version, "description": _DESCRIPTION},
        "paths": dict(paths),
        "components": {"schemas": schemas.components, "securitySchemes": _SECURITY_SCHEMES},
    }


def _operation(path: str, routes: Sequence[ApiRoute], schemas: Schemas) -> dict[str, Any]:
    first = routes[0]
    actions = [r.action for r in routes if r.action is not None]
    operation: dict[str, Any] = {
        "operationId": _operation_id(first.method, path),
        "summary": " / ".join(dict.fromkeys(r.summary for r in routes)),
        "tags": [path.split("/")[2] if path.count("/") >= 2 else "api"],
    }
    if len(routes) > 1:
        operation["description"] = " ".join(f"action={r.action}: {r.summary}" for r in routes)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(converter)}
        for name, converter in _PARAMETER.findall(path)
    ]
    if actions:
        parameters.append(
            {"name": "action", "in": "query", "required": True, "schema": {"enum": actions}}
        )
    query: dict[str, object] = {}
    for route in routes:
        query.update(route.query)
    parameters += [_query_parameter(name, kind, schemas) for name, kind in query.items()]
    if parameters:
        operation["parameters"] = parameters
    bodies = list(dict.fromkeys(r.body for r in routes if r.body is not None))
    if bodies:
        refs = [schemas.of(body) for body in bodies]
        operation["requestBody"] = {
            "required": len(bodies) == len(routes),
            "content": {
                "application/json": {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}
            },
        }
    guarded = any(r.operation is not None for r in routes)
    if not guarded:
        operation["security"] = []
    else:
        operation["security"] = [{name: []} for name in _SECURITY_SCHEMES]
    operation["responses"] = _responses(routes, schemas, guarded=guarded)
    return operation


def _responses(routes: Sequence[ApiRoute], schemas: Schemas, *, guarded: bool) -> dict[str, Any]:
    declared: dict[int, list[type | None]] = defaultdict(list)
    for route in routes:
        for status, body in route.responses.items():
            if body not in declared[status]:
                declared[status].append(body)
    responses: dict[str, Any] = {}
    for status in sorted(declared):
        responses[str(status)] = _response(status, declared[status], schemas)
    error = {"application/json": {"schema": schemas.of(ErrorBody)}}
    for status in _ERRORS:
        if str(status) in responses or (status in _CREDENTIALS and not guarded):
            continue
        responses[str(status)] = {"description": _reason(status), "content": error}
    return responses


def _response(status: int, bodies: list[type | None], schemas: Schemas) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _reason(status)}
    content: dict[str, Any] = {}
    json_bodies: list[JsonSchema] = []
    for body in bodies:
        if body is None:
            continue
        if isinstance(body, type) and issubclass(body, Media):
            content[body.media_type] = {"schema": body.schema}
            response["description"] = describe(body).get("description", response["description"])
            if issubclass(body, Events):
                content[body.media_type] |= _events(body, schemas)
                if body.otherwise is not None:
                    json_bodies.append(schemas.of(body.otherwise))
        else:
            json_bodies.append(schemas.of(body))
    if json_bodies:
        schema = json_bodies[0] if len(json_bodies) == 1 else {"oneOf": json_bodies}
        content["application/json"] = {"schema": schema}
    if content:
        response["content"] = content
    return response


def _events(events: type[Events], schemas: Schemas) -> dict[str, Any]:
    return {
        "x-events": {
            name: {"schema": schemas.of(data)} | describe(data)
            for name, data in events.events.items()
        },
    }


def _query_parameter(name: str, kind: object, schemas: Schemas) -> dict[str, Any]:
    schema = schemas.of(kind)
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if schema.get("type") == "array":
        # Repeated: ?pattern=a&pattern=b.
        parameter |= {"style": "form", "explode": True}
    return parameter


def _path_schema(converter: str) -> JsonSchema:
    if converter == "int":
        return {"type": "integer", "minimum": 0}
    return {"type": "string"}


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}").split(":")[0] for w in path.split("/") if w and w != "api"]
    return "_".join([method.lower(), *words]) or method.lower()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


async def _openapi_json(request: Request) -> Response:
    # Built on the first request and kept: the routes do not change while the app runs.
    state = request.app.state
    document = getattr(state, "spe_openapi", None)
    if document is None:
        document = state.spe_openapi = openapi(state.spe_routes, version=__version__)
    return JSONResponse(document)


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "GET",
        "/api/openapi.json",
        _openapi_json,
        "This document: the OpenAPI 3.1 description of every operation.",
        None,
        responses={200: OpenApiDocument},
    ),
)
