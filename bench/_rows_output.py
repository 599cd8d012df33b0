"""Row: 200,000 lines of 80 characters until a subscriber in another process has every byte.

spe_host: a fresh session of a ``spe-host serve``, a subscription to it from the
benchmark's process (over the unix socket), then ``client.start`` of a loop printing the
lines; the clock runs from the start request until the subscription has seen every
byte (chunk offsets count bytes, so a dropped stretch counts too - and is reported).
The anchor, interleaved: the same loop in the benchmark's process with
``sys.stdout`` on /dev/null.
"""

from __future__ import annotations

import os
from contextlib import redirect_stdout
from itertools import count
from typing import TextIO

import trio
from _context import Context
from _harness import Condition, Figure, Side, interleave, timer
from _procs import served_host

import spe_host

LINE = "x" * 79  # print adds the newline: 80 bytes a line


def script(lines: int) -> str:
    return f"line = {LINE!r}\nfor _ in range({lines}):\n    print(line)\n"


def printing(
    client: spe_host.Client, lines: int, dropped: list[int], label: str = "spe_host"
) -> Side:
    """The spe_host side: ``lines`` printed until the subscriber has every byte;
    the bytes the subscription reports dropped add up in ``dropped[0]``."""
    numbers = count()
    expected = lines * (len(LINE) + 1)

    async def trial() -> float:
        session = f"out{next(numbers)}"
        await client.execute(session, "pass")
        async with client.subscribe(session) as chunks:
            elapsed = timer()
            await client.start(session, script(lines))
            with trio.fail_after(120):
                async for chunk in chunks:
                    if isinstance(chunk, spe_host.OutputChunk):
                        dropped[0] += chunk.dropped
                        if chunk.end >= expected:
                            break
            took = elapsed()
        await client.wait(session, timeout=60)
        await client.remove(session)
        return took

    return Side(label, trial)


def _plain(lines: int, sink: TextIO) -> Side:
    async def trial() -> float:
        with redirect_stdout(sink):
            elapsed = timer()
            for _ in range(lines):
                print(LINE)
            return elapsed()

    return Side("plain print to /dev/null", trial)


async def rows(ctx: Context) -> list[Figure]:
    lines = ctx.sizes.lines
    dropped = [0]
    with open(os.devnull, "w") as sink:  # noqa: ASYNC230 - /dev/null does not block
        async with (
            served_host(ctx.workdir, "out") as served,
            spe_host.connect(served.unix) as client,
        ):
            ctx.say(f"{lines} printed lines: {ctx.sizes.output_trials} per side")
            spe, plain = await interleave(
                [printing(client, lines, dropped), _plain(lines, sink)], ctx.sizes.output_trials
            )
    megabytes = lines * (len(LINE) + 1) / 1e6
    assert spe.stats is not None
    rate = megabytes / spe.stats.median
    return [
        Figure(
            name=f"{lines:,} x 80-char lines until a subscriber in another process has every byte",
            spe=spe,
            anchors=(plain,),
            goal=(
                Condition("median", limit=0.10),
                Condition("median", factor=2.0, anchor=plain.label),
            ),
            goal_text="<= 0.10 s and <= 2x plain",
            note=f"{rate:.0f} MB/s, {dropped[0]:,} bytes dropped",
        )
    ]
