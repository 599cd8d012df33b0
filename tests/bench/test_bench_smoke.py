"""The benchmark's smoke test: every row of bench/compare.py runs at tiny sizes.

It asserts that each row produces numbers - never how fast they are - and that an
anchor that cannot run is reported as missing with a reason, not dropped. Jupyter is
left out with ``--without`` (a kernel start costs seconds, and CI does not install the
``bench`` extra); aioconsole runs when it is installed and is reported missing when not.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

COMPARE = Path(__file__).resolve().parents[2] / "bench" / "compare.py"

#: Every figure of the issue's table, by the start of its name, with its anchors.
EXPECTED = {
    "exec `1+1` round trip, another process, unix": {
        "Jupyter",
        "aioconsole",
        "trio echo floor",
        "echo + thread hop",
    },
    "exec `1+1` round trip, another process, tcp": {
        "Jupyter",
        "aioconsole",
        "trio echo floor",
        "echo + thread hop",
    },
    "stop a CPU-bound": {"Jupyter interrupt", "echo while a thread spins"},
    "stop `await trio.sleep(100)`": {"Jupyter interrupt", "trio floor cancel"},
    "switch interval 0.5 ms (serve's): two CPU-bound jobs": {
        "switch interval 5 ms (Python's default)"
    },
    "switch interval 0.5 ms (serve's): stop a CPU-bound": {
        "switch interval 5 ms (Python's default)"
    },
    "creating sessions": {"the first 2"},
    "`1+1` in a fresh session while": {"with 1 session"},
    "`ls` with 20 sessions": {"raw trio + json.loads"},
    "`ls` p99, 3 clients busy": {"ls, clients idle"},
    "`ls` while 2 sessions spin": {"ls, 2 idle sessions", "empty ls, same load"},
    "`1+1` in session B while A spins": {"B, A idle"},
    "1,000 x 80-char lines": {"plain print to /dev/null"},
    "abort-check overhead: arith loop": {"plain exec", "settrace"},
    "abort-check overhead: recursive fib": {"plain exec", "settrace"},
    "abort-check overhead: Fraction": {"plain exec", "settrace"},
    "`spe-host serve` start": {"trio floor", "import trio", "Jupyter kernel"},
    "journal on: exec `1+1` round trip": {"journal off"},
    "journal on: 1,000 x 80-char lines": {"journal off"},
    "`spe-host ls` wall time": {"python -c 'import trio'"},
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    figures, markdown = out / "figures.json", out / "performance.md"
    command = [sys.executable, str(COMPARE), "--smoke", "--quiet", "--without", "jupyter"]
    command += ["--json", str(figures), "--output", str(markdown)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(figures.read_text()), markdown.read_text()


def _numbers(stats: dict[str, float]) -> None:
    assert stats["n"] >= 1
    for key in ("min", "median", "p99", "mean"):
        assert math.isfinite(stats[key])
        assert stats[key] >= 0
    assert stats["min"] <= stats["median"] <= stats["p99"]


def test_every_row_is_there_once(smoke: tuple[dict[str, Any], str]) -> None:
    data, _ = smoke
    assert data["failures"] == []
    names = [figure["name"] for figure in data["figures"]]
    for start in EXPECTED:
        assert sum(name.startswith(start) for name in names) == 1, (start, names)
    assert len(names) == len(EXPECTED)


def test_every_row_produces_numbers(smoke: tuple[dict[str, Any], str]) -> None:
    data, _ = smoke
    for figure in data["figures"]:
        assert figure["spe_host"]["missing"] is None, figure["name"]
        _numbers(figure["spe_host"]["stats"])
        assert figure["verdict"] in {"met", "not met", "?"}
        assert figure["goal"]


def test_anchors_are_measured_or_reported_missing(smoke: tuple[dict[str, Any], str]) -> None:
    data, _ = smoke
    has_aioconsole = importlib.util.find_spec("aioconsole") is not None
    for figure in data["figures"]:
        start = next(key for key in EXPECTED if figure["name"].startswith(key))
        anchors = {anchor["label"]: anchor for anchor in figure["anchors"]}
        assert set(anchors) == EXPECTED[start], figure["name"]
        for label, anchor in anchors.items():
            if label.startswith("Jupyter"):
                assert anchor["missing"] == "left out by --without jupyter"
                assert anchor["stats"] is None
            elif label == "aioconsole" and not has_aioconsole:
                assert "aioconsole not installed" in anchor["missing"]
            else:
                assert anchor["missing"] is None, (figure["name"], label)
                _numbers(anchor["stats"])


def test_the_document_has_the_facts_and_the_table(smoke: tuple[dict[str, Any], str]) -> None:
    data, markdown = smoke
    for fact in ("cores", "python", "trio", "switch interval", "serve switch interval"):
        assert f"| {fact} | {data['facts'][fact]} |" in markdown
    assert "| figure | spe_host min / median / p99 |" in markdown
    for figure in data["figures"]:
        assert figure["name"] in markdown
