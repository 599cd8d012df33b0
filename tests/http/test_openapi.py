"""The OpenAPI document is generated from the route table and the dataclasses, not kept by hand.

Every route the app mounts has an operation; the schema of a type lists every field
of its dataclass, times as ``date-time``; routes told apart by ``?action=`` are one
operation; event streams and error answers are declared; ``/api/docs`` is served
from the package.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from starlette.responses import Response

from spe_host._model import ExecutionResult, SessionInfo, StopTicket
from spe_host.http._encode import TIME_FIELDS
from spe_host.http._openapi import Events, openapi
from spe_host.http._routing import ApiRoute
from spe_host.http._schema import Schemas
from spe_host.http._types import ErrorBody, Session, StartRequest, Task
from spe_host.service import Operation


async def _nothing(request: object) -> Response:
    return Response()


def test_the_schema_of_a_dataclass_lists_every_field() -> None:
    schemas = Schemas(TIME_FIELDS)
    for cls in (SessionInfo, Session, StopTicket, ExecutionResult, Task):
        assert schemas.of(cls) == {"$ref": f"#/components/schemas/{cls.__name__}"}
        component = schemas.components[cls.__name__]
        assert list(component["properties"]) == [f.name for f in dataclasses.fields(cls)]
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        assert component.get("required", []) == required


def test_times_are_date_time_strings_and_options_may_be_null() -> None:
    schemas = Schemas(TIME_FIELDS)
    schemas.of(SessionInfo)
    fields = schemas.components["SessionInfo"]["properties"]
    assert fields["created_at"] == {
        "type": "string",
        "format": "date-time",
        "description": "When the session was created (ISO 8601, UTC).",
    }
    assert fields["run_ended_at"]["anyOf"] == [
        {"type": "string", "format": "date-time"},
        {"type": "null"},
    ]
    assert fields["name"]["type"] == ["string", "null"]
    assert fields["output_offset"]["type"] == "integer"
    assert fields["state"]["$ref"] == "#/components/schemas/SessionState"
    assert schemas.components["SessionState"]["enum"] == ["idle", "running", "stopping", "closed"]
    # The descriptions come from the class's Attributes section.
    assert fields["output_offset"]["description"].startswith("The end offset (UTF-8 bytes)")
    assert schemas.components["SessionInfo"]["description"].startswith("A snapshot of a session")


class Colour(enum.StrEnum):
    RED = "red"


@dataclass
class Shapes:
    names: list[str]
    counts: dict[str, int]
    pair: tuple[int, str]
    kind: Literal["a", "b"]
    colour: Colour | None = None
    extra: Any = None


def test_containers_literals_and_refused_annotations() -> None:
    schemas = Schemas(TIME_FIELDS)
    schemas.of(Shapes)
    fields = schemas.components["Shapes"]["properties"]
    assert fields["names"] == {"type": "array", "items": {"type": "string"}}
    assert fields["counts"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert fields["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert fields["kind"] == {"enum": ["a", "b"]}
    assert fields["colour"] == {
        "anyOf": [{"$ref": "#/components/schemas/Colour"}, {"type": "null"}]
    }
    assert fields["extra"] == {}
    assert schemas.components["Shapes"]["required"] == ["names", "counts", "pair", "kind"]
    with pytest.raises(TypeError, match="cannot describe the annotation set"):
        schemas.of(set[int], "tags")


def test_two_types_of_one_name_are_refused() -> None:
    @dataclass
    class Session:  # the name of the API's session resource
        id: str

    schemas = Schemas(TIME_FIELDS)
    schemas.of(StartRequest)
    schemas.of(Session)
    with pytest.raises(TypeError, match="two API types are both named 'Session'"):
        schemas.of(__import__("spe_host.http._types").http._types.Session)


def test_actions_on_one_path_are_one_operation_with_an_action_enum() -> None:
    class Ticks(Events):
        """Ticks as they come."""

        events = {"tick": ErrorBody}

    routes = [
        ApiRoute(
            "POST",
            "/api/things/{id}",
            _nothing,
            "Stop it.",
            Operation.STOP,
            query={"force": bool},
            responses={202: Task},
            action="stop",
        ),
        ApiRoute(
            "POST",
            "/api/things/{id}",
            _nothing,
            "Start it.",
            Operation.START,
            body=StartRequest,
            responses={202: Session},
            action="start",
        ),
        ApiRoute("GET", "/api/ticks", _nothing, "Tick.", None, responses={200: Ticks}),
    ]
    document = openapi(routes, version="1")
    operation = document["paths"]["/api/things/{id}"]["post"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["id"]["in"] == "path"
    assert parameters["id"]["required"]
    assert parameters["action"]["schema"] == {"enum": ["stop", "start"]}
    assert parameters["force"]["schema"] == {"type": "boolean"}
    # Only start has a body, so a body is optional for the operation.
    assert operation["requestBody"]["required"] is False
    assert set(operation["responses"]) >= {"202", "400", "401", "403", "404", "422"}
    assert operation["responses"]["202"]["content"]["application/json"]["schema"] == {
        "oneOf": [
            {"$ref": "#/components/schemas/Task"},
            {"$ref": "#/components/schemas/Session"},
        ]
    }
    assert operation["security"] == [{"bearer": []}, {"logon": []}, {"cookie": []}]
    ticks = document["paths"]["/api/ticks"]["get"]
    assert ticks["security"] == []
    assert "401" not in ticks["responses"]
    stream = ticks["responses"]["200"]["content"]["text/event-stream"]
    assert stream["x-events"]["tick"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert ticks["responses"]["200"]["description"] == "Ticks as they come."
    error = document["components"]["schemas"]["ErrorBody"]
    assert (
        error["properties"]["error"]
        == {
            "$ref": "#/components/schemas/ErrorDetail",
            "description": error["properties"]["error"].get("description", ""),
        }
        or error["properties"]["error"]["$ref"] == "#/components/schemas/ErrorDetail"
    )
