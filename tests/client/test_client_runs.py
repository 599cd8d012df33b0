"""Run ids through every layer above the engine: service, wire, server and client."""

from __future__ import annotations

import pytest
import trio
from support.server import read_frames, served

from spe_host import LocalProtocolError, SessionBusy, SessionNotFound
from spe_host import wire as p
from spe_host._errors import RemoteProtocolError
from spe_host.service import EMBEDDING_PROGRAM, InvalidArgument, Service


async def test_a_client_receives_a_run_by_id_or_the_oldest() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            for n in (1, 2, 3):
                started = await client.start("etl", f"print({n})")
                assert started.run == f"etl#{n}"
                assert started.run_ended_at is None
                await client.wait("etl")
            [listed] = await client.sessions("etl")
            assert listed.run == "etl#3"
            assert listed.run_started_at is not None
            assert listed.run_ended_at is not None
            second = await client.receive("etl", "etl#2")
            assert (second.run, second.output) == ("etl#2", "2\n")
            assert (await client.receive("etl")).run == "etl#1"
            with pytest.raises(SessionNotFound, match="keeps no result of run etl#2"):
                await client.receive("etl", "etl#2")
            with pytest.raises(LocalProtocolError, match="not a valid run id"):
                await client.receive("etl", "etl#two")
            with pytest.raises(LocalProtocolError, match="not a run of session 'etl'"):
                await client.receive("etl", "other#1")
            assert (await client.receive("etl")).run == "etl#3"


async def test_a_run_still_going_is_busy_over_the_wire() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            await client.start("s", "import trio\nawait trio.sleep_forever()")
            with pytest.raises(SessionBusy, match="run s#1 is still running"):
                await client.receive("s", "s#1")
            await client.stop("s")
            await client.wait("s")
            assert (await client.receive("s", "s#1")).status == "aborted"


async def test_a_bad_run_id_is_refused_at_the_wire_and_at_the_service() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv:
            host = srv.host
            host.start("etl", "1")
            await host.wait("etl")
            raw, _ = await srv.raw_hello()
            await raw.send_all(b'{"type":"receive","id":4,"session":"etl","run":"etl#0"}\n')
            [frame] = await read_frames(raw)  # and then the server closes
            assert (frame["id"], frame["code"]) == (4, "bad_request")
            assert "not a valid run id" in frame["message"]
            service = Service(host)
            with pytest.raises(InvalidArgument, match="not a valid run id"):
                service.receive(EMBEDDING_PROGRAM, "etl", run="etl#")
            with pytest.raises(InvalidArgument, match="belongs to session 'other'"):
                service.receive(EMBEDDING_PROGRAM, "etl", run="other#1")
            assert host.receive("etl").run == "etl#1"  # nothing was lost on the way


def test_the_receive_message_checks_its_run() -> None:
    assert p.Receive(id=1, session="etl", run="etl#12").run == "etl#12"
    with pytest.raises(LocalProtocolError, match="not a valid run id"):
        p.Receive(id=1, session="etl", run="etl#1.5")
    server = p.Connection("server")
    server.receive_data(b'{"type":"hello","version":"1.2","token":null}\n')
    server.next_event()
    server.receive_data(b'{"type":"receive","id":2,"session":"a","run":"b#1"}\n')
    with pytest.raises(RemoteProtocolError, match="not a run of session 'a'"):
        server.next_event()


async def test_a_client_sends_no_run_to_a_host_older_than_1_2() -> None:
    with trio.fail_after(10):
        async with served("memory") as srv, srv.connect() as client:
            client.version = "1.1"
            with pytest.raises(LocalProtocolError, match=r"protocol 1\.1, which has no run ids"):
                await client.receive("etl", "etl#1")
