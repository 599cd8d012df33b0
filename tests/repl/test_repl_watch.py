"""The REPL's toolbar follows the attached session from the host's pushed state changes.

A real host, two real clients over memory streams (``spe_host.testing``): the REPL's,
wrapped in a proxy that records which client methods the REPL calls, and another
client that starts jobs, as ``spe-host start`` from another terminal would. The test
waits for the change on the host itself (``Host.watch``), lets every task settle
(``wait_all_tasks_blocked``), and then the toolbar must already show it: no poll has
had a chance to run, and ``sessions()`` is never called after attaching.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import trio
import trio.testing
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output.vt100 import Vt100_Output
from support.recording import Recording

import spe_host
from spe_host._model import SessionState, StateChange
from spe_host.repl import Repl
from spe_host.repl._client import ReplClient
from spe_host.testing import open_test_client


def gated_job(gate: Path, *, percent: float, message: str) -> str:
    """Code that reports progress, then runs until ``gate`` exists."""
    return (
        "import os, time\n"
        f"spe.progress({percent}, {message!r})\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.01)\n"
    )


def toolbar(repl: Repl) -> str:
    return "".join(text for _, text, *_ in repl.prompts.toolbar())


def make_repl(
    client: Recording,
    pipe: PipeInput,
    state: Path,
    screen: io.StringIO,
    write: Callable[[str], None] = lambda text: None,
) -> Repl:
    # A real terminal output into a buffer, so a redraw of the toolbar can be seen. The
    # toolbar is drawn once the height below the cursor is known: the answer to a
    # cursor position request, typed ahead.
    output = Vt100_Output(screen, lambda: Size(rows=24, columns=160), term="xterm")
    pipe.send_text("\x1b[1;1R")
    return Repl(
        cast(ReplClient, client),
        "main",
        host_label="testhost",
        input=pipe,
        output=output,
        write=write,
        color=False,
        state=state,
        handle_signals=False,
    )


@asynccontextmanager
async def attached(
    pipe: PipeInput,
    state: Path,
    screen: io.StringIO,
    write: Callable[[str], None] = lambda text: None,
) -> AsyncIterator[tuple[spe_host.Host, Recording, spe_host.Client, Repl]]:
    """A real host, a REPL at its prompt on a recorded client, and another client.

    Leaving the block detaches the REPL (Ctrl-D) and waits for it to end.
    """
    async with (
        spe_host.open_host() as host,
        open_test_client(host) as repl_client,
        open_test_client(host) as other,
    ):
        client = Recording(repl_client)
        repl = make_repl(client, pipe, state, screen, write)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(repl.run)
            await at_prompt(repl)
            yield host, client, other, repl
            pipe.send_text("\x04")


async def until(changes: AsyncIterator[StateChange], ok: Callable[[StateChange], bool]) -> None:
    """Read the host's own watch until a change satisfies ``ok``."""
    async for change in changes:
        if ok(change):
            return
    raise AssertionError("the watch ended first")


async def at_prompt(repl: Repl) -> None:
    """Wait until the REPL shows its statement prompt and every task is idle."""
    while repl.screen.app is None or not repl.screen.app.is_running:
        await trio.sleep(0.005)
    await trio.testing.wait_all_tasks_blocked()


async def rendered(screen: io.StringIO, text: str) -> None:
    """Wait until the prompt thread has drawn ``text`` on the terminal."""
    with trio.move_on_after(10):
        while text not in screen.getvalue():
            await trio.sleep(0.005)
    assert text in screen.getvalue(), repr(screen.getvalue()[-3000:])


async def test_the_toolbar_shows_a_job_another_client_started_without_polling(
    pipe: PipeInput, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    screen = io.StringIO()
    with trio.fail_after(20):
        async with attached(pipe, tmp_path, screen) as (host, client, other, repl):
            assert repl.info is None
            assert " new " in toolbar(repl)
            assert client.calls.count("watch") == 1
            client.calls.clear()
            async with host.watch("main") as changes:
                await other.start("main", gated_job(gate, percent=40, message="half way"))
                await until(changes, lambda c: c.session.progress_percent == 40)
                await trio.testing.wait_all_tasks_blocked()
                assert repl.info is not None
                assert repl.info.state == SessionState.RUNNING
                assert " running " in toolbar(repl)
                assert "40% half way" in toolbar(repl)
                # The change was drawn: the prompt was told to redraw.
                await rendered(screen, "40% half way")
                gate.touch()
                await until(changes, lambda c: c.session.state == SessionState.IDLE)
                await trio.testing.wait_all_tasks_blocked()
                assert repl.info.state == SessionState.IDLE
                assert " idle " in toolbar(repl)
                assert "40% half way" not in toolbar(repl)
    assert "sessions" not in client.calls


async def test_switching_session_watches_the_new_one(pipe: PipeInput, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    screen = io.StringIO()
    with trio.fail_after(20):
        async with attached(pipe, tmp_path, screen) as (host, client, other, repl):
            pipe.send_text("%session other\r")
            while repl.session != "other":
                await trio.sleep(0.005)
            await at_prompt(repl)
            assert client.calls.count("watch") == 2
            client.calls.clear()
            async with host.watch() as changes:
                # A job in the session left behind does not reach the toolbar...
                await other.start("main", gated_job(gate, percent=10, message="old"))
                await until(changes, lambda c: c.session.progress_percent == 10)
                await trio.testing.wait_all_tasks_blocked()
                assert repl.info is None
                assert " new " in toolbar(repl)
                # ...one in the session switched to does.
                await other.start("other", gated_job(gate, percent=70, message="new"))
                await until(changes, lambda c: c.session.progress_percent == 70)
                await trio.testing.wait_all_tasks_blocked()
                assert repl.info is not None
                assert repl.info.id == "other"
                assert "70% new" in toolbar(repl)
                gate.touch()
            await host.wait("main", "other")
    assert "sessions" not in client.calls


async def test_a_session_started_elsewhere_streams_and_a_removal_shows(
    pipe: PipeInput, tmp_path: Path
) -> None:
    written: list[str] = []
    with trio.fail_after(20):
        async with attached(pipe, tmp_path, io.StringIO(), written.append) as (
            host,
            client,
            other,
            repl,
        ):
            client.calls.clear()
            async with host.watch("main") as changes:
                await other.start("main", "print('a job started elsewhere')")
                await until(changes, lambda c: c.session.state == SessionState.IDLE)
                while "a job started elsewhere\n" not in "".join(written):
                    await trio.sleep(0.005)
                await other.remove("main")
                await until(changes, lambda c: c.session.state == SessionState.CLOSED)
                await trio.testing.wait_all_tasks_blocked()
                assert repl.info is None
                assert " new " in toolbar(repl)
    assert client.calls.count("subscribe") == 1
    assert "sessions" not in client.calls


async def test_the_toolbar_follows_the_line_a_running_job_is_on(
    pipe: PipeInput, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    code = (
        "import os, time\n"
        f"while not os.path.exists({str(one)!r}):\n"
        "    time.sleep(0.01)\n"
        f"while not os.path.exists({str(two)!r}):\n"
        "    time.sleep(0.01)\n"
    )

    async def shows(line: int) -> None:
        # The host samples the line twice a second for the REPL's watch; the toolbar
        # must show it without the REPL asking for anything.
        while f"#1>:{line}" not in toolbar(repl):
            await trio.sleep(0.005)

    screen = io.StringIO()
    with trio.fail_after(20):
        async with attached(pipe, tmp_path, screen) as (host, client, other, repl):
            client.calls.clear()
            await other.start("main", code)
            await shows(3)
            one.touch()
            await shows(5)
            two.touch()
            await host.wait("main")
    assert "sessions" not in client.calls
