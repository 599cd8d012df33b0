"""Tokens, roles, connection files and peer checks: who may talk to a host.

Theory of operation
-------------------
A REPL server runs arbitrary code for whoever connects, so every way in is guarded:

* **Unix sockets** live in a private runtime directory (mode 0700, owned by us; see
  :func:`runtime_dir`). The kernel tells the server who the peer is (``SO_PEERCRED``,
  :func:`peer_uid`) and :func:`check_peer_uid` accepts only our own uid. A peer whose
  uid cannot be determined is refused: "unknown" never means "allowed".
* **TCP** always needs a token. :class:`TokenTable` holds one random token per
  :class:`Role`, and :meth:`TokenTable.role_for` compares a presented token with every
  entry in constant time. The server writes its address and token to a *connection
  file* that is mode 0600 from the moment it exists (:func:`write_connection_file`);
  a client running as the same user finds it with :func:`find_connection`. Listening
  on a non-loopback address needs TLS unless the operator insists (:func:`check_bind`).
* **Roles**: ``admin`` may do anything; ``operator`` may watch and stop sessions but
  not run code (:func:`check_permission`).
* **Failed handshakes** are logged and slowed down per peer (:class:`FailureThrottle`),
  so guessing a token is both hopeless and noisy.

This module is pure standard library and knows nothing of trio: the server calls it
between reads and writes, and the CLI uses it to find hosts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import ssl
import stat
import struct
import tempfile
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeAlias

from spe_host._errors import AuthenticationError, PermissionDenied, SpeError
from spe_host._model import Role
from spe_host.wire import OPERATOR_REQUESTS

__all__ = [
    "OPERATOR_ALLOWED",
    "RUNTIME_DIR_ENV",
    "Address",
    "ConnectionInfo",
    "FailureThrottle",
    "Role",
    "TcpAddress",
    "TokenTable",
    "UnixAddress",
    "cert_fingerprint",
    "check_bind",
    "check_fingerprint",
    "check_peer_uid",
    "check_permission",
    "client_ssl_context",
    "connection_file_path",
    "default_socket_path",
    "find_connection",
    "fingerprint_of_der",
    "format_address",
    "is_loopback",
    "new_token",
    "parse_address",
    "peer_uid",
    "read_connection_file",
    "remove_connection_file",
    "runtime_dir",
    "server_ssl_context",
    "write_connection_file",
]

logger = logging.getLogger("spe_host.auth")

#: Environment variable that overrides where sockets and connection files live.
RUNTIME_DIR_ENV = "SPE_HOST_RUNTIME_DIR"

StrPath: TypeAlias = str | os.PathLike[str]

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_PEM_CERT_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
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
    role = Role(role)
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


# --- roles and tokens ----------------------------------------------------------------


#: The message types an operator may send; everything else needs the admin role. One
#: list for the whole package: the protocol module (and docs/protocol.md) define it.
#: ``input_reply`` is not in it: an operator cannot execute, so no input is ever asked of it.
OPERATOR_ALLOWED = OPERATOR_REQUESTS


def check_permission(role: Role | str, message_type: str) -> None:
    """Refuse a request that ``role`` may not make.

    Call it for every request after the handshake. Admins may send anything; operators
    only the types in :data:`OPERATOR_ALLOWED`.

    Args:
        role: The role of the connection.
        message_type: The ``type`` of the request.

    Raises:
        PermissionDenied: An operator asked for something only an admin may do.
    """
    if Role(role) is Role.ADMIN or message_type in OPERATOR_ALLOWED:
        return
    raise PermissionDenied(
        f"{message_type!r} needs the admin role: an operator token may list, receive, wait, "
        "subscribe and stop sessions, but not execute; connect with the admin token to run code"
    )


def new_token() -> str:
    """Return a fresh random token: 32 bytes, url-safe base64 without padding (43 chars)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


class TokenTable:
    """The tokens a host accepts, one per role.

    The tokens are never shown by ``repr`` so that they do not end up in logs.

    Args:
        tokens: A token for each role the host accepts; each must be non-empty and unique.

    Raises:
        ValueError: The table is empty, a token is empty, or two roles share a token.
    """

    def __init__(self, tokens: Mapping[Role, str]) -> None:
        if not tokens:
            raise ValueError("a token table needs at least one token")
        if not all(tokens.values()):
            raise ValueError("a token must not be empty")
        if len(set(tokens.values())) != len(tokens):
            raise ValueError("two roles share the same token; each role needs its own")
        self._tokens = {Role(role): token for role, token in tokens.items()}

    @classmethod
    def generate(cls) -> TokenTable:
        """Return a table with fresh admin and operator tokens."""
        return cls({Role.ADMIN: new_token(), Role.OPERATOR: new_token()})

    def token(self, role: Role | str) -> str:
        """Return the token for ``role`` (to write it into a connection file).

        Raises:
            KeyError: The table has no token for that role.
        """
        return self._tokens[Role(role)]

    def role_for(self, token: str | None) -> Role:
        """Return the role a presented token grants.

        The token is compared with *every* entry using :func:`hmac.compare_digest`, with
        no early exit, so the time taken says nothing about which entry (if any) matched.

        Args:
            token: The token from the client's ``hello``, or None if it sent none.

        Returns:
            The matching role.

        Raises:
            AuthenticationError: No token was given, or it matches no entry.
        """
        if not token:
            raise AuthenticationError(
                "no token was given; TCP connections need the token from the connection file "
                "that `spe-host serve` writes (readable only by the user running the host)"
            )
        given = token.encode("utf-8")  # compare_digest refuses non-ASCII str
        match: Role | None = None
        for role, expected in self._tokens.items():
            if hmac.compare_digest(given, expected.encode("utf-8")):
                match = role
        if match is None:
            raise AuthenticationError(
                "the token is not valid for this host; read it again from the host's "
                "connection file (a new token is made each time the host starts)"
            )
        return match

    def __repr__(self) -> str:
        roles = ", ".join(role.value for role in self._tokens)
        return f"TokenTable(roles=[{roles}])"


# --- addresses -----------------------------------------------------------------------


@dataclass(frozen=True)
class UnixAddress:
    """A unix socket address, ``unix:/path/to/socket``."""

    kind: ClassVar[str] = "unix"
    path: str

    def __str__(self) -> str:
        return format_address(self)


@dataclass(frozen=True)
class TcpAddress:
    """A TCP address, ``tcp://host:port`` (IPv6 hosts in brackets, stored without)."""

    kind: ClassVar[str] = "tcp"
    host: str
    port: int

    def __str__(self) -> str:
        return format_address(self)


Address: TypeAlias = UnixAddress | TcpAddress


def parse_address(address: str) -> Address:
    """Parse ``unix:/path`` or ``tcp://host:port`` (``tcp://[::1]:port`` for IPv6).

    ``unix:///path`` (the URL spelling) is accepted too. Port 0 is allowed, for a
    listener that lets the system pick a port.

    Args:
        address: The address as a user would type it.

    Returns:
        A :class:`UnixAddress` or a :class:`TcpAddress`.

    Raises:
        ValueError: The address is malformed; the message says how to write it.
    """
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        if path.startswith("///"):
            path = path[2:]
        if not path:
            raise ValueError(f"{address!r} has no socket path; write unix:/path/to/socket")
        if "\0" in path:
            raise ValueError(f"{address!r} contains a NUL character; write unix:/path/to/socket")
        return UnixAddress(path)
    if address.startswith("tcp://"):
        rest = address.removeprefix("tcp://")
        if rest.startswith("["):
            host, sep, port_text = rest[1:].partition("]:")
            if not sep:
                raise ValueError(f"{address!r} is not an address; write tcp://[::1]:port")
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(
                    f"{address!r} has {host!r} in brackets, which is not an IPv6 address"
                ) from None
        else:
            host, sep, port_text = rest.rpartition(":")
            if not sep:
                raise ValueError(f"{address!r} has no port; write tcp://host:port")
            if ":" in host:
                raise ValueError(
                    f"{address!r} looks like an IPv6 address; put it in brackets, "
                    "as in tcp://[::1]:9000"
                )
            if not host:
                raise ValueError(
                    f"{address!r} has no host; write tcp://127.0.0.1:port "
                    "(an empty host would mean every network interface)"
                )
            if _HOSTNAME_RE.fullmatch(host) is None:
                raise ValueError(f"{address!r} has {host!r} as its host, which is not a host name")
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            raise ValueError(
                f"{address!r} has {port_text!r} as its port; a port is a number from 0 to 65535"
            )
        return TcpAddress(host, int(port_text))
    raise ValueError(
        f"{address!r} is not an address; write unix:/path/to/socket or tcp://host:port"
    )


def format_address(address: Address) -> str:
    """Return the text form of an address, the inverse of :func:`parse_address`."""
    if isinstance(address, UnixAddress):
        return f"unix:{address.path}"
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"tcp://{host}:{address.port}"


# --- connection files ----------------------------------------------------------------


@dataclass(frozen=True)
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
        object.__setattr__(self, "role", Role(self.role).value)

    def parsed_address(self) -> Address:
        """Return :attr:`address` parsed (see :func:`parse_address`)."""
        return parse_address(self.address)

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
        parse_address(address)
        role = _get(data, "role", str)
        if role not in {r.value for r in Role}:
            raise ValueError(f"its role {role!r} is neither 'admin' nor 'operator'")
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

    * ``unix:...`` or ``tcp://...``: that address, with no token.
    * A path to a ``.json`` file (anything ending in ``.json`` or containing a path
      separator): that connection file.
    * A bare name: the admin connection file for that name, else the operator one, else
      the unix socket ``{name}.sock`` in the runtime directory (with no token).
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
    if target.startswith(("unix:", "tcp://")):
        try:
            text = format_address(parse_address(target))
        except ValueError as exc:
            raise SpeError(str(exc)) from None
        return ConnectionInfo(name=text, address=text, token=None, role=Role.ADMIN, pid=0)
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
    for path in files:
        if path.exists():
            return read_connection_file(path)
    sock = directory / f"{target}.sock"
    if sock.is_socket():
        text = format_address(UnixAddress(str(sock)))
        return ConnectionInfo(name=target, address=text, token=None, role=Role.ADMIN, pid=0)
    looked = ", ".join(str(p) for p in [*files, sock])
    raise SpeError(
        f"no host named {target!r} was found (looked for {looked}); start one with "
        "`spe-host serve`, or pass --connect unix:/path/to/socket or tcp://host:port"
    )


# --- peer credentials ----------------------------------------------------------------


class _PeerSocket(Protocol):
    """What :func:`peer_uid` needs: satisfied by ``socket.socket`` and trio sockets."""

    @property
    def family(self) -> int: ...

    def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes: ...


_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


def peer_uid(sock: _PeerSocket) -> int | None:
    """Return the uid of the process at the other end of a connected unix socket.

    Args:
        sock: A connected socket (``socket.socket`` or a trio socket).

    Returns:
        The peer's uid, or None if it cannot be known: not a unix socket, or a platform
        without ``SO_PEERCRED`` (only Linux is supported for now).
    """
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None or sock.family != getattr(socket, "AF_UNIX", None):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, so_peercred, _UCRED.size)
    except OSError:
        return None
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)


def check_peer_uid(uid: int | None, expected: int) -> None:
    """Refuse a unix-socket peer that is not running as ``expected``.

    Args:
        uid: The peer's uid from :func:`peer_uid`, or None if it is unknown.
        expected: The uid allowed in (normally ``os.getuid()``).

    Raises:
        AuthenticationError: The uid differs, or could not be determined.
    """
    if uid is None:
        raise AuthenticationError(
            "the peer's user could not be determined (no SO_PEERCRED on this socket or "
            "platform), so the connection is refused; connect over TCP with the token from "
            "the connection file instead"
        )
    if uid != expected:
        raise AuthenticationError(
            f"the peer runs as uid {uid}; this host only accepts its own user (uid {expected})"
        )


# --- TLS -----------------------------------------------------------------------------


def server_ssl_context(certfile: StrPath, keyfile: StrPath | None = None) -> ssl.SSLContext:
    """Return a server-side TLS context (TLS 1.2 or newer) with the given certificate.

    Args:
        certfile: PEM file with the certificate chain (and the key, if ``keyfile`` is None).
        keyfile: PEM file with the private key.

    Raises:
        SpeError: The certificate or key cannot be loaded.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise SpeError(
            f"cannot load the TLS certificate {certfile} (key {keyfile or certfile}): {exc}; "
            "check --tls-cert and --tls-key"
        ) from None
    return context


def client_ssl_context(cafile: StrPath | None = None) -> ssl.SSLContext:
    """Return a client-side TLS context (TLS 1.2 or newer) that verifies the server.

    Args:
        cafile: PEM file of the CA(s) to trust; None trusts the system's default store.

    Raises:
        SpeError: The CA file cannot be loaded.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise SpeError(f"cannot load the CA file {cafile}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def fingerprint_of_der(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate: lowercase hex, no colons."""
    return hashlib.sha256(der).hexdigest()


def cert_fingerprint(certfile: StrPath) -> str:
    """Return the fingerprint of the first (leaf) certificate in a PEM file.

    Raises:
        SpeError: The file cannot be read or holds no PEM certificate.
    """
    try:
        text = Path(certfile).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise SpeError(f"cannot read the TLS certificate {certfile}: {exc.strerror}") from None
    found = _PEM_CERT_RE.search(text)
    if found is None:
        raise SpeError(f"{certfile} holds no PEM certificate (no BEGIN CERTIFICATE block)")
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(found.group(0)))


def check_fingerprint(der: bytes | None, expected: str) -> None:
    """Refuse a server certificate whose fingerprint is not ``expected``.

    Args:
        der: The server's certificate (``ssl_object.getpeercert(binary_form=True)``).
        expected: The fingerprint from the connection file; colons and case are ignored.

    Raises:
        AuthenticationError: No certificate, or a different one.
    """
    want = expected.replace(":", "").lower()
    got = fingerprint_of_der(der) if der else ""
    if not hmac.compare_digest(got, want):
        raise AuthenticationError(
            f"the server's certificate has fingerprint {got or '(none)'}, but the connection "
            f"file expects {want}; the host may have a new certificate (read the connection "
            "file again), or someone is intercepting the connection"
        )


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or a loopback IP (127.0.0.0/8, ::1)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def check_bind(host: str, tls: bool, insecure: bool) -> None:
    """Refuse to listen on a non-loopback address without TLS, unless told to.

    Args:
        host: The address to listen on (``""`` means every interface).
        tls: Whether the listener will speak TLS.
        insecure: The operator's explicit ``--insecure``; allows it with a warning.

    Raises:
        SpeError: A non-loopback host without TLS and without ``insecure``.
    """
    if tls or is_loopback(host):
        return
    where = host or "every network interface"
    if insecure:
        logger.warning(
            "listening on %s without TLS (--insecure): tokens and code cross the network "
            "in clear text",
            where,
        )
        return
    raise SpeError(
        f"refusing to listen on {where} without TLS: anyone on the network could run code "
        "in this process; pass --tls-cert/--tls-key, or --insecure if you really mean it"
    )


# --- throttling failed handshakes ----------------------------------------------------


class FailureThrottle:
    """Slow down peers that keep failing to authenticate, and log every failure.

    A peer may fail ``limit`` times within ``window`` seconds at no cost; from then on
    :meth:`delay_for` asks for ``penalty`` seconds, doubling with each further failure in
    the window, up to ``max_penalty``. Failures older than ``window`` are forgotten, and
    so are peers with none left; at most ``max_peers`` peers are tracked (the ones that
    failed least recently are dropped first), so a flood of addresses cannot eat memory.

    Key peers by host only, not host and port: a client gets a new port per connection.

    Args:
        limit: Failures allowed within the window before delays start.
        window: How long a failure counts, in seconds.
        penalty: The first delay, in seconds.
        clock: Returns the current time in seconds (a fake one in tests).
        max_penalty: The largest delay, in seconds.
        max_peers: How many peers to remember at most.
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 10.0,
        penalty: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_penalty: float = 10.0,
        max_peers: int = 10_000,
    ) -> None:
        if limit < 1 or window <= 0 or penalty < 0 or max_penalty < 0 or max_peers < 1:
            raise ValueError(
                "FailureThrottle needs limit >= 1, window > 0, penalty >= 0, "
                "max_penalty >= 0 and max_peers >= 1"
            )
        self._limit = limit
        self._window = window
        self._penalty = penalty
        self._max_penalty = max_penalty
        self._max_peers = max_peers
        self._clock = clock
        # Most recently failed peer last, so the first entry is the one to evict.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """Return how many peers are being tracked."""
        return len(self._failures)

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self._window:
            failures.popleft()

    def record_failure(self, peer: str, reason: str) -> None:
        """Note a failed handshake from ``peer`` and log it as a warning.

        Args:
            peer: The peer's address (host only, see above).
            reason: Why it failed, for the log (never the token itself).
        """
        now = self._clock()
        failures = self._failures.pop(peer, None)
        if failures is None:
            # Beyond limit + 16 the penalty is at its cap anyway; keep the deque bounded.
            failures = deque(maxlen=self._limit + 16)
        self._expire(failures, now)
        failures.append(now)
        self._failures[peer] = failures
        if len(self._failures) > self._max_peers:
            self._shrink(now)
        logger.warning(
            "authentication failed for %s: %s (%d failure(s) in the last %g s)",
            peer,
            reason,
            len(failures),
            self._window,
        )

    def _shrink(self, now: float) -> None:
        for peer, failures in list(self._failures.items()):
            self._expire(failures, now)
            if not failures:
                del self._failures[peer]
        while len(self._failures) > self._max_peers:
            self._failures.popitem(last=False)

    def delay_for(self, peer: str) -> float:
        """Return how many seconds to wait before answering ``peer`` (0.0: none).

        The server should wait this long before reading (or answering) a handshake, so a
        guesser gets a handful of tries per window instead of thousands.
        """
        failures = self._failures.get(peer)
        if failures is None:
            return 0.0
        self._expire(failures, self._clock())
        if not failures:
            del self._failures[peer]
            return 0.0
        excess = len(failures) - self._limit
        if excess < 0:
            return 0.0
        return min(self._max_penalty, self._penalty * 2.0**excess)

    def reset(self, peer: str) -> None:
        """Forget ``peer``'s failures (for example after it authenticated)."""
        self._failures.pop(peer, None)
