"""What spe_host reads from jedi's call signatures, in one place.

The host (on the session's live namespace) and the REPL (on the text alone) both ask
jedi for the signature of the call under the cursor; :func:`signature_of` turns
jedi's answer into the :class:`~spe_host._model.Signature` that both show, so a
signature reads the same wherever it was inferred. jedi itself is imported by the
callers, which choose how it infers (``jedi.Interpreter`` or ``jedi.Script``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._model import Signature

__all__ = ["signature_of"]


def signature_of(signatures: Sequence[Any]) -> Signature | None:
    """The first of jedi's ``get_signatures()`` answers, or None without one."""
    if not signatures:
        return None
    found = signatures[0]
    return Signature(
        name=found.name,
        params=[param.to_string() for param in found.params],
        index=found.index,
        doc=_first_line(found.docstring(raw=True)),
    )


def _first_line(doc: str) -> str:
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return ""
