"""Rows: many sessions - creating 10,000, ``1+1`` among them, ``ls`` of all of them.

One ``spe-host serve`` (idle expiry on, its default) gets N sessions, each made by an
``execute`` of ``pass`` in a new session id, one after the other; the creation row
compares the last tenth of them with the first tenth of the same run (flat means
the count costs nothing).

Then, interleaved with a second ``spe-host serve`` that holds one session: ``1+1`` in a
fresh session of each (the fresh session is removed after each trial, off the clock,
so the counts stay N and 1). Last, ``ls`` of all N sessions against the floor sending
the same JSON bytes (the sessions' wire form) over raw trio and ``json.loads`` of them.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from itertools import count

from _context import Context
from _harness import Condition, Figure, Measured, Side, interleave, timer
from _procs import LineClient, floor_server, served_host

import spe_host
from spe_host.wire import to_json


async def _create(ctx: Context, client: spe_host.Client) -> Figure:
    """Create the sessions; stop early, and say so, when the row's budget is spent."""
    wanted = ctx.sizes.sessions
    ctx.say(f"creating {wanted} sessions, one at a time")
    times: list[float] = []
    began = timer()
    while len(times) < wanted and began() < ctx.sizes.create_budget:
        elapsed = timer()
        await client.execute(f"s{len(times)}", "pass")
        times.append(elapsed())
    total = len(times)
    short = "" if total == wanted else f"; the {ctx.sizes.create_budget:.0f} s budget ran out"
    tenth = max(1, total // 10)
    mean = sum(times) / len(times) * 1e3
    first = f"the first {tenth:,}"
    return Figure(
        name=f"creating sessions 1 -> {total:,}: the last {tenth:,}",
        spe=Measured("spe_host", tuple(times[-tenth:])),
        anchors=(Measured(first, tuple(times[:tenth])),),
        goal=(Condition("mean", limit=0.3e-3), Condition("mean", factor=1.2, anchor=first)),
        goal_text="<= 0.3 ms each (mean), flat: last tenth <= 1.2x the first",
        note=f"mean {mean:.2f} ms each over all{short}",
    )


def _fresh(label: str, client: spe_host.Client, prefix: str) -> Side:
    numbers = count()

    async def trial() -> float:
        session = f"{prefix}{next(numbers)}"
        elapsed = timer()
        result = await client.execute(session, "1+1")
        took = elapsed()
        await client.remove(session)
        if result.value != "2":
            raise RuntimeError(f"spe_host answered {result.value!r} to 1+1: {result.error}")
        return took

    return Side(label, trial)


def _ls(client: spe_host.Client, total: int) -> Side:
    async def trial() -> float:
        elapsed = timer()
        found = await client.sessions()
        took = elapsed()
        if len(found) < total:
            raise RuntimeError(f"ls found {len(found)} sessions, not {total}")
        return took

    return Side("spe_host", trial)


def _raw(floor: LineClient) -> Side:
    async def trial() -> float:
        elapsed = timer()
        await floor.stream.send_all(b"get\n")
        size = int(await floor.until(b"\n"))
        json.loads(await floor.exactly(size))
        return elapsed()

    return Side("raw trio + json.loads", trial)


async def rows(ctx: Context) -> list[Figure]:
    sizes = ctx.sizes
    async with AsyncExitStack() as stack:
        many = await stack.enter_async_context(served_host(ctx.workdir, "many"))
        one = await stack.enter_async_context(served_host(ctx.workdir, "one"))
        floor_address = await stack.enter_async_context(floor_server(ctx.workdir, "lsfloor"))
        client = await stack.enter_async_context(spe_host.connect(many.unix))
        single = await stack.enter_async_context(spe_host.connect(one.unix))
        await single.execute("keep", "pass")

        created = await _create(ctx, client)
        infos = await client.sessions()
        total = len(infos)

        ctx.say(f"1+1 in a fresh session: {sizes.fresh_trials} per side")
        spe, alone = await interleave(
            [_fresh("spe_host", client, "fresh"), _fresh("with 1 session", single, "fresh")],
            sizes.fresh_trials,
            budget=sizes.fresh_budget,
        )
        fresh = Figure(
            name=f"`1+1` in a fresh session while {total:,} sessions exist",
            spe=spe,
            anchors=(alone,),
            goal=(Condition("median", factor=1.2, anchor="with 1 session"),),
            goal_text="<= 1.2x the 1-session figure",
            note="idle expiry on, the default",
        )

        payload = json.dumps([to_json(info) for info in infos]).encode()
        floor = await LineClient.open(floor_address.unix)
        stack.push_async_callback(floor.aclose)
        await floor.stream.send_all(b"put %d\n" % len(payload) + payload)
        await floor.until(b"\n")
        ctx.say(f"ls of {len(infos)} sessions ({len(payload) / 1e6:.2f} MB)")
        spe, raw = await interleave(
            [_ls(client, total), _raw(floor)],
            sizes.big_ls_trials,
            budget=sizes.big_ls_budget,
        )
        listing = Figure(
            name=f"`ls` with {total:,} sessions ({len(payload) / 1e6:.2f} MB)",
            spe=spe,
            anchors=(raw,),
            goal=(Condition("median", limit=30e-3),),
            goal_text="<= 30 ms",
        )
        return [created, fresh, listing]
