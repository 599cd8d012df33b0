"""The journal end to end: real ``spe-host serve`` processes, restarted, killed, refused.

Each test runs its hosts in a private runtime and state directory (``support.cli``),
so the default journal is ``RUNTIME/state/spe-host/default.journal.sqlite``. Nothing
sleeps and hopes: a test waits for what the host reports (``ls --json``) and, where
time itself is the point (the flush bound), counts it in lines the job printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.cli import SPE_HOST, ServerProcess, cli_env, start_server
from support.journal import Connections

pytestmark = pytest.mark.single_python

SPIN = "print('spinning')\nimport time\nwhile True:\n    time.sleep(0.01)\n"
TICK = "import time\ni = 0\nwhile True:\n    print(f'line {i}')\n    i += 1\n    time.sleep(0.01)\n"


def _runtime(tmp_path: Path) -> Path:
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o700)
    return runtime


def _journal(runtime: Path) -> Path:
    return runtime / "state" / "spe-host" / "default.journal.sqlite"


def _offset(server: ServerProcess, session: str) -> int:
    (info,) = server.run_json("ls", session)
    return int(info["output_offset"])


def _wait_offset(server: ServerProcess, session: str, at_least: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while (offset := _offset(server, session)) < at_least:
        assert time.monotonic() < deadline, f"{session} printed only {offset} bytes"
    return offset


def test_runs_logs_and_audit_show_the_last_process_after_a_restart(
    connections: Connections, tmp_path: Path
) -> None:
    runtime = _runtime(tmp_path)
    first = start_server(runtime)
    try:
        for session, code in (("ok", "print('all good')"), ("spin", SPIN), ("bad", "1 / 0")):
            assert first.run("start", session, "-c", code).returncode == 0
        _wait_offset(first, "spin", 1)
        stopped = first.run("stop", "spin", "--reason", "bad input file", "--wait")
        assert stopped.returncode == 0, stopped.stderr
        first.run("wait", "ok", "bad")
    finally:
        assert first.stop()[0] == 0
    second = start_server(runtime)
    try:
        assert second.announced["journal"] == str(_journal(runtime))
        by_run = {run["run"]: run for run in second.run_json("runs", "*")}
        assert {run: record["status"] for run, record in by_run.items()} == {
            "ok#1": "completed",
            "spin#1": "aborted",
            "bad#1": "failed",
        }
        assert by_run["spin#1"]["stop_reason"] == "bad input file"
        assert by_run["spin#1"]["stop_by"].startswith(f"uid {os.getuid()} (pid ")
        assert by_run["bad#1"]["error"].rstrip().endswith("ZeroDivisionError: division by zero")
        # The new host has no session 'spin': logs --run reads the journal.
        logs = second.run("logs", "spin", "--run", "1")
        assert (logs.returncode, logs.stdout) == (5, "spinning\n"), logs.stderr
        table = second.run("runs", "spin").stdout
        assert "stopped by uid" in table
        assert "bad input file" in table
        trail = second.run_json("audit", "--session", "spin")
        (request,) = [row for row in trail if row["kind"] == "stop_requested"]
        assert request["detail"]["reason"] == "bad input file"
        assert request["principal"] == by_run["spin#1"]["stop_by"]
        kinds = [row["kind"] for row in second.run_json("audit")]
        assert kinds.count("host_started") == 2
        assert "login" in kinds
        assert second.run("audit", "--verify").returncode == 0
    finally:
        assert second.stop()[0] == 0
    db = connections.connect(_journal(runtime))
    (seq,) = db.execute("SELECT seq FROM audit WHERE kind = 'stop_requested'").fetchone()
    db.execute('UPDATE audit SET detail = \'{"reason":"routine"}\' WHERE seq = ?', (seq,))
    verified = second.run("audit", "--verify")
    assert verified.returncode == 1
    assert f"row {seq} (stop_requested) was edited" in verified.stderr


def test_a_host_killed_mid_job_leaves_an_interrupted_run_flushed_to_the_bound(
    tmp_path: Path,
) -> None:
    runtime = _runtime(tmp_path)
    first = start_server(runtime)
    try:
        assert first.run("start", "tick", "-c", TICK).returncode == 0
        seen = _wait_offset(first, "tick", 1)
        # 150 more lines at 10 ms or more each: 1.5 s at least, past the 1 s flush bound.
        _wait_offset(first, "tick", seen + 150 * len("line 100\n"))
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.communicate(timeout=10)
    second = start_server(runtime)
    try:
        (run,) = second.run_json("runs", "tick")
        assert (run["status"], run["error"]) == ("interrupted", "interrupted: host ended")
        logs = second.run("logs", "tick", "--run", "tick#1")
        assert logs.returncode == 5
        assert "interrupted" in logs.stderr
        lines = logs.stdout.splitlines()
        assert lines == [f"line {n}" for n in range(len(lines))]  # in order, none lost
        assert len(logs.stdout.encode()) >= seen
        assert run["output_bytes"] == len(logs.stdout.encode())
    finally:
        second.stop()


def test_a_read_only_journal_with_journal_required_refuses_the_run(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    start_server(runtime).stop()  # makes the journal
    _journal(runtime).chmod(0o400)
    marker = tmp_path / "ran"
    server = start_server(runtime, "--journal-required")
    try:
        refused = server.run("start", "job", "-c", f"open({str(marker)!r}, 'w').close()")
        assert refused.returncode == 1
        assert "journal-required" in refused.stderr
        assert "read-only" in refused.stderr
        assert server.run_json("ls") == []
    finally:
        server.stop()
    assert not marker.exists()


def test_a_second_host_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    first = start_server(runtime)
    try:
        second = subprocess.run(
            [*SPE_HOST, "serve", "--name", "other", "--journal", str(_journal(runtime))],
            env=cli_env(runtime),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert second.returncode == 1
        assert f"in use by another host (pid {first.announced['pid']})" in second.stderr
        assert str(_journal(runtime)) in second.stderr
        assert json.loads(json.dumps(first.run_json("ls"))) == []  # the first serves on
    finally:
        first.stop()
