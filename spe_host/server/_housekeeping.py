"""Housekeeping of what a listener leaves on disk: its unix socket and connection files.

A socket file outlives a server that crashed, and a connection file outlives a host
that was killed; both are replaced only when nothing live owns them, and removed on
exit only when they are still ours (a successor may have replaced them meanwhile).
"""

from __future__ import annotations

import logging
import os
import socket as stdlib_socket
import stat
from pathlib import Path

import trio

from .._errors import SpeError
from .._model import Role
from ..auth import connection_file_path, read_connection_file, remove_connection_file

__all__ = [
    "check_no_live_host",
    "clear_stale_socket",
    "remove_connection_file_if_ours",
    "remove_socket_if_ours",
]

logger = logging.getLogger("spe_host.server")


async def clear_stale_socket(path: Path) -> None:
    # A socket file outlives a server that crashed. Replace it only if nothing answers
    # on it: unlinking a live server's socket would orphan that server silently.
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SpeError(
            f"{path} exists and is not a socket; refusing to replace it: remove it or "
            "choose another path"
        )
    probe = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        with trio.move_on_after(1.0):
            await probe.connect(str(path))
        # Connected, or still connecting after a second: either way somebody is there.
        raise SpeError(
            f"another server is listening on {path}; stop it first, or choose another "
            "path or host name"
        )
    except (ConnectionRefusedError, FileNotFoundError):
        pass  # stale: nobody accepts on it any more
    except PermissionError:
        raise SpeError(
            f"{path} is a socket you may not connect to, so it is not yours; choose another path"
        ) from None
    finally:
        probe.close()
    logger.info("replacing the stale socket %s", path)
    os.unlink(path)


def remove_socket_if_ours(path: Path, inode: int) -> None:
    # A successor may have replaced the socket in the meantime; leave its socket alone.
    try:
        if os.lstat(path).st_ino == inode:
            path.unlink()
    except FileNotFoundError:
        pass


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but another user's
    return True


def check_no_live_host(name: str) -> None:
    # Two live hosts with one name would overwrite each other's connection files, and
    # clients would reach whichever wrote last.
    for role in Role:
        path = connection_file_path(name, role)
        if not path.exists():
            continue
        try:
            info = read_connection_file(path)
        except SpeError:
            continue  # not usable by any client anyway; ours replaces it
        if info.pid == os.getpid() or _pid_alive(info.pid):
            raise SpeError(
                f"a host named {name!r} is already serving at {info.address} (pid "
                f"{info.pid}, connection file {path}); stop it, or serve under another name"
            )


def remove_connection_file_if_ours(path: Path, address: str) -> None:
    try:
        info = read_connection_file(path)
    except SpeError:
        return
    if info.pid == os.getpid() and info.address == address:
        remove_connection_file(path)
