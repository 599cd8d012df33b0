"""Completion in a session's live namespace (``complete`` and ``Host.complete``)."""

from __future__ import annotations

import logging
import sys
import threading
from functools import partial

import pytest
import trio
from support.engine import wait_until

import spe_host
from spe_host import SessionNotFound
from spe_host._model import Completion
from spe_host.engine import _complete, complete


@pytest.fixture(params=["jedi", "without jedi"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "without jedi":
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
        # Before its first statement a session completes from the host's names (#14),
        # and is not created by it.
        assert await host.complete("nope", "zzz_nothing", 11) == []
        assert not host.sessions("nope")
        with pytest.raises(SessionNotFound):
            await host.complete("no/pe", "x", 1)
        with pytest.raises(ValueError, match="outside the text"):
            await host.complete("s", "ab", 3)
        with pytest.raises(ValueError, match="outside the text"):
            await host.complete("s", "ab", -1)


class Recorder:
    """An object every hook of which records that completion ran it."""

    calls: list[str] = []

    @property
    def prop(self) -> int:
        Recorder.calls.append("property")
        return 1

    def __getattr__(self, name: str) -> int:
        Recorder.calls.append(f"__getattr__({name})")
        return 2

    def __dir__(self) -> list[str]:
        Recorder.calls.append("__dir__")
        return ["listed"]

    def method(self) -> None:
        """A method, offered as a function."""


class Intercepted:
    def __getattribute__(self, name: str) -> object:
        Recorder.calls.append(f"__getattribute__({name})")
        return object.__getattribute__(self, name)


class Descriptor:
    def __get__(self, obj: object, owner: type | None = None) -> int:
        Recorder.calls.append("__get__")
        return 3


class Holder:
    value = Descriptor()


async def test_completion_never_runs_the_scripts_code(host: spe_host.Host, backend: str) -> None:
    with trio.fail_after(30):
        await host.execute("s", "import os")
        session = host.session("s")
        session.namespace.update(rec=Recorder(), holder=Holder(), seen=Intercepted())
        Recorder.calls.clear()
        for text in [
            "rec.prop.",
            "rec.",
            "rec.missing.",
            "holder.value.",
            "(rec).",
            "rec.prop.r",
            "seen.",
            "se",
            "(seen).x",
        ]:
            await host.complete("s", text, len(text))
        assert Recorder.calls == []
        names = {(c.text, c.kind) for c in await host.complete("s", "rec.", 4)}
        assert {("prop", "name"), ("method", "function")} <= names
        assert ("path", "module") in {
            (c.text, c.kind) for c in await host.complete("s", "os.pa", 5)
        }
        assert Recorder.calls == []


async def test_slow_completions_in_one_session_do_not_stop_another(
    host: spe_host.Host,
    gate: threading.Event,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered: list[str] = []
    real = _complete._completions

    def slow_in_a(namespace: dict[str, object], text: str, cursor: int) -> list[Completion]:
        entered.append(text)
        if text.startswith("slow"):
            gate.wait()
        return real(namespace, text, cursor)

    monkeypatch.setattr(_complete, "_completions", slow_in_a)
    caplog.set_level(logging.WARNING, logger="spe_host")
    slots = host._completion_limiter
    with trio.fail_after(5):
        await host.execute("a", "pass")
        await host.execute("b", "beta_value = 1")
        a, b = host.session("a"), host.session("b")
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(partial(complete, a, "slow.x", 6, limiter=slots, timeout=0.2))
        assert "completion in session 'a' took longer than 0.2 s" in caplog.text
        # One thread for session a, however many asked; it is abandoned, not counted.
        assert entered == ["slow.x"]
        assert slots.busy("a")
        found = await complete(b, "beta_v", 6, limiter=slots, timeout=2)
        assert [c.text for c in found] == ["beta_value"]
        gate.set()
        await wait_until(lambda: not slots.busy("a"))
        assert [c.text for c in await complete(a, "pas", 3, limiter=slots)] == ["pass"]


def test_candidates_are_offered_once_and_at_most_a_thousand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def twice(namespace: object, word: str, cursor: int) -> list[Completion]:
        names = [f"v{i:04d}" for i in range(1500)] + ["__spe_abort__"]
        return [Completion(text=n, start=0, display=n, kind="name") for n in names * 2]

    monkeypatch.setattr(_complete, "_static_completions", twice)
    found = _complete._completions({}, "v", 1)
    assert len(found) == 1000
    assert [c.text for c in found] == [f"v{i:04d}" for i in range(1000)]

    few = [f"w{i}" for i in range(3)]
    monkeypatch.setattr(
        _complete,
        "_static_completions",
        lambda namespace, word, cursor: [
            Completion(text=n, start=0, display=n, kind="name") for n in few + few
        ],
    )
    assert [c.text for c in _complete._completions({}, "w", 1)] == few


def test_a_failing_jedi_answers_no_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(namespace: object, text: str, cursor: int) -> list[Completion]:
        raise RuntimeError("jedi broke")

    monkeypatch.setattr(_complete, "_jedi_completions", broken)
    assert _complete._completions({"gamma_ray": 1}, "'x'.up", 6) == []
    found = _complete._completions({"gamma_ray": 1}, "gamma_", 6)
    assert [(c.text, c.start, c.kind) for c in found] == [("gamma_ray", 0, "name")]
