"""The client parses the address it is given, and explains a malformed one."""

from __future__ import annotations

import pytest
import trio

from spe_host._errors import SpeError
from spe_host.client import connect


@pytest.mark.usefixtures("runtime")
@pytest.mark.parametrize(
    ("address", "fragment"),
    [("tcp://localhost", "has no port"), ("tcp://h:port", "a number from 0 to 65535")],
)
async def test_a_malformed_explicit_address_is_an_spe_error(address: str, fragment: str) -> None:
    with trio.fail_after(5), pytest.raises(SpeError, match=fragment) as info:
        async with connect(address):
            raise AssertionError("connected to a malformed address")
    assert str(info.value).startswith(f"{address!r} ")
