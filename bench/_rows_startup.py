"""Rows: ``spe-host serve`` from start to its first answered ``ls``; ``spe-host ls`` wall time.

Serve: the clock runs from spawning ``spe-host serve`` (unix socket, TCP with its
connection files, as a user starts it) until a client has connected and had its
``ls`` answered. The anchors, interleaved: the trio floor server spawned until it
answered one echo; a Jupyter kernel from ``start_kernel`` until its client is ready; a
bare ``python -c "import trio"``.

``spe-host ls``: the wall time of the command against a running host, beside
``python -c "import trio"`` (the least any trio client pays to start).

Both rows first compile spe_host's modules to bytecode (``compileall``), as ``pip
install`` does and as any second start finds them: the anchors' packages come
compiled from their installs, and an environment that sets PYTHONDONTWRITEBYTECODE
(as this repository's does) would otherwise make every spe_host start compile its
hundred modules from source, which no installed copy does.
"""

from __future__ import annotations

import compileall
import py_compile
import subprocess
import sys
from itertools import count
from pathlib import Path

import _anchors
import trio
from _context import Context
from _harness import Condition, Figure, Side, interleave, missing, timer
from _procs import LineClient, floor_server, served_host, spe_host_command

import spe_host


def _serve(ctx: Context) -> Side:
    numbers = count()

    async def trial() -> float:
        elapsed = timer()
        async with (
            served_host(ctx.workdir, f"start{next(numbers)}") as served,
            spe_host.connect(served.unix) as client,
        ):
            await client.sessions()
            return elapsed()

    return Side("spe_host", trial)


def _floor(ctx: Context) -> Side:
    numbers = count()

    async def trial() -> float:
        elapsed = timer()
        async with floor_server(ctx.workdir, f"startfloor{next(numbers)}") as floor:
            client = await LineClient.open(floor.unix)
            await client.call(b"echo up")
            took = elapsed()
            await client.aclose()
            return took

    return Side("trio floor", trial)


def _command(label: str, command: list[str]) -> Side:
    async def trial() -> float:
        elapsed = timer()
        await trio.run_process(command, stdout=subprocess.DEVNULL)
        return elapsed()

    return Side(label, trial)


def _jupyter(ctx: Context) -> Side:
    async def trial() -> float:
        return _anchors.jupyter_start(ctx.workdir)

    return Side("Jupyter kernel", trial)


IMPORT_TRIO = [sys.executable, "-c", "import trio"]


async def _serve_figure(ctx: Context) -> Figure:
    sides = [_serve(ctx), _floor(ctx), _command("import trio", IMPORT_TRIO)]
    why = _anchors.unavailable(_anchors.JUPYTER)
    if why is None:
        sides.append(_jupyter(ctx))
    ctx.say(f"serve start-up: {ctx.sizes.startups} per side")
    spe, *anchors = await interleave(sides, ctx.sizes.startups)
    if why is not None:
        anchors.append(missing("Jupyter kernel", why))
    return Figure(
        name="`spe-host serve` start to first answered `ls`",
        spe=spe,
        anchors=tuple(anchors),
        goal=(Condition("median", factor=1.5, anchor="trio floor"),),
        goal_text="<= 1.5x the trio floor",
    )


async def _ls_figure(ctx: Context) -> Figure:
    async with served_host(ctx.workdir, "lswall") as served:
        command = [*spe_host_command(), "ls", "--connect", served.unix]
        ctx.say(f"spe-host ls wall time: {ctx.sizes.startups * 2} per side")
        spe, bare = await interleave(
            [_command("spe_host", command), _command("python -c 'import trio'", IMPORT_TRIO)],
            ctx.sizes.startups * 2,
        )
    return Figure(
        name="`spe-host ls` wall time",
        spe=spe,
        anchors=(bare,),
        goal=(Condition("median", limit=0.130),),
        goal_text="<= 130 ms",
    )


def _compile_spe_host(ctx: Context) -> None:
    """Write spe_host's bytecode next to its sources, as an install would have it.

    Checked by the hash of the source, not its mtime: in a tree being edited, a file
    changed within the second it was compiled keeps its size and mtime, and an
    mtime-checked bytecode file would then run the old code.
    """
    package = Path(spe_host.__file__).parent
    checked = py_compile.PycInvalidationMode.CHECKED_HASH
    if not compileall.compile_dir(package, quiet=1, invalidation_mode=checked):
        ctx.say(f"could not compile every module under {package}: starts compile them")


async def rows(ctx: Context) -> list[Figure]:
    _compile_spe_host(ctx)
    return [await _serve_figure(ctx), await _ls_figure(ctx)]
