"""Rows: ``1+1`` round trip from another process, over the unix socket and over TCP.

spe_host is ``client.execute(session, "1+1")`` on a ``spe-host serve`` in its own
process. Beside it, interleaved trial by trial: a Jupyter kernel (ipc for the unix row,
tcp for the TCP row), an aioconsole server (``1+1`` and read to the next prompt), the
trio echo floor (one line each way) and the same floor with one thread hop per echo,
which every spe_host execution pays.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import _anchors
from _context import Context
from _harness import Condition, Figure, Measured, Side, interleave, missing, timer
from _procs import Floor, LineClient, floor_server, served_host

import spe_host

GOAL = (
    Condition("median", limit=0.25e-3),
    Condition("median", factor=1 / 15, anchor="Jupyter"),
    Condition("median", factor=1.0, anchor="aioconsole"),
)
GOAL_TEXT = "p50 <= 0.25 ms, >= 15x faster than Jupyter, <= aioconsole"


def _echo_side(label: str, client: LineClient) -> Side:
    async def trial() -> float:
        elapsed = timer()
        answer = await client.call(b"echo 2")
        took = elapsed()
        if answer != b"2":
            raise RuntimeError(f"the floor answered {answer!r} to an echo")
        return took

    return Side(label, trial)


def _aioconsole_side(client: LineClient) -> Side:
    async def trial() -> float:
        elapsed = timer()
        await client.stream.send_all(b"1+1\n")
        answer = await client.until(_anchors.AIOCONSOLE_PROMPT)
        took = elapsed()
        if not answer.startswith(b"2\n"):
            raise RuntimeError(f"aioconsole answered {answer!r} to 1+1")
        return took

    return Side("aioconsole", trial)


def _jupyter_side(kernel: _anchors.JupyterKernel) -> Side:
    async def trial() -> float:
        return kernel.round_trip()

    return Side("Jupyter", trial)


def round_trip(client: spe_host.Client, label: str = "spe_host") -> Side:
    """The spe_host side: ``1+1`` in session ``rt``, answered."""

    async def trial() -> float:
        elapsed = timer()
        result = await client.execute("rt", "1+1")
        took = elapsed()
        if result.value != "2":
            raise RuntimeError(f"spe_host answered {result.value!r} to 1+1: {result.error}")
        return took

    return Side(label, trial)


async def _one_transport(
    ctx: Context, transport: str, address: str, floors: list[Floor], aio: Floor | None
) -> Figure:
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(spe_host.connect(address))
        await client.execute("rt", "1+1")  # the session exists and its thread is warm
        sides = [round_trip(client)]
        absent: list[Measured] = []

        why = _anchors.unavailable(_anchors.JUPYTER)
        if why is None:
            ctx.say(f"starting a Jupyter kernel ({'ipc' if transport == 'unix' else 'tcp'})")
            kernel = _anchors.JupyterKernel(ctx.workdir, "ipc" if transport == "unix" else "tcp")
            stack.callback(kernel.close)
            kernel.round_trip()
            sides.append(_jupyter_side(kernel))
        else:
            absent.append(missing("Jupyter", why))

        if aio is not None:
            aio_client = await LineClient.open(aio.unix if transport == "unix" else None, aio.port)
            stack.push_async_callback(aio_client.aclose)
            await aio_client.until(_anchors.AIOCONSOLE_PROMPT)
            sides.append(_aioconsole_side(aio_client))
        else:
            absent.append(
                missing("aioconsole", _anchors.unavailable(_anchors.AIOCONSOLE) or "not started")
            )

        for label, floor in zip(("trio echo floor", "echo + thread hop"), floors, strict=True):
            line = await LineClient.open(floor.unix if transport == "unix" else None, floor.port)
            stack.push_async_callback(line.aclose)
            sides.append(_echo_side(label, line))

        ctx.say(f"1+1 round trips over {transport}: {ctx.sizes.round_trips} per side")
        measured = await interleave(sides, ctx.sizes.round_trips)
    spe, *anchors = measured
    return Figure(
        name=f"exec `1+1` round trip, another process, {transport}",
        spe=spe,
        anchors=(*anchors, *absent),
        goal=GOAL,
        goal_text=GOAL_TEXT,
        ratio_to="Jupyter",
    )


async def rows(ctx: Context) -> list[Figure]:
    async with AsyncExitStack() as stack:
        served = await stack.enter_async_context(served_host(ctx.workdir, "rt"))
        floors = [
            await stack.enter_async_context(floor_server(ctx.workdir, "floor")),
            await stack.enter_async_context(floor_server(ctx.workdir, "hop", hop=True)),
        ]
        aio = None
        if _anchors.unavailable(_anchors.AIOCONSOLE) is None:
            aio = await stack.enter_async_context(_anchors.aioconsole_server(ctx.workdir))
        return [
            await _one_transport(ctx, "unix", served.unix, floors, aio),
            await _one_transport(ctx, "tcp", served.tcp, floors, aio),
        ]
