"""The engine: named script sessions, their executions and the Host that keeps them.

It knows nothing of sockets, the wire protocol, HTTP or authentication; every front end
reaches it through :mod:`spe_host.service`. Modules, bottom up:

    _instrument   parse, insert abort checks, compile (imports no trio)
    _events       Broadcast, the one "something changed" notifier
    _streams      per-session stdout/stderr/stdin routing, the bounded output buffer
    _checkpoint   the abort check: whose stop it is, and the fast-path flags
    _traceback    the script's own frames: tracebacks and the line running now
    _execution    one execution in a worker thread; awaits go back to trio
    _session      ScriptSession: state machine, namespace, progress
    _follow       Follower: a session's output and progress from a byte offset
    _complete     completion in a live namespace, off the trio thread
    _watch        Watcher: state changes pushed, coalesced per session
    _registry     the sessions by id, and the operations that only look at them
    _lifetime     idle expiry, and stopping what runs when the host exits
    _host         Host / open_host: the cmdlet family
"""

from ._complete import complete
from ._execution import InputHandler
from ._follow import Follower
from ._host import DEFAULT_IDLE_TIMEOUT, Host, open_host
from ._session import ScriptSession, SpeHandle

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "Follower",
    "Host",
    "InputHandler",
    "ScriptSession",
    "SpeHandle",
    "complete",
    "open_host",
]
