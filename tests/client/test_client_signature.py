"""``Client.signature`` against a served host (protocol 1.4): jedi on the session's
live namespace, admin-only as completion is, refused before sending to an older host."""

from __future__ import annotations

import pytest
import trio
from support.server import served

from spe_host import LocalProtocolError, PermissionDenied, SessionNotFound, Signature


async def test_the_signature_comes_from_the_session_on_the_host() -> None:
    with trio.fail_after(30):
        async with served("memory") as srv, srv.connect() as client:
            await client.execute("s", 'def f(a, b=2):\n    "doc"\n')
            found = await client.signature("s", "f(")
            assert found == Signature(name="f", params=["a", "b=2"], index=0, doc="doc")
            assert str(found) == "f(a, b=2)"
            assert await client.signature("s", "f(1) + 2") is None
            with pytest.raises(SessionNotFound):
                await client.signature("bad id!", "f(")
            async with srv.connect("operator") as operator:
                with pytest.raises(PermissionDenied):
                    await operator.signature("s", "f(")
            client.version = "1.3"
            with pytest.raises(LocalProtocolError, match=r"protocol 1\.3, which has no signatures"):
                await client.signature("s", "f(")
