"""Tests for spe_host._auth: runtime dir, tokens, roles, connection files, peers, TLS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import ssl
import stat
import tempfile
from pathlib import Path

import pytest
import trustme

from spe_host import auth as _auth
from spe_host._errors import AuthenticationError, PermissionDenied, SpeError
from spe_host.auth import (
    OPERATOR_ALLOWED,
    ConnectionInfo,
    FailureThrottle,
    Role,
    TcpAddress,
    TokenTable,
    UnixAddress,
    cert_fingerprint,
    check_bind,
    check_fingerprint,
    check_peer_uid,
    check_permission,
    client_ssl_context,
    connection_file_path,
    default_socket_path,
    find_connection,
    fingerprint_of_der,
    format_address,
    is_loopback,
    new_token,
    parse_address,
    peer_uid,
    read_connection_file,
    remove_connection_file,
    runtime_dir,
    server_ssl_context,
    write_connection_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runtime directory (not created yet) selected through SPE_HOST_RUNTIME_DIR."""
    path = tmp_path / "rt"
    monkeypatch.setenv("SPE_HOST_RUNTIME_DIR", str(path))
    return path


@pytest.fixture
def other_uid(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pretend we run as another user, so that our own files look foreign."""
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 4242)
    return real


def _info(**overrides: object) -> ConnectionInfo:
    fields: dict[str, object] = {
        "name": "app",
        "address": "tcp://127.0.0.1:9000",
        "token": "s3cret",
        "role": "admin",
        "pid": 1234,
        "tls_fingerprint": None,
        "tls": False,
    }
    fields.update(overrides)
    return ConnectionInfo(**fields)  # type: ignore[arg-type]


# --- runtime directory ---------------------------------------------------------------


def test_runtime_dir_is_created_with_mode_0700(rt: Path) -> None:
    old = os.umask(0)  # even with a permissive umask
    try:
        assert runtime_dir() == rt
    finally:
        os.umask(old)
    assert rt.is_dir()
    assert _mode(rt) == 0o700


def test_runtime_dir_without_create_does_not_create(rt: Path) -> None:
    assert runtime_dir(create=False) == rt
    assert not rt.exists()


def test_runtime_dir_loose_mode_is_tightened(rt: Path) -> None:
    rt.mkdir()
    os.chmod(rt, 0o755)
    runtime_dir()
    assert _mode(rt) == 0o700


def test_runtime_dir_owned_by_someone_else_is_refused(rt: Path, other_uid: int) -> None:
    rt.mkdir(mode=0o700)
    with pytest.raises(SpeError, match=r"belongs to uid \d+, not to you") as info:
        runtime_dir()
    assert "SPE_HOST_RUNTIME_DIR" in str(info.value)


def test_runtime_dir_that_is_a_file_is_refused(rt: Path) -> None:
    rt.write_text("not a dir")
    with pytest.raises(SpeError, match="is not a directory"):
        runtime_dir()


def test_runtime_dir_falls_back_to_xdg_then_tempdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPE_HOST_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    (tmp_path / "xdg").mkdir()
    assert runtime_dir() == tmp_path / "xdg" / "spe-host"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    expected = tmp_path / "tmp" / f"spe-host-{os.getuid()}"
    assert runtime_dir() == expected
    assert _mode(expected) == 0o700


def test_socket_and_connection_file_paths(rt: Path) -> None:
    assert default_socket_path() == rt / "default.sock"
    assert default_socket_path("my-app_1.0") == rt / "my-app_1.0.sock"
    assert connection_file_path("app") == rt / "app.json"
    assert connection_file_path("app", Role.ADMIN) == rt / "app.json"
    assert connection_file_path("app", "operator") == rt / "app.operator.json"


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x" * 65, "sp ace", "nl\n", "é"])
def test_invalid_names_are_refused(rt: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a valid connection name"):
        default_socket_path(name)
    with pytest.raises(ValueError, match="not a valid connection name"):
        connection_file_path(name)


# --- roles -----------------------------------------------------------------------------


@pytest.mark.parametrize("message_type", sorted(OPERATOR_ALLOWED))
def test_operator_may_send_the_watching_messages(message_type: str) -> None:
    check_permission(Role.OPERATOR, message_type)
    check_permission("operator", message_type)


@pytest.mark.parametrize("message_type", ["execute", "start", "remove", "complete", "eval"])
def test_operator_may_not_run_code(message_type: str) -> None:
    with pytest.raises(PermissionDenied, match="operator token may list, receive") as info:
        check_permission(Role.OPERATOR, message_type)
    assert info.value.code == "forbidden"
    assert "connect with the admin token to run code" in str(info.value)


@pytest.mark.parametrize("message_type", [*sorted(OPERATOR_ALLOWED), "execute", "start"])
def test_admin_may_send_anything(message_type: str) -> None:
    check_permission(Role.ADMIN, message_type)


def test_role_is_a_str_enum() -> None:
    assert isinstance(Role.ADMIN, str)
    assert Role.ADMIN.value == "admin"
    assert Role("operator") is Role.OPERATOR
    assert str(Role.OPERATOR) == "operator"


# --- tokens -----------------------------------------------------------------------------


def test_new_token_is_32_random_bytes_urlsafe_unpadded() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 43
        assert "=" not in token
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_token_table_role_for_admin_and_operator() -> None:
    table = TokenTable.generate()
    assert table.token(Role.ADMIN) != table.token(Role.OPERATOR)
    assert table.role_for(table.token(Role.ADMIN)) is Role.ADMIN
    assert table.role_for(table.token("operator")) is Role.OPERATOR


def test_token_table_refuses_a_wrong_token() -> None:
    table = TokenTable.generate()
    for wrong in (new_token(), table.token(Role.ADMIN)[:-1], "ünïcode"):
        with pytest.raises(AuthenticationError, match="the token is not valid for this host") as e:
            table.role_for(wrong)
        assert e.value.code == "unauthorized"


@pytest.mark.parametrize("token", [None, ""])
def test_token_table_refuses_a_missing_token(token: str | None) -> None:
    with pytest.raises(AuthenticationError, match="no token was given; TCP connections need"):
        TokenTable.generate().role_for(token)


def test_token_table_compares_every_entry_with_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    table = TokenTable({Role.ADMIN: "aaaa", Role.OPERATOR: "bbbb"})
    # The first entry matches, yet the second is still compared: no early exit.
    assert table.role_for("aaaa") is Role.ADMIN
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(AuthenticationError):
        table.role_for("cccc")
    assert len(calls) == 2


def test_token_table_repr_hides_tokens_and_refuses_bad_tables() -> None:
    table = TokenTable.generate()
    assert table.token(Role.ADMIN) not in repr(table)
    assert "admin" in repr(table)
    with pytest.raises(ValueError, match="share the same token"):
        TokenTable({Role.ADMIN: "x", Role.OPERATOR: "x"})
    with pytest.raises(ValueError, match="must not be empty"):
        TokenTable({Role.ADMIN: ""})
    with pytest.raises(ValueError, match="at least one token"):
        TokenTable({})


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


# --- connection files ---------------------------------------------------------------------


def test_connection_info_json_round_trip_and_repr_hides_token() -> None:
    info = _info(role=Role.OPERATOR, tls=True, tls_fingerprint="ab" * 32)
    assert info.role == "operator"
    assert ConnectionInfo.from_json(info.to_json()) == info
    assert json.loads(info.to_json())["role"] == "operator"
    assert "s3cret" not in repr(info)
    assert info.parsed_address() == TcpAddress("127.0.0.1", 9000)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"address": "tcp://h:1", "role": "admin"}', "has no 'name'"),
        (
            '{"name": "a", "address": "nope", "token": null, "role": "admin", "pid": 1}',
            "is not an address",
        ),
        (
            '{"name": "a", "address": "tcp://h:1", "token": null, "role": "root", "pid": 1}',
            "neither 'admin' nor 'operator'",
        ),
        (
            '{"name": "a", "address": "tcp://h:1", "token": null, "role": "admin", "pid": true}',
            "'pid' should be of type int",
        ),
    ],
)
def test_connection_info_from_json_refuses_bad_content(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ConnectionInfo.from_json(text)


def test_write_connection_file_is_0600_and_leaves_no_temp_file(rt: Path) -> None:
    path = connection_file_path("app")
    old = os.umask(0)
    try:
        write_connection_file(path, _info())
        write_connection_file(path, _info(pid=99))  # replaces the first one
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert read_connection_file(path).pid == 99
    assert sorted(p.name for p in rt.iterdir()) == ["app.json"]


def test_write_connection_file_creates_the_temp_file_private_and_exclusive(
    rt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777, **kw: object) -> int:
        opened.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", spy)
    path = connection_file_path("app")
    write_connection_file(path, _info())
    [(tmp, flags, mode)] = opened
    assert Path(tmp).parent == rt
    assert Path(tmp) != path
    assert mode == 0o600
    assert flags & os.O_CREAT
    assert flags & os.O_EXCL


def test_read_connection_file_refuses_a_file_others_can_read(rt: Path) -> None:
    path = connection_file_path("app")
    write_connection_file(path, _info())
    os.chmod(path, 0o644)
    with pytest.raises(SpeError, match=r"open to other users \(mode 0644\)") as info:
        read_connection_file(path)
    assert "token may have leaked" in str(info.value)
    os.chmod(path, 0o620)
    with pytest.raises(SpeError, match="open to other users"):
        read_connection_file(path)


def test_read_connection_file_refuses_a_file_we_do_not_own(tmp_path: Path, other_uid: int) -> None:
    path = tmp_path / "x.json"
    write_connection_file(path, _info())
    with pytest.raises(SpeError, match=r"belongs to uid \d+, not to you"):
        read_connection_file(path)


def test_read_connection_file_missing_or_garbage(tmp_path: Path) -> None:
    with pytest.raises(SpeError, match=r"there is no connection file at .*spe-host serve"):
        read_connection_file(tmp_path / "missing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    os.chmod(garbage, 0o600)
    with pytest.raises(SpeError, match="is not a valid connection file: it is not valid JSON"):
        read_connection_file(garbage)


def test_remove_connection_file_missing_is_fine(rt: Path) -> None:
    path = connection_file_path("app")
    write_connection_file(path, _info())
    remove_connection_file(path)
    assert not path.exists()
    remove_connection_file(path)


def test_find_connection_by_name_prefers_admin_then_operator(rt: Path) -> None:
    operator = _info(token="op", role="operator")
    write_connection_file(connection_file_path("app", "operator"), operator)
    assert find_connection("app") == operator
    admin = _info(token="ad")
    write_connection_file(connection_file_path("app"), admin)
    assert find_connection("app") == admin


def test_find_connection_none_means_default(rt: Path) -> None:
    info = _info(name="default")
    write_connection_file(connection_file_path("default"), info)
    assert find_connection(None) == info
    assert find_connection() == info


def test_find_connection_by_path(tmp_path: Path, rt: Path) -> None:
    path = tmp_path / "elsewhere" / "conn.json"
    path.parent.mkdir()
    write_connection_file(path, _info())
    assert find_connection(str(path)) == _info()
    with pytest.raises(SpeError, match="there is no connection file at"):
        find_connection(str(tmp_path / "nope.json"))


@pytest.mark.parametrize(
    ("text", "address"),
    [("unix:/run/x.sock", "unix:/run/x.sock"), ("tcp://[::1]:9", "tcp://[::1]:9")],
)
def test_find_connection_by_explicit_address(rt: Path, text: str, address: str) -> None:
    info = find_connection(text)
    assert info.address == address
    assert info.token is None
    assert info.tls is False
    with pytest.raises(SpeError, match="has no port"):
        find_connection("tcp://localhost")


def test_find_connection_falls_back_to_a_bare_socket(rt: Path) -> None:
    sock_path = default_socket_path("app")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
        info = find_connection("app")
    assert info.address == f"unix:{sock_path}"
    assert info.token is None


def test_find_connection_not_found_says_where_it_looked(rt: Path) -> None:
    with pytest.raises(SpeError) as info:
        find_connection("ghost")
    message = str(info.value)
    assert "no host named 'ghost' was found" in message
    for name in ("ghost.json", "ghost.operator.json", "ghost.sock"):
        assert str(rt / name) in message
    assert "spe-host serve" in message
    assert "--connect" in message
    with pytest.raises(SpeError, match="not a valid connection name"):
        find_connection("bad name")


# --- peer credentials -----------------------------------------------------------------


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
    with caplog.at_level(logging.WARNING, logger="spe_host.auth"):
        check_bind("0.0.0.0", tls=False, insecure=True)
    assert "without TLS (--insecure)" in caplog.text


# --- TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def cert_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path, Path, bytes]:
    """(certfile, keyfile, cafile, leaf DER) for a 'localhost' certificate."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(keyfile))
    for i, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(certfile), append=i > 0)
    ca.cert_pem.write_to_path(str(cafile))
    leaf_der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return certfile, keyfile, cafile, leaf_der


def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake between two in-memory endpoints, step by step, no threads."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            client.write(b"ping")
            s_in.write(c_out.read())
            assert server.read(4) == b"ping"
            return client, server
    raise AssertionError("the handshake did not finish")


def test_tls_contexts_complete_a_handshake(
    cert_files: tuple[Path, Path, Path, bytes],
) -> None:
    certfile, keyfile, cafile, leaf_der = cert_files
    server_ctx = server_ssl_context(certfile, keyfile)
    client_ctx = client_ssl_context(str(cafile))
    assert server_ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client_ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client_ctx.verify_mode == ssl.CERT_REQUIRED
    client, _server = _handshake(server_ctx, client_ctx)
    presented = client.getpeercert(binary_form=True)
    assert presented == leaf_der
    assert fingerprint_of_der(presented) == cert_fingerprint(certfile)
    check_fingerprint(presented, cert_fingerprint(certfile).upper())


def test_client_ssl_context_without_cafile_refuses_an_unknown_ca(
    cert_files: tuple[Path, Path, Path, bytes],
) -> None:
    certfile, keyfile, _cafile, _der = cert_files
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server_ssl_context(certfile, keyfile), client_ssl_context())


def test_cert_fingerprint_of_a_trustme_cert(cert_files: tuple[Path, Path, Path, bytes]) -> None:
    certfile, _keyfile, _cafile, leaf_der = cert_files
    fingerprint = cert_fingerprint(certfile)
    assert fingerprint == hashlib.sha256(leaf_der).hexdigest()
    assert len(fingerprint) == 64
    assert fingerprint == fingerprint.lower()
    assert ":" not in fingerprint


def test_check_fingerprint_refuses_another_certificate() -> None:
    with pytest.raises(AuthenticationError, match="someone is intercepting"):
        check_fingerprint(b"other cert", fingerprint_of_der(b"cert"))
    with pytest.raises(AuthenticationError, match=r"\(none\)"):
        check_fingerprint(None, fingerprint_of_der(b"cert"))


def test_tls_helpers_explain_bad_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    with pytest.raises(SpeError, match="cannot load the TLS certificate"):
        server_ssl_context(empty)
    with pytest.raises(SpeError, match="holds no PEM certificate"):
        cert_fingerprint(empty)
    with pytest.raises(SpeError, match="cannot read the TLS certificate"):
        cert_fingerprint(tmp_path / "missing.pem")
    with pytest.raises(SpeError, match="cannot load the CA file"):
        client_ssl_context(str(tmp_path / "missing.pem"))


# --- failure throttle ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_delays_only_after_limit_failures_in_the_window() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=3, window=10.0, penalty=1.0, clock=clock)
    assert throttle.delay_for("10.0.0.1") == 0.0
    for _ in range(2):
        throttle.record_failure("10.0.0.1", "bad token")
        assert throttle.delay_for("10.0.0.1") == 0.0
    throttle.record_failure("10.0.0.1", "bad token")
    assert throttle.delay_for("10.0.0.1") == 1.0
    assert throttle.delay_for("10.0.0.2") == 0.0  # other peers are not affected


def test_throttle_penalty_grows_and_is_capped() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=2, window=60.0, penalty=1.0, clock=clock, max_penalty=10.0)
    delays = []
    for _ in range(8):
        throttle.record_failure("p", "bad token")
        clock.now += 0.1
        delays.append(throttle.delay_for("p"))
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_throttle_old_failures_expire_and_peers_are_forgotten() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=2, window=10.0, clock=clock)
    throttle.record_failure("p", "bad token")
    clock.now += 6
    throttle.record_failure("p", "bad token")
    assert throttle.delay_for("p") == 1.0
    clock.now += 5  # the first failure is now 11 s old
    assert throttle.delay_for("p") == 0.0
    assert len(throttle) == 1
    clock.now += 10
    assert throttle.delay_for("p") == 0.0
    assert len(throttle) == 0


def test_throttle_memory_is_bounded() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(limit=1, window=10.0, clock=clock, max_peers=100)
    for i in range(50):
        throttle.record_failure(f"old{i}", "bad token")
    clock.now += 20  # these have all expired
    for i in range(150):
        throttle.record_failure(f"new{i}", "bad token")
        assert len(throttle) <= 100
    # The most recent peers are kept; the least recent were evicted.
    assert throttle.delay_for("new149") == 1.0
    assert throttle.delay_for("new0") == 0.0


def test_throttle_logs_each_failure_with_peer_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = FailureThrottle(clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="spe_host.auth"):
        throttle.record_failure("203.0.113.7", "the token is not valid")
    [record] = caplog.records
    assert record.name == "spe_host.auth"
    assert record.levelno == logging.WARNING
    assert "203.0.113.7" in record.getMessage()
    assert "the token is not valid" in record.getMessage()


def test_throttle_reset_forgets_a_peer() -> None:
    throttle = FailureThrottle(limit=1, clock=FakeClock())
    throttle.record_failure("p", "bad token")
    assert throttle.delay_for("p") == 1.0
    throttle.reset("p")
    assert throttle.delay_for("p") == 0.0


def test_module_does_not_import_trio() -> None:
    source = Path(_auth.__file__).read_text()
    assert re.search(r"^\s*(import|from)\s+trio\b", source, re.MULTILINE) is None
