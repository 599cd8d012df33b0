"""Tab completion: Python from the session's live namespace, ``%`` commands locally.

The host completes Python (jedi, in the host's process, on the live namespace); the
completer only maps its answer onto prompt_toolkit's. It runs in a prompt_toolkit
completion thread, so the callables it is given hop into trio themselves, and any
error means "no completions": completion never breaks the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .._model import Completion as WireCompletion
from ._commands import META_COMMANDS

__all__ = ["RemoteCompleter"]

# The commands whose arguments are session ids.
_SESSION_COMMANDS = ("%stop", "%session", "%wait")


class RemoteCompleter(Completer):
    """Completes Python from the session's live namespace on the host.

    Lines that start with ``%`` are the REPL's own commands; they are completed locally,
    and their session arguments from the host's session list.

    Args:
        fetch: Given the buffer's text and the cursor position, returns the host's
            completions (the protocol's ``complete``). It is called from the prompt
            thread; errors mean "no completions": completion never breaks the prompt.
        session_ids: Returns the ids of the host's sessions, for ``%session`` & co.
    """

    def __init__(
        self,
        fetch: Callable[[str, int], Sequence[WireCompletion]],
        session_ids: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self._fetch = fetch
        self._session_ids = session_ids

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Yield the completions for the word before the cursor."""
        text, cursor = document.text, document.cursor_position
        if text.lstrip().startswith("%") and "\n" not in text:
            yield from self._meta(document)
            return
        try:
            candidates = self._fetch(text, cursor)
        except Exception:
            return
        for item in candidates:
            if item.start > cursor:
                continue
            yield Completion(
                item.text,
                start_position=item.start - cursor,
                display=item.display or item.text,
                display_meta=item.kind,
            )

    def _meta(self, document: Document) -> Iterable[Completion]:
        before = document.text_before_cursor.lstrip()
        words = before.split()
        if len(words) <= 1 and not before.endswith(" "):
            for usage in META_COMMANDS:
                command = usage.split()[0]
                if command.startswith(before):
                    yield Completion(command, -len(before), display_meta=META_COMMANDS[usage])
            return
        if words[0] not in _SESSION_COMMANDS or self._session_ids is None:
            return
        word = "" if before.endswith(" ") else words[-1]
        try:
            ids = self._session_ids()
        except Exception:
            return
        for session_id in ids:
            if session_id.startswith(word):
                yield Completion(session_id, -len(word))
