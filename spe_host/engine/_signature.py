"""The signature of the call under the cursor, inferred on a session's live namespace.

Theory of operation
-------------------
The REPL's toolbar shows the signature of the callable whose brackets the cursor is
in. The REPL can infer it from the text alone only for what its own process can
import; an object that exists only in the session (``app.run(``) is known here, on
the host. So jedi's ``Interpreter`` looks at the namespace - with completion's rules:
only values that run no code of the script's when probed, unsafe executions off, in
completion's slots (one per session in flight, bounded in all, abandoned after a
deadline; see :mod:`._complete`).
"""

from __future__ import annotations

import logging
from typing import Any

from .._jedi import signature_of
from .._model import Signature
from ._complete import CompletionSlots, interpreter, read_namespace
from ._session import ScriptSession

__all__ = ["signature"]

logger = logging.getLogger("spe_host")


async def signature(
    session: ScriptSession | tuple[str, dict[str, Any]],
    text: str,
    cursor: int,
    *,
    limiter: CompletionSlots,
    timeout: float = 5.0,
) -> Signature | None:
    """The signature of the call around ``cursor`` in ``text``, in the session's namespace.

    Args:
        session: The session, or the id and the namespace of one that does not exist
            yet (what it would start with).
        text: The source being edited.
        cursor: Where the cursor is in ``text`` (code points).
        limiter: The completion slots it runs in.
        timeout: Seconds after which the answer is None (and a warning is logged).

    Returns:
        The signature, or None when the cursor is not inside a call jedi knows.

    Raises:
        ValueError: ``cursor`` is outside ``text``.
    """
    return await read_namespace(
        session,
        lambda namespace: _signature(namespace, text, cursor),
        text,
        cursor,
        limiter=limiter,
        timeout=timeout,
        empty=None,
        what="a signature",
        answered="none",
    )


def _signature(namespace: dict[str, Any], text: str, cursor: int) -> Signature | None:
    before = text[:cursor]
    if "(" not in before:
        return None
    lines = before.split("\n")
    try:
        found = interpreter(dict(namespace), text).get_signatures(len(lines), len(lines[-1]))
        return signature_of(found)
    except Exception:
        # jedi raises on odd input now and then; a hint is never worth an error.
        logger.debug("inferring a signature failed; answered none", exc_info=True)
        return None
