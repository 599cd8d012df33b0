"""A process-wide stamp that moves after every change a listing of sessions shows.

Theory of operation
-------------------
A listing of 10,000 idle sessions is, most of the time, the same as the last one.
Checking each session's snapshot key (``_snapshot``) to find that out costs a few
attribute loads per session; one look at :data:`stamp` costs one. So every change a
session's snapshot can show calls :func:`changed` *after* it is made: a change of
state, of the last use, of the run count and the run's times, of the job name, the
autodispose flag or the progress, of a stop ticket, every batch of output that moves
a session's output offset (from whichever thread writes it, a script's own threads
between runs included), and a session added or removed. A listing reads the stamp
*before* it looks at anything; while the stamp it read is still the stamp, nothing
it showed has changed since, and it may be served again.

Why that cannot serve a stale listing, with any number of threads: :func:`changed`
stores a value ``next()`` of one ``itertools.count`` gave it, and that ``next()`` is a
single C call under the GIL, so no two stores ever store the same value. A listing
that read the value ``v`` was built after ``v`` was stored. A change made after that
is followed by a store of a value that is not ``v`` (``v`` was stored once, before);
from that store on the stamp is never ``v`` again, whatever order the stores of
other threads land in. So a listing asked after a change has finished always finds
a stamp that differs from the one its cached predecessor read, and builds afresh.
A change that is still being made while a listing is read may or may not show,
as with any concurrent read.

The stamp is shared by every host of the process: a change in one makes the others
build their next listing afresh, which costs them time, never correctness.
"""

from __future__ import annotations

import itertools

__all__ = ["changed", "stamp"]

_stamps = itertools.count(1)

#: The stamp: a value held by no earlier store (see the module's docstring).
stamp = 0


def changed() -> None:
    """Move the stamp: a change a listing shows has just been made (any thread)."""
    global stamp
    stamp = next(_stamps)
