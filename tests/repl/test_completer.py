"""Tab completion (``_completer``): the host's completions mapped onto prompt_toolkit's,
``%`` commands and their session arguments completed locally.
"""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from spe_host._model import Completion as WireCompletion
from spe_host.repl._completer import RemoteCompleter

# --- completer ----------------------------------------------------------------------------


def _complete(completer: RemoteCompleter, text: str, cursor: int | None = None) -> list:
    document = Document(text, len(text) if cursor is None else cursor)
    return list(completer.get_completions(document, CompleteEvent(completion_requested=True)))


def test_completer_maps_wire_completions() -> None:
    calls = []

    def fetch(text: str, cursor: int) -> list[WireCompletion]:
        calls.append((text, cursor))
        return [
            WireCompletion(text="my_variable", start=4, display="my_variable", kind="statement"),
            WireCompletion(text="my_function", start=4, display="my_function()", kind="function"),
            WireCompletion(text="bogus", start=99, display="bogus", kind="x"),  # past cursor
        ]

    items = _complete(RemoteCompleter(fetch), "x = my_")
    assert calls == [("x = my_", 7)]
    assert [(c.text, c.start_position, c.display_text, c.display_meta_text) for c in items] == [
        ("my_variable", -3, "my_variable", "statement"),
        ("my_function", -3, "my_function()", "function"),
    ]


def test_completer_survives_errors() -> None:
    def fetch(text: str, cursor: int) -> list[WireCompletion]:
        raise ConnectionError("gone")

    assert _complete(RemoteCompleter(fetch), "pri") == []


def test_completer_meta_commands_locally() -> None:
    def fetch(text: str, cursor: int) -> list[WireCompletion]:
        raise AssertionError("meta-commands are not sent to the host")

    completer = RemoteCompleter(fetch, lambda: ["etl", "etl-2", "report"])
    assert [c.text for c in _complete(completer, "%s")] == ["%stop", "%session"]
    assert [c.text for c in _complete(completer, "%session et")] == ["etl", "etl-2"]
    assert [c.text for c in _complete(completer, "%stop ")] == ["etl", "etl-2", "report"]
    assert _complete(completer, "%ls et") == []
