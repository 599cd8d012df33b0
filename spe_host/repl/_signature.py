"""The signature of the callable under the cursor, for the toolbar (as ptpython shows it).

Theory of operation
-------------------
While the cursor is inside a call's brackets, the toolbar shows that callable's
signature and the first line of its docstring, with the argument being typed marked.
The host infers it first, with jedi on the session's live namespace, so objects that
exist only there (``app.run(``) have one too. When the host has nothing (no call it
knows, a host older than protocol 1.4, no answer in time), jedi infers it here, in the
REPL's own process, from the text typed: builtins, the standard library, modules the
statement imports and anything the REPL's Python can import.

Inference takes a while (jedi's first answer loads its stubs; the host's is a round
trip), so :class:`SignatureHint` works in a thread: each cursor move in the prompt
asks for the hint of the new text, an ask waits a moment (:data:`DEBOUNCE`) and is
dropped if a newer one came meanwhile, so fast typing costs the host one request per
pause rather than one per key, and the newest answer wins and redraws the toolbar.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer

from .._jedi import signature_of
from .._model import Signature

__all__ = ["DEBOUNCE", "SignatureHint", "hint_text", "local_signature"]

# The longest docstring line shown beside a signature.
_DOC_CHARS = 80
#: Seconds an ask waits for the typing to pause before it asks the host.
DEBOUNCE = 0.15

#: Asks the host for the signature at a cursor (from a worker thread); None: nothing.
RemoteSignature = Callable[[str, int], Signature | None]


def local_signature(text: str, cursor: int) -> Signature | None:
    """The signature of the call around ``cursor`` in ``text``, inferred from the text
    alone, in this process.

    Args:
        text: The statement being typed.
        cursor: The cursor's position in ``text``.

    Returns:
        The signature, or None when the cursor is not inside a call jedi knows.
    """
    before = text[:cursor]
    if "(" not in before:
        return None
    import jedi

    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1)
    try:
        # In this process, not in a jedi subprocess: that one's pipe is shared by
        # every default-environment Script, and not safe across threads.
        script = jedi.Script(text, environment=jedi.InterpreterEnvironment())
        return signature_of(script.get_signatures(line, column))
    except Exception:
        # jedi raises on odd input now and then; a hint is never worth an error.
        return None


def hint_text(signature: Signature) -> str:
    """``name(arg, [current], ...)  first docstring line``, shortened for the toolbar."""
    params = list(signature.params)
    index = signature.index
    if index is not None and 0 <= index < len(params):
        params[index] = f"[{params[index]}]"
    shown = f"{signature.name}({', '.join(params)})"
    doc = signature.doc
    if len(doc) > _DOC_CHARS:
        doc = doc[: _DOC_CHARS - 3] + "..."
    return f"{shown}  {doc}" if doc else shown


class SignatureHint:
    """Keeps :attr:`text` the signature hint for a prompt's buffer, off the prompt thread.

    Args:
        remote: Asks the host (called in the hint's thread); without it, or when it
            answers None, the hint is inferred here.
    """

    def __init__(self, remote: RemoteSignature | None = None) -> None:
        #: The hint for the text as it was last asked about, or None.
        self.text: str | None = None
        self._remote = remote
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "spe-host-signature")
        self._asked = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def follow(self, buffer: Buffer, app: Application[Any]) -> None:
        """Update the hint whenever the cursor of ``buffer`` moves or its text changes."""

        def changed(_: Buffer) -> None:
            with self._lock:
                self._asked += 1
                asked = self._asked
            text, cursor = buffer.text, buffer.cursor_position
            if "(" not in text[:cursor]:
                self._set(asked, None, app)
                return
            with contextlib.suppress(RuntimeError):  # the pool shut down
                self._pool.submit(self._infer, asked, text, cursor, app)

        buffer.on_text_changed += changed
        buffer.on_cursor_position_changed += changed

    def _infer(self, asked: int, text: str, cursor: int, app: Application[Any]) -> None:
        # Asks queued behind this thread that a newer one replaced end at once; the
        # newest waits for the typing to pause before it asks the host.
        if self._superseded(asked):
            return
        found = None
        if self._remote is not None:
            if self._closed.wait(DEBOUNCE) or self._superseded(asked):
                return
            found = self._remote(text, cursor)
        if found is None:
            found = local_signature(text, cursor)
        self._set(asked, None if found is None else hint_text(found), app)

    def _superseded(self, asked: int) -> bool:
        with self._lock:
            return asked != self._asked

    def _set(self, asked: int, hint: str | None, app: Application[Any]) -> None:
        with self._lock:
            if asked != self._asked or hint == self.text:
                return
            self.text = hint
        with contextlib.suppress(RuntimeError):  # the prompt's loop just closed
            app.invalidate()

    def close(self) -> None:
        """Stop the thread (pending hints are dropped)."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
