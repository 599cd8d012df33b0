"""What each minor version of the protocol added, and the check before a client uses it.

A host ignores the fields it does not know (a minor version only adds optional ones),
and answers a request type it does not know with ``bad_request``. Ignoring is the
danger: a 1.1 host would answer a ``receive`` of run ``etl#2`` with another run's
result, and a 1.2 host would take a forced stop for a plain one, or drop its reason,
and say nothing. So before it sends a field or a request that a minor version added,
a client checks the version the host announced and refuses, with a sentence saying
what to do instead, rather than have it silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .._errors import LocalProtocolError

__all__ = [
    "FORCED_STOPS",
    "LOOP_MODE",
    "RUN_IDS",
    "SIGNATURES",
    "STOP_REASONS",
    "STOP_TICKETS",
    "Feature",
    "require",
]


@dataclass(frozen=True, slots=True)
class Feature:
    """Something a minor version of the protocol added.

    Attributes:
        name: What it is, for the sentence (``"loop mode"``).
        minor: The minor version of protocol 1 that added it.
        instead: What to do with an older host (``"receive without a run id"``).
    """

    name: str
    minor: int
    instead: str


RUN_IDS: Final = Feature("run ids", 2, "receive without a run id")
LOOP_MODE: Final = Feature(
    "loop mode", 2, "run without loop mode (reach the trio thread with spe.run_sync)"
)
STOP_REASONS: Final = Feature("stop reasons", 3, "stop without a reason")
FORCED_STOPS: Final = Feature("forced stops", 3, "stop without force")
STOP_TICKETS: Final = Feature(
    "stop tickets", 3, "follow the session's state with sessions() or watch()"
)
SIGNATURES: Final = Feature("signatures", 4, "infer the signature locally")


def require(version: str, feature: Feature, *, needed: bool = True) -> None:
    """Refuse to use ``feature`` with a host whose protocol predates it.

    Args:
        version: The version the host's ``welcome`` announced (checked compatible,
            so ``1.MINOR``).
        feature: What the caller is about to use.
        needed: Whether the call uses it at all (``loop=False`` does not).

    Raises:
        LocalProtocolError: It is needed and the host's minor version is older.
    """
    if needed and int(version.split(".")[1]) < feature.minor:
        raise LocalProtocolError(
            f"the host speaks protocol {version}, which has no {feature.name}; "
            f"{feature.instead}, or upgrade the host"
        )
