"""Rows: what the journal costs - the same two loads on a host with it and one without.

Two ``spe-host serve`` processes run side by side in one benchmark run: one with its
default journal, one with ``--no-journal``. Interleaved trial by trial, the benchmark
measures on each the ``1+1`` round trip over the unix socket, and 200,000 printed
lines until a subscriber has every byte (the output rows' load), which is what the
journal writes most of. The goals are the issue's: +10 % and +15 % at most.
"""

from __future__ import annotations

from _context import Context
from _harness import Condition, Figure, interleave
from _procs import served_host
from _rows_output import printing
from _rows_roundtrip import round_trip

import spe_host

OFF = "journal off"


async def rows(ctx: Context) -> list[Figure]:
    lines = ctx.sizes.lines
    async with (
        served_host(ctx.workdir, "journal-on") as on,
        served_host(ctx.workdir, "journal-off", "--no-journal") as off,
        spe_host.connect(on.unix) as with_journal,
        spe_host.connect(off.unix) as without,
    ):
        for client in (with_journal, without):
            await client.execute("rt", "1+1")  # the session exists and its thread is warm
        ctx.say(f"journal on/off: 1+1 round trips, {ctx.sizes.round_trips} per side")
        trip, trip_off = await interleave(
            [round_trip(with_journal), round_trip(without, OFF)],
            ctx.sizes.round_trips,
        )
        ctx.say(f"journal on/off: {lines} printed lines, {ctx.sizes.output_trials} per side")
        out, out_off = await interleave(
            [printing(with_journal, lines, [0]), printing(without, lines, [0], OFF)],
            ctx.sizes.output_trials,
        )
    return [
        Figure(
            name="journal on: exec `1+1` round trip, unix",
            spe=trip,
            anchors=(trip_off,),
            goal=(Condition("median", factor=1.10, anchor=OFF),),
            goal_text="<= 1.10x journal off",
        ),
        Figure(
            name=f"journal on: {lines:,} x 80-char lines until a subscriber has every byte",
            spe=out,
            anchors=(out_off,),
            goal=(Condition("median", factor=1.15, anchor=OFF),),
            goal_text="<= 1.15x journal off",
        ),
    ]
