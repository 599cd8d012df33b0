"""The pieces the ``spe-host`` parser is built from: argument types, the option groups
several verbs share, and the helper that adds one verb with its description and
examples.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeAlias

from .._model import check_session_id, parse_run_id
from .._records import record
from .._rules import MAX_STOP_REASON

__all__ = [
    "SHELLS",
    "Formatter",
    "Handler",
    "Shared",
    "Verb",
    "Verbs",
    "add_verb",
    "examples",
    "host_target",
    "key_value",
    "positive_float",
    "positive_int",
    "receive_target",
    "session_id",
    "shared_options",
    "stop_reason",
    "timeout_seconds",
]

#: The shells ``spe-host completion`` writes a script for.
SHELLS = ("bash", "zsh", "fish")

#: A verb: runs with the parsed command line, returns the exit code.
Handler: TypeAlias = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
Verbs: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@record
class Verb:
    """A verb's handler, named by its module and imported only when the verb runs.

    The parser names every verb, but a command runs one: ``spe-host ls`` should not
    import what ``stop --wait``, ``logs`` or ``serve`` need. A :class:`Verb` is a
    :data:`Handler`; calling it imports ``module`` (relative to this package) and
    calls its ``function``.

    A one-shot verb (a few requests, each answered at once) is ``blocking``: it runs
    without trio, over the client's blocking socket, unless an option named in
    ``trio_for`` is set (``ls --watch`` follows pushed changes, ``rm --force`` waits for
    runs to stop); then it runs under trio, as every other verb does.

    Attributes:
        module: The module, relative to :mod:`spe_host.cli` (``"._verbs"``).
        function: The coroutine function in it (``"ls"``).
        blocking: Whether the verb may run without trio.
        trio_for: The options (argparse destinations) that make it need trio.
    """

    module: str
    function: str
    blocking: bool = False
    trio_for: tuple[str, ...] = ()

    def __call__(self, args: argparse.Namespace) -> Coroutine[Any, Any, int]:
        handler: Handler = getattr(importlib.import_module(self.module, __package__), self.function)
        return handler(args)

    def runs_blocking(self, args: argparse.Namespace) -> bool:
        """Whether this command line runs the verb without trio."""
        return self.blocking and not any(getattr(args, name, False) for name in self.trio_for)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep descriptions and examples as written; options aligned at column 32."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def examples(*lines: str) -> str:
    """An epilog listing example command lines."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def positive_float(text: str) -> float:
    """A number of seconds (or milliseconds): finite, at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, at least 0")
    return value


def host_target(text: str) -> str:
    """``--connect``: an address, a connection file or a host name; never empty (an
    empty value would fall back to ``$SPE_HOST`` without a word)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "an empty host was given; name one (a host name, unix:PATH, tcp://HOST:PORT "
            "or a connection file), or leave out --connect to use $SPE_HOST or 'default'"
        )
    return text


def timeout_seconds(text: str) -> float:
    """A deadline in seconds: finite and above 0 (0 could never be met)."""
    value = positive_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} seconds can never be met; give more than 0")
    return value


def session_id(text: str) -> str:
    """A session id, checked by the same rule as the host's."""
    try:
        return check_session_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """A count of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def receive_target(text: str) -> tuple[str, str | None]:
    """``SESSION`` or ``SESSION#N`` for ``receive``: the session, and the run id or None."""
    try:
        if "#" in text:
            session, _ = parse_run_id(text)
            return session, text
        return check_session_id(text), None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def stop_reason(text: str) -> str:
    """``stop --reason``: a sentence of at most :data:`MAX_STOP_REASON` characters."""
    if len(text) > MAX_STOP_REASON:
        raise argparse.ArgumentTypeError(
            f"the reason is {len(text)} characters long; say why in at most {MAX_STOP_REASON}"
        )
    return text


def key_value(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` for ``start --arg``: the value as JSON if it parses, else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE with NAME a Python identifier (for example n=10)"
        )
    # JSON when it parses (n=10 is a number, flags=[1,2] a list), a string otherwise.
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


@record
class Shared:
    """The option groups several verbs share, as argparse parent parsers."""

    connection: argparse.ArgumentParser
    json: argparse.ArgumentParser


def shared_options() -> Shared:
    """The connection options (every verb but ``serve``) and ``--json``."""
    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument(
        "--connect",
        type=host_target,
        metavar="ADDRESS_OR_NAME",
        help="unix:PATH, tcp://HOST:PORT, a connection file, or a host name "
        "(default: $SPE_HOST, else 'default')",
    )
    group.add_argument(
        "--token",
        help="the access token for a tcp:// address (default: $SPE_HOST_TOKEN; a "
        "connection file carries its own)",
    )
    group.add_argument("--cafile", metavar="PEM", help="trust this CA for a TLS host")
    group.add_argument(
        "--connect-timeout",
        type=timeout_seconds,
        default=5.0,
        metavar="S",
        help="give up connecting after S seconds (more than 0; default: 5)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="send the token in clear text to a tcp:// host off this machine that has no "
        "TLS (only on a network path you trust)",
    )
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument(
        "--json", action="store_true", help="print the protocol's JSON objects instead of a table"
    )
    return Shared(connection, json_flag)


def add_verb(
    verbs: Verbs,
    name: str,
    handler: Handler,
    help: str,
    description: str,
    example_lines: Sequence[str],
    parents: Sequence[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add one verb's subparser, with its help, description, examples and handler."""
    sub = verbs.add_parser(
        name,
        help=help,
        description=description,
        epilog=examples(*example_lines),
        parents=list(parents),
        formatter_class=Formatter,
    )
    # The verb's own parser, for a line with positionals after options (_main._parse).
    sub.set_defaults(handler=handler, verb_parser=sub)
    return sub
