"""An unchanged listing reuses its last reply text, and any change shows in the next one.

The server joins a listing's text once and hands it out again while every session's
snapshot is the same object (``wire._encoded``): this checks, on a host whose clock
never moves on its own, that each kind of change still reaches the next listing.
"""

from __future__ import annotations

import json

import trio
import trio.testing

import spe_host
from spe_host import Host, Progress
from spe_host.engine import snapshots
from spe_host.wire import encode_records, to_json


def _listing(host: Host) -> bytes:
    # As the service lists: one pass over the sessions' kept snapshots.
    infos = snapshots(host.sessions())
    assert all(info is s.info() for info, s in zip(infos, host.sessions(), strict=True))
    return encode_records(infos).text()


def _truth(host: Host) -> list[object]:
    return [to_json(s.info()) for s in host.sessions()]


def test_every_change_shows_in_the_next_listing() -> None:
    clock = trio.testing.MockClock()  # never moves: two looks at one instant

    async def main() -> None:
        with trio.fail_after(20):
            async with spe_host.open_host(idle_timeout=None) as host:
                for index in range(3):
                    await host.execute(f"s{index}", "pass", loop=True)
                last = _listing(host)
                assert _listing(host) is last  # unchanged: the same text, not joined again

                def changed() -> None:
                    nonlocal last
                    now = _listing(host)
                    assert now != last
                    assert json.loads(now) == _truth(host)
                    last = now

                await host.execute("s1", "pass", loop=True)  # a run at the same instant
                changed()
                host.session("s0").name = "nightly"
                changed()
                host.session("s2").autodispose = True
                changed()
                host.session("s2").progress = Progress(10.0, "a tenth")
                changed()
                host.session("s0").output.write("between runs\n")
                changed()
                await host.execute("s3", "pass", loop=True)  # a new session
                changed()
                await host.remove("s1")  # a removed one
                changed()
                clock.jump(5)
                host.session("s0").touch()
                changed()
                assert _listing(host) is last

    trio.run(main, clock=clock)


async def test_an_expired_session_leaves_the_next_listing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(100):
        async with spe_host.open_host(idle_timeout=60) as host:
            await host.execute("keep", "pass", loop=True)
            await host.execute("goes", "pass", loop=True)
            before = _listing(host)
            await trio.sleep(30)
            await host.execute("keep", "pass", loop=True)
            await trio.sleep(45)  # "goes" idle 75 s: expired; "keep" 45 s
            after = _listing(host)
            assert after != before
            assert [item["id"] for item in json.loads(after)] == ["keep"]
