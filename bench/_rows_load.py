"""Rows: the host under load - busy clients, spinning sessions, a spinning neighbour.

Each row alternates blocks of trials with the load on and with it off, so both sides
of a row see the same machine:

* ``ls`` over the socket while 50 clients, each on its own connection, run ``1+1``
  back to back on 200 sessions; against ``ls`` of the same host with the clients idle.
* ``ls`` while 100 sessions spin ``while True: x = 1``; against ``ls`` with the same 100
  sessions idle, and (in the spinning blocks, trial by trial) an ``ls`` of a pattern
  that matches nothing - the cheapest request, so what remains is the wait for the
  interpreter, not the listing.
* ``1+1`` in session B while session A spins; against B with A idle.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

import trio
from _context import Context
from _harness import Condition, Figure, Measured, Side, Step, interleave, timer
from _procs import served_host

import spe_host

SPIN = "while True: x = 1"


class _Load:
    """Clients that run ``1+1`` back to back while the load is on."""

    def __init__(self) -> None:
        self.on = False
        self.busy = 0
        self.done = 0  # executes finished while the load was on
        self.seconds = 0.0  # how long the load was on
        self._since = 0.0
        self._resumed = trio.Event()

    async def worker(self, client: spe_host.Client, sessions: list[str]) -> None:
        turn = 0
        while True:
            if not self.on:
                await self._resumed.wait()
                continue
            self.busy += 1
            try:
                await client.execute(sessions[turn % len(sessions)], "1+1")
            finally:
                self.busy -= 1
            self.done += 1
            turn += 1

    async def start(self) -> None:
        self.on = True
        self._resumed.set()
        await trio.sleep(0.05)  # every worker has a request in flight
        self._since = trio.current_time()

    async def stop(self) -> None:
        self.seconds += trio.current_time() - self._since
        self.on = False
        self._resumed = trio.Event()
        while self.busy:  # noqa: ASYNC110 - the workers' last requests end on their own
            await trio.sleep(0.001)


def _ls(label: str, client: spe_host.Client, *patterns: str) -> Side:
    async def trial() -> float:
        elapsed = timer()
        await client.sessions(*patterns)
        return elapsed()

    return Side(label, trial)


async def _busy_clients(ctx: Context, stack: AsyncExitStack, served: str) -> Figure:
    sizes = ctx.sizes
    probe = await stack.enter_async_context(spe_host.connect(served))
    names = [f"b{number}" for number in range(sizes.busy_sessions)]
    for name in names:
        await probe.execute(name, "pass")
    load = _Load()
    clients = [
        await stack.enter_async_context(spe_host.connect(served)) for _ in range(sizes.busy_clients)
    ]
    # Entered after the clients, so on exit the workers are cancelled before they close.
    nursery = await stack.enter_async_context(trio.open_nursery())
    stack.callback(nursery.cancel_scope.cancel)
    for number, client in enumerate(clients):
        nursery.start_soon(load.worker, client, names[number :: sizes.busy_clients])
    busy = Side("spe_host", _ls("", probe).trial, load.start, load.stop)
    ctx.say(f"ls with {sizes.busy_clients} busy clients: {sizes.busy_trials} per side")
    spe, idle = await interleave(
        [busy, _ls("ls, clients idle", probe)],
        sizes.busy_trials,
        block=sizes.block,
        budget=sizes.busy_budget,
    )
    return Figure(
        name=f"`ls` p99, {sizes.busy_clients} clients busy on {sizes.busy_sessions} sessions",
        spe=spe,
        anchors=(idle,),
        goal=(Condition("p99", limit=50e-3),),
        goal_text="p99 <= 50 ms (Jupyter fails at 64 kernels x 10 rps)",
        note=f"the load: {load.done / max(load.seconds, 1e-9):.0f} executes/s",
    )


def spinning(
    client: spe_host.Client, names: list[str], pattern: str, settle: float
) -> tuple[Step, Step]:
    """Steps that set ``names`` spinning (all at once), and that stop them (by ``pattern``:
    a request names at most 64 sessions)."""

    async def enter() -> None:
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(partial(client.start, name, SPIN))
        await trio.sleep(settle)

    async def leave() -> None:
        await client.stop(pattern)
        await client.wait(pattern, timeout=60)

    return enter, leave


async def _spinning_sessions(ctx: Context, served: str) -> Figure:
    sizes = ctx.sizes
    async with spe_host.connect(served) as client:
        names = [f"spin{number}" for number in range(sizes.spinners)]
        for name in names:
            await client.execute(name, "pass")
        tiny: list[float] = []
        nothing = _ls("", client, "no-such-session-*")

        async def both() -> float:
            # In the spinning blocks the tiny request goes first, then the full ls.
            tiny.append(await nothing.trial())
            return await _ls("", client).trial()

        spin, calm = spinning(client, names, "spin*", 0.1)
        ctx.say(f"ls while {sizes.spinners} sessions spin: up to {sizes.spin_trials} per side")
        spe, idle = await interleave(
            [
                Side("spe_host", both, spin, calm),
                _ls(f"ls, {sizes.spinners} idle sessions", client),
            ],
            sizes.spin_trials,
            block=max(2, sizes.block // 5),
            budget=sizes.spin_budget,
        )
    return Figure(
        name=f"`ls` while {sizes.spinners} sessions spin CPU-bound loops",
        spe=spe,
        anchors=(idle, Measured("empty ls, same load", tuple(tiny))),
        goal=(Condition("p99", limit=50e-3),),
        goal_text="p99 <= 50 ms",
    )


async def _neighbour(ctx: Context, served: str) -> Figure:
    sizes = ctx.sizes
    async with spe_host.connect(served) as client:
        await client.execute("A", "pass")
        await client.execute("B", "1+1")
        spin, calm = spinning(client, ["A"], "A", sizes.settle)

        async def in_b() -> float:
            elapsed = timer()
            result = await client.execute("B", "1+1")
            took = elapsed()
            if result.value != "2":
                raise RuntimeError(f"B answered {result.value!r} to 1+1: {result.error}")
            return took

        ctx.say(f"1+1 in B while A spins: {sizes.neighbour_trials} per side")
        spe, idle = await interleave(
            [Side("spe_host", in_b, spin, calm), Side("B, A idle", in_b)],
            sizes.neighbour_trials,
            block=sizes.block,
            budget=sizes.neighbour_budget,
        )
    return Figure(
        name="`1+1` in session B while A spins a CPU loop",
        spe=spe,
        anchors=(idle,),
        goal=(Condition("median", limit=2e-3),),
        goal_text="p50 <= 2 ms",
    )


async def rows(ctx: Context) -> list[Figure]:
    figures = []
    async with served_host(ctx.workdir, "busy") as served, AsyncExitStack() as stack:
        figures.append(await _busy_clients(ctx, stack, served.unix))
    async with served_host(ctx.workdir, "spinners") as served:
        figures.append(await _spinning_sessions(ctx, served.unix))
    async with served_host(ctx.workdir, "neighbour") as served:
        figures.append(await _neighbour(ctx, served.unix))
    return figures
