"""A small trio service that embeds spe_host.

The app is a ticker: a task bumps a counter ten times a second. The host is embedded
in three lines (``open_host`` with the app in the namespace). A background job in
the named session ``watch`` reads the app's live state in a loop that would never end
by itself; the app then stops it from outside and prints what happened at each step.

Run it with ``python examples/embedded_app.py`` (``make demo`` runs the full
two-process demo, which builds on this file).
"""

from __future__ import annotations

import trio

import spe_host


class Ticker:
    """The embedding program's own state."""

    def __init__(self) -> None:
        self.counter = 0

    async def run(self) -> None:
        while True:
            self.counter += 1
            await trio.sleep(0.1)


WATCH_JOB = """
import time
seen = []
while True:                       # never ends by itself: only a stop ends it
    seen.append(app.counter)
    spe.progress(min(100, len(seen)), f"counter is {app.counter}")
    print("tick", app.counter)
    time.sleep(0.1)
"""


async def main() -> None:
    app = Ticker()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app.run)
        # The three lines that embed the host:
        async with spe_host.open_host(namespace={"app": app}) as host:
            session = host.start("watch", WATCH_JOB, name="watch the ticker")
            print(f"1. started session {session.id!r}: state={session.state}")

            await trio.sleep(0.5)
            print(
                f"2. while it runs: state={session.state} location={session.location} "
                f"progress={session.progress.percent:.0f}% ({session.progress.message})"
            )

            outcome = host.stop("watch")
            print(f"3. stop('watch') -> {outcome['watch']}; state={session.state}")

            await host.wait("watch", timeout=5)
            result = host.receive("watch")
            lines = result.output.splitlines()
            print(
                f"4. ended {result.status}: printed {len(lines)} lines "
                f"(last: {lines[-1]!r}); the job saw {len(session.namespace['seen'])} "
                "counter values"
            )
            print(f"5. the app kept running: counter={app.counter}")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
