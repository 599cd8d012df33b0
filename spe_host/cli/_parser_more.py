"""The parsers of the verbs that read what a session did and help the shell: ``logs``,
``inspect``, ``completion``, and the hidden ``_complete`` the completion scripts run.

One function per verb, registered by :func:`._parser.build_parser` like the others.
"""

from __future__ import annotations

import argparse

from ._args import SHELLS, Formatter, Shared, Verb, Verbs, add_verb, session_id

__all__ = ["add_complete_names", "add_completion", "add_inspect", "add_logs"]


def _offset(text: str) -> int:
    """``--since``: a byte offset into a session's output, at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a byte offset") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a byte offset of at least 0")
    return value


def add_logs(verbs: Verbs, shared: Shared) -> None:
    logs = add_verb(
        verbs,
        "logs",
        Verb("._logs", "logs"),
        "print or follow a session's output",
        "Print the output the host holds of a session (all its runs, as one stream).\n"
        "With -f, go on printing as it runs, until the run going now ends, and exit\n"
        "with how it ended (0 completed, 4 failed, 5 aborted). --since OFFSET starts\n"
        "at a byte offset (an output_offset from ls --json). --run N prints one kept\n"
        "run's output and traceback and exits with its status.",
        [
            "spe-host logs etl",
            "spe-host logs -f etl && echo 'etl completed'",
            "spe-host logs etl --since 4096",
            "spe-host logs etl --run 3",
        ],
        [shared.connection],
    )
    logs.add_argument("session", type=session_id, metavar="SESSION", help="the session id")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="go on until the current run ends"
    )
    which = logs.add_mutually_exclusive_group()
    which.add_argument(
        "--since", type=_offset, default=0, metavar="OFFSET", help="start at this byte offset"
    )
    which.add_argument(
        "--run", metavar="RUN", help="one kept run: N or SESSION#N (its output and traceback)"
    )
    logs.add_argument(
        "--journal",
        metavar="PATH",
        help="with --run: the journal to read a run the host does not keep from "
        "(default: the host's, in $XDG_STATE_HOME/spe-host)",
    )


def add_inspect(verbs: Verbs, shared: Shared) -> None:
    inspect = add_verb(
        verbs,
        "inspect",
        Verb("._verbs", "inspect", blocking=True),
        "everything about sessions, as JSON",
        "Print everything the host says about sessions as a JSON array, one object per\n"
        "session: its state, its current or last run (id, job name, progress, line,\n"
        "times, status), its stop ticket, its output offset (docs/cli.md has the\n"
        "schema). It exits 1 when an id matches no session.",
        ["spe-host inspect etl", "spe-host inspect 'etl*' | jq '.[].progress'"],
        [shared.connection],
    )
    inspect.add_argument("sessions", nargs="+", metavar="SESSION", help="ids or wildcards")


def add_completion(verbs: Verbs, shared: Shared) -> None:
    completion = add_verb(
        verbs,
        "completion",
        Verb("._completion", "completion"),
        "print a shell completion script",
        "Print a script that completes spe-host's verbs, flags, host names and the\n"
        "live session ids in bash, zsh or fish. Session ids are asked of the host\n"
        "(the one --connect names on the line, else the default) when Tab is pressed.",
        [
            "source <(spe-host completion bash)        # in ~/.bashrc",
            "source <(spe-host completion zsh)         # in ~/.zshrc, after compinit",
            "spe-host completion fish > ~/.config/fish/completions/spe-host.fish",
        ],
        [],
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell")


def add_complete_names(verbs: Verbs, shared: Shared) -> None:
    # No help=: argparse leaves a verb without one out of the listing.
    names = verbs.add_parser(
        "_complete", parents=[shared.connection], formatter_class=Formatter, add_help=False
    )
    names.set_defaults(handler=Verb("._completion", "complete_names"), verb_parser=names)
    names.add_argument("what", choices=["hosts", "sessions"])
