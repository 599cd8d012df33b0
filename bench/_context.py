"""How big each row is (the full run, ``--quick``, ``--smoke``), and what the rows share.

A row module's entry point is ``async def rows(ctx: Context) -> list[Figure]``. It
reads its sizes from ``ctx.sizes``, makes its servers and sockets under
``ctx.workdir`` and says what it is doing with ``ctx.say``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sizes:
    """Trials and loads per row; ``budget`` fields bound a row's seconds (at least 3 trials)."""

    round_trips: int = 1000
    stops: int = 200
    stop_budget: float = 25.0
    sessions: int = 10_000
    create_budget: float = 100.0
    fresh_trials: int = 1000
    fresh_budget: float = 15.0
    big_ls_trials: int = 60
    big_ls_budget: float = 15.0
    busy_clients: int = 50
    busy_sessions: int = 200
    busy_trials: int = 300
    busy_budget: float = 20.0
    spinners: int = 100
    spin_trials: int = 100
    spin_budget: float = 30.0
    neighbour_trials: int = 1000
    neighbour_budget: float = 20.0
    interval_trials: int = 100
    interval_budget: float = 25.0
    interval_job: int = 300_000  # iterations of the job timed against the switch interval
    block: int = 50  # trials per block where entering a condition is costly
    lines: int = 200_000
    output_trials: int = 10
    overhead_runs: int = 15
    overhead_budget: float = 1.0  # seconds of plain running: short scripts get more runs
    overhead_limit: float = 25.0  # seconds per script, all sides (at least 3 runs each)
    # Replaces every overhead script's source (the smoke run's only substitution).
    overhead_source: str | None = None
    startups: int = 10
    settle: float = 0.010  # seconds a CPU loop runs before it is stopped
    group_limit: float = 900.0  # seconds a group of rows may take before it is failed


FULL = Sizes()
QUICK = Sizes(
    round_trips=200,
    stops=40,
    stop_budget=8.0,
    sessions=2000,
    create_budget=30.0,
    fresh_trials=200,
    fresh_budget=5.0,
    big_ls_trials=20,
    big_ls_budget=5.0,
    busy_trials=60,
    busy_budget=6.0,
    spin_trials=20,
    spin_budget=8.0,
    neighbour_trials=200,
    neighbour_budget=6.0,
    interval_trials=20,
    interval_budget=6.0,
    block=20,
    output_trials=3,
    overhead_runs=3,
    overhead_budget=0.0,
    overhead_limit=10.0,
    startups=3,
)
SMOKE = Sizes(
    round_trips=3,
    stops=3,
    stop_budget=0.0,
    sessions=20,
    fresh_trials=3,
    fresh_budget=0.0,
    big_ls_trials=3,
    big_ls_budget=0.0,
    busy_clients=3,
    busy_sessions=6,
    busy_trials=3,
    busy_budget=0.0,
    spinners=2,
    spin_trials=3,
    spin_budget=0.0,
    neighbour_trials=3,
    neighbour_budget=0.0,
    interval_trials=3,
    interval_budget=0.0,
    interval_job=2000,
    block=2,
    lines=1000,
    output_trials=3,
    overhead_runs=3,
    overhead_budget=0.0,
    overhead_source="total = 0\nfor i in range(1000):\n    total += i * 3 % 7\n",
    startups=1,
    settle=0.002,
    group_limit=60.0,
)


@dataclass
class Context:
    """What every row gets."""

    sizes: Sizes
    workdir: Path
    facts: dict[str, str] = field(default_factory=dict)
    verbose: bool = True

    def say(self, text: str) -> None:
        """Progress on stderr, so stdout keeps only the table."""
        if self.verbose:
            print(f"  .. {text}", file=sys.stderr, flush=True)
