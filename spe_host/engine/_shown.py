"""The values of a session that a listing shows and others set: each set moves the stamp.

A session's job name, autodispose flag and progress are set from outside the
session - the host, the ``spe`` handle in a script's thread, between runs too - and
every listing shows them. Setting one through these properties moves the listing
stamp (``_changes``) after the change, whoever sets it and from whichever thread,
so no caller can forget to. Reads are plain; a listing reads the private fields.
"""

from __future__ import annotations

from .._model import Progress
from ._changes import changed

__all__ = ["Shown"]


class Shown:
    """The base of :class:`~spe_host.engine._session.ScriptSession` that holds them.

    Args:
        name: The job name to begin with.
        autodispose: The autodispose flag to begin with.
    """

    def __init__(self, *, name: str | None, autodispose: bool) -> None:
        self._name = name
        self._autodispose = autodispose
        self._progress = Progress()

    @property
    def name(self) -> str | None:
        """The job name of the current or last run, or None (each run sets it)."""
        return self._name

    @name.setter
    def name(self, name: str | None) -> None:
        self._name = name
        changed()

    @property
    def autodispose(self) -> bool:
        """Remove the session once its results have been received."""
        return self._autodispose

    @autodispose.setter
    def autodispose(self, autodispose: bool) -> None:
        self._autodispose = autodispose
        changed()

    @property
    def progress(self) -> Progress:
        """The last progress the current or last run reported."""
        return self._progress

    @progress.setter
    def progress(self, progress: Progress) -> None:
        self._progress = progress
        changed()
