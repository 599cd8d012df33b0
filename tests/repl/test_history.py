"""Replay marks and history files (``_history``): where they live, and which offset an
attach follows from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.history import FileHistory, InMemoryHistory
from support.cli import info

from spe_host.repl._history import (
    Mark,
    history_path,
    load_mark,
    mark_path,
    open_history,
    save_mark,
    start_offset,
)


def test_paths_are_one_component_per_host_and_session(tmp_path: Path) -> None:
    path = history_path("unix:/run/x.sock", "etl", tmp_path)
    assert path == tmp_path / "history" / "unix__run_x.sock" / "etl"
    assert mark_path(tmp_path, "..", "etl").parent == tmp_path / "seen" / "_"


def test_marks_round_trip_and_bad_files_are_no_mark(tmp_path: Path) -> None:
    path = mark_path(tmp_path, "host", "etl")
    assert load_mark(path) is None
    save_mark(path, Mark(created_at=12.5, offset=40))
    assert load_mark(path) == Mark(12.5, 40)
    assert path.parent.stat().st_mode & 0o777 == 0o700
    path.write_text("{not json")
    assert load_mark(path) is None


def test_history_falls_back_to_memory(tmp_path: Path) -> None:
    assert isinstance(open_history("host", "etl", tmp_path), FileHistory)
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the directory should be
    assert isinstance(open_history("host", "etl", blocked), InMemoryHistory)


@pytest.mark.parametrize(
    ("mark", "created_at", "replay_all", "offset"),
    [
        (None, 1000.0, False, 30),  # first attach: from the end
        (None, 1000.0, True, 0),  # first attach with --replay: everything held
        (Mark(1000.0, 12), 1000.0, False, 12),  # back again: since you left
        (Mark(999.0, 12), 1000.0, False, 30),  # a new session under the same id
        (Mark(1000.0, 99), 1000.0, True, 0),  # a mark past the end is not trusted
    ],
)
def test_start_offset(mark: Mark | None, created_at: float, replay_all: bool, offset: int) -> None:
    session = info("etl", created_at=created_at, output_offset=30)
    assert start_offset(mark, session, replay_all=replay_all) == offset


def test_a_new_session_starts_at_zero() -> None:
    assert start_offset(Mark(1000.0, 12), None, replay_all=False) == 0
