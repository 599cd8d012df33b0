"""Completion of names in a session's live namespace: jedi, or rlcompleter without it.

Theory of operation
-------------------
Completing reads the live objects of a namespace - ``dir()`` of them, their
attributes, their signatures - and that runs arbitrary code (properties,
``__getattr__``, ``__dir__``) which may block or take long. So completion never runs
in the trio thread: :func:`complete` runs it in a worker thread, bounded by the
caller's limiter, and gives up after a timeout, answering no candidates (the
thread is abandoned; it holds its limiter slot until it returns, so stuck
completions cannot pile up beyond the limiter's bound).

jedi is used when it can be imported; otherwise, or when it fails, the standard
library's rlcompleter. Names of spe_host's own (``__spe_*``) are never offered, the
same candidate is offered once, and at most 1000 are.
"""

from __future__ import annotations

import keyword
import logging
import re
from collections.abc import Iterable
from functools import partial
from typing import Any, Final

import trio

from .._model import Completion
from ._session import ScriptSession

__all__ = ["complete"]

logger = logging.getLogger("spe_host")

_MAX_COMPLETIONS: Final = 1000
_RESERVED_PREFIX: Final = "__spe_"
_WORD: Final = re.compile(r"[\w.]*$")


async def complete(
    session: ScriptSession,
    text: str,
    cursor: int,
    *,
    limiter: trio.CapacityLimiter,
    timeout: float = 5.0,
) -> list[Completion]:
    """Completion candidates for ``text`` at ``cursor`` in the session's namespace.

    Completing is using the session: its idle expiry slides.

    Args:
        session: The session whose namespace is completed in.
        text: The source being edited.
        cursor: Where the cursor is in ``text`` (code points).
        limiter: Bounds the worker threads completion runs in.
        timeout: Seconds after which the answer is no candidates (and a warning is
            logged).

    Returns:
        The candidates, each once, at most 1000.

    Raises:
        ValueError: ``cursor`` is outside ``text``.
    """
    if not 0 <= cursor <= len(text):
        raise ValueError(
            f"the cursor ({cursor}) is outside the text, which has {len(text)} characters"
        )
    session.touch()
    found: list[Completion] = []
    with trio.move_on_after(timeout) as scope:
        found = await trio.to_thread.run_sync(
            partial(_completions, session.namespace, text, cursor),
            abandon_on_cancel=True,
            limiter=limiter,
        )
    if scope.cancelled_caught:
        logger.warning(
            "completion in session %r took longer than %g s; answered no candidates",
            session.id,
            timeout,
        )
    return found


def _completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    # dict() copies in one C call, so a script mutating its namespace in another thread
    # cannot make the copy fail halfway; completion then reads the copy.
    snapshot = dict(namespace)
    found: list[Completion] | None = None
    try:
        found = _jedi_completions(snapshot, text, cursor)
    except ImportError:
        found = None
    except Exception:
        logger.debug("jedi failed to complete; falling back to rlcompleter", exc_info=True)
        found = None
    if found is None:
        try:
            found = _rl_completions(snapshot, text, cursor)
        except Exception:
            logger.debug("rlcompleter failed to complete", exc_info=True)
            found = []
    seen: set[tuple[str, int]] = set()
    result: list[Completion] = []
    for completion in found:
        name = completion.text.rsplit(".", 1)[-1]
        key = (completion.text, completion.start)
        if name.startswith(_RESERVED_PREFIX) or key in seen:
            continue
        seen.add(key)
        result.append(completion)
        if len(result) >= _MAX_COMPLETIONS:
            break
    return result


def _jedi_completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    import jedi

    lines = text[:cursor].split("\n")
    script = jedi.Interpreter(text, [namespace])
    return [
        Completion(
            text=c.name,
            start=cursor - c.get_completion_prefix_length(),
            display=c.name,
            kind=c.type,
        )
        for c in script.complete(len(lines), len(lines[-1]))
    ]


def _rl_completions(namespace: dict[str, Any], text: str, cursor: int) -> list[Completion]:
    import rlcompleter

    match = _WORD.search(text[:cursor])
    word = match.group() if match else ""
    if word[:1].isdigit():
        return []
    completer = rlcompleter.Completer(namespace)
    # attr_matches/global_matches directly: complete() would poke the readline module.
    matches: Iterable[str] = (
        completer.attr_matches(word) if "." in word else completer.global_matches(word)
    )
    # Like jedi: the candidate replaces the last name only (after the last dot).
    start = cursor - len(word.rsplit(".", 1)[-1])
    result = []
    for match_text in matches:
        # rlcompleter appends "(" or "()" to callables and " " or ":" to keywords;
        # the candidate is the bare name, and its kind says what it is.
        name = match_text.removesuffix("()").rstrip("(: ").rsplit(".", 1)[-1]
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            kind = "keyword"
        elif match_text.endswith(("(", "()")):
            kind = "function"
        else:
            kind = "name"
        result.append(Completion(text=name, start=start, display=name, kind=kind))
    return result
