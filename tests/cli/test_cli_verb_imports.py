"""What a real ``spe-host serve`` and ``spe-host ls`` import, read from ``-X importtime``.

The parser names every verb and imports the module of the one that runs
(:class:`spe_host.cli._args.Verb`), so ``ls`` starts without the REPL's libraries, the
HTTP API's, the host's or the other verbs' modules, and ``serve`` without the client,
the REPL or starlette unless it serves ``--http``. A one-shot verb runs without trio
over the client's blocking socket, so ``ls`` does not import trio at all. Both run as
a user runs them, in processes of their own; ``PYTHONPROFILEIMPORTTIME`` makes each
list on stderr every module it imported.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import signal
import subprocess
import threading
from pathlib import Path

from support.cli import SPE_HOST, cli_env

from spe_host.cli._args import Verb
from spe_host.cli._parser import build_parser

_NEVER_FOR_A_CLIENT = ("prompt_toolkit", "pygments", "jedi", "starlette", "spe_host.repl")


def _imported(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reported (``import time: self | cumulative | name``)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def _under(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_serve_and_ls_import_only_what_their_verbs_need(tmp_path: Path) -> None:
    env = cli_env(tmp_path, PYTHONPROFILEIMPORTTIME="1")
    server = subprocess.Popen(
        [*SPE_HOST, "serve", "--json", "--no-journal", "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    timer = threading.Timer(30, server.kill)  # the deadline of the readline below
    timer.start()
    try:
        announced = json.loads(server.stdout.readline())
        listed = subprocess.run(
            [*SPE_HOST, "ls", "--json", "--connect", announced["listening"][0]["address"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        timer.cancel()
        server.send_signal(signal.SIGTERM)
        _, served_stderr = server.communicate(timeout=30)
    assert (listed.returncode, listed.stdout) == (0, "[]\n"), listed.stderr
    assert server.returncode == 0, served_stderr

    ls = _imported(listed.stderr)
    # (importtime lists what import statements load: the verb's module, which
    # Verb loads with importlib, is not in it; what it imports is.)
    assert "spe_host.client" in ls
    assert _under(ls, *_NEVER_FOR_A_CLIENT) == []
    # A one-shot verb runs without trio (nor what only trio needs).
    assert _under(ls, "trio", "outcome", "sniffio", "sortedcontainers", "attr") == []
    assert (
        _under(ls, "spe_host.engine", "spe_host.server", "spe_host.http", "spe_host.journal") == []
    )
    # Only ls's own verb module: not stop's, logs', serve's, completion's, the journal's
    # or ls --watch's.
    others = ("_stop", "_logs", "_serve", "_completion", "_journal_verbs", "_live", "_bars")
    assert _under(ls, *(f"spe_host.cli.{name}" for name in others)) == []

    served = _imported(served_stderr)
    assert "spe_host.engine" in served
    assert "spe_host.server" in served
    assert _under(served, *_NEVER_FOR_A_CLIENT, "spe_host.http", "spe_host.client") == []
    assert _under(served, "spe_host.cli._verbs", "spe_host.cli._stop", "spe_host.cli._logs") == []


def test_every_verb_the_parser_names_resolves_to_a_coroutine_function() -> None:
    # A name the parser gets wrong would fail only when its verb runs: resolve them all.
    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"serve", "ls", "stop", "logs", "runs", "completion", "_complete"} <= set(verbs.choices)
    for name, sub in verbs.choices.items():
        handler = sub.get_default("handler")
        assert isinstance(handler, Verb), name
        module = importlib.import_module(handler.module, "spe_host.cli")
        assert inspect.iscoroutinefunction(getattr(module, handler.function)), name


def test_one_shot_verbs_run_without_trio_unless_an_option_needs_it() -> None:
    parser = build_parser()

    def blocking(*argv: str) -> bool:
        args = parser.parse_args(list(argv))
        handler: Verb = args.handler
        return handler.runs_blocking(args)

    for argv in (
        ["ls"],
        ["inspect", "x"],
        ["start", "x", "-c", "1"],
        ["receive", "x"],
        ["rm", "x"],
    ):
        assert blocking(*argv), argv
    # --watch follows pushed changes; --force waits for runs to stop; the rest stream.
    for argv in (
        ["ls", "--watch"],
        ["rm", "--force", "x"],
        ["wait", "x"],
        ["stop", "x"],
        ["logs", "x"],
    ):
        assert not blocking(*argv), argv
