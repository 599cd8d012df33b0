"""The REPL without a server: continuation, indentation, lexer, completer, key bindings,
and the whole prompt loop driven through prompt_toolkit's pipe input against a fake
client (see ``_support_cli.FakeClient``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput
from support.cli import FakeClient, Hooks, info, result

from spe_host._model import Completion as WireCompletion
from spe_host.repl._repl import (
    RemoteCompleter,
    Repl,
    _load_mark,
    _mark_path,
    format_age,
    format_sessions,
    format_table,
    history_path,
    indent_for_next_line,
    make_lexer,
    needs_more_input,
    python_key_bindings,
)

# --- continuation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "more"),
    [
        ("", False),
        ("x = 1", False),
        ("def f():", True),
        ("def f():\n    return 1", True),
        ("def f():\n    return 1\n", False),  # a blank line ends the block
        ("for i in range(3):\n    print(i)\n    ", False),  # whitespace-only last line
        ("if x:\n    pass\nelse:", True),
        ("class A:\n    x = 1\n\n    y = 2", True),  # a pasted blank line inside
        ("(1,", True),
        ("x = [\n1,\n2]", False),
        ("'''doc", True),
        ("@decorator", True),
        ("x = 1 \\", True),
        ("await trio.sleep(1)", False),  # top-level await is a complete statement
        ("async with lock:", True),
        ("x = )", False),  # a syntax error is sent, so the host reports it
        ("x = 1\ny = 2", False),  # several statements, pasted
        ("%ls", False),
        ("%stop etl", False),
    ],
)
def test_needs_more_input(text: str, more: bool) -> None:
    assert needs_more_input(text) is more


@pytest.mark.parametrize(
    ("before", "indent"),
    [
        ("x = 1", ""),
        ("def f():", "    "),
        ("    if x:", "        "),
        ("    if x:  # comment", "        "),
        ("        return x", "    "),
        ("    pass", ""),
        ("    y = 2", "    "),
        ("for i in range(3):\n    print(i)", "    "),
    ],
)
def test_indent_for_next_line(before: str, indent: str) -> None:
    assert indent_for_next_line(before) == indent


# --- lexer, tables ------------------------------------------------------------------------


def test_lexer_highlights_python() -> None:
    get_line = make_lexer().lex_document(Document('def f(x):\n    return "hi"'))
    first = get_line(0)
    assert ("class:pygments.keyword", "def") in first
    assert any("name.function" in style and text == "f" for style, text in first)
    assert any("string" in style for style, _ in get_line(1))


def test_format_table_aligns_columns() -> None:
    text = format_table(["A", "LONGER"], [["x", "1"], ["yyyy", "22"]])
    assert text.splitlines() == ["A     LONGER", "x     1", "yyyy  22"]


def test_format_sessions_and_age() -> None:
    rows = [
        info(
            "etl",
            name="nightly",
            state="running",
            progress_percent=42.0,
            progress_message="loading",
            location="<session etl #1>:3",
            created_at=0.0,
        ),
        info("idle-one", last_status="completed", created_at=3600 * 5 - 30),
    ]
    lines = format_sessions(rows, now=3600 * 5).splitlines()
    assert lines[0].split() == ["SESSION", "STATE", "JOB", "PROGRESS", "LOCATION", "LAST", "AGE"]
    assert "42% loading" in lines[1]
    assert "<session etl #1>:3" in lines[1]
    assert lines[1].endswith("5h")
    assert lines[2].split()[:2] == ["idle-one", "idle"]
    assert lines[2].endswith("30s")
    assert [format_age(s) for s in (0, 59, 60, 7200, 86400 * 3)] == ["0s", "59s", "1m", "2h", "3d"]


# --- completer ----------------------------------------------------------------------------


def _complete(completer: RemoteCompleter, text: str, cursor: int | None = None) -> list:
    document = Document(text, len(text) if cursor is None else cursor)
    return list(completer.get_completions(document, CompleteEvent(completion_requested=True)))


def test_completer_maps_wire_completions() -> None:
    calls = []

    def fetch(text: str, cursor: int) -> list[WireCompletion]:
        calls.append((text, cursor))
        return [
            WireCompletion(text="my_variable", start=4, display="my_variable", kind="statement"),
            WireCompletion(text="my_function", start=4, display="my_function()", kind="function"),
            WireCompletion(text="bogus", start=99, display="bogus", kind="x"),  # past cursor
        ]

    items = _complete(RemoteCompleter(fetch), "x = my_")
    assert calls == [("x = my_", 7)]
    assert [(c.text, c.start_position, c.display_text, c.display_meta_text) for c in items] == [
        ("my_variable", -3, "my_variable", "statement"),
        ("my_function", -3, "my_function()", "function"),
    ]


def test_completer_survives_errors() -> None:
    def fetch(text: str, cursor: int) -> list[WireCompletion]:
        raise ConnectionError("gone")

    assert _complete(RemoteCompleter(fetch), "pri") == []


def test_completer_meta_commands_locally() -> None:
    def fetch(text: str, cursor: int) -> list[WireCompletion]:
        raise AssertionError("meta-commands are not sent to the host")

    completer = RemoteCompleter(fetch, lambda: ["etl", "etl-2", "report"])
    assert [c.text for c in _complete(completer, "%s")] == ["%stop", "%session"]
    assert [c.text for c in _complete(completer, "%session et")] == ["etl", "etl-2"]
    assert [c.text for c in _complete(completer, "%stop ")] == ["etl", "etl-2", "report"]
    assert _complete(completer, "%ls et") == []


# --- key bindings through a real PromptSession --------------------------------------------


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe_input:
        yield pipe_input


def _prompt(pipe: PipeInput, keys: str) -> str:
    session: PromptSession[str] = PromptSession(
        multiline=True,
        key_bindings=python_key_bindings(),
        input=pipe,
        output=DummyOutput(),
    )
    pipe.send_text(keys)
    return session.prompt()


def test_enter_runs_a_complete_statement(pipe: PipeInput) -> None:
    assert _prompt(pipe, "x = 1\r") == "x = 1"


def test_enter_continues_and_auto_indents(pipe: PipeInput) -> None:
    # No spaces typed: the body is indented, `return` dedents, the blank line ends it.
    assert _prompt(pipe, "def f(x):\rif x:\rreturn 1\rreturn 2\r\r") == (
        "def f(x):\n    if x:\n        return 1\n    return 2\n"
    )


def test_enter_inside_brackets_continues(pipe: PipeInput) -> None:
    assert _prompt(pipe, "(1,\r2)\r") == "(1,\n2)"


def test_tab_and_backspace_in_indentation(pipe: PipeInput) -> None:
    # Tab at the start of a line indents; Backspace removes a whole level.
    assert _prompt(pipe, "if 1:\r\t\x7fpass\r\r") == "if 1:\n    pass\n"


def test_escape_enter_runs_as_is(pipe: PipeInput) -> None:
    assert _prompt(pipe, "def f():\x1b\r") == "def f():"


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
            await wait_for(lambda: repl._wait_scope is not None)
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
                    repl._prompt_session is not None
                    and repl._prompt_session.default_buffer.text == "my_variable"
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
            await wait_for(lambda: client.subscribed and repl._screen.app is not None)
            client.emit("main", "background line\n", None)
            await wait_for(lambda: "background line\n" in harness.text)
        harness.pipe.send_text("\x04")


async def test_a_session_created_meanwhile_streams_at_the_prompt(harness: Harness) -> None:
    client = harness.client
    repl = harness.repl("later")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_for(lambda: repl._screen.app is not None)
            assert client.subscribed == []  # nothing to follow yet
            client.ensure("later")  # `spe-host start later ...` from elsewhere
            client.emit("later", "a job started elsewhere\n", None)
            await wait_for(lambda: "a job started elsewhere\n" in harness.text)
        harness.pipe.send_text("\x04")
    assert client.subscribed == [("later", 0)]


async def test_reattach_replays_output_since_you_left(harness: Harness, pipe: PipeInput) -> None:
    client = harness.client
    await harness.run("print('first')\r\x04")
    mark = _load_mark(_mark_path(harness.state, "testhost", "main"))
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
            await wait_for(lambda: repl._exec_scope is not None)
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
            await wait_for(lambda: repl._exec_scope is not None)
            await repl._interrupt()
            await repl._interrupt()
            assert "still stopping" in harness.text
            await repl._interrupt()
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
    repl._info = info("etl", state="running", location="<session etl #2>:7", progress_percent=50.0)
    text = "".join(fragment[1] for fragment in repl._toolbar())
    assert "testhost" in text
    assert "etl" in text
    assert "running" in text
    assert "<session etl #2>:7" in text
    assert "50%" in text
