"""What the REPL does with a line beyond plain Python, and with what a host sends back.

IPython's commands (``%time``, ``%timeit``, ``%who``, ``%history``, ``%run``, ``obj?``,
``obj??``), ``exit()``, paste mode, a value over the frame limit, and the end of a run
the REPL did not start (issue #14), through the same harness as ``test_repl_loop``: a
real host, a real client, keys through a prompt_toolkit pipe.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from prompt_toolkit.input import PipeInput
from prompt_toolkit.output import DummyOutput
from support.engine import wait_until
from support.repl import Harness, namespace

import spe_host
from spe_host.repl import Repl
from spe_host.repl._display import format_value
from spe_host.repl._signature import hint_text, local_signature
from spe_host.repl._style import make_style
from spe_host.testing import open_test_client

F2 = "\x1bOQ"
F6 = "\x1b[17~"


async def test_exit_and_quit_detach_like_ctrl_d(harness: Harness) -> None:
    await harness.run("x = 1\rexit()\r")
    assert "exit() detaches, as Ctrl-D does" in harness.text
    assert "detached from session 'main'" in harness.text
    assert "SystemExit" not in harness.text
    assert harness.client.executed == [("main", "x = 1")]  # exit() was not sent
    harness.written.clear()
    await harness.run("quit\r")
    assert "detached from session 'main'" in harness.text


async def test_a_statement_raising_system_exit_detaches(harness: Harness) -> None:
    await harness.run("import sys; sys.exit(3)\r")
    assert "SystemExit detaches, as Ctrl-D does" in harness.text
    assert "detached from session 'main'" in harness.text


async def test_a_value_over_the_frame_limit_is_cut_by_the_server_and_the_repl_goes_on(
    pipe: PipeInput, tmp_path: Path
) -> None:
    # Defect 2, at a 16 KiB frame limit rather than 16 MiB: the host shortens the value
    # with a note, and the REPL keeps running (it used to quit with the host's error).
    written: list[str] = []
    with trio.fail_after(10):
        async with (
            spe_host.open_host(idle_timeout=None) as host,
            open_test_client(host, max_frame=16384) as client,
        ):
            repl = Repl(
                client,
                "big",
                input=pipe,
                output=DummyOutput(),
                write=written.append,
                color=False,
                state=tmp_path,
                handle_signals=False,
            )
            pipe.send_text("big = 'ab' * 20000\rbig\r_[:3] + '!' * 2\r\x04")
            await repl.run()
    text = "".join(written)
    assert "of the value's 40002 bytes cut: it does not fit in a frame" in text
    assert "'aba!!'" in text
    assert "detached from session 'big'" in text


async def test_time_timeit_who(harness: Harness) -> None:
    await harness.run(
        "%time total = sum(range(1000))\r%timeit -n 10 -r 2 sorted('hello')\r%who\r\x04"
    )
    assert namespace(harness)["total"] == 499500
    assert "Wall time: " in harness.text
    assert "(on the host)" in harness.text
    assert "per loop (mean ± std. dev. of 2 runs, 10 loops each)" in harness.text
    assert "native_call  total\n" in harness.text
    # The commands' own programs leave nothing behind in the session.
    assert "_" not in namespace(harness)
    assert "ns" not in namespace(harness)


async def test_history_lists_what_was_typed(harness: Harness) -> None:
    await harness.run("a = 1\rb = 2\r%history 2\r\x04")
    assert "   1  a = 1\n   2  b = 2\n" in harness.text


async def test_run_file_runs_a_local_file_in_the_session(harness: Harness, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("ran = 'from ' + 'file'\nran\nprint(ran)\n")
    await harness.run(f"%run {script}\r%run {tmp_path / 'missing.py'}\r\x04")
    assert namespace(harness)["ran"] == "from file"
    assert "from file\n" in harness.text
    assert "'from file'" not in harness.text  # a file shows no values
    assert "cannot read" in harness.text
    assert "missing.py" in harness.text


async def test_question_marks_describe_an_object(harness: Harness) -> None:
    await harness.run(
        "def greet(name: str) -> str:\r'Say hello.'\rreturn 'hi ' + name\r\r"
        "greet?\r"
        "?len\r"
        "greet??\r\x04"
    )
    text = harness.text
    assert "Signature: greet(name: str) -> str" in text
    assert "Docstring:\nSay hello." in text
    assert "Signature: len(obj, /)" in text
    assert "Source:" in text
    assert "greet?" not in [code for _, code in harness.client.executed]


async def test_help_runs_in_the_session_without_a_pager_off_a_terminal(harness: Harness) -> None:
    await harness.run("help(len)\r\x04")
    assert "Help on built-in function len" in harness.text


async def test_paste_mode_takes_lines_as_they_are(harness: Harness) -> None:
    # Pasted as typed keys: indentation included, so auto-indent must not add its own.
    await harness.run("%paste\rdef f():\r    x = 1\r\r    return x\r--\r%paste off\rf() + 1\r\x04")
    assert harness.client.executed[0] == ("main", "def f():\n    x = 1\n\n    return x")
    assert "2\n" in harness.text


async def test_f6_switches_paste_mode_and_f2_completion_while_typing(harness: Harness) -> None:
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            harness.pipe.send_text(F6 + F2)
            await wait_until(lambda: repl.options.paste_mode)
            await wait_until(lambda: repl.options.complete_while_typing)
            assert "paste mode" in "".join(text for _, text, *_ in repl.prompts.toolbar())
            harness.pipe.send_text(F6 + F2)
            await wait_until(lambda: not repl.options.paste_mode)
            await wait_until(lambda: not repl.options.complete_while_typing)
        harness.pipe.send_text("\x04")


async def test_a_background_run_that_fails_says_so_with_its_traceback(harness: Harness) -> None:
    # Defect 6: a job started elsewhere ends while the prompt shows.
    await harness.host.execute("main", "pass")
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_until(lambda: harness.client.subscribed and repl.screen.app is not None)
            harness.start("main", "print('working')\nraise RuntimeError('disk full')", name="etl")
            await wait_until(lambda: "disk full" in harness.text)
            harness.start("main", "print('fine')", name="tidy")
            await wait_until(lambda: "(tidy) completed" in harness.text)
        harness.pipe.send_text("\x04")
    text = harness.text
    assert text.index("working\n") < text.index("run main#2 (etl) failed after")
    assert text.index("failed after") < text.index("RuntimeError: disk full")
    # The result stays for whoever receives it.
    assert (await harness.client.receive("main", "main#2")).status == "failed"


async def test_reattach_shows_how_the_last_run_ended(harness: Harness) -> None:
    await harness.run("print('first')\r\x04")
    await harness.run_elsewhere("main", "print('away')\n1 / 0")
    harness.written.clear()
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            await wait_until(lambda: "ZeroDivisionError" in harness.text)
        harness.pipe.send_text("\x04")
    text = harness.text
    assert text.index("away\n") < text.index("failed after") < text.index("ZeroDivisionError")


def test_values_are_pretty_printed_to_the_width_and_shortened() -> None:
    value = repr({"name": "x" * 30, "items": list(range(30))})
    pretty = format_value(value, width=60)
    assert pretty.splitlines()[0] == "{'name': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',"
    assert pretty.splitlines()[1].startswith(" 'items': [0, 1, 2, 3,")
    assert all(len(line) <= 60 for line in pretty.splitlines())
    assert format_value("[1, 2]", width=40) == "[1, 2]"
    # Not a literal: as the host made it.
    assert format_value("<object at 0x1>" * 10, width=40) == "<object at 0x1>" * 10
    long = format_value(repr(list(range(1000))), width=40, max_lines=5)
    assert long.splitlines()[:5] == pretty_head(1000, 40)[:5]
    assert long.endswith("more lines; the value is `_`]")
    flat = format_value("'" + "y" * 5000 + "'", width=40, max_lines=5)
    assert flat.endswith("[... 4802 more characters; the value is `_`]")
    # The host's note on a value it cut says more than the REPL's would.
    host_note = "[... 9000 of the value's 10000 bytes cut: it does not fit in a frame]"
    cut = format_value("'" + "z" * 999 + "\n" + host_note, width=40, max_lines=5)
    assert cut.endswith("z\n" + host_note)


def pretty_head(count: int, width: int) -> list[str]:
    import pprint

    return pprint.pformat(list(range(count)), width=width, compact=True).splitlines()


def test_styles() -> None:
    make_style("default")
    make_style("none")
    make_style("monokai")
    with pytest.raises(ValueError, match="there is no style 'nope'; the styles are: default"):
        make_style("nope")


async def test_an_unknown_style_warns_and_uses_the_default(harness: Harness) -> None:
    await harness.run("\x04", style="nope")
    assert "there is no style 'nope'" in harness.text
    assert "using the default style" in harness.text


async def test_binary_output_and_getpass_reach_the_client(harness: Harness) -> None:
    # Defect 7: both used to go to the host's own terminal.
    await harness.run(
        "import sys; sys.stdout.buffer.write(b'bin' + b'ary\\n'); sys.stdout.flush()\r"
        "import getpass; secret = getpass.getpass('pass? ')\r"
        "s3cret\r\x04"
    )
    assert "binary\n" in harness.text
    assert harness.client.answers == ["s3cret"]
    assert namespace(harness)["secret"] == "s3cret"


async def test_completion_before_the_first_statement(harness: Harness) -> None:
    # Defect 8: a fresh session completes from the names the host gives every session.
    found = await harness.client.complete("fresh", "native_ca")
    assert [c.text for c in found] == ["native_call"]
    assert not harness.host.sessions("fresh")


def test_signature_of_the_call_under_the_cursor() -> None:
    found = local_signature("import json\njson.dumps(x, ", 25)
    assert found is not None
    hint = hint_text(found)
    assert hint.startswith("dumps(obj: Any, [skipkeys: bool=False], ")
    assert hint.endswith("Serialize ``obj`` to a JSON formatted ``str``.")
    assert local_signature("len(x)", 6) is None  # past the closing bracket
    assert local_signature("x = 1", 5) is None


async def test_the_toolbar_shows_the_signature_while_typing(harness: Harness) -> None:
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            harness.pipe.send_text("print(1, ")
            await wait_until(lambda: repl.prompts.hint.text is not None)
            bar = "".join(text for _, text, *_ in repl.prompts.toolbar())
            assert "\n print([*values: object], sep" in bar
            harness.pipe.send_text("2)")
            await wait_until(lambda: repl.prompts.hint.text is None)
        harness.pipe.send_text("\x15\x04")


async def test_the_toolbar_shows_the_hosts_signature(harness: Harness) -> None:
    # `f` exists only in the session on the host: the REPL's own jedi cannot know it.
    with trio.fail_after(10):
        await harness.host.execute("main", 'def f(a, b=2):\n    "Add them up."\n')
    repl = harness.repl()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(repl.run)
        with trio.fail_after(10):
            harness.pipe.send_text("f(1, ")
            await wait_until(lambda: repl.prompts.hint.text is not None)
            assert repl.prompts.hint.text == "f(a, [b=2])  Add them up."
            assert harness.client.signatures[-1] == ("main", "f(1, ", 5)
        harness.pipe.send_text("\x15\x04")
