"""The example ticker service, reachable from other consoles.

It is ``embedded_app.py``'s ticker with its host put on the wire: a unix socket in
the private runtime directory, named after the host (``--name``, default ``demo``).
From another console (the runtime directory must be the service's: same user, same
``SPE_HOST_RUNTIME_DIR`` if you set one)::

    spe-host ls --connect demo
    spe-host attach demo --session play
    spe-host start watch examples/watch_job.py --connect demo
    spe-host stop watch --connect demo

It also serves the HTTP API and the dashboard on a loopback port it prints (the
``http`` extra; see docs/dashboard.md).

It runs until interrupted (Ctrl-C or SIGTERM), then shuts down gracefully: running
sessions are stopped and their clients told.
"""

from __future__ import annotations

import argparse
import signal
import sys

import trio

import spe_host
from spe_host.http import serve_http

try:
    from embedded_app import Ticker
except ImportError:  # run as a module from the repository root
    from examples.embedded_app import Ticker


async def main(name: str) -> None:
    app = Ticker()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app.run)
        async with spe_host.open_host(namespace={"app": app}, name=name) as host:
            listening = await nursery.start(spe_host.serve, host)
            print(f"ticker service: host {name!r} listening on {listening.address}", flush=True)
            # The HTTP API and its dashboard, on a loopback port the system picks.
            http = await nursery.start(serve_http, host, "tcp://127.0.0.1:0")
            print(f"ticker service: dashboard at {http.url}/", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    print(
                        f"ticker service: {signal.Signals(signum).name}, shutting down", flush=True
                    )
                    break
        nursery.cancel_scope.cancel()
    print("ticker service: stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="demo", help="the host's name (default: demo)")
    trio.run(main, parser.parse_args().name)
    sys.exit(0)
