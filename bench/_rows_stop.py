"""Rows: stopping a CPU-bound loop, and stopping ``await trio.sleep(100)``.

spe_host: ``client.start`` runs the code in a session of a ``spe-host serve`` (with
serve's defaults, so its switch interval is whatever serve chooses); after the loop has
run ``settle`` seconds the clock starts, and ``client.stop_and_wait`` asks: it sends the
stop and the wait together, as a client that wants to see the abort does, and the clock
stops when the wait answers that the session no longer runs - the client has seen the
abort. Off the clock, the result is received and checked to be ``aborted`` (unread, the
session's kept results would fill and every later run's end would drop one, with a
warning in the host's log).

Anchors, interleaved: a Jupyter kernel interrupted (SIGINT) in the same code, timed to
its ``execute_reply``; for the CPU loop, an echo to the trio floor while one thread of
the floor's process spins ``while True: x = 1`` (what the GIL alone costs); for the
sleep, the floor cancelling a ``trio.sleep(100)`` and answering.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import _anchors
import trio
from _context import Context
from _harness import Condition, Figure, Measured, Side, interleave, missing, timer
from _procs import LineClient, floor_server, served_host

import spe_host

CPU_LOOP = "while True: x = 1"
SLEEP = "await trio.sleep(100)"


def spe_stop(client: spe_host.Client, code: str, settle: float) -> Side:
    async def trial() -> float:
        await client.start("spin", code)
        await trio.sleep(settle)
        elapsed = timer()
        outcome, finished = await client.stop_and_wait("spin", timeout=30)
        took = elapsed()
        if outcome != {"spin": spe_host.StopOutcome.REQUESTED}:
            raise RuntimeError(f"stop answered {outcome!r}")
        if not finished:
            raise RuntimeError(f"the stopped run of {code!r} is still running")
        # Off the clock, as a user would: read the result, so the session does not
        # fill its kept results and drop (and warn of) one at every later run's end.
        result = await client.receive("spin")
        if result.status is not spe_host.ExecutionStatus.ABORTED:
            raise RuntimeError(f"the stopped run of {code!r} ended {result.status}")
        return took

    return Side("spe_host", trial)


def _jupyter_stop(kernel: _anchors.JupyterKernel, code: str, settle: float) -> Side:
    async def trial() -> float:
        return kernel.interrupt(code, settle)

    return Side("Jupyter interrupt", trial)


def _floor_spinning_echo(floor: LineClient, settle: float) -> Side:
    async def enter() -> None:
        await floor.call(b"spin 1")
        await trio.sleep(settle)

    async def trial() -> float:
        elapsed = timer()
        await floor.call(b"echo x")
        return elapsed()

    async def leave() -> None:
        await floor.call(b"calm")

    return Side("echo while a thread spins", trial, enter, leave)


def _floor_cancel(floor: LineClient, settle: float) -> Side:
    async def trial() -> float:
        await floor.stream.send_all(b"sleep\n")
        await trio.sleep(settle)
        elapsed = timer()
        answer = await floor.call(b"cancel")
        took = elapsed()
        if answer != b"cancelled":
            raise RuntimeError(f"the floor answered {answer!r} to a cancel")
        return took

    return Side("trio floor cancel", trial)


async def _figure(
    ctx: Context,
    client: spe_host.Client,
    floor: LineClient,
    kernel: _anchors.JupyterKernel | None,
    cpu: bool,
) -> Figure:
    settle = ctx.sizes.settle
    code, jupyter_code = (CPU_LOOP, CPU_LOOP) if cpu else (SLEEP, "import time; time.sleep(100)")
    sides = [spe_stop(client, code, settle)]
    absent: list[Measured] = []
    if kernel is not None:
        sides.append(_jupyter_stop(kernel, jupyter_code, settle))
    else:
        absent.append(
            missing("Jupyter interrupt", _anchors.unavailable(_anchors.JUPYTER) or "not started")
        )
    sides.append(_floor_spinning_echo(floor, settle) if cpu else _floor_cancel(floor, settle))
    ctx.say(f"stopping {code!r}: {ctx.sizes.stops} per side")
    spe, *anchors = await interleave(sides, ctx.sizes.stops, budget=ctx.sizes.stop_budget)
    if cpu:
        name, goal_text = (
            f"stop a CPU-bound `{CPU_LOOP}`, client sees the abort",
            ("p50 <= 2 ms, p99 <= 5 ms with serve's defaults"),
        )
        goal = (Condition("median", limit=2e-3), Condition("p99", limit=5e-3))
    else:
        name, goal_text = f"stop `{SLEEP}`", "p50 <= 1 ms"
        goal = (Condition("median", limit=1e-3),)
    return Figure(
        name=name,
        spe=spe,
        anchors=(*anchors, *absent),
        goal=goal,
        goal_text=goal_text,
        note=f"serve's switch interval {ctx.facts.get('serve switch interval', '?')}",
    )


async def rows(ctx: Context) -> list[Figure]:
    async with AsyncExitStack() as stack:
        served = await stack.enter_async_context(served_host(ctx.workdir, "stop"))
        floor_address = await stack.enter_async_context(floor_server(ctx.workdir, "stopfloor"))
        floor = await LineClient.open(floor_address.unix)
        stack.push_async_callback(floor.aclose)
        client = await stack.enter_async_context(spe_host.connect(served.unix))
        interval = await client.execute("facts", "import sys\nsys.getswitchinterval()")
        await client.execute("spin", "import trio")
        ctx.facts["serve switch interval"] = f"{float(interval.value or 'nan') * 1e3:g} ms"
        kernel = None
        if _anchors.unavailable(_anchors.JUPYTER) is None:
            ctx.say("starting a Jupyter kernel")
            kernel = _anchors.JupyterKernel(ctx.workdir, "ipc")
            stack.callback(kernel.close)
        return [
            await _figure(ctx, client, floor, kernel, cpu=True),
            await _figure(ctx, client, floor, kernel, cpu=False),
        ]
