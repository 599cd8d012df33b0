"""The engine: named script sessions, their executions and the Host that keeps them.

It knows nothing of sockets, the wire protocol, HTTP or authentication; every front end
reaches it through :mod:`spe_host.service`. Modules, bottom up:

    _rewrite      the syntax-tree rewrite: an abort check before every statement
    _instrument   parse, check, rewrite and compile a script (imports no trio)
    _events       Broadcast, the one "something changed" notifier
    _batch        OutputStream: a session's text written at C speed, handed over in chunks
    _flush        the flusher thread: a running script's stream flushed on a clock
    _held         the bytes an output buffer holds, as chunks, dropped from the front
    _streams      the bounded output buffer, batched writes, byte offsets
    _redirect     per-context stdout/stderr/stdin routing to the running session
    _checkpoint   the abort check: whose stop it is, the fast-path flags, spe.critical zones
    _traceback    the script's own frames: tracebacks and the line running now
    _blocked      what a pending stop waits for, read from the session thread's frames
    _ticket       a stop ticket as the engine keeps it, changed in place
    _stopping     a run's stop: its ticket, its deferral zones, its escalation (force)
    _thread       SessionThread: the one thread a session's synchronous statements run on
    _bridge       spe.run_sync / spe.run, and the note on a trio call from the wrong thread
    _watchdog     the guard that stops a loop-mode statement holding the event loop
    _share        InterpreterShare: at most K worker runs execute Python at once, in turn
    _modes        where statements run: worker mode (the session's thread) or loop mode
    _execution    one execution: its slot, its control (stop, abandon), its result, its streams
    _runs         run ids, and the results a session keeps until received
    _handle       SpeHandle: the ``spe`` name inside a script
    _session      ScriptSession: state machine, namespace, progress
    _follow       Follower: a session's output and progress from a byte offset
    _complete     completion in a live namespace, off the trio thread
    _watch        Watcher: state changes pushed, coalesced per session
    _registry     the sessions by id, and the operations that only look at them
    _lifetime     idle expiry, and stopping what runs when the host exits
    _script       a script's file, read without letting it stall the host, and its args
    _pending      PendingExecution: an execute begun, and the caller's hold on its result
    _match        linear-time glob patterns over session ids, with limits
    _host         Host: the cmdlet family
    _open         open_host: a Host with its nursery, and its exit
"""

from ._complete import complete
from ._execution import InputHandler
from ._follow import Follower
from ._host import DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEP_RESULTS, Host
from ._open import open_host
from ._pending import PendingExecution
from ._script import MAX_SCRIPT_SIZE, read_script
from ._session import ScriptSession, SpeHandle
from ._snapshot import Listing, snapshots
from ._watchdog import DEFAULT_LOOP_TIMEOUT

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_KEEP_RESULTS",
    "DEFAULT_LOOP_TIMEOUT",
    "MAX_SCRIPT_SIZE",
    "Follower",
    "Host",
    "InputHandler",
    "Listing",
    "PendingExecution",
    "ScriptSession",
    "SpeHandle",
    "complete",
    "open_host",
    "read_script",
    "snapshots",
]
