"""Benchmark the spe_host engine: instrumentation overhead and stop latency.

Run it from the project root (``make bench`` runs the first line)::

    .venv/bin/python bench/bench_engine.py           # full run, under a minute
    .venv/bin/python bench/bench_engine.py --quick   # fewer runs: a smoke check

It is a benchmark, not a test: it prints one table and exits 0 whatever the figures.

What it measures
----------------
1. **Instrumentation overhead** of the abort checks, on three scripts: a
   2,000,000-iteration arithmetic loop, a recursive ``fib(25)`` defined in the script,
   and a library-heavy loop (``fractions.Fraction`` sums plus ``json.dumps``, about
   0.5 s). The baseline is plain ``exec(compile(src))`` in a fresh namespace; spe_host
   is the statements of ``_instrument.compile_script(src, filename,
   interactive=False)`` exec'd in order into a fresh namespace holding
   ``__spe_abort__ = False`` and ``__spe_checkpoint__ = _runner.checkpoint`` (the
   fast path a running script meets when nobody stops it). One more row runs the
   loop with neither name in the namespace, as code run with globals of its own
   (``types.FunctionType(f.__code__, {})``) does: its checks find the fallback pair
   that ``_checkpoint`` keeps in ``builtins``. Compilation is done
   once, outside the timing. Plain and instrumented runs are interleaved, and their
   order alternates every round, so drift and machine noise hit both. Cells show
   min / median / max; the verdict is on the ratio of medians, and the ratio of
   minimums is shown beside it.
2. **Stop latency** inside one process: a host from ``open_host`` runs
   ``while True: pass`` in a session; once the script is really running in its worker
   thread (``session.location`` is set) the clock starts, ``host.stop(id)`` is called,
   and the clock stops when ``await host.wait(id)`` returns with the execution
   ABORTED. Median, p90 and max over 200 trials, one host for all of them.
3. **Context rows** (no target): the cost of one ``trio.to_thread.run_sync`` hop,
   which every execution pays once; the round trip of ``await host.execute(id,
   "1+1")``; and the stop latency split in two - stop called until the script's
   ``finally:`` runs in the worker thread, then until ``host.wait`` returns.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

import spe_host
from spe_host.engine import _checkpoint, _instrument
from spe_host.engine import _execution as _runner

LOOP_SRC = """\
total = 0
for i in range(2_000_000):
    total += i * 3 % 7
"""

FIB_SRC = """\
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

total = fib(25)
"""

LIBRARY_SRC = """\
import json
from fractions import Fraction

terms = [Fraction(k, k + 1) for k in range(1, 200)]
total = 0
for i in range(2400):
    s = sum(terms, Fraction(i, 7))
    doc = {"i": i, "sum": str(s), "terms": [str(t) for t in terms[:40]]}
    total += len(json.dumps(doc, sort_keys=True))
"""


@dataclass(frozen=True)
class OverheadCase:
    name: str
    source: str
    target: float


OVERHEAD_CASES = [
    OverheadCase("arith loop, 2M iterations", LOOP_SRC, 1.15),
    OverheadCase("recursive fib(25)", FIB_SRC, 1.35),
    OverheadCase("Fraction + json.dumps loop", LIBRARY_SRC, 1.02),
]

STOP_TARGET = 0.5e-3
STOPPABLE_SRC = "while True: pass\n"
# The same loop, noting when the abort reaches the worker thread: the finally block
# runs while the ScriptAborted propagates (a checkpoint stays quiet in it).
SPLIT_SRC = """\
try:
    while True:
        pass
finally:
    seen = clock()
"""


@dataclass
class Row:
    case: str
    baseline: str = "-"
    spe_host: str = "-"
    ratio: str = "-"
    target: str = "-"
    verdict: str = "info"


# -- formatting ---------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_spread(samples: list[float]) -> str:
    """min / median / max, in the unit of the median."""
    med = statistics.median(samples)
    scale, unit = (1.0, "s") if med >= 1.0 else (1e3, "ms") if med >= 1e-3 else (1e6, "us")
    lo, hi = min(samples) * scale, max(samples) * scale
    return f"{lo:.2f} / {med * scale:.2f} / {hi:.2f} {unit}"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def fmt_latency(samples: list[float]) -> str:
    return (
        f"med {fmt_time(statistics.median(samples))}, "
        f"p90 {fmt_time(percentile(samples, 0.9))}, max {fmt_time(max(samples))}"
    )


def print_table(rows: list[Row]) -> None:
    header = Row("case", "baseline", "spe_host", "ratio", "target", "verdict")
    table = [header, *rows]
    fields = ["case", "baseline", "spe_host", "ratio", "target", "verdict"]
    widths = [max(len(getattr(row, f)) for row in table) for f in fields]

    def line(row: Row) -> str:
        cells = [getattr(row, f).ljust(w) for f, w in zip(fields, widths, strict=True)]
        return "  ".join(cells).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


# -- 1. instrumentation overhead ------------------------------------------------------


def plain_runner(source: str, filename: str) -> Callable[[], dict[str, Any]]:
    code = compile(source, filename, "exec")

    def run() -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": "__bench__"}
        exec(code, namespace)
        return namespace

    return run


def instrumented_runner(
    source: str, filename: str, *, through_builtins: bool = False
) -> Callable[[], dict[str, Any]]:
    """The statements of ``compile_script``, run as a session runs them.

    With ``through_builtins`` the namespace holds neither check name, as for code run
    with globals of its own: the checks find the fallback pair in ``builtins``.
    """
    statements = _instrument.compile_script(source, filename, interactive=False)
    assert not any(s.is_async or s.display for s in statements)
    codes = [s.code for s in statements]
    _checkpoint.StopFlags()  # installs the fallback pair in builtins
    names: dict[str, Any] = {}
    if not through_builtins:
        names = {_instrument.FLAG_NAME: False, _instrument.CHECK_NAME: _runner.checkpoint}

    def run() -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": "__bench__", **names}
        for code in codes:
            exec(code, namespace)
        return namespace

    return run


def timed(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure_overhead(
    case: OverheadCase, min_runs: int, budget: float, *, through_builtins: bool = False
) -> Row:
    """Time ``case`` plain and instrumented, interleaved.

    Short scripts get more rounds than ``min_runs``: as many as fit in ``budget``
    seconds of plain running (at most 101), which steadies their medians.
    """
    filename = f"<bench {case.name}>"
    plain = plain_runner(case.source, f"{filename} plain")
    instrumented = instrumented_runner(case.source, filename, through_builtins=through_builtins)
    try:
        # Warm up both, and check that the rewrite did not change what the script computes.
        expected, got = plain()["total"], instrumented()["total"]
        if expected != got:
            raise SystemExit(f"{case.name}: instrumented total {got!r} != plain {expected!r}")
        runs = max(min_runs, min(101, math.ceil(budget / timed(plain))))
        plain_times: list[float] = []
        spe_times: list[float] = []
        for round_ in range(runs):
            if round_ % 2 == 0:
                plain_times.append(timed(plain))
                spe_times.append(timed(instrumented))
            else:
                spe_times.append(timed(instrumented))
                plain_times.append(timed(plain))
    finally:
        _instrument.forget_source(filename)
    ratio_med = statistics.median(spe_times) / statistics.median(plain_times)
    ratio_min = min(spe_times) / min(plain_times)
    return Row(
        case=f"overhead: {case.name}{', checks via builtins' if through_builtins else ''} "
        f"({runs} runs)",
        baseline=fmt_spread(plain_times),
        spe_host=fmt_spread(spe_times),
        ratio=f"{ratio_med:.3f}x (min {ratio_min:.3f}x)",
        target=f"<= {case.target:.2f}x",
        verdict="PASS" if ratio_med <= case.target else "MISS",
    )


# -- 2 and 3. the host: hops, execute, stop -----------------------------------------------


def _noop() -> None:
    pass


async def measure_hops(trials: int) -> list[float]:
    samples = []
    for _ in range(trials):
        start = time.perf_counter()
        await trio.to_thread.run_sync(_noop)
        samples.append(time.perf_counter() - start)
    return samples


async def measure_execute(host: spe_host.Host, trials: int) -> list[float]:
    samples = []
    for _ in range(trials):
        start = time.perf_counter()
        result = await host.execute("calc", "1+1")
        samples.append(time.perf_counter() - start)
        if result.value != "2":
            raise SystemExit(f"execute('1+1') gave {result.value!r}: {result.error}")
    return samples


async def stop_once(
    host: spe_host.Host, source: str, args: dict[str, Any] | None = None
) -> tuple[float, float]:
    """Start ``source`` in session "spin", stop it once it runs; (stop called, ABORTED seen)."""
    with trio.fail_after(10):
        session = host.start("spin", source, args=args)
        # Poll: nothing signals "script code is executing in the worker thread now".
        while session.location is None:  # noqa: ASYNC110
            await trio.sleep(0.0005)
        start = time.perf_counter()
        outcome = host.stop("spin")
        await host.wait("spin")
        end = time.perf_counter()
    if outcome != {"spin": spe_host.StopOutcome.REQUESTED}:
        raise SystemExit(f"stop answered {outcome!r}")
    result = host.receive("spin")
    if result.status is not spe_host.ExecutionStatus.ABORTED:
        raise SystemExit(f"the stopped execution ended {result.status}: {result.error}")
    return start, end


async def measure_stop(host: spe_host.Host, trials: int) -> list[float]:
    samples = []
    for _ in range(trials):
        start, end = await stop_once(host, STOPPABLE_SRC)
        samples.append(end - start)
    return samples


async def measure_stop_split(host: spe_host.Host, trials: int) -> tuple[list[float], list[float]]:
    to_worker: list[float] = []
    to_host: list[float] = []
    for _ in range(trials):
        start, end = await stop_once(host, SPLIT_SRC, args={"clock": time.perf_counter})
        seen = host.session("spin").namespace["seen"]
        to_worker.append(seen - start)
        to_host.append(end - seen)
    return to_worker, to_host


async def measure_host(trials: int) -> list[Row]:
    hops = await measure_hops(trials)
    async with spe_host.open_host(idle_timeout=None) as host:
        await host.execute("calc", "1+1")  # warm up the worker thread and the session
        execute = await measure_execute(host, trials)
        stops = await measure_stop(host, trials)
        to_worker, to_host = await measure_stop_split(host, max(20, trials // 2))
    hop_med = statistics.median(hops)
    stop_med = statistics.median(stops)
    return [
        Row(
            case=f"stop() -> ABORTED seen ({trials} trials)",
            spe_host=fmt_latency(stops),
            ratio=f"{stop_med / hop_med:.2f}x hop",
            target=f"<= {fmt_time(STOP_TARGET)}",
            verdict="PASS" if stop_med <= STOP_TARGET else "MISS",
        ),
        Row(
            case="  split: stop() -> script's finally runs",
            spe_host=fmt_latency(to_worker),
        ),
        Row(
            case="  split: finally runs -> wait() returns",
            spe_host=fmt_latency(to_host),
        ),
        Row(case="context: trio.to_thread.run_sync hop", baseline=fmt_latency(hops)),
        Row(
            case='context: execute(id, "1+1") round trip',
            baseline=f"hop {fmt_time(hop_med)}",
            spe_host=fmt_latency(execute),
            ratio=f"{statistics.median(execute) / hop_med:.2f}x hop",
        ),
    ]


# -- main -----------------------------------------------------------------------------


def machine_facts() -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"python   {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"machine  {platform.machine()}, {platform.system()} {platform.release()}, "
        f"cpu_count {os.cpu_count()} ({usable} usable), load average {load}",
        f"trio     {trio.__version__}; spe_host {spe_host.__version__}; "
        f"GIL switch interval {sys.getswitchinterval() * 1e3:.1f} ms",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 runs per script, 20 latency trials (smoke check)"
    )
    options = parser.parse_args(argv)
    runs, budget, trials = (3, 0.0, 20) if options.quick else (15, 1.0, 200)

    began = time.perf_counter()
    print("spe_host engine benchmark" + (" (--quick)" if options.quick else ""))
    for fact in machine_facts():
        print("  " + fact)
    print(
        f"  overhead: >= {runs} interleaved runs per script (short ones get more), "
        "cells are min / median / max, verdict on the ratio of medians"
    )
    print(f"  latency: {trials} trials each, one host, times from time.perf_counter()")
    print()

    rows = [measure_overhead(case, runs, budget) for case in OVERHEAD_CASES]
    rows.append(measure_overhead(OVERHEAD_CASES[0], runs, budget, through_builtins=True))
    rows += trio.run(measure_host, trials)
    print_table(rows)
    print()
    print(f"total time {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
