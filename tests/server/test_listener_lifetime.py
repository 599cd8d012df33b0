"""Listeners never own sessions: ending one leaves every job of the host running.

The reproduction from the restructure issue: a host served on a unix socket runs a
background job; a TCP listener for the same host is started and cancelled (a
certificate rotation, say). Before the restructure the cancelled listener's shutdown
stopped every session of the host, and the job ended ABORTED.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import trio
from support.engine import wait_until
from support.server import wait_state

import spe_host
from spe_host import ExecutionStatus, SessionState
from spe_host.client import connect
from spe_host.server import serve_tcp, serve_unix

JOB = """\
rounds = 0
while not gate.is_set():
    rounds += 1
print("finished after", rounds > 0)
"""


async def test_restarting_one_listener_leaves_the_jobs_of_the_host_running(
    runtime: Path, gate: threading.Event
) -> None:
    with trio.fail_after(20):
        async with (
            spe_host.open_host(idle_timeout=None, shutdown_timeout=2.0) as host,
            trio.open_nursery() as outer,
        ):
            unix = await outer.start(serve_unix, host)
            host.start("nightly", JOB, args={"gate": gate})
            await wait_state(host, "nightly", "running")

            for _ in range(2):  # start and cancel the TCP listener twice: a restart
                async with trio.open_nursery() as inner:
                    tcp = await inner.start(serve_tcp, host)
                    async with connect(tcp.address, token=tcp.tokens.token("admin")) as client:
                        infos = await client.sessions("nightly")
                        assert [i.state for i in infos] == [SessionState.RUNNING]
                    inner.cancel_scope.cancel()
                assert host.session("nightly").state is SessionState.RUNNING

            # The other listener serves on, and the job ends on its own terms.
            async with connect(unix.address) as client:
                gate.set()
                [info] = await client.wait("nightly", timeout=10)
                assert info.last_status is ExecutionStatus.COMPLETED
                result = await client.receive("nightly")
            assert result.status is ExecutionStatus.COMPLETED
            assert result.output == "finished after True\n"
            outer.cancel_scope.cancel()


async def test_a_cancelled_listener_stops_no_session_even_with_an_attached_execute(
    runtime: Path, gate: threading.Event
) -> None:
    with trio.fail_after(20):
        async with (
            spe_host.open_host(
                idle_timeout=None, shutdown_timeout=2.0, namespace={"gate": gate}
            ) as host,
            trio.open_nursery() as clients,
        ):
            outcome: list[BaseException | spe_host.ExecutionResult] = []
            async with trio.open_nursery() as servers:
                listening = await servers.start(partial(serve_unix, host, shutdown_timeout=0.05))

                async def attached() -> None:
                    try:
                        async with connect(listening.address) as client:
                            outcome.append(await client.execute("fg", "gate.wait()\nprint('done')"))
                    except spe_host.SpeError as exc:
                        outcome.append(exc)

                clients.start_soon(attached)
                await wait_state(host, "fg", "running")
                # The server waits up to its deadline for the execute, then closes the
                # connection; the run itself goes on in the host.
                servers.cancel_scope.cancel()
            await wait_until(lambda: outcome)
            assert isinstance(outcome[0], spe_host.ConnectionLost), outcome
            assert host.session("fg").state is SessionState.RUNNING
            gate.set()
            [session] = await host.wait("fg", timeout=10)
            assert session.last_status is ExecutionStatus.COMPLETED
            assert host.receive("fg").output == "done\n"
