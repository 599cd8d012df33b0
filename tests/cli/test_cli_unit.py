"""The `spe-host` command without a server: the parser, --help, JSON shapes, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from support.cli import info

import spe_host
from spe_host._errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    HandshakeTimeout,
    PermissionDenied,
    RemoteProtocolError,
    SessionBusy,
    SessionNotFound,
    SpeError,
)
from spe_host.cli._exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageError,
)
from spe_host.cli._main import exit_code, main
from spe_host.cli._output import session_json
from spe_host.cli._parser import build_parser

VERBS = [
    "serve",
    "attach",
    "start",
    "ls",
    "receive",
    "wait",
    "stop",
    "rm",
    "logs",
    "inspect",
    "completion",
]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_examples(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: spe-host {verb}")
    assert "examples:" in text
    assert f"spe-host {verb}" in text.split("examples:")[1]
    if verb not in ("serve", "completion"):
        assert "--connect ADDRESS_OR_NAME" in text
    # attach is a terminal, logs prints output as it is, inspect prints JSON only.
    if verb not in ("serve", "attach", "logs", "inspect", "completion"):
        assert "--json" in text


def test_top_level_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for verb in VERBS:
        assert verb in text
    assert "exit codes:" in text
    assert "3  the host could not be reached" in text


def test_start_arguments_are_parsed() -> None:
    args = build_parser().parse_args(
        [
            "start",
            "etl",
            "-c",
            "print(n)",
            "--arg",
            "n=5",
            "--arg",
            "who=bob",
            "--arg",
            "items=[1, 2]",
            "--arg",
            "empty=",
            "--name",
            "nightly",
            "--autodispose",
        ]
    )
    assert args.session == "etl"
    assert args.code == "print(n)"
    assert dict(args.arg) == {"n": 5, "who": "bob", "items": [1, 2], "empty": ""}
    assert args.name == "nightly"
    assert args.autodispose is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "etl", "--arg", "1x=2", "-c", "1"], "NAME=VALUE"),
        (["start", "no spaces", "-c", "1"], "not a valid session id"),
        (["wait", "x", "--timeout", "soon"], "not a number"),
        (["wait", "x", "--timeout", "nan"], "finite number"),
        (["attach", "--session", "a/b"], "not a valid session id"),
        (["bogus"], "invalid choice"),
        (["ls", "--state", "closed"], "invalid choice"),
        (["receive", "etl#0"], "not a valid run id"),
        (["serve", "--keep-results", "0"], "must be at least 1"),
        (["receive", "etl#"], "not a valid run id"),
        (["receive", "bad id#2"], "not a valid run id"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_usage_errors_found_after_parsing_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Checked before connecting, so no host is needed.
    monkeypatch.setenv("SPE_HOST_RUNTIME_DIR", str(tmp_path))
    assert main(["start", "etl"]) == EXIT_USAGE
    assert "-c CODE or as a FILE" in capsys.readouterr().err
    assert main(["stop", "etl", "--timeout", "3"]) == EXIT_USAGE
    assert "--timeout goes with --wait" in capsys.readouterr().err
    assert main(["attach", "default", "--connect", "other"]) == EXIT_USAGE


def test_no_host_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPE_HOST_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("SPE_HOST", raising=False)
    assert main(["ls"]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith("spe-host: cannot connect to the host: no host named 'default'")
    assert main(["ls", "--connect", "tcp://no such host:1"]) == EXIT_UNREACHABLE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SessionNotFound("no session has the id 'x'"), EXIT_FAILED),
        (SessionBusy("session 'x' is running"), EXIT_FAILED),
        (RemoteProtocolError("bad"), EXIT_FAILED),
        (SpeError("internal"), EXIT_FAILED),
        (AuthenticationError("the token is not valid"), EXIT_UNREACHABLE),
        (PermissionDenied("needs the admin role"), EXIT_UNREACHABLE),
        (ConnectError("refused"), EXIT_UNREACHABLE),
        (trio.BrokenResourceError(), EXIT_UNREACHABLE),
        (UsageError("wrong"), EXIT_USAGE),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
        # trio nurseries wrap errors in groups of one.
        (ExceptionGroup("g", [ExceptionGroup("h", [SessionBusy("busy")])]), EXIT_FAILED),
    ],
)
def test_exit_codes(error: BaseException, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(error) == code
    if code != EXIT_INTERRUPTED:
        assert capsys.readouterr().err.startswith("spe-host: ")


@pytest.mark.parametrize(
    ("error", "code", "sentence"),
    [
        (ConnectError("no host named 'x'"), 3, "cannot connect to the host: no host named 'x'"),
        (HandshakeTimeout("no welcome"), 3, "cannot connect to the host: no welcome"),
        (ConnectionLost("the host hung up"), 3, "lost the connection: the host hung up"),
        (AuthenticationError("bad token"), 3, "cannot connect to the host: bad token"),
        (PermissionDenied("needs the admin role"), 3, "needs the admin role"),
        (RemoteProtocolError("bad"), 1, "the host rejected the request: bad"),
        (SpeError("cannot listen on tcp://0.0.0.0:1"), 1, "cannot listen on tcp://0.0.0.0:1"),
        (trio.BrokenResourceError(), 3, "lost the connection to the host: BrokenResourceError"),
        (UsageError("--tls-key needs --tls-cert"), 2, "--tls-key needs --tls-cert"),
        (ValueError("give exactly one"), 2, "give exactly one"),
    ],
)
def test_exit_codes_come_from_the_class_with_one_sentence(
    error: BaseException, code: int, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The class decides, never the message: a lost connection whose sentence starts
    # like any other is still exit 3.
    assert exit_code(BaseExceptionGroup("g", [BaseExceptionGroup("h", [error])])) == code
    assert capsys.readouterr().err == f"spe-host: {sentence}\n"


def test_unexpected_errors_are_not_hidden() -> None:
    with pytest.raises(ZeroDivisionError):
        exit_code(ZeroDivisionError())


def test_receive_takes_a_session_or_one_of_its_runs() -> None:
    assert build_parser().parse_args(["receive", "etl"]).target == ("etl", None)
    assert build_parser().parse_args(["receive", "etl#2", "--keep"]).target == ("etl", "etl#2")


def test_serve_keep_results_defaults_to_the_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["serve", "--keep-results", "3"]).keep_results == 3
    assert main(["serve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"oldest (default: {spe_host.DEFAULT_KEEP_RESULTS})" in help_text


def test_session_json_has_the_documented_keys() -> None:
    data = session_json(
        info("etl", state="running", progress_percent=5.0, progress_message="go", location="x:1")
    )
    for key in ("id", "name", "state", "progress", "location", "last_status"):
        assert key in data
    for key in ("run", "run_started_at", "run_ended_at"):
        assert key in data
    # One progress object: the protocol's two flat fields are not repeated.
    assert data["progress"] == {"percent": 5.0, "message": "go"}
    assert "progress_percent" not in data
    assert "progress_message" not in data


def test_loop_mode_flags_are_parsed() -> None:
    parse = build_parser().parse_args
    assert parse(["attach", "--loop"]).loop is True
    assert parse(["attach"]).loop is False
    assert parse(["start", "etl", "-c", "1", "--loop"]).loop is True
    assert parse(["serve", "--loop-timeout", "2.5"]).loop_timeout == 2.5
    # Written out in the parser, which does not import the engine: the same default.
    assert parse(["serve"]).loop_timeout == spe_host.DEFAULT_LOOP_TIMEOUT
