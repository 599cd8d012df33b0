"""The REPL and the terminal it runs in (issue #14): a pty (pexpect) on a real server.

What these check depends on the terminal itself: one that never answers a
cursor-position request (pexpect's pty does not), keys typed while a statement runs,
Ctrl-Z, the pager, and stdin that is a pipe. As in ``test_repl_pty.py``, what is
matched is text the *host* computes (``'ty' + 'ped'``), never the echo of what was
typed; where a step must wait for the host, the test polls ``spe-host ls --json``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pexpect
import pytest
from support.cli import SPE_HOST, ServerProcess, start_server

TIMEOUT = 15


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    runtime = tmp_path_factory.mktemp("runtime")
    os.chmod(runtime, 0o700)
    process = start_server(runtime)
    yield process
    process.stop()


@pytest.fixture
def spawned() -> Iterator[list[pexpect.spawn]]:
    children: list[pexpect.spawn] = []
    yield children
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def attach(
    server: ServerProcess, spawned: list[pexpect.spawn], session: str, **env: str
) -> pexpect.spawn:
    """``spe-host attach`` in a pty that does not answer cursor-position requests."""
    environment = server.env(TERM="xterm", **env)
    environment.pop("PROMPT_TOOLKIT_NO_CPR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "spe_host", "attach", "--session", session],
        env=environment,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 160),
    )
    spawned.append(child)
    child.expect("attached to")
    child.expect(">>> ")
    return child


def wait_state(server: ServerProcess, session: str, state: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    # With --state, a session the attach has not created yet is no error, just not listed.
    while [s["state"] for s in server.run_json("ls", "--state", state, session)] != [state]:
        assert time.monotonic() < deadline, f"{session} never became {state}"
        time.sleep(0.05)


def detach(child: pexpect.spawn, within: float = 5) -> None:
    child.send("\x04")
    child.expect("detached from session", timeout=within)
    child.expect(pexpect.EOF, timeout=within)


def test_a_terminal_without_cpr_loses_no_key_and_gets_no_warning(
    server: ServerProcess, spawned: list[pexpect.spawn]
) -> None:
    # Defect 3: after a stop, the first Ctrl-D used to be lost, and prompt_toolkit's
    # CPR warning was printed into the session.
    child = attach(server, spawned, "cpr")
    child.send("while True: pass\r\r")
    wait_state(server, "cpr", "running")
    child.sendintr()
    child.expect("ScriptAborted")
    child.send("x = 40\r")
    child.send("x + 2\r")
    child.expect("42\r\n")
    child.expect(">>> ")
    seen = child.before
    detach(child, within=3)
    assert "CPR" not in seen + child.before


def test_keys_typed_while_a_statement_runs_wait_for_the_prompt(
    server: ServerProcess, spawned: list[pexpect.spawn]
) -> None:
    # Defect 9: not echoed into the output, and not lost.
    child = attach(server, spawned, "ahead")
    child.send("import time; time.sleep(0.5); print('do' + 'ne')\r")
    wait_state(server, "ahead", "running")
    child.send("print('ty' + 'ped')")
    child.expect("done")
    assert "'ty'" not in child.before
    child.send("\r")
    child.expect("typed")
    detach(child)


def test_ctrl_z_suspends_the_client_and_exit_detaches(
    server: ServerProcess, spawned: list[pexpect.spawn]
) -> None:
    # Defect 4: Ctrl-Z used to insert a literal ^Z. Suspending needs a shell with job
    # control (a process group that is not orphaned), as in real use.
    environment = server.env(TERM="xterm", PS1="$ ", PROMPT_TOOLKIT_NO_CPR="1")
    shell = pexpect.spawn(
        "bash",
        ["--norc", "--noprofile", "-i"],
        env=environment,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 160),
    )
    spawned.append(shell)
    shell.expect(r"\$ ")
    shell.send(f"{sys.executable} -m spe_host attach --session suspend\r")
    shell.expect(">>> ")
    shell.send("\x1a")
    shell.expect("Stopped")
    shell.expect(r"\$ ")
    shell.send("fg\r")
    shell.expect("spe_host attach")  # bash names the job it resumes
    shell.send("print(6 * 7)\r")
    shell.expect("42")
    shell.send("exit()\r")
    shell.expect("detaches, as Ctrl-D does")
    # exit() used to print a SystemExit traceback and stay.
    assert "SystemExit" not in shell.before
    shell.expect(r"\$ ")
    shell.send("exit\r")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_help_goes_through_the_pager(server: ServerProcess, spawned: list[pexpect.spawn]) -> None:
    child = attach(server, spawned, "pager", PAGER="sed s/^/PAGED:/")
    child.send("help(len)\r")
    child.expect("PAGED:Help on built-in function len")
    child.expect(">>> ")
    # The help's body came through the pager only, never straight to the terminal.
    body = "Return the number of items in a container."
    assert child.before.count(body) == child.before.count(f"PAGED:    {body}") == 1
    child.send("len?\r")
    child.expect(r"PAGED:Signature: len\(obj, /\)")
    detach(child)


def test_getpass_reads_the_answer_without_echo(
    server: ServerProcess, spawned: list[pexpect.spawn]
) -> None:
    # Defect 7: getpass() reaches the client, and what is typed is not shown.
    child = attach(server, spawned, "secret")
    typed = io.StringIO()
    child.logfile_read = typed
    child.send("import getpass; pw = getpass.getpass('pw? ')\r")
    child.expect("pw? ")
    child.send("hunter2\r")
    child.send("print(pw.upper(), len(pw))\r")
    child.expect("HUNTER2 7")
    child.expect(">>> ")
    detach(child)
    assert "hunter2" not in typed.getvalue()


def test_piped_attach_prompts_once_and_runs_on(server: ServerProcess) -> None:
    # Defect 5: the input() prompt was written twice; a getpass() answer is not
    # written back either.
    script = (
        'x = input("name? ")\nAlice\nprint("got", x)\n'
        'import getpass; p = getpass.getpass("pw? ")\nhunter2\nprint(p.upper())\n'
    )
    done = subprocess.run(
        [*SPE_HOST, "attach", "-s", "piped"],
        input=script,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "name? got Alice\npw? HUNTER2\n"
