"""The whole prompt loop (``_repl`` with its commands, prompts, follower and Ctrl-C),
driven through prompt_toolkit's pipe input against a fake client (see
``support.cli.FakeClient``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput
from support.cli import FakeClient, Hooks, info, result

from spe_host._model import Completion as WireCompletion
from spe_host.repl import Repl
from spe_host.repl._history import history_path, load_mark, mark_path

# --- the REPL loop with a fake client -----------------------------------------------------


class Harness:
    """A Repl on a FakeClient, fed through a pipe, writing into a string."""

    def __init__(self, pipe: PipeInput, state: Path, client: FakeClient | None = None) -> None:
        self.pipe = pipe
        self.state = state
        self.client = client or FakeClient()
        self.written: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.written)

    def repl(self, session: str = "main", **kwargs: object) -> Repl:
        options: dict[str, object] = {
            "host_label": "testhost",
            "input": self.pipe,
            "output": DummyOutput(),
            "write": self.written.append,
            "color": False,
            "state": self.state,
            "handle_signals": False,
            "poll_interval": 0.05,
        }
        options.update(kwargs)
        return Repl(self.client, session, **options)  # type: ignore[arg-type]

    async def run(self, keys: str, session: str = "main", **kwargs: object) -> Repl:
        repl = self.repl(session, **kwargs)
        self.pipe.send_text(keys)
        with trio.fail_after(10):
            await repl.run()
        return repl


@pytest.fixture
def harness(pipe: PipeInput, tmp_path: Path) -> Harness:
    return Harness(pipe, tmp_path)


async def wait_for(predicate: Callable[[], object]) -> None:
    while not predicate():
        await trio.sleep(0.005)


async def test_statements_run_and_values_show(harness: Harness) -> None:
    await harness.run("x = 41\rx + 1\rprint('hello')\r\x04")
    assert harness.client.executed == [
        ("main", "x = 41"),
        ("main", "x + 1"),
        ("main", "print('hello')"),
    ]
    assert "42\n" in harness.text
    assert "hello\n" in harness.text
    assert "detached from session 'main'" in harness.text
    # History is kept per host and session.
    history = history_path("testhost", "main", harness.state).read_text()
    assert "+x = 41" in history
    assert "+x + 1" in history


async def test_multiline_function_defined_and_called(harness: Harness) -> None:
    await harness.run("def greet(name):\rreturn 'hi ' + name\r\rgreet('bob')\r\x04")
    assert harness.client.executed[0] == ("main", "def greet(name):\n    return 'hi ' + name")
    assert "'hi bob'\n" in harness.text


async def test_errors_are_shown(harness: Harness) -> None:
    async def boom(hooks: Hooks) -> object:
        return result(hooks.session, "failed", error="Traceback ...\nZeroDivisionError: x")

    harness.client.handlers["1/0"] = boom
    await harness.run("1/0\r\x04")
    assert "ZeroDivisionError: x\n" in harness.text


async def test_ctrl_c_at_the_prompt_clears_the_line(harness: Harness) -> None:
    await harness.run("this is not run\x03x = 2\r\x04")
    assert harness.client.executed == [("main", "x = 2")]


async def test_input_is_answered_inline(harness: Harness) -> None:
    async def ask(hooks: Hooks) -> object:
        assert hooks.on_input is not None
        name = await hooks.on_input("who? ")
        hooks.print(f"hi {name}\n")
        return result(hooks.session)

    harness.client.handlers["ask()"] = ask
    await harness.run("ask()\rbob\r\x04")
    assert "hi bob\n" in harness.text


async def test_ctrl_d_at_input_is_end_of_file(harness: Harness) -> None:
    answers = []

    async def ask(hooks: Hooks) -> object:
        assert hooks.on_input is not None
        answers.append(await hooks.on_input("who? "))
        return result(hooks.session)

    harness.client.handlers["ask()"] = ask
    await harness.run("ask()\r\x04\x04")
    assert answers == [None]


async def test_meta_commands(harness: Harness) -> None:
    client = harness.client
    client.ensure("etl")
    client.infos["etl"] = info("etl", state="running", name="nightly")
    await harness.run("%ls\r%stop etl\r%session other\r%session\r%help\r%bogus\r%detach\r")
    text = harness.text
    assert "SESSION" in text
    assert "nightly" in text
    assert client.stops == [("etl",)]
    assert any(line.split() == ["etl", "requested"] for line in text.splitlines())
    assert "switched to session 'other' (new)" in text
    assert "this is session 'other'" in text
    assert "%wait [SESSION ...] [SECONDS]" in text
    assert "unknown command %bogus" in text
    assert "detached from session 'other'" in text


async def test_wait_meta_command(harness: Harness) -> None:
    client = harness.client
    client.ensure("job")
    client.infos["job"] = info("job", state="running")
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        harness.pipe.send_text("%wait job 5\r")
        with trio.fail_after(10):
            await wait_for(lambda: repl.interrupts.wait_scope is not None)
            client.infos["job"] = info("job", state="idle", last_status="completed")
            client._notify()
            await wait_for(lambda: "completed" in harness.text)
        harness.pipe.send_text("\x04")
    assert "job" in harness.text


async def test_completion_from_the_prompt_thread(harness: Harness) -> None:
    client = harness.client
    client.completions = [
        WireCompletion(text="my_variable", start=0, display="my_variable", kind="statement")
    ]
    client.ensure("main")
    client.namespaces["main"] = {"my_variable": 42}
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        harness.pipe.send_text("my_v\t")
        # The completion runs in a prompt_toolkit thread that calls back into trio.
        with trio.fail_after(10):
            await wait_for(
                lambda: (
                    repl.prompts.main is not None
                    and repl.prompts.main.default_buffer.text == "my_variable"
                )
            )
        harness.pipe.send_text("\r\x04")
    assert client.completed == [("main", "my_v", 4)]
    assert client.executed == [("main", "my_variable")]
    assert "42\n" in harness.text


async def test_output_while_at_the_prompt_shows_above_it(harness: Harness) -> None:
    client = harness.client
    client.ensure("main")
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_for(lambda: client.subscribed and repl.screen.app is not None)
            client.emit("main", "background line\n", None)
            await wait_for(lambda: "background line\n" in harness.text)
        harness.pipe.send_text("\x04")


async def test_a_session_created_meanwhile_streams_at_the_prompt(harness: Harness) -> None:
    client = harness.client
    repl = harness.repl("later")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_for(lambda: repl.screen.app is not None)
            assert client.subscribed == []  # nothing to follow yet
            client.ensure("later")  # `spe-host start later ...` from elsewhere
            client.emit("later", "a job started elsewhere\n", None)
            await wait_for(lambda: "a job started elsewhere\n" in harness.text)
        harness.pipe.send_text("\x04")
    assert client.subscribed == [("later", 0)]


async def test_reattach_replays_output_since_you_left(harness: Harness, pipe: PipeInput) -> None:
    client = harness.client
    await harness.run("print('first')\r\x04")
    mark = load_mark(mark_path(harness.state, "testhost", "main"))
    assert mark is not None
    assert mark.offset == len(b"first\n")
    # While nobody is attached, the session prints more.
    client.emit("main", "while you were away\n", None)
    harness.written.clear()
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_for(lambda: "while you were away" in harness.text)
        pipe.send_text("\x04")
    assert client.subscribed[-1] == ("main", len(b"first\n"))
    assert "since you left" in harness.text
    assert "first" not in harness.text


async def test_first_attach_starts_at_the_end_unless_replay(harness: Harness) -> None:
    client = harness.client
    client.ensure("job")
    client.emit("job", "old output\n", None)
    await harness.run("\x04", session="job")
    assert client.subscribed[-1] == ("job", len(b"old output\n"))
    assert "old output" not in harness.text
    # A new session id with the same name (recreated) is not confused with the old one.
    client.infos["job"] = info("job", created_at=5.0, output_offset=len(b"old output\n"))
    await harness.run("\x04", session="job", replay_all=True)
    assert client.subscribed[-1] == ("job", 0)
    assert "old output" in harness.text


async def test_sigint_while_running_stops_the_session(harness: Harness) -> None:
    client = harness.client
    release = trio.Event()

    async def loop(hooks: Hooks) -> object:
        await release.wait()
        return result(hooks.session, "aborted", error="ScriptAborted: session 'main' was stopped")

    async def stop(*targets: str) -> dict[str, str]:
        client.stops.append(targets)
        release.set()
        return dict.fromkeys(targets, "requested")

    client.handlers["while True: pass"] = loop
    client.stop = stop  # type: ignore[method-assign]
    repl = harness.repl(handle_signals=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        # Like the Python REPL, a one-line block still waits for a blank line.
        harness.pipe.send_text("while True: pass\r\r")
        with trio.fail_after(10):
            await wait_for(lambda: repl.interrupts.exec_scope is not None)
            os.kill(os.getpid(), signal.SIGINT)
            await wait_for(lambda: "was stopped" in harness.text)
        harness.pipe.send_text("1 + 1\r\x04")
    assert client.stops == [("main",)]
    text = harness.text
    assert text.index("stop requested") < text.index("ScriptAborted")
    assert "2\n" in text


async def test_third_interrupt_stops_waiting(harness: Harness) -> None:
    client = harness.client
    never = trio.Event()

    async def stuck(hooks: Hooks) -> object:
        await never.wait()
        raise AssertionError("unreachable")

    client.handlers["stuck()"] = stuck
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        harness.pipe.send_text("stuck()\r")
        with trio.fail_after(10):
            await wait_for(lambda: repl.interrupts.exec_scope is not None)
            await repl.interrupts.interrupt()
            await repl.interrupts.interrupt()
            assert "still stopping" in harness.text
            await repl.interrupts.interrupt()
            await wait_for(lambda: "stopped waiting" in harness.text)
        harness.pipe.send_text("\x04")
    assert client.stops == [("main",)]


async def test_busy_session_says_what_to_do(harness: Harness) -> None:
    from spe_host._errors import SessionBusy

    async def busy(hooks: Hooks) -> object:
        raise SessionBusy("session 'main' is running; wait for it or stop it")

    harness.client.handlers["x = 1"] = busy
    await harness.run("x = 1\r\x04")
    assert "%stop stops it" in harness.text


def test_toolbar_shows_host_session_state_and_line(harness: Harness) -> None:
    repl = harness.repl("etl")
    repl.info = info("etl", state="running", location="<session etl #2>:7", progress_percent=50.0)
    text = "".join(fragment[1] for fragment in repl.prompts.toolbar())
    assert "testhost" in text
    assert "etl" in text
    assert "running" in text
    assert "<session etl #2>:7" in text
    assert "50%" in text
