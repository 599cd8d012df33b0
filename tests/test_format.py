"""The session tables that ``spe-host ls`` and ``%ls`` print (``spe_host._format``)."""

from __future__ import annotations

import subprocess
import sys

from support.cli import info

from spe_host._format import format_age, format_progress, format_sessions, format_table


def test_format_table_aligns_columns() -> None:
    text = format_table(["A", "LONGER"], [["x", "1"], ["yyyy", "22"]])
    assert text.splitlines() == ["A     LONGER", "x     1", "yyyy  22"]


def test_format_sessions_and_age() -> None:
    rows = [
        info(
            "etl",
            name="nightly",
            state="running",
            progress_percent=42.0,
            progress_message="loading",
            location="<session etl #1>:3",
            created_at=0.0,
        ),
        info("idle-one", last_status="completed", created_at=3600 * 5 - 30),
    ]
    lines = format_sessions(rows, now=3600 * 5).splitlines()
    assert lines[0].split() == ["SESSION", "STATE", "JOB", "PROGRESS", "LOCATION", "LAST", "AGE"]
    assert "42% loading" in lines[1]
    assert "<session etl #1>:3" in lines[1]
    assert lines[1].endswith("5h")
    assert lines[2].split()[:2] == ["idle-one", "idle"]
    assert lines[2].endswith("30s")
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
