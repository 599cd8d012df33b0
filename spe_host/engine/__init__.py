"""The engine: named script sessions, their executions and the Host that keeps them.

It knows nothing of sockets, the wire protocol, HTTP or authentication; every front end
reaches it through :mod:`spe_host.service`. Modules, bottom up:

    _instrument   parse, insert abort checks, compile (imports no trio)
    _streams      per-session stdout/stderr/stdin routing, the bounded output buffer
    _execution    one execution in a worker thread; awaits go back to trio
    _session      ScriptSession: state machine, namespace, progress
    _host         Host / open_host: the registry and the cmdlet family
"""

from ._execution import InputHandler
from ._host import DEFAULT_IDLE_TIMEOUT, Host, open_host
from ._session import ScriptSession, SpeHandle

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "Host",
    "InputHandler",
    "ScriptSession",
    "SpeHandle",
    "open_host",
]
