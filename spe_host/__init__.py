"""spe_host: an embeddable, interactive script-session host for trio programs.

The layers, a folder each, data flowing one way (top to bottom); the import contract
in ``tests/contract`` keeps it so (see docs/architecture.md):

    cli/ repl/      the `spe-host` command and the prompt_toolkit REPL; reach a host
                    through the client only (the `serve` verb is the composition root)
    client/         connect, request multiplexing, the Client facade
    server/         serve_* listeners and the connection handler; reach the engine
                    through service only
    service         transport-neutral operations with a Principal and authorization
    transport/      trio: addresses, TLS, one framed stream (read loop, batching writer)
    auth/           tokens and roles, peer credentials, throttle, connection files
    wire/           sans-IO protocol: messages, codec, Connection (imports no trio)
    engine/         Host, sessions, executions, instrumenter, output streams
    _model          pure value types shared by every layer (imports no trio)
    _errors         the exception tree

The host never imports the server; the server takes a host as an argument.
"""

import importlib
from typing import TYPE_CHECKING

from ._errors import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    HandshakeTimeout,
    JournalUnavailable,
    LocalProtocolError,
    NoResult,
    PermissionDenied,
    ProtocolError,
    RemoteProtocolError,
    ScriptAborted,
    SessionBusy,
    SessionExists,
    SessionNotFound,
    SpeError,
    TransportError,
)
from ._model import (
    Completion,
    ExecutionInfo,
    ExecutionResult,
    ExecutionStatus,
    InputPrompt,
    OutputChunk,
    Progress,
    ProgressReport,
    RequestLimits,
    Role,
    SessionInfo,
    SessionState,
    Signature,
    StateChange,
    StopOutcome,
)

if TYPE_CHECKING:
    from .client import Client, Subscription, connect
    from .engine import (
        DEFAULT_IDLE_TIMEOUT,
        DEFAULT_KEEP_RESULTS,
        DEFAULT_LOOP_TIMEOUT,
        Host,
        InputHandler,
        ScriptSession,
        SpeHandle,
        open_host,
    )
    from .journal import Journal
    from .server import Listening, serve, serve_tcp, serve_unix

# The layers above the pure modules load on first use (PEP 562), so a program that needs
# only the client - `spe-host ls` - does not import the engine and the server.
_LAZY: dict[str, str] = {
    "Client": "client",
    "Subscription": "client",
    "connect": "client",
    "DEFAULT_IDLE_TIMEOUT": "engine",
    "DEFAULT_KEEP_RESULTS": "engine",
    "DEFAULT_LOOP_TIMEOUT": "engine",
    "Host": "engine",
    "InputHandler": "engine",
    "ScriptSession": "engine",
    "SpeHandle": "engine",
    "open_host": "engine",
    "Journal": "journal",
    "Listening": "server",
    "serve": "server",
    "serve_tcp": "server",
    "serve_unix": "server",
}


def __getattr__(name: str) -> object:
    layer = _LAZY.get(name)
    if layer is None:
        raise AttributeError(f"module 'spe_host' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{layer}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_KEEP_RESULTS",
    "DEFAULT_LOOP_TIMEOUT",
    "AuthenticationError",
    "Client",
    "Completion",
    "ConnectError",
    "ConnectionLost",
    "ExecutionInfo",
    "ExecutionResult",
    "ExecutionStatus",
    "HandshakeTimeout",
    "Host",
    "InputHandler",
    "InputPrompt",
    "Journal",
    "JournalUnavailable",
    "Listening",
    "LocalProtocolError",
    "NoResult",
    "OutputChunk",
    "PermissionDenied",
    "Progress",
    "ProgressReport",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestLimits",
    "Role",
    "ScriptAborted",
    "ScriptSession",
    "SessionBusy",
    "SessionExists",
    "SessionInfo",
    "SessionNotFound",
    "SessionState",
    "Signature",
    "SpeError",
    "SpeHandle",
    "StateChange",
    "StopOutcome",
    "Subscription",
    "TransportError",
    "connect",
    "open_host",
    "serve",
    "serve_tcp",
    "serve_unix",
]

__version__ = "0.1.0"
