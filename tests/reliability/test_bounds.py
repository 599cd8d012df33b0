"""What a peer can make the host hold: each figure is measured, printed and bounded.

* memory per subscriber that never reads, whatever the session's buffer holds;
* memory per unauthenticated connection;
* descriptors after 2,000 connect/disconnect cycles;
* a flood of half-open connections against a host short of descriptors, while a
  legitimate client still gets its ``ls`` through.

Memory is what :mod:`tracemalloc` sees allocated by the server between two quiet
points (every task blocked), divided by the number of peers: kernel socket buffers
are not the host's to bound.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
import trio.testing
from support.cli import SPE_HOST, cli_env
from support.server import encode, greet, served, wait_state, wait_until

from spe_host.client import connect
from spe_host.server import Limits, MaxStartups

pytestmark = pytest.mark.usefixtures("runtime")

MIB = 1024 * 1024
# Many peers at once, all from one address, so the caps themselves stay out of the way.
ROOMY = Limits(
    max_connections=5000,
    max_startups=MaxStartups(4000, 100, 4000),
    max_startups_per_peer=4000,
)


@contextmanager
def traced() -> Iterator[Callable[[], int]]:
    """Trace allocations for the block; yields: bytes allocated since it began."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        yield lambda: tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()


def report(capsys: pytest.CaptureFixture[str], what: str, figure: str) -> None:
    """Print a figure where `make test` shows it, captured or not."""
    with capsys.disabled():
        print(f"\nbounds: {what}: {figure}")


@pytest.mark.parametrize("binary", [False, True], ids=["json frames", "binary frames"])
async def test_memory_per_subscriber_that_never_reads_is_a_small_constant(
    capsys: pytest.CaptureFixture[str], binary: bool
) -> None:
    connections, per_connection = 4, 4
    with trio.fail_after(30):
        async with served("unix", limits=ROOMY, host_options={"output_limit": 16 * MIB}) as srv:
            srv.host.start("big", "for _ in range(8 * 1024):\n    print('x' * 1023)")
            await wait_state(srv.host, "big", "idle")
            held = []
            with traced() as allocated:
                for _ in range(connections):
                    stream, conn = await srv.raw_hello(binary_output=binary)
                    assert conn.binary_output is binary
                    for request_id in range(1, per_connection + 1):
                        subscribe = {"type": "subscribe", "id": request_id, "session": "big"}
                        await stream.send_all(encode(subscribe))
                    held.append(stream)
                await trio.testing.wait_all_tasks_blocked(0.2)
                each = allocated() / (connections * per_connection)
    report(
        capsys,
        "memory per non-reading subscriber (session holding 8 MiB, "
        f"{'binary' if binary else 'json'} frames)",
        f"{each / 1024:.0f} KiB",
    )
    assert each < 1 * MIB


async def test_memory_per_unauthenticated_connection_is_small(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count = 200
    with trio.fail_after(30):
        async with served("tcp", limits=ROOMY, handshake_timeout=30.0) as srv:
            with traced() as allocated:
                for _ in range(count):
                    await srv.open_raw()
                await trio.testing.wait_all_tasks_blocked(0.2)
                each = allocated() / count
    report(capsys, "memory per unauthenticated connection", f"{each / 1024:.1f} KiB")
    assert each < 64 * 1024


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_no_descriptor_leaks_after_2000_connect_disconnect_cycles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cycles, parallel = 2000, 8
    with trio.fail_after(60):
        async with served("unix") as srv:
            address = srv.listening.address.removeprefix("unix:")
            # One greeted connection first, so lazily opened descriptors are counted.
            await greet(await srv.open_raw())
            await trio.testing.wait_all_tasks_blocked(0.05)
            before = open_descriptors()

            async def cycle(n: int) -> None:
                stream = await trio.open_unix_socket(address)
                try:
                    if n % 2:
                        await greet(stream)
                finally:
                    await stream.aclose()

            for start in range(0, cycles, parallel):
                async with trio.open_nursery() as nursery:
                    for n in range(start, start + parallel):
                        nursery.start_soon(cycle, n)
            await trio.testing.wait_all_tasks_blocked(0.1)
            after = open_descriptors()
    report(capsys, f"descriptors after {cycles} connect/disconnect cycles", f"{before} -> {after}")
    assert after - before <= 2


def _serve_short_of_descriptors(runtime: Path, limit: int) -> subprocess.Popen[str]:
    def lower_limit() -> None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    return subprocess.Popen(
        [
            *SPE_HOST,
            "serve",
            "--json",
            "--log-level",
            "error",
            "--name",
            "flooded",
            "--listen",
            "tcp://127.0.0.1:0",
            "--max-connections",
            str(limit // 2),
            "--max-startups",
            f"10:30:{limit // 4}",
        ],
        env=cli_env(runtime),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lower_limit,
    )


async def test_a_flood_of_half_open_connections_does_not_lock_a_client_out(
    runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The host may open 128 descriptors; one peer holds 300 connections that never say
    # hello, reopening each as soon as it drops. Without caps the host runs out of
    # descriptors and every new client times out in its handshake (5 s).
    flood_size = 300
    process = _serve_short_of_descriptors(runtime, 128)
    timer = threading.Timer(20, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        line = await trio.to_thread.run_sync(process.stdout.readline)
        assert line, process.communicate()[1]
        files = json.loads(line)["listening"][0]["connection_files"]
        address = json.loads(Path(files["admin"]).read_text())["address"]
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        took: list[float] = []
        with trio.fail_after(30):
            async with trio.open_nursery() as flood:
                opened = 0

                async def hold_open() -> None:
                    nonlocal opened
                    while True:
                        try:
                            stream = await trio.open_tcp_stream(host, int(port))
                        except OSError:
                            await trio.sleep(0.01)
                            continue
                        opened += 1
                        async with stream:
                            try:
                                while await stream.receive_some(4096):
                                    pass
                            except trio.BrokenResourceError:
                                pass

                for _ in range(flood_size):
                    flood.start_soon(hold_open)
                # Every one of them dropped and reopened at least once.
                await wait_until(lambda: opened >= 2 * flood_size)
                for _ in range(3):
                    began = trio.current_time()
                    async with connect(files["admin"]) as client:
                        assert await client.sessions() == []
                    took.append(trio.current_time() - began)
                flood.cancel_scope.cancel()
        report(
            capsys,
            f"ls under a flood of {flood_size} half-open connections",
            f"{max(took):.2f} s at worst",
        )
        assert max(took) < 4.0
    finally:
        timer.cancel()
        process.terminate()
        process.communicate(timeout=10)
