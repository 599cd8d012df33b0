"""What the verbs print: ``--json`` objects and tables on stdout, sentences on stderr.

``--json`` prints the protocol's own objects (docs/cli.md, "JSON output", has their
JSON Schema), so scripts never parse the human tables. The functions here are the one
place that shapes them for the command line: a session's progress is one object,
``{"percent", "message"}``, and every time, a Unix-seconds float on the wire, gets an
ISO 8601 twin beside it (``created_at`` and ``created_at_iso``), so ``jq`` users can
read it and scripts can still do arithmetic on the float.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from .._format import format_sessions, format_table
from .._model import ExecutionResult, SessionInfo, StopTicket, encode_output

__all__ = [
    "PROG",
    "err",
    "iso_time",
    "print_json",
    "print_sessions",
    "print_table",
    "result_json",
    "session_json",
    "ticket_json",
    "write_output",
]

PROG = "spe-host"

#: The time fields of each object ``--json`` prints; each gets a ``<field>_iso`` twin.
_SESSION_TIMES = ("created_at", "last_accessed", "run_started_at", "run_ended_at")
_TICKET_TIMES = ("requested_at", "landed_time", "finished_at", "forced_at")
_RESULT_TIMES = ("started_at", "finished_at")


def iso_time(seconds: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC with milliseconds (``2026-12-01T23:10:49.500+00:00``)."""
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="milliseconds")


def _with_iso(data: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``data`` with each time field followed by its ISO 8601 twin, in field order."""
    shaped: dict[str, Any] = {}
    for key, value in data.items():
        shaped[key] = value
        if key in fields:
            shaped[f"{key}_iso"] = iso_time(value)
    return shaped


def ticket_json(ticket: StopTicket | None) -> dict[str, Any] | None:
    """A stop ticket as ``--json`` prints it (None stays None)."""
    return None if ticket is None else _with_iso(dataclasses.asdict(ticket), _TICKET_TIMES)


def session_json(info: SessionInfo) -> dict[str, Any]:
    """A session as ``--json`` prints it.

    Args:
        info: The session.

    Returns:
        The protocol's SessionInfo fields, with the progress as one object
        ``progress: {"percent", "message"}`` where the protocol has two fields, the
        ticket shaped by :func:`ticket_json`, and ISO 8601 twins of the times.
    """
    data: dict[str, Any] = {}
    for field in dataclasses.fields(info):
        if field.name == "progress_percent":
            data["progress"] = {"percent": info.progress_percent, "message": info.progress_message}
        elif field.name != "progress_message":
            data[field.name] = getattr(info, field.name)
    data["stop"] = ticket_json(info.stop)
    return _with_iso(data, _SESSION_TIMES)


def result_json(result: ExecutionResult) -> dict[str, Any]:
    """A run's result as ``receive --json`` prints it: the ExecutionInfo, with ISO times."""
    return _with_iso(dataclasses.asdict(result), _RESULT_TIMES)


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def print_sessions(infos: Sequence[SessionInfo]) -> None:
    """Print sessions as the ``ls`` table."""
    print(format_sessions(infos), end="", flush=True)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print an aligned table with a header line."""
    print(format_table(headers, rows), end="", flush=True)


def write_output(text: str, stream: TextIO | None = None) -> None:
    """Write a session's output as the very bytes the script printed.

    Output text carries bytes that are not UTF-8 as lone surrogates
    (:func:`~spe_host._model.encode_output`), which a text stream would refuse; the
    bytes go to the stream's binary buffer when it has one.

    Args:
        text: The output.
        stream: Where to (default: stdout).
    """
    stream = sys.stdout if stream is None else stream
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(encode_output(text).decode("utf-8", "replace"))
    else:
        stream.flush()
        buffer.write(encode_output(text))
    stream.flush()


def err(message: str) -> None:
    """Print a sentence on stderr, prefixed with the program's name."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
