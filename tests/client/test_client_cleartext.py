"""The client never sends a token in clear text to a host off this machine."""

from __future__ import annotations

import pytest
import trio

from spe_host import SpeError, connect


async def test_a_token_is_not_sent_in_clear_text_off_the_loopback() -> None:
    # Refused before any connection is attempted: no packet leaves the machine.
    with trio.fail_after(5):
        with pytest.raises(SpeError, match="refusing to send the token in clear text"):
            async with connect("tcp://192.0.2.1:9", token="secret"):
                pass


async def test_the_loopback_needs_no_tls_for_a_token() -> None:
    # Nothing listens on this port: the refusal is about connecting, not clear text.
    with trio.fail_after(5):
        with pytest.raises(SpeError) as raised:
            async with connect("tcp://127.0.0.1:9", token="secret", timeout=2):
                pass
        assert "clear text" not in str(raised.value)
