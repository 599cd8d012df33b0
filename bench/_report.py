"""The table: machine facts, one markdown row per figure, and the JSON the smoke test reads.

Times are shown in the unit that suits the median (us, ms, s). spe_host's cell is
min / median / p99 and the trial count; an anchor's is its median and p99, or
``missing: <why>``. The ratio is spe_host's median over the named anchor's median
(below 1: spe_host is faster).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio
from _harness import Figure, Measured

import spe_host

_HEADER = ("figure", "spe_host min / median / p99", "anchors, same run", "ratio", "goal", "met")


def _unit(seconds: float) -> tuple[float, str]:
    if seconds >= 1.0:
        return 1.0, "s"
    if seconds >= 1e-3:
        return 1e3, "ms"
    return 1e6, "us"


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def spread(measured: Measured) -> str:
    stats = measured.stats
    if stats is None:
        return f"missing: {measured.missing}"
    scale, unit = _unit(stats.median)
    cells = " / ".join(_number(v * scale) for v in (stats.min, stats.median, stats.p99))
    return f"{cells} {unit} (n={stats.n})"


def brief(measured: Measured) -> str:
    stats = measured.stats
    if stats is None:
        return f"{measured.label}: missing ({measured.missing})"
    scale, unit = _unit(stats.median)
    return (
        f"{measured.label} {_number(stats.median * scale)} {unit} "
        f"(p99 {_number(stats.p99 * scale)}, n={stats.n})"
    )


def _cells(figure: Figure) -> tuple[str, ...]:
    ratio = figure.ratio()
    name = figure.name + (f" ({figure.note})" if figure.note else "")
    return (
        name,
        spread(figure.spe),
        "; ".join(brief(anchor) for anchor in figure.anchors) or "-",
        f"{ratio[1]:.2f}x {ratio[0]}" if ratio else "-",
        figure.goal_text,
        figure.verdict(),
    )


def table(figures: list[Figure]) -> str:
    """The markdown table of the figures."""

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rows = [line(_HEADER), "|" + "---|" * len(_HEADER)]
    rows += [line(_cells(figure)) for figure in figures]
    return "\n".join(rows)


def _git(*args: str) -> str:
    """What a git command prints in this checkout, or "" where there is no git."""
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or "?" where the system has none."""
    if not hasattr(os, "getloadavg"):
        return "?"
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_facts() -> dict[str, str]:
    """Cores, Python, trio, the switch interval, and what was measured."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    tree = _git("rev-parse", "--short", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no")
    if tree and changed:
        tree += " with uncommitted changes"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": f"{os.cpu_count()} ({usable} usable)",
        "load average before": load_average(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "trio": trio.__version__,
        "spe_host": f"{spe_host.__version__} (commit {tree or 'unknown'})",
        "switch interval": f"{sys.getswitchinterval() * 1e3:g} ms (this process)",
    }


def document(figures: list[Figure], facts: dict[str, str], command: str, took: float) -> str:
    """docs/performance.md: what was measured, how, and the table."""
    lines = [
        "# Performance",
        "",
        f"Written by `{command}` (bench/compare.py) in {took:.0f} s; run it again to refresh.",
        "Every figure is measured beside its anchors in the same run, trials interleaved so",
        "that noise hits every side alike. Servers run in processes of their own and are",
        "reached over real sockets; spe_host is `spe-host serve` with its defaults. Cells",
        "are spe_host's min / median / p99 and each anchor's median (p99), n the trials; the",
        "ratio is spe_host's median over that anchor's (below 1: spe_host is faster). Other",
        "work on the machine shows in the load averages, taken before and after the run.",
        "An anchor that could not run says why (`pip install -e '.[bench]'` installs them).",
        "How each row is measured is the docstring of its module, `bench/_rows_*.py`;",
        "`bench/compare.py --quick` is the same at a fifth of the trials. Where the time",
        "goes behind each figure, and what a goal not met would take: docs/profiles.md.",
        "",
        "| fact | value |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        "",
        table(figures),
        "",
    ]
    return "\n".join(lines)


def as_json(figures: list[Figure], facts: dict[str, str]) -> dict[str, Any]:
    """The figures as data: what the smoke test checks."""

    def side(measured: Measured) -> dict[str, Any]:
        stats = measured.stats
        return {
            "label": measured.label,
            "missing": measured.missing,
            "stats": None if stats is None else vars(stats),
        }

    return {
        "facts": facts,
        "figures": [
            {
                "name": figure.name,
                "spe_host": side(figure.spe),
                "anchors": [side(anchor) for anchor in figure.anchors],
                "goal": figure.goal_text,
                "verdict": figure.verdict(),
            }
            for figure in figures
        ],
    }
