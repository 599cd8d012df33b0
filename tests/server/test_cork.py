"""The cork (#15): a stop and the requests read with it are answered in one write.

The write that wakes the client is the costly part of an answer, so the answers of a
``stop`` and of the ``wait`` sent with it (``Client.stop_and_wait``) leave together.
A stop read alone is answered at once, a held answer leaves by the hold's deadline
whatever its batch still waits for, and the stop's audit log line comes once its
answer is out - after it, but still before the journal's record of the stop's end.
"""

from __future__ import annotations

import logging
from contextlib import closing
from pathlib import Path

import pytest
import trio
from support.server import encode, read_frames, served, wait_state

from spe_host.journal import audit, open_readonly
from spe_host.server import _cork
from spe_host.transport import _framed


class _Events:
    """What happened in order: the server's answers reaching its socket, log lines."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.items: list[tuple[str, bytes | str]] = []
        write = _framed.os.write

        def recorded(fd: int, data: bytes) -> int:
            sent = write(fd, data)
            if b'"type":"result"' in data[:sent]:
                self.items.append(("answer", bytes(data[:sent])))
            return sent

        monkeypatch.setattr(_framed.os, "write", recorded)
        events = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                events.items.append(("log", record.getMessage()))

        self.handler = Handler(logging.INFO)

    @property
    def answers(self) -> list[bytes]:
        return [data for kind, data in self.items if kind == "answer"]  # type: ignore[misc]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> _Events:
    found = _Events(monkeypatch)
    logger = logging.getLogger("spe_host.service")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(found.handler)
    yield found  # type: ignore[misc]
    logger.removeHandler(found.handler)
    logger.setLevel(old_level)


def stop(request_id: int, *targets: str) -> bytes:
    return encode({"type": "stop", "id": request_id, "targets": list(targets)})


def wait(request_id: int, *sessions: str) -> bytes:
    return encode({"type": "wait", "id": request_id, "sessions": list(sessions)})


async def test_a_stop_and_its_wait_are_answered_in_one_write_and_logged_after_it(
    events: _Events, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_cork, "HOLD", 60.0)  # only the answers may end the hold
    journal = tmp_path / "j.sqlite"
    with trio.fail_after(10):
        async with served("unix", host_options={"journal": journal}) as srv:
            async with srv.connect() as client:
                await client.start("s", "import trio\nawait trio.sleep(100)")
                await wait_state(srv.host, "s", "running")
            stream, _ = await srv.raw_hello()
            events.items.clear()
            await stream.send_all(stop(1, "s") + wait(2, "s"))
            answers = await read_frames(stream, 2)
            assert [(a["id"], a["type"]) for a in answers] == [(1, "result"), (2, "result")]
            assert answers[0]["value"] == {"s": "requested"}
            assert [info["id"] for info in answers[1]["value"]] == ["s"]
            # Both answers in one write; the audit line only once they were out.
            assert len(events.answers) == 1
            assert b'"id":1' in events.answers[0]
            assert b'"id":2' in events.answers[0]
            assert [kind for kind, _ in events.items] == ["answer", "log"]
            assert "asked s to stop" in str(events.items[1][1])
    with closing(open_readonly(journal)) as db:
        kinds = [entry.kind for entry in audit(db) if entry.run == "s#1"]
    assert kinds.index("stop_requested") < kinds.index("stop_finished")


async def test_a_stop_read_alone_is_answered_at_once(
    events: _Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cork, "HOLD", 60.0)  # a held answer would miss the deadline
    with trio.fail_after(10):
        async with served("unix") as srv:
            stream, _ = await srv.raw_hello()
            await stream.send_all(stop(1, "nobody"))
            [answer] = await read_frames(stream, 1)
            assert answer == {"type": "result", "id": 1, "value": {"nobody": "not_found"}}
            # The connection goes on: the next stop read alone is answered at once too.
            await stream.send_all(stop(2, "nobody"))
            [answer] = await read_frames(stream, 1)
            assert answer == {"type": "result", "id": 2, "value": {"nobody": "not_found"}}


async def test_a_held_stop_answer_leaves_by_the_deadline_while_its_wait_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_cork, "HOLD", 0.05)
    with trio.fail_after(10):
        async with served("unix") as srv, srv.connect() as client:
            await client.start("b", "import trio\nawait trio.sleep(100)")
            await wait_state(srv.host, "b", "running")
            stream, _ = await srv.raw_hello()
            start = trio.current_time()
            # The wait is for a session nobody stops: it would hold the stop 100 s.
            await stream.send_all(stop(1, "a") + wait(2, "b"))
            [answer] = await read_frames(stream, 1)
            assert answer == {"type": "result", "id": 1, "value": {"a": "not_found"}}
            assert trio.current_time() - start >= 0.05
            assert srv.host.session("b").state == "running"
            await client.stop("b")
            [answer] = await read_frames(stream, 1)
            assert (answer["id"], [info["id"] for info in answer["value"]]) == (2, ["b"])
