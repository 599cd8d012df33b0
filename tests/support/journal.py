"""Helpers for the journal tests: SQLite connections that are closed after the test.

Python 3.13 warns of a connection left to the garbage collector, and warnings are
errors here; the ``connections`` fixture (tests/journal/conftest.py) hands out a
:class:`Connections` and closes what it opened at teardown.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from spe_host.journal import open_readonly


@dataclass
class Connections:
    """Opens connections to journal files, and closes them all at the end."""

    opened: list[sqlite3.Connection] = field(default_factory=list)

    def read(self, path: Path) -> sqlite3.Connection:
        """A read-only connection, as the CLI opens it."""
        db = open_readonly(path)
        self.opened.append(db)
        return db

    def connect(self, path: Path) -> sqlite3.Connection:
        """A read-write connection in autocommit mode (to edit the file behind its back)."""
        db = sqlite3.connect(path, isolation_level=None)
        self.opened.append(db)
        return db

    def close(self) -> None:
        """Close every connection opened."""
        for db in self.opened:
            db.close()
