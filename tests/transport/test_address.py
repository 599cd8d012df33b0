"""Tests for spe_host.transport._address: parsing and printing addresses, the bind policy."""

from __future__ import annotations

import logging

import pytest

from spe_host._errors import SpeError
from spe_host.transport import (
    TcpAddress,
    UnixAddress,
    check_bind,
    format_address,
    is_loopback,
    parse_address,
)

# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("unix:/run/x.sock", UnixAddress("/run/x.sock"), "unix:/run/x.sock"),
        ("unix:///run/x.sock", UnixAddress("/run/x.sock"), "unix:/run/x.sock"),
        ("unix:rel.sock", UnixAddress("rel.sock"), "unix:rel.sock"),
        ("tcp://127.0.0.1:9000", TcpAddress("127.0.0.1", 9000), "tcp://127.0.0.1:9000"),
        ("tcp://localhost:0", TcpAddress("localhost", 0), "tcp://localhost:0"),
        ("tcp://my-host.example:65535", TcpAddress("my-host.example", 65535), None),
        ("tcp://[::1]:9000", TcpAddress("::1", 9000), "tcp://[::1]:9000"),
    ],
)
def test_parse_address_good(text: str, expected: object, canonical: str | None) -> None:
    parsed = parse_address(text)
    assert parsed == expected
    assert format_address(parsed) == (canonical or text)
    assert str(parsed) == (canonical or text)
    assert parse_address(format_address(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is not an address"),
        ("/run/x.sock", "is not an address"),
        ("http://h:1", "is not an address"),
        ("unix:", "has no socket path"),
        ("unix:/a\0b", "NUL"),
        ("tcp://127.0.0.1", "has no port"),
        ("tcp://:9000", "has no host"),
        ("tcp://::1:9000", "put it in brackets"),
        ("tcp://[::1]9000", "tcp://[::1]:port"),
        ("tcp://[nothex]:9000", "not an IPv6 address"),
        ("tcp://h:65536", "a number from 0 to 65535"),
        ("tcp://h:-1", "a number from 0 to 65535"),
        ("tcp://h:port", "a number from 0 to 65535"),
        ("tcp://h:9000/path", "a number from 0 to 65535"),
        ("tcp://bad host:1", "not a host name"),
    ],
)
def test_parse_address_bad(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=r"^'.*'") as info:
        parse_address(text)
    assert fragment in str(info.value)


# --- binding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind(caplog: pytest.LogCaptureFixture) -> None:
    check_bind("127.0.0.1", tls=False, insecure=False)
    check_bind("0.0.0.0", tls=True, insecure=False)
    with pytest.raises(
        SpeError,
        match=r"^refusing to listen on 0\.0\.0\.0 without TLS: anyone on the network could run "
        r"code in this process; pass --tls-cert/--tls-key, or --insecure if you really mean it$",
    ):
        check_bind("0.0.0.0", tls=False, insecure=False)
    with pytest.raises(SpeError, match="every network interface"):
        check_bind("", tls=False, insecure=False)
    with caplog.at_level(logging.WARNING, logger="spe_host.transport"):
        check_bind("0.0.0.0", tls=False, insecure=True)
    assert "without TLS (--insecure)" in caplog.text
