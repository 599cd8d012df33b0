"""A host with a journal, in process: what the engine and the service record through it.

Runs (code, principal, status, output), stop tickets (requester, reason, where they
landed), removes and logins; the code left out on request; and the fail-closed mode,
where a run the journal cannot record is refused before any of it runs.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from pathlib import Path

import pytest
import trio
from support.http import asgi_client, bearer
from support.journal import Connections
from support.server import served

import spe_host
from spe_host._access import Principal
from spe_host._errors import JournalUnavailable
from spe_host._model import Role
from spe_host.auth import TokenTable
from spe_host.journal import Journal, audit, run_output, runs, verify
from spe_host.journal._store import Store
from spe_host.service import Service

WHO = Principal(Role.ADMIN, "uid 1000 (pid 7)")


async def test_runs_their_output_stops_and_removes_are_recorded(
    connections: Connections, tmp_path: Path, gate: threading.Event
) -> None:
    path = tmp_path / "j.sqlite"
    with trio.fail_after(10):
        async with spe_host.open_host(
            journal=path, idle_timeout=None, namespace={"gate": gate}
        ) as host:
            service = Service(host)
            done = await service.execute(WHO, "calc", "print('six times seven'); 6 * 7")
            assert done.value == "42"
            await service.start(WHO, "etl", "print('loading')\ngate.wait()\nprint('never')\n")
            while "loading" not in host.session("etl").output.read().text:
                await trio.sleep(0.01)
            service.stop(WHO, "etl", reason="bad input file")
            gate.set()
            await host.wait("etl")
            await service.start(WHO, "broken", "1 / 0")
            await host.wait("broken")
            await service.remove(WHO, "calc")
    db = connections.read(path)
    by_run = {record.run: record for record in runs(db, "*")}
    assert by_run["calc#1"].status == "completed"
    assert by_run["calc#1"].code == "print('six times seven'); 6 * 7"
    assert by_run["calc#1"].principal == "uid 1000 (pid 7)"
    assert by_run["calc#1"].interactive
    assert run_output(db, "calc#1")[1] == "six times seven\n"
    etl = by_run["etl#1"]
    assert (etl.status, etl.stop_by, etl.stop_reason) == ("aborted", WHO.peer, "bad input file")
    assert etl.stop_landed_at == "<session etl #1>:3"
    assert run_output(db, "etl#1")[1] == "loading\n"
    assert by_run["broken#1"].status == "failed"
    assert "ZeroDivisionError" in (by_run["broken#1"].error or "")
    kinds = [(entry.kind, entry.run or entry.session) for entry in audit(db)]
    assert ("stop_requested", "etl#1") in kinds
    assert ("stop_finished", "etl#1") in kinds
    assert ("session_removed", "calc") in kinds
    assert kinds[0][0] == "host_started"
    assert kinds[-1][0] == "host_ended"
    assert verify(db).ok


async def test_the_code_can_be_left_out_and_its_sha256_is_kept(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    with trio.fail_after(10):
        async with spe_host.open_host(journal=Journal(path, record_code=False)) as host:
            await host.execute("vault", "secret = 'hunter2'")
    (record,) = runs(connections.read(path), "vault")
    assert record.code is None
    assert record.code_sha256 == hashlib.sha256(b"secret = 'hunter2'").hexdigest()
    assert b"hunter2" not in path.read_bytes()


async def test_a_required_run_starts_only_once_its_row_is_committed(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    # The run reads the journal itself: its own row must be there, committed.
    peek = (
        "import sqlite3, contextlib\n"
        f"with contextlib.closing(sqlite3.connect({str(path)!r})) as db:\n"
        "    rows = db.execute(\"SELECT run FROM runs WHERE status = 'running'\").fetchall()\n"
        "rows"
    )
    with trio.fail_after(10):
        async with spe_host.open_host(journal=Journal(path, required=True)) as host:
            result = await host.execute("peek", peek)
    assert result.value == "[('peek#1',)]", result.error


async def test_a_read_only_required_journal_refuses_every_run_and_nothing_runs(
    connections: Connections,
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    made = Journal(path)
    made.open("default")
    made.close()
    path.chmod(0o400)
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    with trio.fail_after(10):
        async with spe_host.open_host(journal=Journal(path, required=True)) as host:
            with pytest.raises(JournalUnavailable, match=r"read-only.*nothing ran"):
                await host.execute("x", code)
            with pytest.raises(JournalUnavailable, match="read-only"):
                host.start("y", code)
            assert host.sessions() == []
    assert not marker.exists()


async def test_a_required_run_whose_row_cannot_be_committed_is_refused(
    connections: Connections, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: Store, stream_id: int, fields: dict[str, object]) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "run_started", disk_full)
    marker = tmp_path / "ran"
    with trio.fail_after(10):
        async with spe_host.open_host(
            journal=Journal(tmp_path / "j.sqlite", required=True)
        ) as host:
            with pytest.raises(JournalUnavailable, match="disk is full; nothing of it ran"):
                await host.execute("x", f"open({str(marker)!r}, 'w').close()")
            assert host.session("x").state is spe_host.SessionState.IDLE
    assert not marker.exists()


async def test_logins_and_refusals_are_audited(connections: Connections, tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with trio.fail_after(10):
        async with spe_host.open_host(journal=path) as host:
            service = Service(host)
            service.record_auth("uid 1000 (pid 7)", ok=True, role="admin", how="socket")
            service.record_auth(
                "127.0.0.1:5555", ok=False, role=None, how="socket", detail="bad token"
            )
    entries = [e for e in audit(connections.read(path)) if e.kind.startswith("login")]
    assert [(e.kind, e.principal) for e in entries] == [
        ("login", "uid 1000 (pid 7)"),
        ("login_refused", "127.0.0.1:5555"),
    ]
    assert entries[1].detail["detail"] == "bad token"
    assert [e.kind for e in audit(connections.read(path), who="1000")] == ["login"]


async def test_http_logons_and_refused_tokens_are_audited(
    connections: Connections, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    tokens = TokenTable.generate()
    with trio.fail_after(10):
        async with spe_host.open_host(journal=path) as host, asgi_client(host, tokens) as client:
            assert (await client.post("/api/logon", headers=bearer(tokens))).status_code == 201
            wrong = {"Authorization": "Bearer not-the-token"}
            assert (await client.get("/api/sessions", headers=wrong)).status_code == 401
            # A request with a valid token is not a logon: it is not recorded as one.
            assert (await client.get("/api/sessions", headers=bearer(tokens))).status_code == 200
    entries = [e for e in audit(connections.read(path)) if e.kind.startswith("login")]
    assert [(e.kind, e.principal, e.detail["how"]) for e in entries] == [
        ("login", "admin at 127.0.0.1:123 (http)", "http logon"),
        ("login_refused", "127.0.0.1:123", "http"),
    ]
    assert "not valid for this host" in entries[1].detail["detail"]


async def test_a_run_over_the_socket_names_its_connection(
    connections: Connections, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.sqlite"
    caplog.set_level(logging.INFO, logger="spe_host")
    with trio.fail_after(10):
        async with served("unix", host_options={"journal": path}) as server:
            for session in ("first", "second"):
                async with server.connect() as client:
                    await client.execute(session, "1 + 1")
    by_session = {record.session: record for record in runs(connections.read(path), "*")}
    named = {session: record.connection for session, record in by_session.items()}
    # The same words as the server's log line of each connection.
    connected = [
        record.getMessage().partition(":")[0]
        for record in caplog.records
        if record.getMessage().endswith("connected as admin")
    ]
    assert [named["first"], named["second"]] == connected
    assert len(set(connected)) == 2
