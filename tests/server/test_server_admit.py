"""Authentication keeps the handshake deadline, and a right token is never held up."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from support.server import served

from spe_host._errors import AuthenticationError
from spe_host.auth import FailureThrottle

# A private runtime directory: serve_tcp writes connection files there, and the
# user's own directory may hold a live host of the same name.
pytestmark = pytest.mark.usefixtures("runtime")


async def test_a_right_token_is_not_delayed_by_guessers_from_the_same_address() -> None:
    # Every local user shares 127.0.0.1: a guesser's penalty must not lock them out.
    throttle = FailureThrottle(limit=1, window=60.0, penalty=10.0, clock=lambda: 0.0)
    with trio.fail_after(15):
        async with served("tcp", throttle=throttle, handshake_timeout=1.0) as srv:
            refused: list[float] = []

            async def guess(n: int) -> None:
                began = trio.current_time()
                with pytest.raises(AuthenticationError):
                    async with srv.connect(token=f"guess-{n}"):
                        pass
                refused.append(trio.current_time() - began)

            async with trio.open_nursery() as nursery:
                for n in range(3):
                    nursery.start_soon(guess, n)
                await trio.testing.wait_all_tasks_blocked(0.05)
                began = trio.current_time()
                async with srv.connect() as client:
                    assert client.role == "admin"
                assert trio.current_time() - began < 0.5
            # The guessers waited out their penalty, but never past the handshake
            # deadline (1 s), although the penalty is 10 s.
            assert len(refused) == 3
            assert max(refused) < 3.0
