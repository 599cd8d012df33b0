"""The stop's audit line, when the peer does not read its answers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
from support.server import encode, served, use_private_runtime_dir, wait_state


async def test_a_stops_audit_line_is_written_though_its_peer_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_private_runtime_dir(tmp_path, monkeypatch)
    caplog.set_level(logging.INFO, logger="spe_host.service")
    with trio.fail_after(20):
        async with served("unix") as srv:
            srv.host.start("b", "import trio\nawait trio.sleep(100)")
            await wait_state(srv.host, "b", "running")
            stream, _ = await srv.raw_hello()
            # Output the peer never reads fills the socket and the outbox.
            await stream.send_all(
                encode(
                    {
                        "type": "execute",
                        "id": 1,
                        "session": "a",
                        "code": "for i in range(200):\n    print('x' * 50_000)",
                    }
                )
            )
            await wait_state(srv.host, "a", "idle")
            await stream.send_all(encode({"type": "stop", "id": 2, "targets": ["b"]}))
            await wait_state(srv.host, "b", "idle")  # the stop was made and landed
            assert "asked b to stop" in caplog.text
