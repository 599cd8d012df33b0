"""What every connection of one ``serve_*`` call shares, and how that call runs and ends.

Theory of operation
-------------------
A ``serve_*`` call accepts connections with :func:`trio.serve_listeners` into a
handler nursery of its own, so any :class:`trio.abc.Listener` works (sockets, TLS via
:class:`trio.SSLListener`, or a test's fake). The handler nursery sits under a
*shielded* cancel scope: cancelling the ``serve_*`` call must not cut connections off
before shutdown has let their in-flight ``execute`` requests say how they ended.

**Shutdown** (hypercorn's shape: a deadline on the handler nursery). When the call is
cancelled it stops accepting, refuses new work, and waits - at most
``shutdown_timeout`` seconds - until every in-flight ``execute`` has written its
``done``; then it closes the remaining connections. It never stops a session: a
listener does not own the host's sessions, so restarting one listener (to rotate a
certificate, say) while another serves leaves every job running. Whoever owns the
host decides when sessions stop - ``spe-host serve`` stops them before it cancels
its listeners, so their clients see their runs end as ``aborted``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Final, NoReturn, TypeAlias

import trio

from .._errors import SessionBusy
from ..service import Principal, Service
from ..wire import DEFAULT_MAX_FRAME, Hello
from ._gate import Gate
from ._limits import DEFAULT_LIMITS, Limits

__all__ = ["Admit", "ServerCore"]

logger = logging.getLogger("spe_host.server")

#: Decides who a connection is from its stream and its ``hello``; raises
#: AuthenticationError to refuse it.
Admit: TypeAlias = Callable[[trio.abc.Stream, Hello], Awaitable[Principal]]

#: Seconds a new connection has to complete TLS and its ``hello``.
HANDSHAKE_TIMEOUT: Final = 5.0
# Characters of output per `output` event: small enough to interleave with other
# answers, and far below the frame limit even if every character had to be escaped.
_OUTPUT_CHUNK: Final = 64 * 1024


class ServerCore:
    """State shared by every connection of one ``serve_*`` call.

    Args:
        service: The operations connections dispatch onto.
        handshake_timeout: Seconds a new connection has to say ``hello``.
        max_frame: The frame limit, in bytes, once a connection is authenticated.
        limits: What the connections may hold (see :class:`~spe_host.server.Limits`).
        count_startups: Cap unauthenticated connections (False for a unix socket,
            whose peers the kernel names at connect).

    Attributes:
        gate: Counts the connections and turns away those beyond ``limits``.
    """

    def __init__(
        self,
        service: Service,
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: Limits = DEFAULT_LIMITS,
        count_startups: bool = True,
    ) -> None:
        self.service = service
        self.handshake_timeout = handshake_timeout
        self.max_frame = max_frame
        self.limits = limits
        self.gate = Gate(limits, count_startups=count_startups)
        self.closing = False
        # Characters per `output` event: a frame must hold a chunk even if every
        # character had to be escaped as \u00XX (6 bytes), plus the other fields.
        self.output_chunk = max(16, min(_OUTPUT_CHUNK, (max_frame - 1024) // 6))
        self.numbers = itertools.count(1)
        self._executes = 0
        self._executes_done = trio.Event()

    def refuse_new_work(self) -> None:
        """Raise if the server is shutting down.

        Raises:
            SessionBusy: It is.
        """
        if self.closing:
            raise SessionBusy(
                "the host is shutting down and takes no new work; connect again once it is back"
            )

    def execute_started(self) -> None:
        """Count an ``execute`` whose ``done`` shutdown must wait for."""
        self._executes += 1

    def execute_finished(self) -> None:
        """Uncount it; the last one wakes a waiting shutdown."""
        self._executes -= 1
        if self._executes == 0:
            self._executes_done.set()
            self._executes_done = trio.Event()

    async def run(
        self,
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
        handle: Callable[[trio.abc.Stream], Awaitable[None]],
        *,
        shutdown_timeout: float,
        started: Callable[[], None],
    ) -> NoReturn:
        """Accept on ``listeners`` until cancelled, then shut down within the deadline."""
        # Shielded: see the module's docstring; _shutdown cancels it itself.
        connections = trio.CancelScope(shield=True)
        finished = trio.Event()
        accepting = trio.CancelScope()

        async def accept_and_handle() -> None:
            try:
                with connections:
                    async with trio.open_nursery() as handlers:
                        with accepting:
                            await trio.serve_listeners(
                                partial(self._guard, handle),
                                list(listeners),
                                handler_nursery=handlers,
                            )
            finally:
                finished.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_and_handle)
            started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await self._shutdown(accepting, connections, finished, shutdown_timeout)

    async def _guard(
        self, handle: Callable[[trio.abc.Stream], Awaitable[None]], stream: trio.abc.Stream
    ) -> None:
        try:
            await handle(stream)
        except Exception:
            # Nothing a client does may take the server down; this is a bug in here.
            logger.exception("a connection failed")

    async def _shutdown(
        self,
        accepting: trio.CancelScope,
        connections: trio.CancelScope,
        finished: trio.Event,
        timeout: float,
    ) -> None:
        deadline = trio.current_time() + timeout
        # Whatever happens below, the connections end by the deadline.
        connections.deadline = deadline
        self.closing = True
        accepting.cancel()
        with trio.move_on_at(deadline) as waited:
            while self._executes:
                await self._executes_done.wait()
        if waited.cancelled_caught:
            logger.warning(
                "shutting down: %d execute request(s) did not finish within %g s; "
                "closing their connections anyway (their sessions keep running)",
                self._executes,
                timeout,
            )
        connections.cancel()
        with trio.move_on_at(deadline + 1.0 if math.isfinite(deadline) else math.inf):
            await finished.wait()
