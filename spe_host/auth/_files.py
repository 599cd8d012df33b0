"""The private runtime directory and connection files: where a client finds a host.

Theory of operation
-------------------
Sockets and connection files live in a private runtime directory (mode 0700, owned by
us; see :func:`runtime_dir`). In a shared ``/tmp`` another user could plant that
directory, or a symlink to one of theirs, before us; so whenever it exists it must be
ours, and a looser mode is tightened.

A TCP listener writes its address and token to a *connection file*, one per role, that
is mode 0600 from the moment it exists (:func:`write_connection_file`: a fresh
``O_EXCL | O_NOFOLLOW`` temporary file, synced, then renamed over the old one, so a
reader never sees half a file). A client running as the same user finds it by the
host's name (:func:`find_connection`) and refuses one that is not a regular file, not
ours, or open to others (:func:`read_connection_file`, which checks the *open* file
with ``fstat``, so what it checks is what it reads).

Addresses are text here. This module checks only that an address has a known scheme;
parsing it is the transport's job (:func:`spe_host.transport.parse_address`), done by
whoever connects or listens.

Pure standard library: nothing here knows of trio or sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import tempfile
from dataclasses import asdict, field
from pathlib import Path
from typing import Any, TypeAlias

from spe_host._errors import SpeError
from spe_host._model import Role
from spe_host._records import record

from ._tokens import parse_role

__all__ = [
    "RUNTIME_DIR_ENV",
    "ConnectionInfo",
    "connection_file_path",
    "default_socket_path",
    "find_connection",
    "read_connection_file",
    "remove_connection_file",
    "runtime_dir",
    "write_connection_file",
]

#: Environment variable that overrides where sockets and connection files live.
RUNTIME_DIR_ENV = "SPE_HOST_RUNTIME_DIR"

StrPath: TypeAlias = str | os.PathLike[str]

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: The address schemes a host listens on (see :mod:`spe_host.transport`).
_SCHEMES = ("unix:", "tcp://")
# A connection file is a few hundred bytes; anything much bigger is not one of ours.
_MAX_CONNECTION_FILE = 64 * 1024


# --- runtime directory and names ------------------------------------------------------


def runtime_dir(create: bool = True) -> Path:
    """Return the private directory that holds sockets and connection files.

    The directory is ``$SPE_HOST_RUNTIME_DIR`` if set, else ``$XDG_RUNTIME_DIR/spe-host``,
    else ``<tempdir>/spe-host-<uid>``. Whenever it exists it must be a directory owned by
    the current user; a mode looser than 0700 is tightened to 0700.

    Args:
        create: Create the directory (mode 0700) if it does not exist yet.

    Returns:
        The directory's path (which may not exist when ``create`` is false).

    Raises:
        SpeError: The path is taken by something we do not own, or is not a directory.
    """
    override = os.environ.get(RUNTIME_DIR_ENV)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if override:
        path = Path(override).expanduser()
    elif xdg:
        path = Path(xdg) / "spe-host"
    else:
        path = Path(tempfile.gettempdir()) / f"spe-host-{os.getuid()}"
    if create:
        # mode= is filtered by the umask, so the mode is checked (and fixed) below anyway.
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700, parents=True)
    _check_private_dir(path)
    return path


def _check_private_dir(path: Path) -> None:
    me = os.getuid()
    try:
        link = os.lstat(path)
        st = os.stat(path)
    except FileNotFoundError:
        return
    advice = f"remove it, or set {RUNTIME_DIR_ENV} to a private directory"
    # In a shared /tmp, another user could plant the directory (or a symlink to one of
    # theirs) before us and then read our tokens or impersonate our hosts.
    for owner in (link.st_uid, st.st_uid):
        if owner != me:
            raise SpeError(
                f"the runtime directory {path} belongs to uid {owner}, not to you "
                f"(uid {me}), so it is not private; {advice}"
            )
    if not stat.S_ISDIR(st.st_mode):
        raise SpeError(f"the runtime directory {path} exists but is not a directory; {advice}")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _check_name(name: str) -> str:
    if _NAME_RE.fullmatch(name) is None:
        raise ValueError(
            f"{name!r} is not a valid connection name; use 1 to 64 letters, digits, '_', '.' or '-'"
        )
    return name


def default_socket_path(name: str = "default") -> Path:
    """Return the unix socket path for the host called ``name``.

    Args:
        name: The host's connection name (1 to 64 of ``A-Z a-z 0-9 _ . -``).

    Returns:
        ``runtime_dir() / f"{name}.sock"``; the runtime directory is created if needed.

    Raises:
        ValueError: The name is not valid.
        SpeError: The runtime directory is not private (see :func:`runtime_dir`).
    """
    return runtime_dir() / f"{_check_name(name)}.sock"


def _connection_file_name(name: str, role: Role | str) -> str:
    role = parse_role(role)
    suffix = ".json" if role is Role.ADMIN else f".{role.value}.json"
    return _check_name(name) + suffix


def connection_file_path(name: str, role: Role | str = "admin") -> Path:
    """Return where the connection file of host ``name`` for ``role`` lives.

    Args:
        name: The host's connection name.
        role: ``"admin"`` gives ``{name}.json``, ``"operator"`` ``{name}.operator.json``.

    Returns:
        A path inside :func:`runtime_dir`, which is created if needed.

    Raises:
        ValueError: The name or the role is not valid.
        SpeError: The runtime directory is not private.
    """
    return runtime_dir() / _connection_file_name(name, role)


# --- connection files ----------------------------------------------------------------


@record
class ConnectionInfo:
    """What a client needs to reach a host; the content of a connection file.

    Attributes:
        name: The host's connection name (for an explicit address: the address).
        address: ``unix:/path`` or ``tcp://host:port``.
        token: The token to present, or None (unix sockets check the peer's uid instead).
        role: The role the token grants, ``"admin"`` or ``"operator"``.
        pid: The host's process id (0 when unknown).
        tls_fingerprint: SHA-256 of the server certificate's DER, lowercase hex, or None.
        tls: Whether the listener speaks TLS.
    """

    name: str
    address: str
    token: str | None = field(repr=False)
    role: str
    pid: int
    tls_fingerprint: str | None = None
    tls: bool = False

    def __post_init__(self) -> None:
        # Store the plain value even when given a Role, so equality and JSON stay simple.
        object.__setattr__(self, "role", parse_role(self.role).value)

    def to_json(self) -> str:
        """Return the JSON text of a connection file."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> ConnectionInfo:
        """Parse the JSON text of a connection file; unknown keys are ignored.

        Raises:
            ValueError: The text is not a valid connection file; the message says why.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"it is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")  # noqa: TRY004 - bad content, not a bad call
        address = _get(data, "address", str)
        if not address.startswith(_SCHEMES):
            raise ValueError(
                f"its address {address!r} is not an address (one starts with unix: or tcp://)"
            )
        try:
            role = parse_role(_get(data, "role", str))
        except ValueError as exc:
            raise ValueError(f"its role {exc}") from None
        return cls(
            name=_get(data, "name", str),
            address=address,
            token=_get(data, "token", str, optional=True),
            role=role,
            pid=_get(data, "pid", int),
            tls_fingerprint=_get(data, "tls_fingerprint", str, optional=True),
            tls=_get(data, "tls", bool, default=False),
        )


def _get(data: dict[str, Any], key: str, kind: type[Any], **how: Any) -> Any:
    if key not in data:
        if "default" in how:
            return how["default"]
        if how.get("optional"):
            return None
        raise ValueError(f"it has no {key!r}")
    value = data[key]
    if value is None and how.get("optional"):
        return None
    # bool is a subclass of int, and a pid of `true` is a broken file, not pid 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"its {key!r} should be of type {kind.__name__}, not {value!r}")
    return value


def write_connection_file(path: StrPath, info: ConnectionInfo) -> None:
    """Write a connection file atomically, readable only by its owner.

    The JSON goes to a new temporary file in the same directory, created with mode 0600
    (so the token is never readable by others, not even for an instant), is synced to
    disk, and then renamed over ``path``. A reader sees the old file or the new one,
    never half of one.

    Args:
        path: Where the file goes (usually :func:`connection_file_path`).
        info: What to write.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: we must create the file ourselves, never open one somebody planted.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(info.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_connection_file(path: StrPath) -> ConnectionInfo:
    """Read a connection file, refusing one that others could have read or written.

    Args:
        path: The file to read.

    Returns:
        Its content.

    Raises:
        SpeError: The file is missing or unreadable, is not owned by the current user,
            is open to group or others, or is not a valid connection file.
    """
    path = Path(path)
    me = os.getuid()
    try:
        # O_NONBLOCK so that a FIFO in the file's place cannot hang us on open().
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpeError(
            f"there is no connection file at {path}; is the host running? "
            "Start one with `spe-host serve`"
        ) from None
    except OSError as exc:
        raise SpeError(f"cannot open the connection file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        # fstat on the open file: what we check is what we read.
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SpeError(f"{path} is not a regular file, so it is not a connection file")
        if st.st_uid != me:
            raise SpeError(
                f"the connection file {path} belongs to uid {st.st_uid}, not to you (uid {me}); "
                "refusing to trust it: delete it, or connect with an explicit --connect address"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise SpeError(
                f"the connection file {path} is open to other users (mode {mode:04o}), so its "
                "token may have leaked; delete it and restart the host to get a new token"
            )
        data = f.read(_MAX_CONNECTION_FILE + 1)
    if len(data) > _MAX_CONNECTION_FILE:
        raise SpeError(f"{path} is too large to be a connection file")
    try:
        return ConnectionInfo.from_json(data)
    except ValueError as exc:
        raise SpeError(
            f"{path} is not a valid connection file: {exc}; delete it and restart the host"
        ) from None


def remove_connection_file(path: StrPath) -> None:
    """Delete a connection file; a missing file is fine."""
    Path(path).unlink(missing_ok=True)


def find_connection(name_or_address: str | None = None) -> ConnectionInfo:
    """Find out how to reach a host, the way the CLI's ``--connect`` does.

    * ``unix:...`` or ``tcp://...``: that address as given, with no token (the caller
      parses it, see :func:`spe_host.transport.parse_address`).
    * A path to a ``.json`` file (anything ending in ``.json`` or containing a path
      separator): that connection file.
    * A bare name: the unix socket ``{name}.sock`` in the runtime directory (with no
      token), else the admin connection file for that name, else the operator one.
    * None: the name ``"default"``.

    Args:
        name_or_address: What the user typed, or None.

    Returns:
        The connection details. For an explicit address or a bare socket, ``token`` is
        None, ``pid`` is 0, ``role`` is ``"admin"`` and ``tls`` is False.

    Raises:
        SpeError: Nothing was found, or what was found is not trustworthy; the message
            lists where it looked and what to do.
    """
    target = "default" if name_or_address is None else name_or_address
    if target.startswith(_SCHEMES):
        return ConnectionInfo(name=target, address=target, token=None, role=Role.ADMIN, pid=0)
    if target.endswith(".json") or os.sep in target or (os.altsep and os.altsep in target):
        return read_connection_file(Path(target).expanduser())
    try:
        _check_name(target)
    except ValueError as exc:
        raise SpeError(
            f"{exc}; or pass an address: unix:/path/to/socket or tcp://host:port"
        ) from None
    directory = runtime_dir(create=False)
    files = [directory / _connection_file_name(target, role) for role in Role]
    sock = directory / f"{target}.sock"
    # The unix socket first: on this machine it needs no token, no TLS, and its peer
    # check says who we are, where TCP would send a token.
    if sock.is_socket():
        address = f"unix:{sock}"
        return ConnectionInfo(name=target, address=address, token=None, role=Role.ADMIN, pid=0)
    for path in files:
        if path.exists():
            return read_connection_file(path)
    looked = ", ".join(str(p) for p in [sock, *files])
    raise SpeError(
        f"no host named {target!r} was found (looked for {looked}); start one with "
        "`spe-host serve`, or pass --connect unix:/path/to/socket or tcp://host:port"
    )
