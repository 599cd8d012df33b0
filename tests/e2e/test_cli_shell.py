"""The command as shell scripts use it, against a real `spe-host serve` subprocess:
exit codes that say how a run ended, a closed stdout, `rm` that removes what it can,
`stop --what-if --json`, `logs`, `inspect`, shell completion, and how a name is found.

The host listens on its unix socket *and* on TCP under the default name, so every
verb here also shows that a name reaches the unix socket first: a stop's ticket says
who asked, and over the unix socket that is a uid. Jobs that must run "for a while"
wait for a file the test creates, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import SPE_HOST, ServerProcess, cli_env, start_server

LOOP = "import time\nwhile True:\n    time.sleep(0.01)\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    process = start_server(
        runtime, "--listen", f"unix:{runtime}/default.sock", "--listen", "tcp://127.0.0.1:0"
    )
    assert (runtime / "default.json").exists()  # a name could reach the TCP listener too
    yield process
    process.stop()


def gated(gate: Path, before: str, after: str) -> str:
    """A job that runs ``before``, waits for ``gate`` to exist, then runs ``after``."""
    return (
        f"import os, time\n{before}\n"
        f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)\n{after}\n"
    )


def test_exit_codes_say_how_the_run_ended(server: ServerProcess, tmp_path: Path) -> None:
    name = "tab\there\nnewline"
    server.run_json(
        "start", "fails", "-c", "spe.progress(5, 'a\\x1b[2Jb')\nraise ValueError('boom')",
        "--name", name,
    )  # fmt: skip
    assert server.run("wait", "fails", "--timeout", "10").returncode == 4
    # Control characters are escaped: the table keeps one line per session.
    table = server.run("ls", "fails").stdout
    assert len(table.splitlines()) == 2
    assert "tab\\there\\nnewline" in table
    assert "a\\x1b[2Jb" in table
    received = server.run("receive", "fails", "--keep", "--json")
    assert received.returncode == 4
    assert json.loads(received.stdout)["status"] == "failed"
    server.run_json("start", "stopped", "-c", LOOP)
    stopping = server.run("stop", "stopped", "--wait", "--timeout", "10")
    assert stopping.returncode == 0, stopping.stderr
    assert server.run("wait", "stopped").returncode == 5
    assert server.run("receive", "stopped").returncode == 5
    server.run_json("start", "fine", "-c", "print('ok')")
    assert server.run("wait", "fine", "--timeout", "10").returncode == 0
    assert server.run("wait", "fine", "fails", "stopped").returncode == 4  # failed wins
    assert server.run("rm", "fails", "stopped", "fine").returncode == 0


def test_a_closed_stdout_ends_quietly_with_141(server: ServerProcess) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the verb writes a byte
    try:
        for argv in (["ls", "--json"], ["ls"]):
            done = subprocess.run(
                [*SPE_HOST, *argv], stdout=write_end, stderr=subprocess.PIPE, env=server.env(),
                text=True, timeout=20, check=False,
            )  # fmt: skip
            assert (done.returncode, done.stderr) == (141, ""), argv
    finally:
        os.close(write_end)


def test_rm_removes_what_it_can_and_what_if_stops_nothing(server: ServerProcess) -> None:
    server.run_json("start", "busy", "-c", LOOP)
    server.run_json("start", "done1", "-c", "pass")
    server.run("wait", "done1", "--timeout", "10")
    would = server.run_json("stop", "busy", "done1", "--what-if")
    assert would == {
        "busy": {"outcome": "would_stop", "ticket": None},
        "done1": {"outcome": "not_running", "ticket": None},
    }
    removed = server.run("rm", "busy", "done1", "ghost")
    assert removed.returncode == 1
    assert removed.stdout.split() == ["done1"]
    assert "session 'busy' is running" in removed.stderr
    assert "--force" in removed.stderr
    assert "force=True" not in removed.stderr
    assert "'ghost'" in removed.stderr
    # The name reached the unix socket, not the TCP listener: the stop was asked by a uid.
    stopped = server.run_json("stop", "busy")
    assert stopped["busy"]["ticket"]["requested_by"].startswith(f"uid {os.getuid()} ")
    assert server.run_json("rm", "--force", "busy") == ["busy"]


def test_logs_prints_follows_and_reads_a_kept_run(server: ServerProcess, tmp_path: Path) -> None:
    gate = tmp_path / "go"
    job = gated(gate, "print('first', flush=True)", "print('second')\n1 / 0")
    server.run_json("start", "logged", "-c", job)
    with subprocess.Popen(
        [*SPE_HOST, "logs", "-f", "logged"], env=server.env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    ) as follow:  # fmt: skip
        assert follow.stdout is not None
        assert follow.stdout.readline() == "first\n"
        gate.touch()
        rest = follow.stdout.read()
        assert follow.wait(timeout=15) == 4  # the run failed
    assert rest == "second\n"
    assert server.run("logs", "logged").stdout == "first\nsecond\n"
    assert server.run("logs", "logged", "--since", "6").stdout == "second\n"
    kept = server.run("logs", "logged", "--run", "1")
    assert kept.returncode == 4
    assert kept.stdout == "first\nsecond\n"
    assert "ZeroDivisionError" in kept.stderr
    missing = server.run("logs", "logged", "--run", "7")
    assert missing.returncode == 1
    assert "logged#7" in missing.stderr
    [inspected] = json.loads(server.run("inspect", "logged").stdout)
    assert inspected["output_offset"] == 13
    assert inspected["last_status"] == "failed"
    assert inspected["run_ended_at_iso"].endswith("+00:00")
    assert server.run("inspect", "logged", "ghost").returncode == 1
    server.run("rm", "logged")


def test_the_readme_etl_job_runs_and_logs_follow_it(server: ServerProcess) -> None:
    job = Path(__file__).parents[2] / "examples" / "etl_job.py"
    started = server.run(
        "start", "etl", str(job), "--arg", "day=2026-11-21", "--arg", "batches=2",
        SPE_HOST="default",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    followed = server.run("logs", "-f", "etl", SPE_HOST="default")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.splitlines()[-1] == "etl for 2026-11-21 done: 2000 rows"
    server.run("rm", "etl")


def test_bash_completes_verbs_flags_hosts_and_live_sessions(
    server: ServerProcess, tmp_path: Path
) -> None:
    server.run_json("start", "tabbed", "-c", "pass")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "spe-host"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m spe_host "$@"\n')
    wrapper.chmod(0o755)
    probe = (
        "source <(spe-host completion bash)\n"
        't() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _spe_host; echo "${COMPREPLY[*]}"; }\n'
        "t spe-host st\nt spe-host stop --wh\nt spe-host ls --state r\n"
        "t spe-host rm tab\nt spe-host attach ''\nt spe-host completion f\n"
    )
    done = subprocess.run(
        ["bash", "-c", probe], env=server.env(PATH=f"{bin_dir}:{os.environ['PATH']}"),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "start stop",
        "--what-if",
        "running",
        "tabbed",
        "default",
        "fish",
    ]
    for shell in ("zsh", "fish"):
        text = server.run("completion", shell).stdout
        assert "_complete" in text
    server.run("rm", "tabbed")


def test_wait_draws_a_line_for_every_session(server: ServerProcess, tmp_path: Path) -> None:
    import pexpect

    gate = tmp_path / "finish"
    server.run_json("start", "counted", "-c", gated(gate, "spe.progress(30, 'loading')", ""))
    server.run_json("start", "quiet", "-c", gated(gate, "", ""))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "spe_host", "wait", "counted", "quiet", "--timeout", "15"],
        env=server.env(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm"),
        encoding="utf-8",
        timeout=15,
        dimensions=(20, 120),
    )
    child.logfile_read = transcript = io.StringIO()
    try:
        child.expect("counted: loading")
        child.expect("quiet: running")  # no progress reported: a line all the same
        gate.touch()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    # The last screen is current for both: each ended, at 100 %.
    last = transcript.getvalue().rsplit("waiting for counted, quiet", 1)[-1]
    assert "counted: completed" in last, last
    assert "quiet: completed" in last, last
    assert last.count(" 100%") == 2, last
    server.run("rm", "counted", "quiet")


def test_errors_name_the_command_line_flag(tmp_path: Path) -> None:
    began = time.monotonic()
    done = subprocess.run(
        [*SPE_HOST, "ls", "--connect", "tcp://192.0.2.1:9", "--token", "t"],
        env=cli_env(tmp_path), capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert "--insecure" in done.stderr
    assert time.monotonic() - began < 10  # refused before any connection was tried
