"""Tests for spe_host.auth._files: the runtime directory, connection files, find_connection."""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from spe_host._errors import SpeError
from spe_host.auth import (
    ConnectionInfo,
    Role,
    connection_file_path,
    default_socket_path,
    find_connection,
    read_connection_file,
    remove_connection_file,
    runtime_dir,
    write_connection_file,
)
from spe_host.transport import TcpAddress, parse_address


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


# --- connection files ---------------------------------------------------------------------


def test_connection_info_json_round_trip_and_repr_hides_token() -> None:
    info = _info(role=Role.OPERATOR, tls=True, tls_fingerprint="ab" * 32)
    assert info.role == "operator"
    assert ConnectionInfo.from_json(info.to_json()) == info
    assert json.loads(info.to_json())["role"] == "operator"
    assert "s3cret" not in repr(info)
    assert parse_address(info.address) == TcpAddress("127.0.0.1", 9000)


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
    # The address is handed on as given: parsing it is the transport's job, and the
    # client turns its ValueError into an SpeError (tests/client/test_client_address.py).
    unparsed = find_connection("tcp://localhost")
    assert unparsed.address == "tcp://localhost"
    with pytest.raises(ValueError, match="has no port"):
        parse_address(unparsed.address)


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
