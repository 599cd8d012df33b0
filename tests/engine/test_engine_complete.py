"""Completion in a session's live namespace (``complete`` and ``Host.complete``)."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
import trio
from support.engine import wait_until

import spe_host
from spe_host import SessionNotFound
from spe_host._model import Completion
from spe_host.engine import _complete, complete


@pytest.fixture(params=["jedi", "rlcompleter"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "rlcompleter":
        monkeypatch.setitem(sys.modules, "jedi", None)  # `import jedi` now fails
    return str(request.param)


async def test_names_of_the_live_namespace_are_completed(host: spe_host.Host, backend: str) -> None:
    with trio.fail_after(30):
        await host.execute(
            "s", "alpha_value = 1\nclass Thing:\n    def method_one(self): pass\nthing = Thing()"
        )
        found = await host.complete("s", "alpha_v", 7)
        assert [(c.text, c.start) for c in found] == [("alpha_value", 0)]
        found = await host.complete("s", "x = thing.method_o + 1", 18)
        assert [(c.text, c.start, c.kind) for c in found] == [("method_one", 10, "function")]
        # spe_host's own names are never offered.
        names = [c.text for c in await host.complete("s", "__sp", 4)]
        assert not [name for name in names if name.startswith("__spe_")]
        assert await host.complete("s", "zzz_nothing", 11) == []


async def test_completing_is_using_the_session(host: spe_host.Host) -> None:
    with trio.fail_after(30):
        await host.execute("s", "pass")
        session = host.session("s")
        before = session.idle_since()
        await trio.sleep(0.01)
        await host.complete("s", "pa", 2)
        assert session.idle_since() > before


async def test_bad_targets_and_cursors_are_refused(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("s", "pass")
        with pytest.raises(SessionNotFound):
            await host.complete("nope", "x", 1)
        with pytest.raises(ValueError, match="outside the text"):
            await host.complete("s", "ab", 3)
        with pytest.raises(ValueError, match="outside the text"):
            await host.complete("s", "ab", -1)


class Stuck:
    """An object whose attributes cannot be listed until ``release`` is set."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def __dir__(self) -> list[str]:
        self.release.wait()
        return ["attribute"]


async def test_a_completion_that_takes_too_long_answers_nothing(
    host: spe_host.Host,
    gate: threading.Event,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "jedi", None)  # rlcompleter calls dir() at once
    caplog.set_level(logging.WARNING, logger="spe_host")
    with trio.fail_after(5):
        await host.execute("s", "pass")
        session = host.session("s")
        session.namespace["stuck"] = Stuck(gate)
        limiter = trio.CapacityLimiter(1)
        found = await complete(session, "stuck.a", 7, limiter=limiter, timeout=0.05)
        assert found == []
        assert "completion in session 's' took longer than 0.05 s" in caplog.text
        # The abandoned thread still holds its slot: stuck completions cannot pile up.
        assert limiter.borrowed_tokens == 1
        gate.set()
        await wait_until(lambda: limiter.borrowed_tokens == 0)


def test_candidates_are_offered_once_and_at_most_a_thousand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def twice(namespace: object, text: str, cursor: int) -> list[Completion]:
        names = [f"v{i:04d}" for i in range(1500)] + ["__spe_abort__"]
        return [Completion(text=n, start=0, display=n, kind="name") for n in names * 2]

    monkeypatch.setattr(_complete, "_jedi_completions", twice)
    found = _complete._completions({}, "v", 1)
    assert len(found) == 1000
    assert [c.text for c in found] == [f"v{i:04d}" for i in range(1000)]

    few = [f"w{i}" for i in range(3)]
    monkeypatch.setattr(
        _complete,
        "_jedi_completions",
        lambda namespace, text, cursor: [
            Completion(text=n, start=0, display=n, kind="name") for n in few + few
        ],
    )
    assert [c.text for c in _complete._completions({}, "w", 1)] == few


def test_a_failing_jedi_falls_back_to_rlcompleter(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(namespace: object, text: str, cursor: int) -> list[Completion]:
        raise RuntimeError("jedi broke")

    monkeypatch.setattr(_complete, "_jedi_completions", broken)
    found = _complete._completions({"gamma_ray": 1}, "gamma_", 6)
    assert [(c.text, c.start, c.kind) for c in found] == [("gamma_ray", 0, "name")]
