"""What the CLI prints, checked without a server: the ``--json`` objects against the JSON
Schema that docs/cli.md publishes, the exit codes of how runs ended, the ETA of
``wait``'s bars, the command line's stricter checks, and the completion scripts.

The schema is read from the docs themselves (the block after ``<!-- cli-json-schema
-->``), so the documentation cannot drift from the output. The validator below covers
the part of JSON Schema that block uses; it is tested on a value it must refuse.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.cli import info

from spe_host._format import format_sessions
from spe_host._model import ExecutionResult, StopPhase, StopTicket
from spe_host.cli._bars import eta, format_eta
from spe_host.cli._completion import command_spec, script
from spe_host.cli._exits import EXIT_OK, EXIT_RUN_ABORTED, EXIT_RUN_FAILED, run_exit
from spe_host.cli._main import _parse, main
from spe_host.cli._output import result_json, session_json, ticket_json
from spe_host.cli._parser import build_parser

DOCS = Path(__file__).parents[2] / "docs" / "cli.md"
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _schema() -> dict[str, Any]:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- cli-json-schema -->\n```json\n(.*?)\n```", text, re.S)
    assert found, "docs/cli.md has no JSON Schema block"
    schema: dict[str, Any] = json.loads(found.group(1))
    return schema


SCHEMA = _schema()


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def problems(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What is wrong with ``value`` under ``schema`` (the subset docs/cli.md uses)."""
    if "$ref" in schema:
        return problems(value, SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]], where)
    if "anyOf" in schema:
        if any(not problems(value, option, where) for option in schema["anyOf"]):
            return []
        return [f"{where}: matches none of anyOf"]
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value)
        except ValueError:
            found.append(f"{where}: {value!r} is not ISO 8601")
    if "minimum" in schema and value < schema["minimum"]:
        found.append(f"{where}: {value!r} < {schema['minimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: no {key!r}" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: unexpected {key!r}")
            elif isinstance(extra, dict):
                found += problems(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    return found


def of(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


TICKET = StopTicket(
    id="t1",
    session="etl",
    run="etl#7",
    requested_at=1796167160.5,
    requested_by="uid 1000 (pid 4242)",
    reason="bad input",
    phase=StopPhase.FINISHED,
    landed_at="job.py:13",
    landed_time=1796167161.0,
    finished_at=1796167161.25,
    status="aborted",  # type: ignore[arg-type]
)


def test_the_json_objects_match_the_published_schema() -> None:
    running = info(
        "etl",
        state="running",
        progress_percent=40.0,
        progress_message="loading",
        run="etl#7",
        run_started_at=1796167160.0,
        stop=TICKET,
    )
    session = session_json(running)
    assert problems([session, session_json(info("new"))], of("sessions")) == []
    assert problems({"session": session, "previous": None}, of("watch_line")) == []
    result = ExecutionResult(
        session="etl",
        status="failed",  # type: ignore[arg-type]
        value=None,
        error="Traceback ...",
        output="hi\n",
        started_at=1796167160.0,
        finished_at=1796167161.0,
        run="etl#7",
    )
    assert problems(result_json(result), of("result")) == []
    stop = {"etl": {"outcome": "would_stop", "ticket": None}, "x": {"outcome": "requested"}}
    stop["x"]["ticket"] = ticket_json(TICKET)  # type: ignore[assignment]
    assert problems(stop, of("stop")) == []
    # The validator refuses what the schema does not allow.
    session["progress_percent"] = 40.0
    session["state"] = "sleeping"
    assert problems(session, of("session")) == [
        "$.state: 'sleeping' not in ['idle', 'running', 'stopping', 'closed']",
        "$: unexpected 'progress_percent'",
    ]


def test_every_time_has_an_iso_8601_twin_and_progress_is_one_object() -> None:
    data = session_json(info("etl", created_at=0.25, progress_percent=5.0))
    assert data["created_at"] == 0.25
    assert data["created_at_iso"] == "1970-01-01T00:00:00.250+00:00"
    assert data["run_started_at_iso"] is None
    assert data["progress"] == {"percent": 5.0, "message": None}
    # The twin sits beside its float.
    keys = list(data)
    assert keys[keys.index("created_at") + 1] == "created_at_iso"
    ticket = ticket_json(TICKET)
    assert ticket is not None
    assert ticket["landed_time_iso"] == "2026-12-01T23:19:21.000+00:00"


def test_run_statuses_give_exit_codes() -> None:
    assert run_exit(["completed", None]) == EXIT_OK
    assert run_exit(["completed", "aborted"]) == EXIT_RUN_ABORTED == 5
    assert run_exit(["aborted", "failed"]) == EXIT_RUN_FAILED == 4
    assert run_exit([]) == EXIT_OK


def test_the_eta_counts_only_progress_made_during_the_wait() -> None:
    # At 90 % when the wait began, 95 % after 10 s: 10 s more, not 0.5 s.
    assert eta(10.0, 90.0, 95.0) == pytest.approx(10.0)
    assert eta(5.0, 30.0, 30.0) is None  # no progress yet: no pace to go by
    assert eta(0.0, 30.0, 40.0) is None
    assert format_eta(None) == "eta ?"
    assert format_eta(65.4) == "eta 1:05"
    assert format_eta(7384) == "eta 2:03:04"


def test_control_characters_are_escaped_in_the_table() -> None:
    row = info("etl", name="two\nlines", progress_percent=1.0, progress_message="a\tb\x1b[2J")
    table = format_sessions([row], now=1000.0)
    assert len(table.splitlines()) == 2
    assert "two\\nlines" in table
    assert "a\\tb\\x1b[2J" in table
    assert "\x1b" not in table


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "x", "-c", "1", "file.py"], "exactly one"),
        (["ls", "--connect", ""], "an empty host"),
        (["attach", ""], "an empty host"),
        (["ls", "--connect-timeout", "0"], "more than 0"),
        (["logs", "etl", "--since", "-1"], "at least 0"),
        (["logs", "etl", "--since", "5", "--run", "2"], "not allowed with"),
        (["logs", "etl", "-f", "--run", "2"], "leave out -f"),
        (["logs", "etl", "--run", "other#2"], "not a run of session 'etl'"),
    ],
)
def test_stricter_command_lines_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "VERB ..." not in err  # the verb's usage, not the top-level one


def test_positionals_may_follow_options() -> None:
    args = build_parser()
    parsed = _parse(args, ["ls", "a", "--json", "b"])
    assert (parsed.patterns, parsed.json) == (["a", "b"], True)
    assert _parse(args, ["start", "x", "-c", "1", "f.py"]).file == "f.py"


def test_completion_scripts_know_the_verbs_flags_and_values() -> None:
    spec = command_spec(build_parser())
    assert "_complete" not in spec.verbs
    assert {"ls", "logs", "inspect", "completion"} <= set(spec.verbs)
    assert "--what-if" in spec.flags["stop"]
    assert spec.values["--state"] == "idle running stopping"
    assert spec.values["-s"] == spec.values["--session"] == "sessions"
    assert spec.values["--connect"] == "hosts"
    assert spec.positionals["attach"] == "hosts"
    assert spec.positionals["rm"] == "sessions"
    for shell in ("bash", "zsh", "fish"):
        text = script(shell, spec)
        assert "spe-host _complete" in text
        assert "what-if" in text
    assert "spe-host _complete sessions" in script("bash", spec)
    assert "(__spe_host_names sessions)" in script("fish", spec)
