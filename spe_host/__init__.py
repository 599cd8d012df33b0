"""spe_host: an embeddable, interactive script-session host for trio programs.

The layers, each a private module, data flowing one way (top to bottom):

    _cli / _repl    the `spe-host` command and the prompt_toolkit REPL
    _client         async client library over the wire protocol
    _protocol       sans-IO frames <-> typed messages (imports no trio)
    _server         serve_* functions: listeners, handshake, dispatch to a Host
    _auth           tokens, roles, connection files, peer credentials
    _host           Host / open_host: the registry and the cmdlet family
    _session        ScriptSession: state machine, namespace, progress
    _runner         one execution in a worker thread; awaits go back to trio
    _instrument     parse, insert abort checks, compile (imports no trio)
    _streams        per-session stdout/stderr/stdin routing, bounded output
    _errors         the exception tree

The host never imports the server; the server takes a host as an argument.
"""

from ._client import Client, Subscription, connect
from ._errors import (
    AuthenticationError,
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
)
from ._host import DEFAULT_IDLE_TIMEOUT, Host, open_host
from ._protocol import Completion, ExecutionInfo, SessionInfo
from ._runner import ExecutionResult, ExecutionStatus, InputHandler
from ._server import Listening, serve, serve_tcp, serve_unix
from ._session import Progress, ScriptSession, SessionState, SpeHandle, StopOutcome

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "AuthenticationError",
    "Client",
    "Completion",
    "ExecutionInfo",
    "ExecutionResult",
    "ExecutionStatus",
    "Host",
    "InputHandler",
    "Listening",
    "LocalProtocolError",
    "NoResult",
    "PermissionDenied",
    "Progress",
    "ProtocolError",
    "RemoteProtocolError",
    "ScriptAborted",
    "ScriptSession",
    "SessionBusy",
    "SessionExists",
    "SessionInfo",
    "SessionNotFound",
    "SessionState",
    "SpeError",
    "SpeHandle",
    "StopOutcome",
    "Subscription",
    "connect",
    "open_host",
    "serve",
    "serve_tcp",
    "serve_unix",
]

__version__ = "0.1.0"
