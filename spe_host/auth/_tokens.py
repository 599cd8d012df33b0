"""Tokens and roles: what a TCP client presents, and what it is then allowed to be.

Theory of operation
-------------------
TCP always needs a token. :class:`TokenTable` holds one random token per
:class:`~spe_host.Role` (:func:`new_token`: 32 bytes from :mod:`secrets`), and
:meth:`TokenTable.role_for` compares a presented token with *every* entry in constant
time, so neither a match nor its position shows in the time taken. The table never
shows its tokens in ``repr``, so they do not end up in logs.

Roles arrive as text (from a connection file, a command line, a function argument);
:func:`parse_role` is the one place that turns such text into a :class:`Role`, with a
sentence when it is not one.

Pure standard library: nothing here knows of trio or sockets.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Mapping

from spe_host._errors import AuthenticationError
from spe_host._model import Role

__all__ = ["TokenTable", "new_token", "parse_role"]


def parse_role(value: Role | str) -> Role:
    """Return the :class:`Role` named by ``value``.

    Args:
        value: A role, or its name (``"admin"`` or ``"operator"``).

    Raises:
        ValueError: ``value`` names no role.
    """
    try:
        return Role(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither 'admin' nor 'operator', the two roles a token can grant"
        ) from None


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
        self._tokens = {parse_role(role): token for role, token in tokens.items()}

    @classmethod
    def generate(cls) -> TokenTable:
        """Return a table with fresh admin and operator tokens."""
        return cls({Role.ADMIN: new_token(), Role.OPERATOR: new_token()})

    def token(self, role: Role | str) -> str:
        """Return the token for ``role`` (to write it into a connection file).

        Raises:
            KeyError: The table has no token for that role.
        """
        return self._tokens[parse_role(role)]

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
        # compare_digest refuses non-ASCII str; surrogatepass because JSON can carry a
        # lone surrogate, which must be a wrong token like any other, not a crash.
        given = token.encode("utf-8", "surrogatepass")
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
