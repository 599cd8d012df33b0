"""Executions: modes, errors, tracebacks, output, input, the spe handle (DESIGN.md 5-10)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import trio
import trio.testing
from support.engine import NativeCall, abort_frames, wait_location, wait_until

import spe_host
from spe_host import ExecutionStatus, SessionState

# -- modes -----------------------------------------------------------------------------


async def test_interactive_mode_displays_the_value_and_binds_underscore(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(5):
        result = await host.execute("i", "x = 20\nx * 2 + 2")
        assert result.status is ExecutionStatus.COMPLETED
        assert result.value == "42"
        assert host.session("i").namespace["_"] == 42
        result = await host.execute("i", "_ + 1")
        assert result.value == "43"
        # None is not displayed and does not rebind _ (as in the Python REPL).
        result = await host.execute("i", "None")
        assert result.value is None
        assert host.session("i").namespace["_"] == 43
        # A string shows its repr.
        assert (await host.execute("i", "'a' * 2")).value == "'aa'"
        # An awaited expression is displayed too.
        assert (await host.execute("i", "import trio\nawait trio.sleep(0) or 7")).value == "7"


async def test_script_mode_neither_displays_nor_binds_underscore(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        session = host.start("bg", "x = 20\nx * 2 + 2")
        await host.wait("bg")
        result = host.receive("bg")
        assert result.status is ExecutionStatus.COMPLETED
        assert result.value is None
        assert "_" not in session.namespace
        result = await host.execute("fg", "1 + 1", interactive=False)
        assert result.value is None
        assert "_" not in host.session("fg").namespace


async def test_namespaces_persist_and_are_separate(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("one", "x = 1\ndef f():\n    return x + 1\n")
        assert (await host.execute("one", "f()")).value == "2"
        result = await host.execute("two", "x")
        assert result.status is ExecutionStatus.FAILED
        assert "NameError" in (result.error or "")


async def test_host_namespace_and_args_become_variables() -> None:
    app = {"counter": 41}
    with trio.fail_after(5):
        async with spe_host.open_host(namespace={"app": app}, idle_timeout=None) as host:
            host.start("job", "app['counter'] += bonus", args={"bonus": 1})
            await host.wait("job")
            assert host.receive("job").status is ExecutionStatus.COMPLETED
            assert app["counter"] == 42
            session = host.session("job")
            assert session.namespace["spe"].id == "job"
            assert session.namespace["__name__"] == "__main__"


async def test_top_level_await_async_with_and_async_for(host: spe_host.Host) -> None:
    code = textwrap.dedent(
        """
        import trio
        await trio.sleep(0)
        lock = trio.Lock()
        async with lock:
            held = lock.locked()
        async def gen():
            for i in range(3):
                yield i
        got = [i async for i in gen()]
        async for i in gen():
            last = i
        """
    )
    with trio.fail_after(5):
        result = await host.execute("aw", code)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        ns = host.session("aw").namespace
        assert (ns["held"], ns["got"], ns["last"]) == (True, [0, 1, 2], 2)


async def test_docstrings_and_future_annotations_keep_working(host: spe_host.Host) -> None:
    code = textwrap.dedent(
        '''
        """The module docstring."""
        from __future__ import annotations
        def f(x: NotDefinedAnywhere) -> int:
            """f's docstring."""
            return 1
        class C:
            """C's docstring."""
        '''
    ).lstrip()
    with trio.fail_after(5):
        result = await host.execute("doc", code)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        ns = host.session("doc").namespace
        assert ns["__doc__"] == "The module docstring."
        assert ns["f"].__doc__ == "f's docstring."
        assert ns["C"].__doc__ == "C's docstring."
        assert ns["f"].__annotations__ == {"x": "NotDefinedAnywhere", "return": "int"}


# -- errors and tracebacks ---------------------------------------------------------------


async def test_a_syntax_error_fails_and_leaves_the_session_usable(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute("syn", "x = 1")
        result = await host.execute("syn", "y = (\n")
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        assert "SyntaxError" in result.error
        assert "<session syn #2>" in result.error
        session = host.session("syn")
        assert session.state is SessionState.IDLE
        result = await host.execute("syn", "x + 1")
        assert (result.status, result.value) == (ExecutionStatus.COMPLETED, "2")


async def test_a_reserved_name_fails_with_a_clear_error(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        result = await host.execute("res", "__spe_abort__ = 1")
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        assert "SyntaxError" in result.error
        assert "'__spe_abort__' is reserved" in result.error
        assert "rename it" in result.error
        assert (await host.execute("res", "1 + 1")).value == "2"


def assert_no_engine_frames(error: str) -> None:
    frames = abort_frames(error)
    assert frames
    for filename, _, _ in frames:
        assert "spe_host" not in filename
        assert "trio" not in filename
        assert "outcome" not in filename


async def test_a_traceback_shows_the_scripts_lines_and_no_engine_frames(
    host: spe_host.Host,
) -> None:
    code = "def inner(d):\n    return d['missing']\n\ndef outer():\n    return inner({})\nouter()\n"
    with trio.fail_after(5):
        result = await host.execute("tb", code)
        assert result.status is ExecutionStatus.FAILED
        error = result.error
        assert error is not None
        assert error.startswith("Traceback (most recent call last):\n")
        assert error.rstrip().endswith("KeyError: 'missing'")
        assert abort_frames(error) == [
            ("<session tb #1>", 6, "<module>"),
            ("<session tb #1>", 5, "outer"),
            ("<session tb #1>", 2, "inner"),
        ]
        assert "    return d['missing']" in error  # the source line itself
        assert_no_engine_frames(error)
        # A function defined earlier still shows its lines when a later run calls it.
        result = await host.execute("tb", "outer()")
        assert result.error is not None
        assert "    return d['missing']" in result.error
        assert ("<session tb #1>", 2, "inner") in abort_frames(result.error)


async def test_a_traceback_from_an_awaiting_statement_has_no_engine_frames(
    host: spe_host.Host,
) -> None:
    code = (
        "import trio\n"
        "async def boom():\n"
        "    await trio.sleep(0)\n"
        "    raise ValueError('bad')\n"
        "await boom()\n"
    )
    with trio.fail_after(5):
        result = await host.execute("atb", code)
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        assert abort_frames(result.error) == [
            ("<session atb #1>", 5, "<module>"),
            ("<session atb #1>", 4, "boom"),
        ]
        assert_no_engine_frames(result.error)
        assert "ValueError: bad" in result.error


async def test_a_chained_exception_keeps_both_tracebacks(host: spe_host.Host) -> None:
    code = (
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError as e:\n"
        "    raise RuntimeError('wrapped') from e\n"
    )
    with trio.fail_after(5):
        result = await host.execute("chain", code)
        assert result.error is not None
        assert "ZeroDivisionError" in result.error
        assert "direct cause" in result.error
        assert "RuntimeError: wrapped" in result.error
        assert_no_engine_frames(result.error)


async def test_a_syntax_error_raised_by_the_script_at_run_time_has_its_traceback(
    host: spe_host.Host,
) -> None:
    code = "def parse(text):\n    return compile(text, '<text>', 'eval')\nparse('1 +')\n"
    with trio.fail_after(5):
        result = await host.execute("rt", code)
        assert result.status is ExecutionStatus.FAILED
        assert result.error is not None
        assert "SyntaxError" in result.error
        assert ("<session rt #1>", 2, "parse") in abort_frames(result.error)


async def test_system_exit_fails_the_script_not_the_host(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        result = await host.execute("exit", "raise SystemExit(3)")
        assert result.status is ExecutionStatus.FAILED
        assert "SystemExit" in (result.error or "")
        assert (await host.execute("exit", "1")).value == "1"


async def test_a_script_file_shows_its_path_in_tracebacks_and_location(
    host: spe_host.Host, tmp_path: Path, gate: threading.Event
) -> None:
    script = tmp_path / "job.py"
    script.write_text("x = 1\ngate.wait()\nraise ValueError(x)\n", encoding="utf-8")
    with trio.fail_after(5):
        session = host.start("file", path=script, args={"gate": gate})
        assert await wait_location(session, 2) == f"{script}:2"
        gate.set()
        await host.wait("file")
        result = host.receive("file")
        assert result.status is ExecutionStatus.FAILED
        assert abort_frames(result.error) == [(str(script), 3, "<module>")]
        assert "raise ValueError(x)" in (result.error or "")


# -- location ---------------------------------------------------------------------------


async def test_location_shows_the_running_line_and_none_when_idle(
    host: spe_host.Host, gate: threading.Event
) -> None:
    code = (
        "import trio\nx = 1\ndef wait_here():\n    gate.wait()\nwait_here()\nawait trio.sleep(10)\n"
    )
    with trio.fail_after(5):
        session = host.start("loc", code, args={"gate": gate})
        # Inside a function the script defined: the innermost script line.
        assert await wait_location(session) == "<session loc #1>:4"
        gate.set()
        # In a statement that awaits, running in the trio thread.
        assert await wait_location(session, 6) == "<session loc #1>:6"
        host.stop("loc")
        await host.wait("loc")
        assert session.location is None
        assert session.state is SessionState.IDLE
        await host.execute("loc", "y = 2")
        assert session.location is None


# -- concurrency --------------------------------------------------------------------------


async def test_a_blocking_session_does_not_block_another(
    host: spe_host.Host, gate: threading.Event, native_call: NativeCall
) -> None:
    with trio.fail_after(5):
        a = host.start("a", "x = 0\nnative_call()\nafter = 1\n", args={"native_call": native_call})
        await native_call.wait_entered()
        # A's call returns only when the gate opens, so B's run did not wait for it.
        result = await host.execute("b", "1+1")
        assert (result.status, result.value) == (ExecutionStatus.COMPLETED, "2")
        assert a.state is SessionState.RUNNING
        # The control commands answer too, while A is still blocked.
        assert host.stop("a") == {"a": spe_host.StopOutcome.REQUESTED}
        assert [s.id for s in host.sessions(state="stopping")] == ["a"]
        assert await host.wait("a", timeout=0.01) == []
        # Once the call returns, A's stop lands before its next statement.
        gate.set()
        await host.wait("a")
        assert a.last_status is ExecutionStatus.ABORTED
        assert "after" not in a.namespace


async def test_the_concurrency_limit_queues_executions() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(max_running=1, idle_timeout=None) as host:
            gate = threading.Event()
            first = host.start("first", "gate.wait()", args={"gate": gate})
            await wait_location(first, 1)
            second = host.start("second", "ran = 1")
            await trio.testing.wait_all_tasks_blocked()
            assert second.state is SessionState.RUNNING
            assert "ran" not in second.namespace  # it waits for a thread slot
            gate.set()
            await host.wait("second")
            assert second.namespace["ran"] == 1


async def test_execute_goes_on_when_its_caller_is_cancelled(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        session = host.start("holder", "pass", args={"gate": gate})
        await host.wait("holder")
        with trio.move_on_after(0.05) as scope:
            await host.execute("holder", "gate.wait()\nfinished = 1")
        assert scope.cancelled_caught
        assert session.state is SessionState.RUNNING
        gate.set()
        await host.wait("holder")
        assert session.namespace["finished"] == 1
        assert host.receive("holder").status is ExecutionStatus.COMPLETED


# -- output ---------------------------------------------------------------------------------


async def test_print_goes_to_the_session_and_an_app_thread_to_the_real_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    barrier = threading.Barrier(2, timeout=5)

    def app_thread() -> None:
        barrier.wait()
        for i in range(300):
            print("app", i)

    code = (
        "import sys\n"
        "barrier.wait()\n"
        "for i in range(300):\n"
        "    print('script', i)\n"
        "print('err', file=sys.stderr)\n"
    )
    with trio.fail_after(10):
        async with spe_host.open_host(idle_timeout=None) as host:
            thread = threading.Thread(target=app_thread)
            thread.start()
            host.start("p", code, args={"barrier": barrier})
            await host.wait("p")
            await trio.to_thread.run_sync(thread.join)
            print("host's own print")
            result = host.receive("p")
    captured = capsys.readouterr()
    assert result.output == "".join(f"script {i}\n" for i in range(300)) + "err\n"
    assert captured.out == "".join(f"app {i}\n" for i in range(300)) + "host's own print\n"
    assert "script" not in captured.err
    assert "err" not in captured.err


async def test_subscribers_get_output_as_it_is_written(
    host: spe_host.Host, gate: threading.Event
) -> None:
    code = "print('first')\ngate.wait()\nprint('second')\n"
    with trio.fail_after(5):
        session = host.start("sub", code, args={"gate": gate})
        offset = session.output.end_offset
        seen = ""
        while not seen.endswith("first\n"):
            await session.output.wait_beyond(offset)
            piece = session.output.read(offset)
            seen += piece.text
            offset = piece.end
        assert seen == "first\n"
        assert session.state is SessionState.RUNNING  # streamed while it runs
        gate.set()
        while not seen.endswith("second\n"):
            await session.output.wait_beyond(offset)
            piece = session.output.read(offset)
            assert piece.dropped == 0
            seen += piece.text
            offset = piece.end
        assert seen == "first\nsecond\n"
        await host.wait("sub")
        assert host.receive("sub").output == "first\nsecond\n"


async def test_output_of_trio_tasks_and_threads_the_script_starts_is_routed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = textwrap.dedent(
        """
        import trio
        async def child(i):
            await trio.sleep(0)
            print("child", i)
        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(child, i)
        await trio.to_thread.run_sync(print, "from to_thread")
        print("from an awaiting statement", await trio.to_thread.run_sync(lambda: 5))
        """
    )
    with trio.fail_after(5):
        async with spe_host.open_host(idle_timeout=None) as host:
            result = await host.execute("tasks", code)
    assert result.status is ExecutionStatus.COMPLETED, result.error
    lines = result.output.splitlines()
    assert sorted(lines[:3]) == ["child 0", "child 1", "child 2"]
    assert lines[3:] == ["from to_thread", "from an awaiting statement 5"]
    assert capsys.readouterr().out == ""


async def test_the_output_bound_drops_the_oldest_text_with_a_marker() -> None:
    with trio.fail_after(5):
        async with spe_host.open_host(output_limit=1000, idle_timeout=None) as host:
            result = await host.execute("big", "for i in range(1000):\n    print(f'{i:09d}')\n")
            session = host.session("big")
    total = 10_000
    piece = session.output.read(0)
    assert piece.end == total
    assert piece.dropped == total - len(piece.text.encode())
    assert piece.text.endswith("000000999\n")
    marker = f"[... {piece.dropped} bytes dropped]\n"
    assert result.output == marker + piece.text
    assert len(piece.text) <= 1000


async def test_each_result_holds_only_its_own_output(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        assert (await host.execute("o", "print('one')")).output == "one\n"
        assert (await host.execute("o", "print('two')")).output == "two\n"
        assert host.session("o").output.read(0).text == "one\ntwo\n"


# -- input() ----------------------------------------------------------------------------------


async def test_input_in_a_background_job_raises_eof_with_a_reason(host: spe_host.Host) -> None:
    code = "try:\n    input('name? ')\nexcept EOFError as e:\n    why = str(e)\ninput()\n"
    with trio.fail_after(5):
        session = host.start("bg", code)
        await host.wait("bg")
        result = host.receive("bg")
        why = session.namespace["why"]
        assert "background" in why
        assert "input()" in why
        assert "args=" in why  # says what to do instead
        assert result.status is ExecutionStatus.FAILED
        assert "EOFError" in (result.error or "")


async def test_input_with_a_handler_gets_the_answer(host: spe_host.Host) -> None:
    prompts: list[str] = []

    async def answer(prompt: str) -> str | None:
        prompts.append(prompt)
        await trio.sleep(0)
        return {"colour? ": "blue", "size? ": "large\n"}.get(prompt)

    code = (
        "c = input('colour? ')\n"
        "s = input('size? ')\n"
        "try:\n"
        "    input('other? ')\n"
        "except EOFError:\n"
        "    eof = True\n"
    )
    with trio.fail_after(5):
        result = await host.execute("in", code, input_handler=answer)
        assert result.status is ExecutionStatus.COMPLETED, result.error
        ns = host.session("in").namespace
        assert (ns["c"], ns["s"], ns["eof"]) == ("blue", "large", True)
        assert prompts == ["colour? ", "size? ", "other? "]
        assert result.output == "colour? size? other? "


async def test_the_handler_knows_a_getpass_prompt_is_secret(host: spe_host.Host) -> None:
    asked: list[tuple[str, bool]] = []

    async def answer(prompt: spe_host.InputPrompt) -> str | None:
        asked.append((prompt, prompt.secret))
        return "typed"

    code = "import getpass\nname = input('name? ')\npw = getpass.getpass('pw? ')\n"
    with trio.fail_after(5):
        result = await host.execute("pw", code, input_handler=answer)
    assert result.status is ExecutionStatus.COMPLETED, result.error
    assert asked == [("name? ", False), ("pw? ", True)]
    assert host.session("pw").namespace["pw"] == "typed"


# A child process on a pseudo-terminal: input() in a session must still ask the
# handler, not read the terminal (CPython reads the terminal directly when
# sys.stdin and sys.stdout report the console's file descriptors).
TTY_CHILD = """
import trio, spe_host
async def main():
    async def answer(prompt):
        return "from the handler"
    async with spe_host.open_host() as host:
        with trio.move_on_after(5):
            result = await host.execute("t", "a = input('q? ')", input_handler=answer)
            print("RESULT", result.status, host.session("t").namespace.get("a"), flush=True)
            return
        print("TIMEOUT", flush=True)
        host.stop("t")
trio.run(main)
"""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_input_on_a_terminal_still_asks_the_session() -> None:
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", TTY_CHILD],
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    output = b""
    deadline = time.monotonic() + 20
    try:
        # Read until the child has printed its whole verdict line.
        while time.monotonic() < deadline and not re.search(rb"(RESULT|TIMEOUT)[^\n]*\n", output):
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
    finally:
        process.kill()
        process.wait()
        os.close(main)
    text = output.decode(errors="replace")
    assert "RESULT completed from the handler" in text, text
    assert "q? " not in text  # the prompt went to the session, not the terminal


# -- the spe handle ----------------------------------------------------------------------------


async def test_spe_progress_is_clamped_and_reported(
    host: spe_host.Host, gate: threading.Event
) -> None:
    with trio.fail_after(5):
        session = host.start(
            "prog", "spe.progress(150, 'too far')\ngate.wait()\n", args={"gate": gate}
        )
        await wait_until(lambda: session.progress.percent is not None)
        assert session.progress == spe_host.Progress(100.0, "too far")
        gate.set()
        await host.wait("prog")
        await host.execute("prog", "spe.progress(-5)")
        assert session.progress == spe_host.Progress(0.0, None)
        await host.execute("prog", "spe.progress(42.5, 7)")
        assert session.progress == spe_host.Progress(42.5, "7")
        # A new execution starts with no progress.
        await host.execute("prog", "pass")
        assert session.progress == spe_host.Progress()
        result = await host.execute("prog", "spe.id, spe.stopping, repr(spe)")
        assert result.value == "('prog', False, \"<spe handle of session 'prog'>\")"


async def test_a_progress_report_wakes_watchers(host: spe_host.Host, gate: threading.Event) -> None:
    with trio.fail_after(5):
        session = host.start("w", "gate.wait()\nspe.progress(10, 'working')\n", args={"gate": gate})
        await wait_location(session, 1)
        async with trio.open_nursery() as nursery:

            async def release() -> None:
                await trio.testing.wait_all_tasks_blocked()
                gate.set()

            nursery.start_soon(release)
            while session.progress.percent is None:
                await session.wait_changed()
        assert session.progress == spe_host.Progress(10.0, "working")
