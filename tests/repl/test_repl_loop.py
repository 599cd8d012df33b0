"""The whole prompt loop (``_repl`` with its commands, prompts, follower and Ctrl-C),
driven through prompt_toolkit's pipe input against a real host over a real client
(the ``served`` fixture: :func:`spe_host.testing.open_test_client`).

Scripts are real: a statement prints with ``print``, asks with ``input``, fails by
raising, and blocks in ``native_call()`` until the test sets the ``gate``. What the
REPL sent is checked by its effect on the host where the effect shows it; the code it
sent, the targets it stopped, the offsets it subscribed from and what it answered to
``input()`` are recorded by :class:`Recorded`, a thin proxy in front of the client.
"""

from __future__ import annotations

import os
import signal

import trio
from prompt_toolkit.input import PipeInput
from support.engine import NativeCall, wait_until
from support.repl import Harness, namespace

from spe_host._model import (
    SessionState,
)
from spe_host.repl import Repl
from spe_host.repl._history import history_path, load_mark, mark_path

# --- the REPL loop on a real host -------------------------------------------------------


async def test_statements_run_and_values_show(harness: Harness) -> None:
    await harness.run("x = 41\rx + 1\rprint('hello')\r\x04")
    assert harness.client.executed == [
        ("main", "x = 41"),
        ("main", "x + 1"),
        ("main", "print('hello')"),
    ]
    assert namespace(harness)["x"] == 41
    assert namespace(harness)["_"] == 42
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
    assert callable(namespace(harness)["greet"])
    assert "'hi bob'\n" in harness.text


async def test_errors_are_shown(harness: Harness) -> None:
    await harness.run("raise ZeroDivisionError('x')\r\x04")
    assert "Traceback" in harness.text
    assert "ZeroDivisionError: x\n" in harness.text
    assert harness.host.session("main").info().last_status == "failed"


async def test_ctrl_c_at_the_prompt_clears_the_line(harness: Harness) -> None:
    await harness.run("this is not run\x03x = 2\r\x04")
    assert harness.client.executed == [("main", "x = 2")]
    assert namespace(harness)["x"] == 2


async def test_input_is_answered_inline(harness: Harness) -> None:
    await harness.run("name = input('who? '); print(f'hi {name}')\rbob\r\x04")
    assert harness.client.answers == ["bob"]
    assert namespace(harness)["name"] == "bob"
    assert "hi bob\n" in harness.text


async def test_ctrl_d_at_input_is_end_of_file(harness: Harness) -> None:
    await harness.run("name = input('who? ')\r\x04\x04")
    assert harness.client.answers == [None]
    # The script's input() saw the end of file.
    assert "EOFError" in harness.text
    assert "name" not in namespace(harness)


async def test_meta_commands(harness: Harness, native_call: NativeCall) -> None:
    client = harness.client
    harness.start("etl", "native_call()", name="nightly")
    with trio.fail_after(5):
        await native_call.wait_entered()
    await harness.run("%ls\r%stop etl\r%session other\r%session\r%help\r%bogus\r%detach\r")
    text = harness.text
    assert "SESSION" in text
    assert "nightly" in text
    assert client.stops == [("etl",)]
    assert harness.host.session("etl").state is SessionState.STOPPING
    assert any(line.split() == ["etl", "requested"] for line in text.splitlines())
    assert "switched to session 'other' (new)" in text
    assert "this is session 'other'" in text
    assert "%wait [SESSION ...] [SECONDS]" in text
    assert "unknown command %bogus" in text
    assert "detached from session 'other'" in text


async def test_wait_meta_command(harness: Harness, native_call: NativeCall) -> None:
    harness.start("job", "native_call()")
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        harness.pipe.send_text("%wait job 5\r")
        with trio.fail_after(10):
            await native_call.wait_entered()
            await wait_until(lambda: repl.interrupts.wait_scope is not None)
            native_call.release.set()
            await wait_until(lambda: "completed" in harness.text)
        harness.pipe.send_text("\x04")
    assert "job" in harness.text
    # The background job's run, by its id, as `spe-host receive job#1` names it.
    assert any(line.split()[:3] == ["job", "idle", "job#1"] for line in harness.text.splitlines())
    assert "still running" not in harness.text


async def test_completion_from_the_prompt_thread(harness: Harness) -> None:
    client = harness.client
    await harness.host.execute("main", "my_variable = 42")
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        harness.pipe.send_text("my_v\t")
        # The completion runs in a prompt_toolkit thread that calls back into trio.
        with trio.fail_after(10):
            await wait_until(
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
    await harness.host.execute("main", "pass")
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_until(lambda: client.subscribed and repl.screen.app is not None)
            harness.start("main", "print('background line')")
            await wait_until(lambda: "background line\n" in harness.text)
        harness.pipe.send_text("\x04")
    assert client.executed == []


async def test_a_session_created_meanwhile_streams_at_the_prompt(harness: Harness) -> None:
    client = harness.client
    repl = harness.repl("later")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_until(lambda: repl.screen.app is not None)
            assert client.subscribed == []  # nothing to follow yet
            # `spe-host start later ...` from elsewhere
            harness.start("later", "print('a job started elsewhere')")
            await wait_until(lambda: "a job started elsewhere\n" in harness.text)
        harness.pipe.send_text("\x04")
    assert client.subscribed == [("later", 0)]


async def test_reattach_replays_output_since_you_left(harness: Harness, pipe: PipeInput) -> None:
    client = harness.client
    await harness.run("print('first')\r\x04")
    mark = load_mark(mark_path(harness.state, "testhost", "main"))
    assert mark is not None
    assert mark.offset == len(b"first\n")
    # While nobody is attached, the session prints more.
    await harness.run_elsewhere("main", "print('while you were away')")
    harness.written.clear()
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_until(lambda: "while you were away" in harness.text)
        pipe.send_text("\x04")
    assert client.subscribed[-1] == ("main", len(b"first\n"))
    assert "since you left" in harness.text
    assert "first" not in harness.text


async def test_first_attach_starts_at_the_end_unless_replay(harness: Harness) -> None:
    client = harness.client
    await harness.run_elsewhere("job", "print('old output')")
    await harness.run("\x04", session="job")
    assert client.subscribed[-1] == ("job", len(b"old output\n"))
    assert "old output" not in harness.text
    # With no mark of its own, --replay-all replays what the host holds.
    await harness.run_elsewhere("other", "print('older output')")
    await harness.run("\x04", session="other", replay_all=True)
    assert client.subscribed[-1] == ("other", 0)
    assert "older output" in harness.text


async def test_a_recreated_session_is_not_confused_with_the_old_one(harness: Harness) -> None:
    client = harness.client
    await harness.run_elsewhere("job", "print('old output')")
    await harness.run("\x04", session="job")
    assert client.subscribed[-1] == ("job", len(b"old output\n"))
    # A new session with the same id (recreated) is not confused with the old one.
    first = harness.host.session("job").info().created_at
    await harness.host.remove("job")
    await harness.run_elsewhere("job", "print('old output')")
    assert harness.host.session("job").info().created_at != first
    await harness.run("\x04", session="job", replay_all=True)
    assert client.subscribed[-1] == ("job", 0)
    assert "old output" in harness.text


async def test_sigint_while_running_stops_the_session(harness: Harness) -> None:
    client = harness.client
    repl = harness.repl(handle_signals=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        # Like the Python REPL, a one-line block still waits for a blank line.
        harness.pipe.send_text("while True: pass\r\r")
        with trio.fail_after(10):
            await wait_until(lambda: repl.interrupts.exec_scope is not None)
            await wait_until(lambda: harness.running("main"))
            os.kill(os.getpid(), signal.SIGINT)
            await wait_until(lambda: "was stopped" in harness.text)
        harness.pipe.send_text("1 + 1\r\x04")
    assert client.stops == [("main",)]
    assert harness.host.session("main").info().last_status == "completed"
    text = harness.text
    assert text.index("stop requested") < text.index("ScriptAborted")
    assert "2\n" in text


async def test_interrupts_stop_then_force_then_stop_waiting(
    harness: Harness, native_call: NativeCall
) -> None:
    client = harness.client
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        harness.pipe.send_text("native_call()\r")
        with trio.fail_after(10):
            await wait_until(lambda: repl.interrupts.exec_scope is not None)
            await native_call.wait_entered()
            await repl.interrupts.interrupt()
            # The host pushes what the stop waits for; a live line shows it.
            await wait_until(lambda: "stop pending: blocked in " in harness.text)
            assert "; press Ctrl-C again to force" in harness.text
            await repl.interrupts.interrupt()
            assert "forced: the stop is raised in the session's thread" in harness.text
            await wait_until(lambda: "again to stop waiting" in harness.text)
            await repl.interrupts.interrupt()
            await wait_until(lambda: "stopped waiting" in harness.text)
        harness.pipe.send_text("\x04")
    assert client.stops == [("main",), ("main",)]
    assert client.forced == [False, True]
    # The statement goes on in the session, still inside the call (a force cannot
    # cut it short).
    assert harness.host.session("main").state is SessionState.STOPPING


async def test_busy_session_says_what_to_do_and_keeps_the_line(
    harness: Harness, native_call: NativeCall
) -> None:
    harness.start("main", "native_call()")
    with trio.fail_after(5):
        await native_call.wait_entered()
    repl = harness.repl()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(repl.run)
            harness.pipe.send_text("x = 1\r")
            await wait_until(lambda: "%stop stops the run" in harness.text)
            assert "the line is kept in the prompt" in harness.text
            assert "x" not in namespace(harness)
            # Defect 9: the line waits in the next prompt; once the run is over, Enter runs it.
            native_call.release.set()
            await wait_until(lambda: not harness.running("main"))
            harness.pipe.send_text("\r")
            await wait_until(lambda: "x" in namespace(harness))
            harness.pipe.send_text("\x04")
    assert harness.client.executed == [("main", "x = 1"), ("main", "x = 1")]


async def test_toolbar_shows_host_session_state_and_line(
    harness: Harness, native_call: NativeCall
) -> None:
    # The second run in the session, blocked on its seventh line at 50%.
    await harness.host.execute("etl", "pass")
    harness.start("etl", "spe.progress(50)\n" + "\n" * 5 + "native_call()")
    with trio.fail_after(5):
        await native_call.wait_entered()
    repl = harness.repl("etl")
    [repl.info] = await harness.client.sessions("etl")
    text = "".join(fragment[1] for fragment in repl.prompts.toolbar())
    assert "testhost" in text
    assert "etl" in text
    assert "running" in text
    assert "<session etl #2>:7" in text
    assert "50%" in text


async def test_loop_mode_goes_with_each_statement_and_shows_in_the_toolbar(
    harness: Harness,
) -> None:
    def toolbar(repl: Repl) -> str:
        return "".join(fragment[1] for fragment in repl.prompts.toolbar())

    assert "worker mode" in toolbar(harness.repl())
    repl = await harness.run("%loop on\rimport trio\rtrio.current_time() > 0\r\x04")
    assert harness.client.loops == [True, True]
    assert "True\n" in harness.text
    assert "loop mode: statements run in the app's trio thread" in harness.text
    assert "loop mode" in toolbar(repl)
    await harness.run("%loop off\rtrio.current_time()\r%loop sideways\r\x04", loop=True)
    assert harness.client.loops == [True, True, False]
    assert "spe.run_sync" in harness.text  # the worker's failure names the remedy
    assert "usage: %loop [on|off]" in harness.text
