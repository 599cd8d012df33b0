"""The ``spe-host`` argument parser: one function per verb, the shared options once.

Every verb's subparser has a description and examples (``spe-host VERB --help``) and
sets ``handler``, the coroutine function that runs it, as a :class:`._args.Verb`:
named here and imported only when the verb runs, so a command loads what its own verb
needs and no other's. The verbs that talk to a host share the connection options and
``--json`` (``_args.shared_options``). The parser imports no part of the host: the
``serve`` defaults that belong to the engine (the idle timeout) are resolved by the
verb itself.
"""

from __future__ import annotations

import argparse

from .. import __version__
from ._args import (
    Formatter,
    Shared,
    Verb,
    Verbs,
    add_verb,
    examples,
    host_target,
    key_value,
    positive_float,
    receive_target,
    session_id,
    shared_options,
    stop_reason,
)
from ._output import PROG
from ._parser_journal import add_audit, add_runs
from ._parser_more import add_complete_names, add_completion, add_inspect, add_logs
from ._parser_serve import add_serve

__all__ = ["build_parser"]

_DESCRIPTION = """\
Run Python in named, persistent sessions of a trio program, and manage them.

A host (your program, or `spe-host serve`) keeps sessions; attach a REPL to one,
start background jobs, list them, read their output later, wait for them, and
stop a running session from another console."""

_EXIT_CODES = """\
exit codes:
  0  it worked
  1  a session was not found, did not stop or finish in time, or was busy;
     or serve could not open a listener
  2  the command line was wrong
  3  the host could not be reached, or refused the credentials or the role
  4  (wait, receive, logs) the run failed
  5  (wait, receive, logs) the run was stopped (aborted)
  130  interrupted (Ctrl-C)
  141  stdout was closed (spe-host ls | head -1), quietly

finding the host (every verb but serve):
  --connect ADDRESS_OR_NAME, else $SPE_HOST, else the host named "default";
  a name is looked up in the runtime directory ($SPE_HOST_RUNTIME_DIR,
  $XDG_RUNTIME_DIR/spe-host, or a private temp directory)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``spe-host`` argument parser, with every verb and its examples.

    Returns:
        The parser; ``parse_args`` leaves the verb in ``verb``, its handler in
        ``handler``, and the log level (``serve`` only; None for the others) in
        ``log_level``.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=examples(
            "spe-host serve                       # a standalone host, in one console",
            "spe-host attach                      # a REPL on session 'main', in another",
            "spe-host start etl -c 'import time; time.sleep(600)'",
            "spe-host ls",
            "spe-host stop etl --wait",
        )
        + "\n\n"
        + _EXIT_CODES,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(log_level=None)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    shared = shared_options()
    for add in (
        add_serve,
        _add_attach,
        _add_start,
        _add_ls,
        _add_receive,
        _add_wait,
        _add_stop,
        _add_rm,
        add_logs,
        add_runs,
        add_audit,
        add_inspect,
        add_completion,
        add_complete_names,
    ):
        add(verbs, shared)
    return parser


# --- one function per verb ------------------------------------------------------------


def _add_attach(verbs: Verbs, shared: Shared) -> None:
    attach = add_verb(
        verbs,
        "attach",
        Verb("._verbs", "attach"),
        "open a REPL on a session",
        "Open an interactive Python prompt on a session of the host. The session keeps\n"
        "its namespace between statements and lives on when you detach (Ctrl-D);\n"
        "attaching again replays what it printed while you were away. Ctrl-C while a\n"
        "statement runs stops the session at its next statement (again: forces it;\n"
        "a third time: stops waiting). %help at the prompt lists the REPL's commands.\n"
        "With stdin not a terminal, statements are read from it and run one after the\n"
        "other.",
        [
            "spe-host attach",
            "spe-host attach build --session etl",
            "spe-host attach unix:/tmp/my.sock",
            "echo 'print(6 * 7)' | spe-host attach --session calc",
        ],
        [shared.connection],
    )
    attach.add_argument(
        "target",
        nargs="?",
        type=host_target,
        metavar="NAME|ADDRESS",
        help="the host (same as --connect)",
    )
    attach.add_argument(
        "--session",
        "-s",
        type=session_id,
        default="main",
        help="the session to attach to; created on first use (default: main)",
    )
    attach.add_argument(
        "--replay",
        action="store_true",
        help="on a first attach, replay all the output the host still holds",
    )
    attach.add_argument(
        "--loop",
        action="store_true",
        help="start in loop mode: statements run in the app's trio thread, so its trio "
        "objects work directly, but a blocking call freezes the app (%%loop off leaves it)",
    )


def _add_start(verbs: Verbs, shared: Shared) -> None:
    start = add_verb(
        verbs,
        "start",
        Verb("._verbs", "start", blocking=True),
        "run code in a session in the background",
        "Run code in the background in SESSION (created if missing) and print its id.\n"
        "The code comes from -c, or from FILE ('-' reads stdin). Over a unix socket the\n"
        "host reads FILE itself, so tracebacks name it; otherwise its text is sent.",
        [
            "spe-host start etl -c 'import time\n"
            "for i in range(100): spe.progress(i); time.sleep(1)'",
            "spe-host start etl jobs/etl.py --arg day=2024-05-01 --arg limit=100",
            "spe-host start report report.py --name 'nightly report' --autodispose",
            "cat job.py | spe-host start job -",
        ],
        [shared.connection, shared.json],
    )
    start.add_argument("session", type=session_id, metavar="SESSION", help="the session id")
    start.add_argument("file", nargs="?", metavar="FILE", help="a script to run ('-': stdin)")
    start.add_argument("-c", "--code", metavar="CODE", help="the code to run")
    start.add_argument(
        "--arg",
        action="append",
        type=key_value,
        default=[],
        metavar="NAME=VALUE",
        help="bind a variable before the code runs; VALUE is JSON if it parses, else "
        "a string (repeatable)",
    )
    start.add_argument("--name", metavar="JOB", help="a job name to show in listings")
    start.add_argument(
        "--autodispose",
        action="store_true",
        help="remove the session once every result it keeps has been received",
    )
    start.add_argument(
        "--loop",
        action="store_true",
        help="run in loop mode: in the app's trio thread, where its trio objects work "
        "directly but a blocking call freezes the app",
    )


def _add_ls(verbs: Verbs, shared: Shared) -> None:
    ls = add_verb(
        verbs,
        "ls",
        Verb("._verbs", "ls", blocking=True, trio_for=("watch",)),
        "list sessions",
        "List the host's sessions: id, state, and of the current or last run its id,\n"
        "job name, progress, the line running now, when it started and ended (or for\n"
        "how long it has run), and its status. Patterns are shell-style wildcards.\n"
        "With --watch it lists them again whenever one changes, as the host tells it\n"
        "(no polling): redrawn in place on a terminal, a new table after a blank line\n"
        'when piped, and with --json one line per change, {"session": ..., "previous":\n'
        'STATE}, led by a line per existing session with "previous" null. It runs\n'
        "until Ctrl-C, which exits 130.",
        [
            "spe-host ls",
            "spe-host ls 'etl-*' --state running",
            "spe-host ls -q | xargs spe-host rm",
            "spe-host ls --json",
            "spe-host ls --watch",
            "spe-host ls -w 'etl-*' --json | jq -c '[.session.id, .previous, .session.state]'",
        ],
        [shared.connection, shared.json],
    )
    ls.add_argument("patterns", nargs="*", metavar="PATTERN", help="ids or wildcards")
    ls.add_argument(
        "--state", choices=["idle", "running", "stopping"], help="only sessions in this state"
    )
    ls.add_argument("-q", "--quiet", action="store_true", help="print the ids only")
    ls.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="list again on every change the host pushes, until Ctrl-C",
    )


def _add_receive(verbs: Verbs, shared: Shared) -> None:
    receive = add_verb(
        verbs,
        "receive",
        Verb("._verbs", "receive", blocking=True),
        "print the result of a run",
        "Print the output, the value and the error of a run, then clear them (unless\n"
        "--keep). A session keeps the results of its last runs (10 by default) until\n"
        "they are received: SESSION alone takes the oldest unreceived one, so receiving\n"
        "again reads the next; SESSION#N takes run N. The output goes to stdout, the\n"
        "traceback to stderr. It exits with the run's status: 0 completed, 4 failed,\n"
        "5 aborted (--json too, which also has the run id).",
        ["spe-host receive etl", "spe-host receive etl#2 --keep --json"],
        [shared.connection, shared.json],
    )
    receive.add_argument(
        "target",
        type=receive_target,
        metavar="SESSION[#N]",
        help="the session (its oldest unreceived result), or one run of it",
    )
    receive.add_argument("--keep", action="store_true", help="keep the result on the host")


def _add_wait(verbs: Verbs, shared: Shared) -> None:
    wait = add_verb(
        verbs,
        "wait",
        Verb("._verbs", "wait"),
        "wait for sessions to finish",
        "Wait until the sessions are no longer running, then list them. With a terminal\n"
        "it shows a line per session, with a progress bar and an ETA for those that\n"
        "report progress. It exits 1 when the timeout passes first (or, with --any, when\n"
        "none has finished), else with how their runs ended: 0 completed, 4 one failed,\n"
        "5 one was aborted.",
        [
            "spe-host wait etl",
            "spe-host wait etl report --timeout 60",
            "spe-host wait 'job-*' --any --json",
        ],
        [shared.connection, shared.json],
    )
    wait.add_argument("sessions", nargs="+", metavar="SESSION", help="ids or wildcards")
    wait.add_argument("--timeout", type=positive_float, metavar="S", help="give up after S seconds")
    wait.add_argument("--any", action="store_true", help="return as soon as one has finished")


def _add_stop(verbs: Verbs, shared: Shared) -> None:
    stop = add_verb(
        verbs,
        "stop",
        Verb("._stop", "stop"),
        "stop running sessions at their next statement",
        "Ask sessions to stop at their next statement. It returns at once with the\n"
        "outcome per session (requested, already_stopping, not_running, not_found;\n"
        "would_stop with --what-if) and the stop's ticket; a blocking call in the\n"
        "script finishes first. With --wait it shows each step of the stop (blocked\n"
        "in ..., landed at ..., finished ...) until the runs have ended. It exits 1\n"
        "when a target matched no session, or (with --wait) a session did not stop in\n"
        "time.",
        [
            "spe-host stop etl --reason 'bad input file'",
            "spe-host stop 'job-*' --what-if",
            "spe-host stop etl report --wait --timeout 10",
            "spe-host stop etl --force --json",
        ],
        [shared.connection, shared.json],
    )
    stop.add_argument("targets", nargs="+", metavar="SESSION_OR_PATTERN", help="ids or wildcards")
    stop.add_argument(
        "--what-if",
        action="store_true",
        help="show what would be stopped, and stop nothing",
    )
    stop.add_argument(
        "--reason", type=stop_reason, metavar="TEXT", help="why: shown to the script and in ls"
    )
    stop.add_argument(
        "--force",
        action="store_true",
        help="also stop a loop in library code (raises in the session's thread)",
    )
    stop.add_argument(
        "--wait", action="store_true", help="show each step of the stops until they are over"
    )
    stop.add_argument(
        "--timeout", type=positive_float, metavar="S", help="with --wait: give up after S seconds"
    )


def _add_rm(verbs: Verbs, shared: Shared) -> None:
    rm = add_verb(
        verbs,
        "rm",
        Verb("._verbs", "rm", blocking=True, trio_for=("force",)),
        "remove finished sessions",
        "Remove sessions and their namespaces. A running session is refused unless\n"
        "--force, which stops it, waits for it, and removes it. Without --force it\n"
        "removes what it can, names the rest on stderr, and exits 1.",
        ["spe-host rm etl", "spe-host rm 'job-*'", "spe-host rm etl --force"],
        [shared.connection, shared.json],
    )
    rm.add_argument("sessions", nargs="+", metavar="SESSION", help="ids or wildcards")
    rm.add_argument("-f", "--force", action="store_true", help="stop running sessions first")
