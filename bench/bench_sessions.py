"""Benchmark what idle sessions cost: RSS growth for 10,000 of them, two ways.

Run it from the project root::

    .venv/bin/python bench/bench_sessions.py            # 10,000 sessions per row
    .venv/bin/python bench/bench_sessions.py --count 1000

It is a benchmark, not a test: it prints one table and exits 0 whatever the figures.

What it measures
----------------
Each row runs in a fresh interpreter (RSS rarely shrinks, so rows must not share
one): a host from ``open_host`` gets N sessions, one after the other, then the
process's resident set (``VmRSS`` from ``/proc/self/status``) is read again, after a
``gc.collect()``. The growth is divided by N for the per-session figure.

* **never ran synchronous code**: each session runs ``await trio.sleep(0)``, a
  statement that awaits, so it never needs a thread of its own. Goal: the 10,000 stay
  within 100 MB.
* **ran ``x = 1``**: each session runs one synchronous statement, so each owns its
  thread (``spe_host.engine._thread``, a 4 MiB stack of which only touched pages are
  resident). No goal: this is what a thread per session costs.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys

import trio

import spe_host

_ROWS = {
    "never ran synchronous code": "await trio.sleep(0)",
    "ran `x = 1`": "x = 1",
}
_GOAL_MB = 100.0


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status: this benchmark needs Linux")


async def _measure(code: str, count: int) -> dict[str, float]:
    async with spe_host.open_host(namespace={"trio": trio}, idle_timeout=None) as host:
        await host.execute("warm-up", code)  # imports and caches, off the count
        gc.collect()
        before = _rss_bytes()
        for n in range(count):
            result = await host.execute(f"s{n}", code, interactive=False)
            if result.status is not spe_host.ExecutionStatus.COMPLETED:
                raise RuntimeError(f"session s{n} did not complete: {result.error}")
        gc.collect()
        grown = _rss_bytes() - before
        return {"grown": grown, "per_session": grown / count}


def _row_in_a_fresh_process(label: str, count: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--row", label, "--count", str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="sessions per row")
    parser.add_argument("--row", choices=list(_ROWS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row is not None:
        print(json.dumps(trio.run(_measure, _ROWS[args.row], args.count)))
        return
    print(f"RSS growth for {args.count:,} idle sessions (Python {sys.version.split()[0]})")
    print(f"{'sessions that':<30} {'growth':>10} {'per session':>12}  goal")
    for label in _ROWS:
        figures = _row_in_a_fresh_process(label, args.count)
        grown_mb = figures["grown"] / 1e6
        if label == "never ran synchronous code":
            limit = _GOAL_MB * args.count / 10_000
            verdict = f"<= {limit:.0f} MB: {'met' if grown_mb <= limit else 'MISSED'}"
        else:
            verdict = "-"
        per = figures["per_session"] / 1024
        print(f"{label:<30} {grown_mb:>7.1f} MB {per:>9.1f} KiB  {verdict}")


if __name__ == "__main__":
    main()
