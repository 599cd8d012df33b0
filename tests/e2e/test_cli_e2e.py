"""Every `spe-host` verb against a real `spe-host serve` subprocess.

The server runs in a private runtime directory (``SPE_HOST_RUNTIME_DIR``); the verbs
find it by the default name, as a user would. ``--json`` outputs are parsed and
checked, and so are the documented exit codes: 0 ok, 1 not found / not stopped /
busy, 2 usage, 3 cannot connect or not authorized.

Scripts that must run "for a while" loop until stopped (``while True``) or wait on
a file the test creates, so no test depends on how fast the machine is.
"""

from __future__ import annotations

import json
import os
import stat
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
    process = start_server(runtime)
    yield process
    process.stop()


def wait_state(server: ServerProcess, session: str, state: str, timeout: float = 10) -> dict:
    """Poll ``ls --json`` until the session is in ``state`` (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        sessions = server.run_json("ls", session)
        if sessions and sessions[0]["state"] == state:
            return sessions[0]
        assert time.monotonic() < deadline, f"{session} never became {state}: {sessions}"
        time.sleep(0.05)


# --- serve ----------------------------------------------------------------------------------


def test_serve_prints_how_to_attach_and_stops_gracefully(tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o700)
    process = subprocess.Popen(
        [*SPE_HOST, "serve", "--name", "human", "--log-level", "warning"],
        env=cli_env(runtime),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or "SIGTERM" not in lines[-1]:
        lines.append(process.stdout.readline())
        assert lines[-1], "the server ended before announcing itself"
    assert "host 'human' is serving" in lines[0]
    assert f"listening on unix:{runtime}/human.sock" in lines[1]
    server = ServerProcess(
        process, {"listening": [{"address": f"unix:{runtime}/human.sock"}]}, runtime
    )
    # A job that never ends by itself is stopped by the graceful shutdown.
    started = server.run("start", "spin", "-c", LOOP, "--connect", server.address)
    assert started.returncode == 0, started.stderr
    began = time.monotonic()
    code, err = server.stop()
    assert code == 0, err
    assert time.monotonic() - began < 10
    assert "spe-host attach human" in "".join(lines)
    assert not (runtime / "human.sock").exists()


def test_serve_tcp_writes_a_private_connection_file(tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o700)
    tcp = start_server(runtime, "--name", "tcphost", "--listen", "tcp://127.0.0.1:0")
    try:
        listening = tcp.announced["listening"][0]
        assert listening["address"].startswith("tcp://127.0.0.1:")
        admin = Path(listening["connection_files"]["admin"])
        assert stat.S_IMODE(admin.stat().st_mode) == 0o600
        # By name: the connection file carries the address and the token.
        ok = tcp.run("ls", "--connect", "tcphost", "--json")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout) == []
        # A wrong token is refused with exit code 3 and a sentence.
        bad = tcp.run("ls", "--connect", listening["address"], "--token", "not-the-token")
        assert bad.returncode == 3
        assert "token" in bad.stderr
        # No token at all over TCP: refused too.
        none = tcp.run("ls", "--connect", listening["address"])
        assert none.returncode == 3
        # The operator token may list and stop, but not run code.
        operator = listening["connection_files"]["operator"]
        denied = tcp.run("start", "job", "-c", "1", "--connect", operator)
        assert denied.returncode == 3
        assert "admin" in denied.stderr
        assert tcp.run("ls", "--connect", operator).returncode == 0
    finally:
        code, err = tcp.stop()
    assert code == 0, err


def test_serve_refuses_bad_listen_addresses(tmp_path: Path) -> None:
    # The command line parsed, but the host cannot serve it: a failure (1), not usage.
    done = subprocess.run(
        [*SPE_HOST, "serve", "--listen", "tcp://0.0.0.0:0"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("spe-host: ")
    assert "TLS" in done.stderr


# --- start / ls -----------------------------------------------------------------------------


def test_start_then_ls(server: ServerProcess) -> None:
    started = server.run_json(
        "start",
        "lsjob",
        "-c",
        "spe.progress(40, 'working')\n" + LOOP,
        "--name",
        "the job",
        "--arg",
        "n=3",
        "--arg",
        "who=bob",
    )
    assert started["id"] == "lsjob"
    assert started["name"] == "the job"
    running = wait_state(server, "lsjob", "running")
    for key in ("id", "name", "state", "progress", "location", "last_status"):
        assert key in running
    assert running["location"].startswith("<session lsjob #1>:")
    assert running["last_status"] is None
    assert running["run"] == "lsjob#1"
    assert isinstance(running["run_started_at"], float)
    assert running["run_ended_at"] is None
    deadline = time.monotonic() + 10
    while running["progress"]["percent"] != 40.0:
        assert time.monotonic() < deadline
        running = server.run_json("ls", "lsjob")[0]
    assert running["progress"] == {"percent": 40.0, "message": "working"}
    # The human table: a header and an aligned row.
    table = server.run("ls", "lsjob").stdout.splitlines()
    assert table[0].split()[:4] == ["SESSION", "STATE", "RUN", "JOB"]
    assert table[1].startswith("lsjob ")
    assert "running" in table[1]
    assert "the job" in table[1]
    assert server.run("ls", "-q", "ls*").stdout.split() == ["lsjob"]
    assert server.run_json("ls", "--state", "running", "lsjob")[0]["id"] == "lsjob"
    # --arg values were bound as variables (JSON when it parses).
    server.run("stop", "lsjob", "--wait", "--timeout", "10")
    args_check = server.run_json("start", "lsjob", "-c", "assert (n, who) == (3, 'bob'), (n, who)")
    assert args_check["id"] == "lsjob"
    server.run("wait", "lsjob", "--timeout", "10")
    [ended] = server.run_json("ls", "lsjob")
    assert (ended["last_status"], ended["run"]) == ("completed", "lsjob#2")
    assert ended["run_started_at"] <= ended["run_ended_at"]
    # Starting again while it runs is refused: exit 1.
    server.run_json("start", "lsjob", "-c", LOOP)
    busy = server.run("start", "lsjob", "-c", "1")
    assert busy.returncode == 1
    assert "lsjob" in busy.stderr
    assert server.run("rm", "--force", "lsjob").returncode == 0


def test_start_a_file_and_stdin(server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('from the file')\nraise ValueError('boom')\n")
    assert server.run("start", "filejob", str(script)).stdout.strip() == "filejob"
    assert server.run("wait", "filejob", "--timeout", "10").returncode == 4
    received = server.run("receive", "filejob")
    assert received.returncode == 4  # the run failed
    assert received.stdout == "from the file\n"
    # Over a unix socket the host ran the file itself: the traceback names it.
    assert str(script) in received.stderr
    assert "ValueError: boom" in received.stderr
    assert "failed" in received.stderr
    piped = subprocess.run(
        [*SPE_HOST, "start", "stdinjob", "-"],
        input="print(6 * 7)\n",
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    server.run("wait", "stdinjob", "--timeout", "10")
    assert server.run_json("receive", "stdinjob")["output"] == "42\n"
    server.run("rm", "filejob", "stdinjob")


# --- stop -----------------------------------------------------------------------------------


def test_stop_outcomes_and_exit_codes(server: ServerProcess) -> None:
    server.run_json("start", "stopme", "-c", LOOP)
    wait_state(server, "stopme", "running")
    # --what-if changes nothing.
    would = server.run_json("stop", "stop*", "--what-if")
    assert would == {"stopme": {"outcome": "would_stop", "ticket": None}}
    assert wait_state(server, "stopme", "running")["state"] == "running"
    stopped = server.run_json("stop", "stopme")
    assert stopped["stopme"]["outcome"] == "requested"
    assert stopped["stopme"]["ticket"]["run"] == "stopme#1"
    finished = wait_state(server, "stopme", "idle")
    assert finished["last_status"] == "aborted"
    assert server.run_json("stop", "stopme") == {
        "stopme": {"outcome": "not_running", "ticket": None}
    }
    # An unknown id: its outcome is not_found, and the exit code 1.
    missing = server.run("stop", "stopme", "nope", "--json")
    assert missing.returncode == 1
    assert {sid: o["outcome"] for sid, o in json.loads(missing.stdout).items()} == {
        "stopme": "not_running",
        "nope": "not_found",
    }
    # --wait: returns once it has stopped.
    server.run_json("start", "stopme", "-c", LOOP)
    wait_state(server, "stopme", "running")
    waited = server.run("stop", "stopme", "--wait", "--timeout", "10")
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.splitlines()[-1] == "stopme#2: finished aborted"
    assert server.run_json("ls", "stopme")[0]["state"] == "idle"
    server.run("rm", "stopme")


def test_stop_with_a_reason_shows_its_ticket_and_follows_it(
    server: ServerProcess, tmp_path: Path
) -> None:
    # The run sits in a call into a library until the test creates the file: the stop
    # waits for it, whatever the machine's speed.
    flag = tmp_path / "go"
    script = (
        "import subprocess\n"
        f"subprocess.run(['sh', '-c', 'while [ ! -e {flag} ]; do sleep 0.02; done'])\n"
        "print('never')\n"
    )
    server.run_json("start", "tk", "-c", script)
    deadline = time.monotonic() + 10
    while not (server.run_json("ls", "tk")[0]["location"] or "").endswith(":2"):
        assert time.monotonic() < deadline, "tk never reached its subprocess.run()"
        time.sleep(0.05)
    # --json: the outcome and the ticket, who asked, why, and what the stop waits for.
    stopped = server.run_json("stop", "tk", "--reason", "bad input file")
    ticket = stopped["tk"]["ticket"]
    assert stopped["tk"]["outcome"] == "requested"
    assert (ticket["run"], ticket["phase"], ticket["reason"]) == (
        "tk#1",
        "requested",
        "bad input file",
    )
    assert ticket["requested_by"].startswith(f"uid {os.getuid()} (pid ")
    # --wait shows each step as it happens, and exits 0 once the run has ended.
    with subprocess.Popen(
        [*SPE_HOST, "stop", "tk", "--reason", "ignored", "--wait", "--timeout", "10"],
        env=server.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as waiting:
        assert waiting.stdout is not None
        requested = waiting.stdout.readline()
        assert requested.startswith(f"tk#1: stop requested by uid {os.getuid()} (pid ")
        assert requested.endswith("): bad input file\n")  # the first reason stays
        assert waiting.stdout.readline().startswith("tk#1: blocked in subprocess.run() called at")
        flag.touch()
        rest = waiting.stdout.read().splitlines()
        assert waiting.wait(timeout=10) == 0, waiting.stderr.read() if waiting.stderr else ""
    assert rest == ["tk#1: landed at <session tk #1>:3", "tk#1: finished aborted"]
    [listed] = server.run_json("ls", "tk")
    assert (listed["stop"]["id"], listed["stop"]["phase"]) == (ticket["id"], "finished")
    server.run("rm", "tk")


# --- wait / receive / rm --------------------------------------------------------------------


def test_wait_receive_and_rm(server: ServerProcess, tmp_path: Path) -> None:
    gate = tmp_path / "go"
    code = (
        "import os, time\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.01)\n"
        "print('done waiting')\n"
        "'the value'\n"
    )
    server.run_json("start", "waitjob", "-c", code)
    # A timeout before it finishes: exit 1, and nothing listed as finished.
    early = server.run("wait", "waitjob", "--timeout", "0.2", "--json")
    assert early.returncode == 1
    assert json.loads(early.stdout) == []
    assert "still running" in early.stderr
    # Removing a running session needs --force: exit 1 without it.
    refused = server.run("rm", "waitjob")
    assert refused.returncode == 1
    assert "force" in refused.stderr
    gate.touch()
    finished = server.run_json("wait", "waitjob", "--timeout", "10")
    assert [s["id"] for s in finished] == ["waitjob"]
    assert finished[0]["last_status"] == "completed"
    kept = server.run_json("receive", "waitjob", "--keep")
    assert kept["run"] == "waitjob#1"
    assert kept["status"] == "completed"
    assert kept["output"] == "done waiting\n"
    assert kept["error"] is None
    human = server.run("receive", "waitjob#1")  # by its run id
    assert human.returncode == 0
    assert human.stdout == "done waiting\n"
    # Received without --keep: nothing left to receive (exit 1).
    again = server.run("receive", "waitjob")
    assert again.returncode == 1
    assert "no result" in again.stderr
    assert server.run_json("rm", "waitjob") == ["waitjob"]


def test_unknown_ids_exit_1(server: ServerProcess) -> None:
    for verb in (["receive", "ghost"], ["wait", "ghost"], ["rm", "ghost"], ["ls", "ghost"]):
        done = server.run(*verb)
        assert done.returncode == 1, (verb, done.stdout, done.stderr)
        assert "ghost" in done.stderr


# --- usage and connection errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["start", "job"],  # neither -c nor FILE
        ["start", "job", "file.py", "-c", "1"],  # both
        ["start", "job", "-c", "1", "--arg", "not-an-assignment"],
        ["start", "bad id!", "-c", "1"],
        ["wait", "job", "--timeout", "-1"],
        ["stop", "job", "--timeout", "5"],  # --timeout needs --wait
        ["ls", "--state", "sleeping"],
        ["start", "job", "/no/such/script.py"],
    ],
)
def test_bad_arguments_exit_2(server: ServerProcess, argv: list[str]) -> None:
    done = server.run(*argv)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr


def test_cannot_connect_exit_3(tmp_path: Path) -> None:
    runtime = tmp_path / "empty"
    runtime.mkdir(mode=0o700)
    for argv in (["ls"], ["ls", "--connect", f"unix:{tmp_path}/none.sock"], ["stop", "x"]):
        done = subprocess.run(
            [*SPE_HOST, *argv],
            env=cli_env(runtime),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert done.returncode == 3, (argv, done.stderr)
        assert "cannot connect" in done.stderr


def test_spe_host_environment_variable(server: ServerProcess) -> None:
    done = server.run("ls", "--json", SPE_HOST=server.address)
    assert done.returncode == 0
    bogus = server.run("ls", SPE_HOST=f"unix:{server.runtime}/elsewhere.sock")
    assert bogus.returncode == 3


def test_python_m_spe_host_prints_help() -> None:
    top = subprocess.run([*SPE_HOST, "--help"], capture_output=True, text=True, check=True)
    assert "exit codes:" in top.stdout
    assert "examples:" in top.stdout


def test_wait_shows_a_progress_bar_on_a_terminal(server: ServerProcess, tmp_path: Path) -> None:
    import pexpect

    gate = tmp_path / "finish"
    server.run_json(
        "start",
        "barjob",
        "-c",
        "import os, time\n"
        "spe.progress(30, 'step one')\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.01)\n",
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "spe_host", "wait", "barjob", "--timeout", "15"],
        env=server.env(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm"),
        encoding="utf-8",
        timeout=15,
        dimensions=(20, 120),
    )
    try:
        child.expect("barjob: step one")
        child.expect("30")
        gate.touch()
        child.expect("completed")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    server.run("rm", "barjob")


def test_attach_reads_statements_from_a_pipe(server: ServerProcess) -> None:
    # input() in the script reads the next line of the pipe ("bob").
    code = (
        "def f(x):\n    return x * 2\n\n"
        "print('f says', f(21))\n"
        "name = input()\nbob\n"
        "print('hi', name)\n"
        "1/0\n"
    )
    done = subprocess.run(
        [*SPE_HOST, "attach", "--session", "piped"],
        input=code,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert "f says 42" in done.stdout
    assert "hi bob" in done.stdout
    assert "ZeroDivisionError" in done.stderr
    assert done.returncode == 1
    server.run("rm", "piped")
