"""Where the REPL keeps its state between attaches: input history and replay marks.

Both live under :func:`state_dir`, one file per host and session. A *replay mark*
records how far a session's output was seen when the REPL detached, with the
session's creation time, so that attaching again replays only what was printed
meanwhile, and a session recreated under the same id is not mistaken for the old one.
History can hold secrets typed at the prompt, so the directories are created private.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from prompt_toolkit.history import FileHistory, History, InMemoryHistory

from .._model import SessionInfo

__all__ = [
    "Mark",
    "history_path",
    "load_mark",
    "mark_path",
    "open_history",
    "save_mark",
    "start_offset",
    "state_dir",
]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.@+-]")


def state_dir() -> Path:
    """The directory for REPL history and replay marks.

    ``$XDG_STATE_HOME/spe-host``, else ``~/.local/state/spe-host``. History can hold
    secrets typed at the prompt, so the directory is created private (0700).
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "spe-host"


def _safe_name(text: str) -> str:
    # Host labels may be addresses ("unix:/run/..."); keep them one path component.
    name = _UNSAFE_NAME.sub("_", text).strip(".") or "_"
    return name[:120]


def _private_dirs(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def history_path(host_label: str, session: str, base: Path | None = None) -> Path:
    """Where the input history of ``session`` on the host ``host_label`` is kept.

    Args:
        host_label: The host's name or address as the user gave it.
        session: The session id.
        base: The state directory (default: :func:`state_dir`).

    Returns:
        ``base/history/<host>/<session>``.
    """
    base = state_dir() if base is None else base
    return base / "history" / _safe_name(host_label) / _safe_name(session)


def open_history(host_label: str, session: str, base: Path) -> History:
    """The prompt's history for ``session``: its file, or memory if it cannot be made."""
    try:
        path = history_path(host_label, session, base)
        _private_dirs(path.parent)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


def mark_path(base: Path, host_label: str, session: str) -> Path:
    """Where the replay mark of ``session`` on the host ``host_label`` is kept."""
    return base / "seen" / _safe_name(host_label) / f"{_safe_name(session)}.json"


@dataclass(frozen=True)
class Mark:
    """How far a session's output was seen; ``created_at`` tells a new session apart."""

    created_at: float
    offset: int


def load_mark(path: Path) -> Mark | None:
    """The mark saved at ``path``, or None if there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Mark(float(data["created_at"]), int(data["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_mark(path: Path, mark: Mark) -> None:
    """Save ``mark`` at ``path`` atomically; a failure to write is not an error."""
    with contextlib.suppress(OSError):
        _private_dirs(path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"created_at": mark.created_at, "offset": mark.offset}))
        tmp.replace(path)


def start_offset(mark: Mark | None, info: SessionInfo | None, *, replay_all: bool) -> int:
    """The output offset to follow a session from when attaching to it.

    Args:
        mark: The session's replay mark, if one was saved.
        info: The session as the host reports it (None: it does not exist yet).
        replay_all: With no usable mark, replay all the output the host holds rather
            than start at its end.

    Returns:
        The mark's offset when it belongs to this very session, else 0 or the end.
    """
    if info is None:
        return 0  # a new session's output starts at 0
    if (
        mark is not None
        and math.isclose(mark.created_at, info.created_at, rel_tol=0.0, abs_tol=1e-3)
        and mark.offset <= info.output_offset
    ):
        return mark.offset
    return 0 if replay_all else info.output_offset
