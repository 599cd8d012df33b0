"""What an operator may send: the protocol's one list, which the server applies.

Moved from tests/auth: the list is the protocol's (docs/protocol.md, "Roles"), and the
refusal itself (``forbidden``, with its sentence) is tested against a real server in
tests/server.
"""

from __future__ import annotations

import pytest

from spe_host import wire as p
from spe_host.wire._codec import MESSAGE_TYPES

WATCHING = ["cancel", "list", "receive", "stop", "subscribe", "ticket", "tickets", "wait", "watch"]


@pytest.mark.parametrize("message_type", sorted(p.OPERATOR_REQUESTS))
def test_operator_may_send_the_watching_messages(message_type: str) -> None:
    assert message_type in WATCHING
    assert issubclass(MESSAGE_TYPES[message_type], p.Request)


@pytest.mark.parametrize(
    "message_type", ["execute", "start", "remove", "complete", "input_reply", "eval"]
)
def test_operator_may_not_run_code(message_type: str) -> None:
    assert message_type not in p.OPERATOR_REQUESTS


@pytest.mark.parametrize("message_type", [*sorted(p.OPERATOR_REQUESTS), "execute", "start"])
def test_admin_may_send_anything(message_type: str) -> None:
    # Every request type is a client's request, and the operator's list names no other.
    cls = MESSAGE_TYPES[message_type]
    assert issubclass(cls, p.Request)
    assert cls.SENDER == "client"
    assert sorted(p.OPERATOR_REQUESTS) == WATCHING
