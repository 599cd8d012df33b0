"""Authentication: the throttle bounds guesses, and every bad token is refused cleanly."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from support.server import encode, read_frames, served

from spe_host._errors import AuthenticationError
from spe_host._model import Role
from spe_host.auth import FailureThrottle, TokenTable

# A private runtime directory: serve_tcp writes connection files there, and the
# user's own directory may hold a live host of the same name.
pytestmark = pytest.mark.usefixtures("runtime")


class CheckedTokens(TokenTable):
    """A token table that notes when each token was checked."""

    def __init__(self) -> None:
        super().__init__({Role.ADMIN: "right-admin", Role.OPERATOR: "right-operator"})
        self.checked: list[float] = []

    def role_for(self, token: str | None) -> Role:
        self.checked.append(trio.current_time())
        return super().role_for(token)


async def test_parallel_wrong_tokens_from_one_address_are_checked_one_at_a_time() -> None:
    # After the free tries, each guess waits out the penalty before it is even checked:
    # parallel connections do not buy a guesser more guesses.
    tokens = CheckedTokens()
    throttle = FailureThrottle(limit=2, window=60.0, penalty=0.2, max_penalty=0.2)
    with trio.fail_after(15):
        async with served("tcp", tokens=tokens, throttle=throttle) as srv:

            async def guess(n: int) -> None:
                with pytest.raises(AuthenticationError):
                    async with srv.connect(token=f"guess-{n}"):
                        pass

            async with trio.open_nursery() as nursery:
                for n in range(7):
                    nursery.start_soon(guess, n)
    assert len(tokens.checked) == 7
    gaps = [b - a for a, b in zip(tokens.checked[2:], tokens.checked[3:], strict=False)]
    assert tokens.checked[2] - tokens.checked[0] >= 0.19
    assert min(gaps) >= 0.19, gaps


async def test_the_first_limit_failures_are_free_and_the_next_try_waits() -> None:
    tokens = CheckedTokens()
    throttle = FailureThrottle(limit=3, window=60.0, penalty=0.5)
    with trio.fail_after(15):
        async with served("tcp", tokens=tokens, throttle=throttle) as srv:
            took: list[float] = []
            for n in range(4):
                began = trio.current_time()
                with pytest.raises(AuthenticationError):
                    async with srv.connect(token=f"guess-{n}"):
                        pass
                took.append(trio.current_time() - began)
            # Three free failures, as documented; the fourth try waits the penalty.
            assert max(took[:3]) < 0.4, took
            assert took[3] >= 0.5, took
            began = trio.current_time()
            async with srv.connect(token="right-admin") as client:
                assert client.role == "admin"
            # A right token waits its turn too (the address keeps failing), and clears it.
            assert trio.current_time() - began >= 1.0
            assert throttle.delay_for("127.0.0.1") == 0.0


@pytest.mark.parametrize("token", ["\\ud800", "right-admin\\udfff"])
async def test_a_token_with_a_lone_surrogate_is_refused_cleanly_and_counted(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = CheckedTokens()
    throttle = FailureThrottle()
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(10):
        async with served("tcp", tokens=tokens, throttle=throttle) as srv:
            stream = await srv.open_raw()
            hello = f'{{"type":"hello","version":"1.1","client":"raw","token":"{token}"}}\n'
            await stream.send_all(hello.encode("ascii"))
            frames = await read_frames(stream)
            assert [(f["type"], f["code"]) for f in frames] == [("error", "unauthorized")]
            assert "not valid" in frames[0]["message"]
            assert len(throttle) == 1  # the failure was counted
            # And the connection after it is served as usual.
            good = await srv.open_raw()
            await good.send_all(
                encode({"type": "hello", "version": "1.1", "token": "right-admin", "client": "r"})
            )
            [welcome] = await read_frames(good, count=1)
            assert welcome["type"] == "welcome"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
