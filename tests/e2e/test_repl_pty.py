"""The REPL in a real pseudo-terminal (pexpect) against a real `spe-host serve`.

What the terminal shows is matched on text the *host* produces, never on the echo of
what was typed: prompt_toolkit redraws the input line with style codes between
tokens, so a computed marker (``print('ok' + 'ay')`` prints ``okay``) cannot match
the echo by accident. Where a step must wait for the host (a loop has started), the
test polls ``spe-host ls --json``; every expect has a timeout.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import pexpect
import pytest
from support.cli import ServerProcess, start_server

TIMEOUT = 15


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    process = start_server(runtime)
    yield process
    process.stop()


class Terminal:
    """``spe-host attach`` in a pty."""

    def __init__(self, server: ServerProcess, session: str) -> None:
        env = server.env(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "spe_host", "attach", "--session", session],
            env=env,
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=(40, 160),
        )
        self.expect("attached to")
        self.expect(">>> ")

    def expect(self, pattern: str) -> None:
        self.child.expect(pattern)

    def type(self, keys: str) -> None:
        self.child.send(keys)

    def detach(self) -> int:
        self.child.send("\x04")
        self.child.expect("detached from session")
        self.child.expect(pexpect.EOF)
        self.child.close()
        return int(self.child.exitstatus)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def attach(server: ServerProcess, terminals: list[Terminal], session: str) -> Terminal:
    terminal = Terminal(server, session)
    terminals.append(terminal)
    return terminal


def wait_running(server: ServerProcess, session: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        # With --state, a session not created yet is no error, just not listed.
        sessions = server.run_json("ls", "--state", "running", session)
        if sessions and sessions[0]["state"] == "running":
            return
        assert time.monotonic() < deadline, f"{session} never started running"
        time.sleep(0.05)


def test_multiline_function_typed_and_called(server: ServerProcess, terminals: list) -> None:
    term = attach(server, terminals, "pty-func")
    # No indentation typed: the REPL indents the body; a blank line ends the block.
    term.type("def double(x):\r")
    term.type("print('got', x * 2)\r")
    term.type("return x * 2\r\r")
    term.type("double(21) + 1\r")
    term.expect("got 42")
    term.expect("43")
    assert term.detach() == 0


def test_ctrl_c_stops_an_endless_loop(server: ServerProcess, terminals: list) -> None:
    term = attach(server, terminals, "pty-loop")
    term.type("while True: pass\r\r")
    wait_running(server, "pty-loop")
    term.child.sendintr()
    # "stop requested" shows first, unless the abort came back before the stop's answer
    # (then that line would be stale, and the REPL leaves it out).
    term.expect("ScriptAborted")
    term.expect(">>> ")
    # The prompt works again, in the same session.
    term.type("print('still' + 'here')\r")
    term.expect("stillhere")
    assert term.detach() == 0


def test_ctrl_c_in_a_sleep_shows_what_the_stop_waits_for(
    server: ServerProcess, terminals: list
) -> None:
    term = attach(server, terminals, "pty-sleep")
    term.type("import time\r")
    # Two statements: the stop lands at the second, once the sleep has returned.
    term.type("time.sleep(3); slept = True\r")
    deadline = time.monotonic() + TIMEOUT
    while (server.run_json("ls", "pty-sleep")[0]["location"] or "")[-2:] != ":1":
        assert time.monotonic() < deadline, "pty-sleep never reached its time.sleep()"
        time.sleep(0.05)
    term.child.sendintr()
    term.expect("stop requested")
    term.expect(r"stop pending: blocked in time\.sleep\(\) called at <session pty-sleep #2>:1")
    term.expect("press Ctrl-C again to force")
    term.expect("ScriptAborted")
    term.expect(">>> ")
    term.type("print('slept' in dir())\r")
    term.expect("False")
    assert term.detach() == 0


def test_input_is_answered_inline(server: ServerProcess, terminals: list) -> None:
    term = attach(server, terminals, "pty-input")
    term.type("name = input('who? ')\r")
    term.expect(r"who\? ")
    term.type("bob\r")
    term.type("print('hi ' + name.upper())\r")
    term.expect("hi BOB")
    assert term.detach() == 0


def test_tab_completes_a_name_defined_earlier(server: ServerProcess, terminals: list) -> None:
    term = attach(server, terminals, "pty-tab")
    # Defined so that no history line starts with the name: no suggestion to confuse.
    term.type("globals()['my_unique_' + 'variable'] = 6 * 7; print('def' + 'ined')\r")
    term.expect("defined")
    term.type("my_uniq\t")
    # prompt_toolkit draws only what changed: the rest of the name, once the host's
    # completion has been applied.
    term.expect("ue_variable")
    term.type("\r")
    term.expect("42\r\n")
    assert term.detach() == 0


def test_ctrl_d_detaches_and_the_session_lives_on(server: ServerProcess, terminals: list) -> None:
    term = attach(server, terminals, "pty-detach")
    term.type("kept = 'al' + 'ive'; print(kept)\r")
    term.expect("alive")
    assert term.detach() == 0
    sessions = server.run_json("ls", "pty-detach")
    assert [s["id"] for s in sessions] == ["pty-detach"]
    assert sessions[0]["state"] == "idle"
    assert sessions[0]["last_status"] == "completed"


def test_stop_from_another_console(server: ServerProcess, terminals: list) -> None:
    term = attach(server, terminals, "pty-remote")
    term.type("import time\r")
    term.type("while True:\rtime.sleep(0.01)\r\r")
    wait_running(server, "pty-remote")
    stopped = server.run_json("stop", "pty-remote")
    assert stopped["pty-remote"]["outcome"] == "requested"
    term.expect("ScriptAborted")
    term.type("print(2 ** 10)\r")
    term.expect("1024")
    assert term.detach() == 0


def test_reattach_replays_output_produced_since_you_left(
    server: ServerProcess, terminals: list
) -> None:
    term = attach(server, terminals, "pty-replay")
    term.type("print('be' + 'fore')\r")
    term.expect("before")
    assert term.detach() == 0
    # While nobody is attached, a background job prints in the same session.
    server.run_json("start", "pty-replay", "-c", "print('while you were away')")
    server.run_json("wait", "pty-replay", "--timeout", "10")
    again = attach(server, terminals, "pty-replay")
    # The replay is printed before the first prompt; the older output is not.
    before = again.child.before + again.child.after
    if "while you were away" not in before:
        again.expect("while you were away")
        before += again.child.before
    assert "since you left" in before
    assert "before\r\n" not in before
    assert again.detach() == 0
