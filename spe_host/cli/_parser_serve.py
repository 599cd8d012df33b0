"""The ``spe-host serve`` subparser: the listeners, the host's settings, the limits.

Kept apart from the client verbs (``_parser``) because serve alone has a long list of
settings: every limit of docs/security.md is a flag here.
"""

from __future__ import annotations

from .._model import DEFAULT_REQUEST_LIMITS
from ._args import (
    Shared,
    Verb,
    Verbs,
    add_verb,
    positive_float,
    positive_int,
)
from ._parser_journal import add_journal_options

__all__ = ["add_serve"]


def add_serve(verbs: Verbs, shared: Shared) -> None:
    """Add the ``serve`` verb: a standalone host, its listeners and its limits."""
    serve = add_verb(
        verbs,
        "serve",
        Verb("._serve", "serve"),
        "run a standalone host",
        "Run a host whose sessions start with builtins only, until Ctrl-C or SIGTERM.\n"
        "It prints where it listens and how to attach. By default it listens on a unix\n"
        "socket in the private runtime directory, named after --name. On SIGINT/SIGTERM\n"
        "it stops running sessions, tells their clients, and exits.",
        [
            "spe-host serve",
            "spe-host serve --name build --listen tcp://127.0.0.1:7788",
            "spe-host serve --listen unix:/tmp/my.sock --listen tcp://127.0.0.1:0",
            "spe-host serve --listen tcp://0.0.0.0:7788 --tls-cert cert.pem --tls-key key.pem",
            "spe-host serve --http tcp://127.0.0.1:8080",
        ],
        [shared.json],
    )
    serve.add_argument(
        "--listen",
        action="append",
        metavar="ADDRESS",
        help="unix:PATH or tcp://HOST:PORT; repeat for several (default: the unix socket "
        "NAME.sock in the runtime directory)",
    )
    serve.add_argument(
        "--http",
        metavar="ADDRESS",
        help="also serve the HTTP API on tcp://HOST:PORT (loopback unless TLS or --insecure); "
        "its URL and tokens go to NAME.http.json and NAME.http.operator.json (mode 0600) "
        "in the runtime directory",
    )
    serve.add_argument(
        "--name",
        default="default",
        help="the host's name: clients find it by this name (default: default)",
    )
    serve.add_argument(
        "--tls-cert", metavar="PEM", help="certificate chain for tcp:// listeners and --http"
    )
    serve.add_argument("--tls-key", metavar="PEM", help="private key (default: in --tls-cert)")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback tcp:// address without TLS (tokens and code cross the "
        "network in clear text)",
    )
    # No default here: the engine's DEFAULT_IDLE_TIMEOUT applies (the verb resolves it,
    # so that parsing does not import the engine); tests keep the help in step with it.
    serve.add_argument(
        "--idle-timeout",
        type=positive_float,
        metavar="S",
        help="remove sessions idle for S seconds; 0 keeps them forever (default: 1800)",
    )
    serve.add_argument(
        "--keep-results",
        type=positive_int,
        metavar="N",
        help="unreceived results each session keeps; one more drops the oldest (default: 10)",
    )
    serve.add_argument(
        "--loop-timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="stop a loop-mode statement that holds the event loop longer than S seconds, "
        "at its next statement; 0 turns the guard off (default: 10)",
    )
    serve.add_argument(
        "--switch-interval",
        type=positive_float,
        metavar="MS",
        help="the interpreter's thread switch interval in milliseconds; lower keeps the "
        "host responsive and stops quick while scripts spin (default: 0.5; Python's own "
        "is 5)",
    )
    serve.add_argument(
        "--interpreter-slots",
        type=int,
        default=2,
        metavar="N",
        help="while more sessions run, at most N execute Python at once, taking turns, so "
        "the host keeps answering however many spin; 0: no bound (default: 2)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="on shutdown, exit within S seconds: running sessions are stopped, one stuck "
        "in a native call is abandoned, and their clients are told (default: 5)",
    )
    # The defaults are spe_host.server.DEFAULT_LIMITS (tests keep them in step), written
    # out so that parsing does not import the server; docs/security.md explains them.
    serve.add_argument(
        "--max-connections",
        type=int,
        default=256,
        metavar="N",
        help="open connections per listener; more are closed at once (default: 256)",
    )
    serve.add_argument(
        "--max-startups",
        metavar="START:RATE:FULL",
        help="unauthenticated connections per listener, as OpenSSH's MaxStartups: from "
        "START on drop RATE%% of new ones, rising to all at FULL (default: 10:30:100)",
    )
    serve.add_argument(
        "--max-startups-per-peer",
        type=int,
        default=10,
        metavar="N",
        help="unauthenticated connections per address; a new one replaces the oldest (default: 10)",
    )
    serve.add_argument(
        "--max-requests",
        type=int,
        default=128,
        metavar="N",
        help="requests in flight per connection; more are answered busy (default: 128)",
    )
    serve.add_argument(
        "--max-subscriptions",
        type=int,
        default=32,
        metavar="N",
        help="subscribe and watch streams per connection; more are answered busy (default: 32)",
    )
    serve.add_argument(
        "--max-pattern-length",
        type=positive_int,
        default=DEFAULT_REQUEST_LIMITS.max_pattern_length,
        metavar="N",
        help="the longest session id or pattern a request may name, in characters "
        f"(default: {DEFAULT_REQUEST_LIMITS.max_pattern_length})",
    )
    serve.add_argument(
        "--max-patterns",
        type=positive_int,
        default=DEFAULT_REQUEST_LIMITS.max_patterns,
        metavar="N",
        help="the most ids and patterns one request may name "
        f"(default: {DEFAULT_REQUEST_LIMITS.max_patterns})",
    )
    serve.add_argument(
        "--max-script-size",
        type=positive_int,
        default=DEFAULT_REQUEST_LIMITS.max_script_size,
        metavar="BYTES",
        help="the largest host-side script file a start request may name "
        f"(default: {DEFAULT_REQUEST_LIMITS.max_script_size}, 1 MiB)",
    )
    add_journal_options(serve)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="what the host logs to stderr (default: info)",
    )
