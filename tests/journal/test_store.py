"""The journal's store on its own: schema and migrations, the hash chain and its
verification, pruning, the lock, and what a restart makes of runs left running.

The file is edited the way the issue says an attacker or an accident would: with the
``sqlite3`` module, behind the journal's back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.journal import Connections

from spe_host import SpeError
from spe_host._errors import JournalUnavailable
from spe_host.journal import (
    INTERRUPTED,
    Journal,
    audit,
    run_output,
    runs,
    verify,
)
from spe_host.journal._retention import (
    parse_duration,
    parse_size,
    prune,
    prune_before,
    used_bytes,
)
from spe_host.journal._schema import CURRENT_VERSION, migrate, version_of
from spe_host.journal._store import Store


def _store(connections: Connections, path: Path) -> Store:
    db = connections.connect(path)
    migrate(db, str(path))
    store = Store(db, str(path))
    with store.transaction():
        store.begin_host("test", 4242, 1000.0)
    return store


def _rows(store: Store, count: int, at: float = 1000.0) -> None:
    with store.transaction():
        for number in range(count):
            store.auth(at + number, True, f"uid {1000 + number} (pid 1)", {"role": "admin"})


def test_a_new_file_is_migrated_from_version_0_and_a_newer_one_refused(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    db = connections.connect(path)
    assert version_of(db) == 0
    assert migrate(db, str(path)) == 0
    assert version_of(db) == CURRENT_VERSION
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert migrate(db, str(path)) == CURRENT_VERSION  # nothing left to do
    db.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    with pytest.raises(SpeError, match="newer than this spe_host knows"):
        migrate(db, str(path))


def test_an_untouched_chain_verifies(connections: Connections, tmp_path: Path) -> None:
    store = _store(connections, tmp_path / "j.sqlite")
    _rows(store, 5)
    result = verify(connections.read(tmp_path / "j.sqlite"))
    assert result.ok, result.problems
    assert result.rows == 6  # host_started and five logins
    assert result.head == store.head


def test_an_edited_row_is_named(connections: Connections, tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _rows(_store(connections, path), 5)
    db = connections.connect(path)
    db.execute("UPDATE audit SET principal = 'uid 0 (pid 1)' WHERE seq = 3")
    problems = verify(connections.read(path)).problems
    assert [p.seq for p in problems] == [3]
    assert "row 3 (login) was edited" in problems[0].message


def test_a_row_edited_with_its_hash_rewritten_is_named(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    _rows(_store(connections, path), 5)
    db = connections.connect(path)
    db.execute("UPDATE audit SET hash = 'f00d' WHERE seq = 4")
    problems = verify(connections.read(path)).problems
    assert {p.seq for p in problems} == {4}
    assert any("row 4 was edited" in p.message for p in problems)


def test_deleted_rows_are_named_in_the_middle_and_at_the_end(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    _rows(_store(connections, path), 6)
    db = connections.connect(path)
    db.execute("DELETE FROM audit WHERE seq = 3")
    db.execute("DELETE FROM audit WHERE seq = 7")
    messages = [p.message for p in verify(connections.read(path)).problems]
    assert messages == [
        "row 3 of the audit trail was deleted",
        "row 7 of the audit trail was deleted (the newest)",
    ]


def test_pruning_keeps_the_chain_verifiable_and_a_deletion_beside_it_shows(
    connections: Connections,
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    store = _store(connections, path)
    _rows(store, 10)
    prune_before(store, 1005.0, now=2000.0)  # host_started and logins before 1005 go
    db = connections.read(path)
    assert [entry.kind for entry in audit(db)][-1] == "pruned"
    assert min(entry.seq for entry in audit(db)) == 7
    assert verify(db).ok, verify(db).problems
    _rows(store, 2, at=3000.0)
    assert verify(db).ok
    raw = connections.connect(path)
    raw.execute("DELETE FROM audit WHERE seq = 7")
    assert [p.seq for p in verify(db).problems] == [7]


def test_the_size_bound_drops_the_oldest_output_first(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    store = _store(connections, path)
    with store.transaction():
        store.open_stream(1, "big", 1000.0)
        store.output([(1, n * 65536, 1000.0 + n, bytes(65536)) for n in range(40)])
    prune(store, retention=None, max_size=1 << 20, now=2000.0)
    offsets = [row[0] for row in store.db.execute("SELECT offset FROM output ORDER BY offset")]
    assert offsets[0] > 0
    assert offsets[-1] == 39 * 65536  # the newest stays
    assert used_bytes(store) <= 1 << 20
    assert verify(connections.read(path)).ok


def test_durations_and_sizes_parse() -> None:
    assert parse_duration("30d") == 30 * 86400
    assert parse_duration("90m") == 5400
    assert parse_size("1G") == 1 << 30
    assert parse_size("64KiB") == 65536
    with pytest.raises(ValueError, match="like 30d"):
        parse_duration("soon")


def test_a_second_host_on_one_journal_is_refused_with_the_holders_pid(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    first = Journal(path)
    first.open("one")
    try:
        with pytest.raises(
            JournalUnavailable, match=r"in use by another host \(pid \d+\)"
        ) as caught:
            Journal(path).open("two")
        assert str(path) in str(caught.value)
    finally:
        first.close()
    second = Journal(path)
    second.open("two")  # the lock went with the first host
    second.close()


def test_a_restart_marks_what_was_running_interrupted_with_its_flushed_output(
    connections: Connections,
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    store = _store(connections, path)
    with store.transaction():
        store.open_stream(1, "etl", 1000.0)
        store.run_started(
            1,
            {
                "session": "etl",
                "run": "etl#1",
                "name": None,
                "code": "print('a')",
                "code_sha256": "x",
                "filename": None,
                "mode": "worker",
                "interactive": 0,
                "principal": "uid 1000 (pid 1)",
                "connection": None,
                "started_at": 1000.0,
                "output_start": 0,
            },
        )
        store.output([(1, 0, 1000.5, b"line 1\n"), (1, 7, 1000.6, b"line 2\n")])
        store.seen(1001.0)
    store.db.close()  # the host died: no end recorded
    journal = Journal(path)
    journal.open("test")
    journal.close()
    db = connections.read(path)
    (record,) = runs(db, "etl")
    assert (record.status, record.error, record.finished_at) == ("interrupted", INTERRUPTED, 1001.0)
    assert run_output(db, "etl#1")[1] == "line 1\nline 2\n"
    assert "run_interrupted" in [entry.kind for entry in audit(db)]
    assert verify(db).ok


def test_a_journal_that_cannot_be_written_says_why_and_refuses_required_runs(
    connections: Connections,
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    made = Journal(path)
    made.open("x")
    made.close()
    path.chmod(0o400)
    relaxed, required = Journal(path), Journal(path, required=True)
    try:
        relaxed.open("x")
        assert "cannot be written" in str(relaxed.error)
        relaxed.check_writable()  # not required: runs go on unrecorded
    finally:
        relaxed.close()
    try:
        required.open("x")
        with pytest.raises(JournalUnavailable, match="nothing ran"):
            required.check_writable()
    finally:
        required.close()


def test_an_existing_journal_others_may_read_is_made_private(tmp_path: Path) -> None:
    # It holds code and output; its -wal and -shm files take the file's mode.
    path = tmp_path / "shared.sqlite"
    path.touch(mode=0o644)
    path.chmod(0o644)
    journal = Journal(path)
    journal.open("one")
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        for extra in tmp_path.glob("shared.sqlite-*"):
            assert extra.stat().st_mode & 0o077 == 0, extra
    finally:
        journal.close()
