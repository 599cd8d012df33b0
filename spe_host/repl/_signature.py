"""The signature of the callable under the cursor, for the toolbar (as ptpython shows it).

Theory of operation
-------------------
While the cursor is inside a call's brackets, the toolbar shows that callable's
signature and the first line of its docstring, with the argument being typed marked.
jedi infers it here, in the REPL's own process, from the text typed: builtins, the
standard library, modules the statement imports and anything the REPL's Python can
import. A name that exists only in the session on the host (``app.run(``) is not known
here, and the toolbar then shows no signature: completion (on the host) is what knows
the session's objects.

jedi's first answer takes a while (it loads its stubs), so :class:`SignatureHint`
works in a thread: each cursor move in the prompt asks for the hint of the new text,
and the newest answer wins and redraws the toolbar.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer

__all__ = ["SignatureHint", "signature_at"]

# The longest docstring line shown beside a signature.
_DOC_CHARS = 80


def signature_at(text: str, cursor: int) -> str | None:
    """The signature of the call around ``cursor`` in ``text``, as jedi infers it.

    Args:
        text: The statement being typed.
        cursor: The cursor's position in ``text``.

    Returns:
        ``name(arg, [current], ...)  first docstring line``, or None when the cursor is
        not inside a call jedi knows.
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
        signatures = script.get_signatures(line, column)
    except Exception:
        # jedi raises on odd input now and then; a hint is never worth an error.
        return None
    if not signatures:
        return None
    signature = signatures[0]
    params = [param.to_string() for param in signature.params]
    index = signature.index
    if index is not None and 0 <= index < len(params):
        params[index] = f"[{params[index]}]"
    shown = f"{signature.name}({', '.join(params)})"
    doc = _first_line(signature.docstring(raw=True))
    return f"{shown}  {doc}" if doc else shown


def _first_line(doc: str) -> str:
    for line in doc.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= _DOC_CHARS else line[: _DOC_CHARS - 3] + "..."
    return ""


class SignatureHint:
    """Keeps :attr:`text` the signature hint for a prompt's buffer, off the prompt thread."""

    def __init__(self) -> None:
        #: The hint for the text as it was last asked about, or None.
        self.text: str | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "spe-host-signature")
        self._asked = 0
        self._lock = threading.Lock()

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
                self._pool.submit(lambda: self._set(asked, signature_at(text, cursor), app))

        buffer.on_text_changed += changed
        buffer.on_cursor_position_changed += changed

    def _set(self, asked: int, hint: str | None, app: Application[Any]) -> None:
        with self._lock:
            if asked != self._asked or hint == self.text:
                return
            self.text = hint
        with contextlib.suppress(RuntimeError):  # the prompt's loop just closed
            app.invalidate()

    def close(self) -> None:
        """Stop the thread (pending hints are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
