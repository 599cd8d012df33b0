"""Rows: what the abort checks cost a running script - arithmetic loop, fib(25), library loop.

The scripts, the plain runner (``exec`` of the compiled source) and the instrumented
runner (the statements of ``compile_script``, the fast path a script meets when nobody
stops it) are bench_engine.py's; this module adds the anchor the usual way to make a
thread stoppable - ``sys.settrace`` with a tracer that checks a flag on every event -
and runs the three interleaved, in the benchmark's process. The goal is on the ratio of
spe_host's median to plain ``exec``'s.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import bench_engine
from _context import Context
from _harness import Condition, Figure, Side, interleave

from spe_host.engine import _instrument

# The goal per script of bench_engine.OVERHEAD_CASES, in order (the table).
GOALS = (1.15, 1.20, 1.01)


def settrace_runner(source: str, filename: str) -> Callable[[], dict[str, Any]]:
    """``exec`` under a tracer that checks a stop flag at every line, call and return."""
    code = compile(source, filename, "exec")
    stopping = [False]

    def tracer(frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
        if stopping[0]:
            raise KeyboardInterrupt
        return tracer

    def run() -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": "__bench__"}
        sys.settrace(tracer)
        try:
            exec(code, namespace)
        finally:
            sys.settrace(None)
        return namespace

    return run


def _side(label: str, run: Callable[[], object]) -> Side:
    async def trial() -> float:
        return bench_engine.timed(run)

    return Side(label, trial)


async def _figure(ctx: Context, case: bench_engine.OverheadCase, goal: float) -> Figure:
    source = ctx.sizes.overhead_source or case.source
    filename = f"<bench {case.name}>"
    plain = bench_engine.plain_runner(source, f"{filename} plain")
    traced = settrace_runner(source, f"{filename} traced")
    instrumented = bench_engine.instrumented_runner(source, filename)
    try:
        totals = {plain()["total"], traced()["total"], instrumented()["total"]}
        if len(totals) != 1:
            raise RuntimeError(f"{case.name}: the runners computed different totals {totals}")
        once = bench_engine.timed(plain)
        runs = max(ctx.sizes.overhead_runs, min(101, math.ceil(ctx.sizes.overhead_budget / once)))
        ctx.say(f"overhead of {case.name}: {runs} runs per side")
        spe, bare, settrace = await interleave(
            [
                _side("spe_host", instrumented),
                _side("plain exec", plain),
                _side("settrace", traced),
            ],
            runs,
            budget=ctx.sizes.overhead_limit,
        )
    finally:
        _instrument.forget_source(filename)
    assert settrace.stats is not None
    assert bare.stats is not None
    traced_ratio = settrace.stats.median / bare.stats.median
    where = "in-process" if ctx.sizes.overhead_source is None else "smoke-sized script"
    return Figure(
        name=f"abort-check overhead: {case.name}",
        spe=spe,
        anchors=(bare, settrace),
        goal=(Condition("median", factor=goal, anchor="plain exec"),),
        goal_text=f"<= {goal:.2f}x plain exec",
        ratio_to="plain exec",
        note=f"{where}; settrace {traced_ratio:.2f}x plain",
    )


async def rows(ctx: Context) -> list[Figure]:
    return [
        await _figure(ctx, case, goal)
        for case, goal in zip(bench_engine.OVERHEAD_CASES, GOALS, strict=True)
    ]
