"""The session tables that ``spe-host ls`` and ``%ls`` print (``spe_host._format``)."""

from __future__ import annotations

import subprocess
import sys

from support.cli import info

from spe_host._format import format_age, format_progress, format_sessions, format_table


def test_format_table_aligns_columns() -> None:
    text = format_table(["A", "LONGER"], [["x", "1"], ["yyyy", "22"]])
    assert text.splitlines() == ["A     LONGER", "x     1", "yyyy  22"]


def test_format_sessions_shows_the_current_or_last_run() -> None:
    now = 3600 * 5
    rows = [
        info(
            "etl",
            name="nightly",
            state="running",
            progress_percent=42.0,
            progress_message="loading",
            location="<session etl #3>:3",
            # The previous run's status is not this run's.
            last_status="failed",
            run="etl#3",
            run_started_at=now - 125,
        ),
        info(
            "idle-one",
            last_status="completed",
            run="idle-one#1",
            run_started_at=now - 7200,
            run_ended_at=now - 30,
        ),
        info("fresh"),
    ]
    lines = format_sessions(rows, now=now).splitlines()
    header = ["SESSION", "STATE", "RUN", "JOB", "PROGRESS", "LOCATION", "STARTED", "ENDED"]
    assert lines[0].split() == [*header, "STATUS"]
    assert lines[1].split() == [
        *["etl", "running", "etl#3", "nightly", "42%", "loading", "<session", "etl", "#3>:3"],
        *["2m", "ago", "running", "for", "2m", "-"],
    ]
    assert lines[2].split() == [
        *["idle-one", "idle", "idle-one#1", "-", "-", "-", "2h", "ago", "30s", "ago", "completed"]
    ]
    assert lines[3].split() == ["fresh", "idle", "-", "-", "-", "-", "-", "-", "-"]
    assert [format_age(s) for s in (0, 59, 60, 7200, 86400 * 3)] == ["0s", "59s", "1m", "2h", "3d"]


def test_format_progress() -> None:
    assert format_progress(info("a", progress_percent=42.4)) == "42%"
    assert format_progress(info("a", progress_message="loading")) == "loading"
    assert format_progress(info("a")) == "-"


def test_formatting_does_not_load_the_repl() -> None:
    # `spe-host ls` prints these tables; it must not pay for importing prompt_toolkit.
    code = "import sys, spe_host._format; print('prompt_toolkit' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
