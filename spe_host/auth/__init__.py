"""Authentication: tokens and roles, peer credentials, the failure throttle, the
private runtime directory and connection files."""

from ._auth import *  # noqa: F403
from ._auth import __all__ as __all__
