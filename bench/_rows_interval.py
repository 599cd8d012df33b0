"""Rows: what serve's switch interval costs a CPU-bound script, and what it buys a stop.

``spe-host serve`` sets the interpreter's thread switch interval to 0.5 ms (its banner
says so) where Python's default is 5 ms. Two ``spe-host serve``s run side by side, one
with serve's default and one with ``--switch-interval 5``, their trials interleaved:

* throughput: two sessions each ``start`` the same fixed pure-Python loop at once, so
  they compete for the interpreter (with one thread running Python nothing switches,
  so that case costs nothing either way); the trial is the time from the first loop's
  start to the last one's end, both printed by the scripts, so the round trips do
  not count. The same work either way: a shorter time is more throughput. The goal is
  ours (the issue asks for the cost to be reported): at most 5 % slower than at 5 ms.
* stop latency: the stop row's trial (``bench/_rows_stop.py``) in each host - a CPU
  loop stopped and its abort seen by the client. The goal: at least twice as fast as
  at 5 ms, which is why serve changes the setting.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from _context import Context
from _harness import Condition, Figure, Side, interleave
from _procs import served_host
from _rows_stop import CPU_LOOP, spe_stop

import spe_host

AT_5_MS = "switch interval 5 ms (Python's default)"


JOBS = ("job_a", "job_b")


def _job(iterations: int) -> str:
    return (
        "import time\n_began = time.perf_counter()\n"
        f"for _i in range({iterations}):\n    _x = _i * 3 % 7\n"
        "print(_began, time.perf_counter())\n"
    )


def _throughput(label: str, client: spe_host.Client, iterations: int) -> Side:
    code = _job(iterations)

    async def trial() -> float:
        for session in JOBS:
            await client.start(session, code)
        await client.wait("job_*", timeout=60)
        spans = []
        for session in JOBS:
            result = await client.receive(session)
            if result.status is not spe_host.ExecutionStatus.COMPLETED:
                raise RuntimeError(f"{session} ended {result.status}: {result.error}")
            began, ended = map(float, result.output.split())
            spans.append((began, ended))
        return max(end for _, end in spans) - min(began for began, _ in spans)

    return Side(label, trial)


async def rows(ctx: Context) -> list[Figure]:
    sizes = ctx.sizes
    async with AsyncExitStack() as stack:
        fast = await stack.enter_async_context(served_host(ctx.workdir, "interval"))
        slow = await stack.enter_async_context(
            served_host(ctx.workdir, "interval5", "--switch-interval", "5")
        )
        ours = await stack.enter_async_context(spe_host.connect(fast.unix))
        python = await stack.enter_async_context(spe_host.connect(slow.unix))
        for client in (ours, python):
            for session in JOBS:
                await client.execute(session, "pass")
            await client.execute("spin", "import trio")
        ctx.say(f"two CPU-bound jobs at once: {sizes.interval_trials} per side")
        spe, anchor = await interleave(
            [
                _throughput("spe_host", ours, sizes.interval_job),
                _throughput(AT_5_MS, python, sizes.interval_job),
            ],
            sizes.interval_trials,
            block=sizes.block,
            budget=sizes.interval_budget,
        )
        throughput = Figure(
            name=(
                f"switch interval 0.5 ms (serve's): two CPU-bound jobs at once "
                f"({sizes.interval_job:,} loop iterations each), first start to last end"
            ),
            spe=spe,
            anchors=(anchor,),
            goal=(Condition("median", factor=1.05, anchor=AT_5_MS),),
            goal_text="<= 1.05x the same at 5 ms (our bound: the cost of the setting)",
        )
        ctx.say(f"stopping {CPU_LOOP!r} at 0.5 and 5 ms: {sizes.stops} per side")
        spe, anchor = await interleave(
            [
                spe_stop(ours, CPU_LOOP, sizes.settle),
                Side(AT_5_MS, spe_stop(python, CPU_LOOP, sizes.settle).trial),
            ],
            sizes.stops,
            budget=sizes.stop_budget,
        )
        stop = Figure(
            name=f"switch interval 0.5 ms (serve's): stop a CPU-bound `{CPU_LOOP}`",
            spe=spe,
            anchors=(anchor,),
            goal=(Condition("median", factor=0.5, anchor=AT_5_MS),),
            goal_text="<= 0.5x the stop at 5 ms (the gain the setting is for)",
        )
    return [throughput, stop]
