"""The side-by-side benchmark: spe_host against Jupyter, aioconsole and the trio floor.

Run it from the project root (``make bench`` runs the first line)::

    .venv/bin/python bench/compare.py           # full run; writes docs/performance.md
    .venv/bin/python bench/compare.py --quick   # fewer trials, for development
    .venv/bin/python bench/compare.py --smoke --json out.json   # tiny sizes (the smoke test)

It prints one markdown table - figure, spe_host min / median / p99, each anchor measured
in the same run, the ratio, the goal, met or not - and, on a full run, writes it with
the machine facts to docs/performance.md. It is a benchmark, not a test: the exit code
is 0 whatever the figures, 1 only when a row could not be measured at all.

Each group of rows is a module (``_rows_*.py``) with ``async def rows(ctx)``; they run
one after the other, each with its own servers, so one group's load never leaks into
another's figures. The anchors come from the ``bench`` extra; one that is not installed
is reported as missing in its row.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import _anchors
import _report
import _rows_interval
import _rows_journal
import _rows_load
import _rows_output
import _rows_overhead
import _rows_roundtrip
import _rows_sessions
import _rows_startup
import _rows_stop
import trio
from _context import FULL, QUICK, SMOKE, Context
from _harness import Figure

GROUPS: dict[str, Callable[[Context], Awaitable[list[Figure]]]] = {
    "roundtrip": _rows_roundtrip.rows,
    "stop": _rows_stop.rows,
    "interval": _rows_interval.rows,
    "sessions": _rows_sessions.rows,
    "load": _rows_load.rows,
    "output": _rows_output.rows,
    "overhead": _rows_overhead.rows,
    "journal": _rows_journal.rows,
    "startup": _rows_startup.rows,
}
DEFAULT_OUTPUT = Path(__file__).parent.parent / "docs" / "performance.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer trials, for development")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: checks the code runs")
    parser.add_argument(
        "--only", action="append", choices=sorted(GROUPS), help="run only these groups of rows"
    )
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=[_anchors.JUPYTER, _anchors.AIOCONSOLE],
        help="leave out an anchor (reported as missing)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the markdown (default on a full run: {DEFAULT_OUTPUT})",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


async def _run(ctx: Context, names: list[str]) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    failures: list[str] = []
    for name in names:
        ctx.say(f"group {name}")
        began = time.perf_counter()
        try:
            with trio.fail_after(ctx.sizes.group_limit):
                figures += await GROUPS[name](ctx)
            ctx.say(f"group {name} took {time.perf_counter() - began:.1f} s")
        except Exception:
            # One group's failure must not cost the others' figures; it is reported.
            failures.append(f"{name}: {traceback.format_exc()}")
            print(f"compare: the {name} rows failed:\n{failures[-1]}", file=sys.stderr)
    return figures, failures


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    sizes = SMOKE if options.smoke else QUICK if options.quick else FULL
    _anchors.LEFT_OUT.update(options.without)
    names = options.only or list(GROUPS)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spe-bench-") as workdir:
        ctx = Context(sizes=sizes, workdir=Path(workdir), verbose=not options.quiet)
        ctx.facts = _report.machine_facts()
        figures, failures = trio.run(_run, ctx, names)
        ctx.facts["load average after"] = _report.load_average()
    took = time.perf_counter() - began
    kind = " --smoke" if options.smoke else " --quick" if options.quick else ""
    print(f"spe_host side-by-side benchmark{kind}, {took:.0f} s")
    for key, value in ctx.facts.items():
        print(f"  {key}: {value}")
    print()
    print(_report.table(figures))
    output = options.output or (None if kind else DEFAULT_OUTPUT)
    if output is not None:
        command = "make bench" if not kind else f"bench/compare.py{kind}"
        output.write_text(_report.document(figures, ctx.facts, command, took))
        print(f"\nwritten to {output}")
    if options.json is not None:
        data = _report.as_json(figures, ctx.facts)
        data["failures"] = failures
        options.json.write_text(json.dumps(data, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
