"""The benchmark's interleaving: an anchor whose trial breaks mid-run is reported
missing with its error, and the other sides of its figure are still measured."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _harness import Side, interleave


async def test_a_side_whose_trial_raises_is_missing_and_the_others_go_on() -> None:
    calls = {"ok": 0, "broken": 0}

    async def ok() -> float:
        calls["ok"] += 1
        return 0.001

    async def broken() -> float:
        calls["broken"] += 1
        if calls["broken"] > 2:
            raise TimeoutError("the kernel did not answer")
        return 0.002

    with trio.fail_after(5):
        good, bad = await interleave([Side("spe_host", ok), Side("anchor", broken)], trials=5)
    assert good.samples == (0.001,) * 5
    assert bad.stats is None
    assert bad.missing == (
        "its trial failed after 2 samples: TimeoutError: the kernel did not answer"
    )
    assert calls["broken"] == 3  # not tried again after it broke
