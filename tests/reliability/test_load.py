"""Load: 200 sessions, 50 clients asking at once, for a bounded time; no errors.

Ten of the sessions keep running (one prints, one sleeps in a native call, one
awaits) while every client lists the sessions over and over, by wildcard and in
full. Every request must succeed; the figure printed is the latency of ``ls``
(median and p99). ``SPE_LOAD_SECONDS`` sets the duration (default 3).
"""

from __future__ import annotations

import os
import statistics

import pytest
import trio
from support.server import served

pytestmark = pytest.mark.usefixtures("runtime")

SESSIONS = 200
CLIENTS = 50
SECONDS = float(os.environ.get("SPE_LOAD_SECONDS", "3"))
RUNNING = [
    "import time\ni = 0\nwhile True:\n    print(i)\n    i += 1\n    time.sleep(0.01)\n",
    "import time\ntime.sleep(1000)\n",
    "import trio\nawait trio.sleep(1000)\n",
]


async def test_many_sessions_and_clients_answer_every_request() -> None:
    latencies: list[float] = []
    requests = 0
    with trio.fail_after(30 + SECONDS):
        async with served("unix") as srv:
            for i in range(SESSIONS):
                if i < 9:
                    srv.host.start(f"s-{i:03d}", RUNNING[i % len(RUNNING)])
                else:
                    await srv.host.execute(f"s-{i:03d}", "x = 1")
            deadline = trio.current_time() + SECONDS

            async def client(number: int) -> None:
                nonlocal requests
                async with srv.connect() as conn:
                    while trio.current_time() < deadline:
                        began = trio.current_time()
                        listed = await conn.sessions()
                        latencies.append(trio.current_time() - began)
                        assert len(listed) == SESSIONS
                        found = await conn.sessions(f"s-{number % 15:02d}?", "s-1[5-9]*")
                        assert len(found) == 10 + 50
                        requests += 2

            async with trio.open_nursery() as nursery:
                for number in range(CLIENTS):
                    nursery.start_soon(client, number)
            srv.host.stop("*")
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(
        f"\nload: {SESSIONS} sessions x {CLIENTS} clients for {SECONDS:g} s: {requests} "
        f"requests, 0 errors; ls median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms"
    )
    assert requests > 0
