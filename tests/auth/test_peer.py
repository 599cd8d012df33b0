"""Tests for spe_host.auth._peer: peer credentials from SO_PEERCRED and the uid check."""

from __future__ import annotations

import os
import socket

import pytest

from spe_host._errors import AuthenticationError
from spe_host.auth import Credentials, check_peer_uid, peer_credentials, peer_uid


def test_peer_credentials_of_a_socketpair_name_this_process() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert peer_credentials(a) == Credentials(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())
        assert peer_credentials(b) == peer_credentials(a)


def test_peer_credentials_are_none_for_a_short_or_failed_answer() -> None:
    class Short:
        family = socket.AF_UNIX

        def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes:
            return b"\0" * 4

    class Failing(Short):
        def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes:
            raise OSError("not connected")

    assert peer_credentials(Short()) is None
    assert peer_credentials(Failing()) is None
    assert peer_uid(Failing()) is None


def test_peer_uid_of_a_socketpair_is_our_uid() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert peer_uid(a) == os.getuid()
        assert peer_uid(b) == os.getuid()


def test_peer_uid_is_none_when_it_cannot_be_known(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET) as tcp:
        assert peer_uid(tcp) is None
    monkeypatch.delattr(socket, "SO_PEERCRED", raising=False)
    a, b = socket.socketpair()
    with a, b:
        assert peer_uid(a) is None


def test_check_peer_uid() -> None:
    check_peer_uid(os.getuid(), os.getuid())
    with pytest.raises(
        AuthenticationError,
        match=r"^the peer runs as uid 4321; this host only accepts its own user \(uid 1000\)$",
    ):
        check_peer_uid(4321, 1000)
    with pytest.raises(AuthenticationError, match="could not be determined"):
        check_peer_uid(None, 1000)
