"""The limits a listener enforces: connections, startups, requests and streams per connection."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.server import encode, read_frames, served, wait_state

from spe_host.cli._exits import UsageError
from spe_host.cli._parser import build_parser
from spe_host.cli._serve import server_limits
from spe_host.server import DEFAULT_LIMITS, Limits, MaxStartups
from spe_host.server._gate import Gate

pytestmark = pytest.mark.usefixtures("runtime")


def test_max_startups_drops_early_and_rises_to_all_at_full() -> None:
    startups = MaxStartups.parse("10:30:100")
    assert str(startups) == "10:30:100"
    assert [startups.drop_chance(n) for n in (0, 9, 10, 55, 100, 500)] == [
        0.0,
        0.0,
        0.3,
        pytest.approx(0.65),
        1.0,
        1.0,
    ]
    assert MaxStartups.parse("20") == MaxStartups(20, 100, 20)
    for bad in ("10:30", "a:b:c", "10:130:100", "50:30:10"):
        with pytest.raises(ValueError, match="10:30:100"):
            MaxStartups.parse(bad)


def test_limits_keep_room_for_authenticated_clients() -> None:
    with pytest.raises(ValueError, match="authenticated clients always have room"):
        Limits(max_connections=100, max_startups=MaxStartups(10, 30, 100))
    with pytest.raises(ValueError, match="max_subscriptions is 0"):
        Limits(max_subscriptions=0)
    assert DEFAULT_LIMITS.max_startups.full < DEFAULT_LIMITS.max_connections


async def test_the_gate_replaces_a_peers_oldest_silent_startup() -> None:
    gate = Gate(Limits(max_startups_per_peer=2), chance=lambda: 0.99)
    evicted: list[str] = []
    heard = {"a": False, "b": True}

    def enter(name: str, peer: str = "10.0.0.1") -> object:
        return gate.enter(peer, evict=lambda: evicted.append(name), heard=lambda: heard[name])

    first, second = enter("a"), enter("b")
    assert first is not None
    assert second is not None
    heard["c"] = False
    assert enter("c") is not None
    # "a" sent nothing, so it goes first although "b" is as old.
    assert evicted == ["a"]
    assert gate.startups == 2
    assert enter("x", peer="10.0.0.2") is not None  # other addresses have their own quota
    assert gate.startups == 3


async def test_the_gate_drops_at_random_between_start_and_full() -> None:
    limits = Limits(max_connections=10, max_startups=MaxStartups(2, 50, 4), max_startups_per_peer=9)
    lucky = Gate(limits, chance=lambda: 0.6)
    passes = [lucky.enter("p", evict=lambda: None, heard=lambda: False) for _ in range(5)]
    # 0.6 beats a 50 % chance at 2 startups and a 75 % one at 3; at 4 (full) all go.
    assert [p is not None for p in passes] == [True, True, True, False, False]
    first = passes[0]
    assert first is not None
    first.authenticated()  # an authenticated connection leaves the startups...
    assert (lucky.startups, lucky.connections) == (2, 3)
    first.leave()  # ...and, once closed, the connections
    assert (lucky.startups, lucky.connections) == (2, 2)


async def test_max_connections_turns_new_ones_away_until_one_closes() -> None:
    limits = Limits(max_connections=2, max_startups=MaxStartups(1, 100, 1))
    with trio.fail_after(10):
        async with served("unix", limits=limits) as srv:
            async with srv.connect(), srv.connect():
                extra = await srv.open_raw()
                # Closed at once, before any hello: nothing is answered.
                assert await read_frames(extra) == []
            async with srv.connect() as client:
                assert await client.sessions() == []


async def test_a_stream_beyond_max_subscriptions_is_busy_and_the_connection_goes_on() -> None:
    with trio.fail_after(10):
        async with served("unix", limits=Limits(max_subscriptions=2)) as srv:
            srv.host.start("s", "pass")
            await wait_state(srv.host, "s", "idle")  # no state changes to watch from here
            stream, _ = await srv.raw_hello()
            for request_id in (1, 2):
                await stream.send_all(encode({"type": "watch", "id": request_id}))
            await stream.send_all(encode({"type": "subscribe", "id": 3, "session": "s"}))
            [refused] = await read_frames(stream, count=1)
            assert (refused["id"], refused["code"]) == (3, "busy")
            assert "2 subscribe and watch streams" in refused["message"]
            # A stream's place is free once it has ended (its final `null` result).
            await stream.send_all(encode({"type": "cancel", "id": 4, "target": 1}))
            frames = await read_frames(stream, count=2)
            assert {f["id"]: f["value"] for f in frames} == {4: True, 1: None}
            await stream.send_all(encode({"type": "subscribe", "id": 5, "session": "s"}))
            await stream.send_all(encode({"type": "cancel", "id": 6, "target": 5}))
            frames = await read_frames(stream, count=2)
            assert {f["id"]: f["value"] for f in frames} == {6: True, 5: None}


async def test_a_request_beyond_max_in_flight_is_busy_and_the_connection_goes_on() -> None:
    with trio.fail_after(10):
        async with served("unix", limits=Limits(max_in_flight=2)) as srv:
            srv.host.start("s", "import trio\nawait trio.sleep(30)")
            stream, _ = await srv.raw_hello()
            for request_id in (1, 2):
                await stream.send_all(encode({"type": "wait", "id": request_id, "sessions": ["s"]}))
            await stream.send_all(encode({"type": "list", "id": 3}))
            [refused] = await read_frames(stream, count=1)
            assert (refused["id"], refused["code"]) == (3, "busy")
            assert "2 requests in flight" in refused["message"]
            srv.host.stop("s")
            frames = await read_frames(stream, count=2)
            assert sorted(f["id"] for f in frames) == [1, 2]
            await stream.send_all(encode({"type": "list", "id": 4}))
            [listed] = await read_frames(stream, count=1)
            assert (listed["id"], listed["type"]) == (4, "result")


def test_spe_host_serve_defaults_are_the_servers_and_bad_limits_are_usage_errors() -> None:
    parser = build_parser()
    assert server_limits(parser.parse_args(["serve"])) == DEFAULT_LIMITS
    chosen = server_limits(
        parser.parse_args(
            ["serve", "--max-connections", "50", "--max-startups", "5:50:20", "--max-requests", "9"]
        )
    )
    assert (chosen.max_connections, str(chosen.max_startups), chosen.max_in_flight) == (
        50,
        "5:50:20",
        9,
    )
    for bad in (["--max-startups", "5:50"], ["--max-connections", "50"], ["--max-requests", "0"]):
        with pytest.raises(UsageError):
            server_limits(parser.parse_args(["serve", *bad]))


async def test_a_unix_socket_counts_no_startups() -> None:
    # Only our own user can reach it: a burst of clients is not a flood.
    limits = Limits(max_startups=MaxStartups(1, 100, 1), max_startups_per_peer=1)
    with trio.fail_after(10):
        async with served("unix", limits=limits) as srv:
            silent = [await srv.open_raw() for _ in range(5)]
            async with srv.connect() as client:
                assert await client.sessions() == []
            for stream in silent:
                await stream.send_all(encode({"type": "hello", "version": "1.1", "client": "late"}))
                [welcome] = await read_frames(stream, count=1)
                assert welcome["type"] == "welcome"
