"""Who an HTTP request is: bearer tokens, logon sessions, the CSRF rule, the throttle.

Theory of operation
-------------------
A request proves itself in one of three ways, checked in this order:

* ``Authorization: Bearer <token>``: the host's admin or operator token, the same
  :class:`~spe_host.auth.TokenTable` the socket listeners accept.
* ``X-Session-Id: <id>``: a logon session opened with ``POST /api/logon``.
* The ``spe_session`` cookie holding a logon id (``POST /api/logon?cookie=true``).
  A browser sends cookies by itself, even on a request another site makes it send,
  so a cookie request that changes something (any method but GET and HEAD) must also
  carry ``X-CSRF-Token`` equal to the logon's ``csrf_token``, which only a page that
  read the logon's body knows. Headers a browser never adds by itself (bearer,
  ``X-Session-Id``) need no such token.

Logons (:class:`Logons`) expire after ``idle_timeout`` seconds without use, measured on
trio's clock (so a test's ``autojump_clock`` moves them), and there are at most
``max_logons`` of them: opening one more drops the one used least recently.

A wrong credential goes through the socket server's throttle: one check per client
host at a time, each after that host's penalty (:class:`~spe_host.auth.FailureThrottle`),
logged as a warning. A request with no credentials at all is refused without counting
as a guess. :func:`principal` is what endpoints call: it authenticates, then asks the
service whether the role may perform the operation.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import trio
from starlette.requests import Request

from .._errors import AuthenticationError, PermissionDenied
from .._model import Role
from ..auth import FailureThrottle, PeerLocks, TokenTable, new_token
from ..service import Operation, Principal
from ._context import context

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "SESSION_HEADER",
    "HttpAuth",
    "LogonEntry",
    "Logons",
    "principal",
]

#: The logon cookie's name.
COOKIE = "spe_session"
#: The header a cookie request that changes state carries its CSRF token in.
CSRF_HEADER = "X-CSRF-Token"
#: The header a logon id is sent in (and the logon answer names it in).
SESSION_HEADER = "X-Session-Id"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

T = TypeVar("T")


@dataclass
class LogonEntry:
    """One logon session: its id (the credential), role, CSRF token and last use."""

    id: str
    role: Role
    csrf_token: str
    last_used: float


class Logons:
    """The live logon sessions, with sliding idle expiry and a bound on their number.

    Args:
        idle_timeout: Seconds without use after which a logon is gone.
        max_logons: How many may exist at once; one more drops the least recently used
            of its own role (of any role, when it is its role's only one).
        clock: Returns the current time in seconds (trio's clock by default).
    """

    def __init__(
        self,
        idle_timeout: float = 900.0,
        max_logons: int = 1024,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        if idle_timeout <= 0 or max_logons < 1:
            raise ValueError("Logons needs idle_timeout > 0 and max_logons >= 1")
        self.idle_timeout = idle_timeout
        self._max = max_logons
        self._clock = clock
        # Least recently used first: the front is what expires or is dropped first.
        self._entries: OrderedDict[str, LogonEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: float) -> None:
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.last_used < self.idle_timeout:
                return
            del self._entries[oldest.id]

    def open(self, role: Role) -> LogonEntry:
        """Open a logon for ``role``; return it."""
        now = self._clock()
        self._expire(now)
        entry = LogonEntry(new_token(), role, new_token(), now)
        self._entries[entry.id] = entry
        while len(self._entries) > self._max:
            # The least recently used logon of the same role goes first, so that one
            # role's holders (an operator opening logons in a loop) cannot log out the
            # other's; only when the new logon is its role's one does the oldest go.
            same = (key for key, held in self._entries.items() if held.role is role)
            victim = next(same)
            if victim == entry.id:
                self._entries.popitem(last=False)
            else:
                del self._entries[victim]
        return entry

    def use(self, logon_id: str) -> LogonEntry:
        """The live logon with this id, its idle time reset.

        Raises:
            AuthenticationError: There is none (never opened, expired or closed).
        """
        now = self._clock()
        self._expire(now)
        entry = self._entries.get(logon_id)
        if entry is None:
            raise AuthenticationError(
                "the logon session is not valid: it expired, was closed, or never existed; "
                "log on again with POST /api/logon and a bearer token"
            )
        entry.last_used = now
        self._entries.move_to_end(logon_id)
        return entry

    def close(self, logon_id: str) -> None:
        """Forget the logon (nothing happens if it is gone already)."""
        self._entries.pop(logon_id, None)

    def expires_at(self, entry: LogonEntry) -> float:
        """When ``entry`` expires if unused from now on, in Unix seconds."""
        return time.time() + entry.last_used + self.idle_timeout - self._clock()


def _client(request: Request) -> tuple[str, str]:
    # (shown, host): "127.0.0.1:51234" for logs and tickets, the host for the throttle.
    if request.client is None:
        return "an unknown http peer", "unknown"
    host, port = request.client.host, request.client.port
    return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}"), host


class HttpAuth:
    """Checks the credentials of HTTP requests (see the module's docstring).

    Args:
        tokens: The host's tokens (shared with its socket listeners).
        throttle: Slows down and logs hosts that keep failing.
        logons: The logon sessions.
    """

    def __init__(self, tokens: TokenTable, throttle: FailureThrottle, logons: Logons) -> None:
        self.tokens = tokens
        self.logons = logons
        self._throttle = throttle
        self._locks = PeerLocks()

    async def _checked(self, request: Request, check: Callable[[], T]) -> T:
        shown, host = _client(request)
        # As the socket's token_admit: the lock and the delay come before the check,
        # so parallel requests do not multiply a guesser's attempts.
        # A valid credential is answered at once: a guesser's penalty must not hold up
        # the requests of everyone else on its host (on loopback: every local user),
        # and a success does not forgive the guesser's failures either (HTTP clients
        # succeed all the time). A failure waits out the penalty under the host's lock
        # before it is answered, so parallel guesses from one host are one at a time.
        try:
            return check()
        except AuthenticationError as exc:
            async with self._locks.hold(host):
                delay = self._throttle.delay_for(host)
                if delay > 0:
                    await trio.sleep(delay)
                self._throttle.record_failure(host, f"{exc} (http request from {shown})")
            context(request).service.record_auth(
                shown, ok=False, role=None, how="http", detail=str(exc)
            )
            raise

    async def bearer(self, request: Request) -> Principal:
        """The principal of the request's ``Authorization: Bearer`` token.

        Raises:
            AuthenticationError: There is no bearer token, or it is not valid.
        """
        header = request.headers.get("authorization")
        if header is None:
            raise AuthenticationError(
                "this needs the header 'Authorization: Bearer <token>' with the host's "
                "admin or operator token (from the file `spe-host serve` writes)"
            )
        scheme, _, token = header.partition(" ")

        def check() -> Role:
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError(
                    "the Authorization header must be 'Bearer <token>' with the host's token"
                )
            return self.tokens.role_for(token.strip())

        role = await self._checked(request, check)
        return self._principal(request, role, "http")

    async def logon(self, request: Request, logon_id: str) -> LogonEntry:
        """The live logon ``logon_id``, checked like a credential (throttled).

        Raises:
            AuthenticationError: There is no such logon.
        """
        return await self._checked(request, lambda: self.logons.use(logon_id))

    async def current_logon(self, request: Request, *, changes: bool | None = None) -> LogonEntry:
        """The logon the request comes with (``X-Session-Id`` or the cookie).

        Raises:
            AuthenticationError: It names none, or none that is live.
            PermissionDenied: A cookie request that changes state lacks the CSRF token.
        """
        logon_id = request.headers.get(SESSION_HEADER)
        if logon_id is not None:
            return await self.logon(request, logon_id)
        cookie = request.cookies.get(COOKIE)
        if cookie is None:
            raise AuthenticationError(
                "no credentials were given: send 'Authorization: Bearer <token>', or the "
                f"logon id from POST /api/logon in {SESSION_HEADER} or the {COOKIE} cookie"
            )
        entry = await self.logon(request, cookie)
        # ``changes``: whether this request changes state, when its method does not say
        # (a GET that receives a result clears it).
        if (request.method not in _SAFE_METHODS) if changes is None else changes:
            given = request.headers.get(CSRF_HEADER, "").encode("utf-8", "surrogatepass")
            if not hmac.compare_digest(given, entry.csrf_token.encode("ascii")):
                raise PermissionDenied(
                    f"a request with the {COOKIE} cookie that changes something needs the "
                    f"{CSRF_HEADER} header set to the csrf_token of the logon"
                )
        return entry

    async def authenticate(self, request: Request, *, changes: bool | None = None) -> Principal:
        """Who the request is: by bearer token, ``X-Session-Id`` or cookie, in that order.

        ``changes`` says whether the request changes state (None: by its method); a
        cookie request that does needs the CSRF token.

        Raises:
            AuthenticationError: The credentials are missing, wrong or expired.
            PermissionDenied: A cookie request that changes state lacks the CSRF token.
        """
        if "authorization" in request.headers:
            return await self.bearer(request)
        entry = await self.current_logon(request, changes=changes)
        return self._principal(request, entry.role, f"logon {entry.id[:8]}")

    def _principal(self, request: Request, role: Role, connection: str) -> Principal:
        shown, _ = _client(request)
        return Principal(role, shown, connection, f"{role} at {shown} (http)")


async def principal(
    request: Request, operation: Operation, *, changes: bool | None = None
) -> Principal:
    """Authenticate ``request`` and check that its role may perform ``operation``.

    ``changes``: whether the request changes state, when its method does not say.

    Raises:
        AuthenticationError: The credentials are missing, wrong or expired (401).
        PermissionDenied: The role may not do it, or a cookie request lacks the CSRF
            token (403).
    """
    ctx = context(request)
    who = await ctx.auth.authenticate(request, changes=changes)
    ctx.service.authorize(who, operation)
    return who
