"""The benchmark's measuring core: sides, interleaved trials, statistics, goals.

Theory of operation
-------------------
A figure compares spe_host with its anchors. Each of them is a :class:`Side`: an async
callable that runs one trial and returns the seconds it took, with optional ``enter``
and ``leave`` steps that set up a condition (start a load, stop it) around a block of
trials. :func:`interleave` runs the sides in rounds - a block of each, in an order that
reverses every round - so drift and machine noise hit every side alike, until each side
has its trials or the row's time budget is spent (it always gets ``min_trials``).

What a side measured is a :class:`Measured`: its samples, or the sentence saying why it
is missing (an anchor whose package is not installed is reported, never skipped). A
:class:`Figure` is one row of the table: spe_host's side, the anchors' sides, and the
:class:`Condition` list that is the goal. Conditions compare a statistic of spe_host's
samples with a constant or with a multiple of an anchor's statistic; a goal whose
anchor is missing is undecided, not met.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

Trial = Callable[[], Awaitable[float]]
Step = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Side:
    """One thing measured in a figure: a trial, and what a block of trials needs around it."""

    label: str
    trial: Trial
    enter: Step | None = None
    leave: Step | None = None


@dataclass(frozen=True)
class Stats:
    """The summary of one side's samples (seconds)."""

    n: int
    min: float
    median: float
    p99: float
    mean: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("a side with no samples has no statistics; measure it first")
        ordered = sorted(samples)
        rank = max(0, math.ceil(0.99 * len(ordered)) - 1)
        return cls(
            n=len(ordered),
            min=ordered[0],
            median=statistics.median(ordered),
            p99=ordered[rank],
            mean=statistics.fmean(ordered),
        )

    def get(self, stat: str) -> float:
        value = getattr(self, stat)
        assert isinstance(value, float)
        return value


@dataclass(frozen=True)
class Measured:
    """A side's outcome: its samples, or why it has none."""

    label: str
    samples: tuple[float, ...] = ()
    missing: str | None = None

    @property
    def stats(self) -> Stats | None:
        return None if self.missing is not None else Stats.of(self.samples)


def missing(label: str, why: str) -> Measured:
    """An anchor that could not be measured, with the sentence saying why."""
    return Measured(label, missing=why)


@dataclass(frozen=True)
class Condition:
    """One part of a goal: ``spe_host's stat <= limit``, or ``<= factor x anchor's stat``."""

    stat: str  # "median", "p99", "mean" or "min"
    limit: float | None = None
    factor: float | None = None
    anchor: str | None = None  # the label of the anchor the factor applies to
    anchor_stat: str | None = None  # the anchor's statistic; the same as ``stat`` by default

    def bound(self, anchors: dict[str, Measured]) -> float | None:
        """The number spe_host's statistic must not exceed, or None when it is unknown."""
        if self.limit is not None:
            return self.limit
        assert self.anchor is not None
        assert self.factor is not None
        found = anchors.get(self.anchor)
        stats = found.stats if found is not None else None
        if stats is None:
            return None
        return self.factor * stats.get(self.anchor_stat or self.stat)


@dataclass(frozen=True)
class Figure:
    """One row of the table."""

    name: str
    spe: Measured
    anchors: tuple[Measured, ...]
    goal: tuple[Condition, ...]
    goal_text: str
    unit: str = "s"  # "s": samples are seconds
    note: str = ""
    # The anchor the ratio column divides by (the first measured one by default).
    ratio_to: str | None = None

    def verdict(self) -> str:
        """``met``, ``not met``, or ``?`` when only a missing anchor could decide."""
        stats = self.spe.stats
        if stats is None:
            return "?"
        by_label = {anchor.label: anchor for anchor in self.anchors}
        bounds = [(condition, condition.bound(by_label)) for condition in self.goal]
        if any(bound is not None and stats.get(c.stat) > bound for c, bound in bounds):
            return "not met"
        return "?" if any(bound is None for _, bound in bounds) else "met"

    def ratio(self) -> tuple[str, float] | None:
        """spe_host's median over an anchor's: ``ratio_to`` if measured, else the first."""
        stats = self.spe.stats
        if stats is None:
            return None
        measured = [anchor for anchor in self.anchors if anchor.stats is not None]
        chosen = [anchor for anchor in measured if anchor.label == self.ratio_to] or measured
        if not chosen:
            return None
        reference = chosen[0].stats
        assert reference is not None
        if reference.median <= 0:
            return None
        return chosen[0].label, stats.median / reference.median


@dataclass
class _Progress:
    samples: dict[str, list[float]] = field(default_factory=dict)

    def short_of(self, wanted: int) -> bool:
        return any(len(found) < wanted for found in self.samples.values())


async def interleave(
    sides: Sequence[Side],
    trials: int,
    *,
    block: int = 1,
    budget: float | None = None,
    min_trials: int = 3,
) -> list[Measured]:
    """Run the sides' trials in alternating rounds of ``block`` trials each.

    Args:
        sides: What to measure; their labels must differ.
        trials: The trials wanted per side.
        block: Trials per side per round (several when entering a side is costly).
        budget: Seconds after which no new round starts, once every side has
            ``min_trials`` samples; None runs all ``trials``.
        min_trials: The fewest trials a side gets, whatever the budget.

    Returns:
        One :class:`Measured` per side, in the order given.
    """
    progress = _Progress({side.label: [] for side in sides})
    # A side whose trial raised (an anchor's kernel that stopped answering): reported
    # missing with the error, while the other sides go on, so one broken anchor does
    # not lose its whole group of rows.
    failed: dict[str, str] = {}
    began = time.perf_counter()
    round_ = 0
    while progress.short_of(trials):
        spent = time.perf_counter() - began
        if budget is not None and spent > budget and not progress.short_of(min_trials):
            break
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for side in order:
            if side.label in failed:
                continue
            found = progress.samples[side.label]
            count = min(block, trials - len(found))
            if count <= 0:
                continue
            if side.enter is not None:
                await side.enter()
            try:
                for _ in range(count):
                    found.append(await side.trial())
            except Exception as exc:
                failed[side.label] = (
                    f"its trial failed after {len(found)} samples: {type(exc).__name__}: {exc}"
                )
                del progress.samples[side.label]
            finally:
                if side.leave is not None:
                    await side.leave()
        round_ += 1
    return [
        missing(side.label, failed[side.label])
        if side.label in failed
        else Measured(side.label, tuple(progress.samples[side.label]))
        for side in sides
    ]


def timer() -> Callable[[], float]:
    """A stopwatch: call the result to get the seconds since :func:`timer` was called."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
