"""A script's inputs for ``start``: its file, read without letting it stall the host,
and the variables it is given (``args``).

Theory of operation
-------------------
``start`` answers at once, in the trio thread, so reading the file must not wait on
anything. A path can name something that blocks a plain ``open`` or ``read`` for as
long as it likes - a FIFO waits for a writer, a terminal for a line, a device may
never end - or a file too big to hold. So the file is opened non-blocking (opening
a FIFO then returns at once), checked with ``fstat`` on the open descriptor (no race
with a rename), refused unless it is a regular file of at most ``max_size`` bytes,
and read with a bound. What is left is a bounded read of a regular file.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Final

from .._model import DEFAULT_REQUEST_LIMITS
from . import _instrument

__all__ = ["MAX_SCRIPT_SIZE", "check_args", "read_script", "source_of"]

#: The largest script file ``start(path=...)`` reads, in bytes.
MAX_SCRIPT_SIZE: Final = DEFAULT_REQUEST_LIMITS.max_script_size

_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_script(path: str | os.PathLike[str], max_size: int = MAX_SCRIPT_SIZE) -> tuple[str, str]:
    """The source of the script file at ``path`` and its absolute name.

    Args:
        path: The script file.
        max_size: The most bytes it may have.

    Raises:
        ValueError: It cannot be opened, is not a regular file, is larger than
            ``max_size`` or is not UTF-8 (the message says which, and what to do).
    """
    filename = os.path.abspath(os.fspath(path))
    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ValueError(f"cannot read the script {filename!r}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise ValueError(
                f"cannot run {filename!r}: it is {kind}, and a script must be a regular file"
            )
        data = _read_at_most(fd, max_size + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the script {filename!r}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > max_size:
        raise ValueError(
            f"cannot run {filename!r}: it is larger than {max_size} bytes, the most a script "
            "file may have; split it or import the rest as a module"
        )
    try:
        return data.decode("utf-8"), filename
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"cannot run {filename!r}: it is not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc


def _read_at_most(fd: int, limit: int) -> bytes:
    # The size fstat reports may change under us: read until the end or the limit.
    parts: list[bytes] = []
    left = limit
    while left > 0:
        part = os.read(fd, min(left, 1024 * 1024))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def source_of(
    code: str | None, path: str | os.PathLike[str] | None, max_size: int
) -> tuple[str, str | None]:
    """What ``start`` runs: ``code`` itself, or the script at ``path`` and its name.

    Raises:
        ValueError: Both or neither are given, or the file is refused (see
            :func:`read_script`).
    """
    if (code is None) == (path is None):
        raise ValueError("give exactly one of code= or path= to say what to run")
    if path is not None:
        return read_script(path, max_size)
    assert code is not None
    return code, None


_RESERVED_ARGS: Final = frozenset({"spe", "__builtins__", *_instrument.RESERVED_NAMES})


def check_args(args: dict[str, Any]) -> None:
    """Refuse ``start(args=...)`` names that are not identifiers or that the host binds.

    Raises:
        ValueError: A name is not a valid Python name, or is reserved.
    """
    bad = [key for key in args if not str(key).isidentifier()]
    if bad:
        raise ValueError(
            f"args must be valid Python names; {', '.join(map(repr, bad))} "
            "cannot be bound as variables"
        )
    taken = sorted(set(args) & _RESERVED_ARGS)
    if taken:
        raise ValueError(
            f"{', '.join(map(repr, taken))} cannot be passed as args: the host "
            "binds those names in every session; rename the argument"
        )
