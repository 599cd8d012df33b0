"""The trio floor: the least a trio server can do for each of the benchmark's requests.

Run as a subprocess by the benchmark (``python bench/_floor_server.py UNIX_PATH
[--hop]``). It listens on the unix socket and on a TCP port of 127.0.0.1, prints
``{"unix": PATH, "port": PORT}`` on one line, and serves until it is killed.

The protocol is one line per request, one line per answer:

``echo TEXT``
    answers ``TEXT`` - after one ``trio.to_thread.run_sync`` hop with ``--hop``, the
    hop every spe_host execution pays.
``spin N``
    starts N threads that spin ``while True: x = 1`` (what a CPU-bound session does to
    the server's interpreter); answers ``ok``. ``calm`` stops them and answers ``ok``.
``sleep``
    starts ``await trio.sleep(100)`` under a cancel scope and answers nothing yet;
    ``cancel`` cancels it, and the sleeping task then answers ``cancelled``.
``put N``
    reads the next N bytes and keeps them; answers ``ok``. ``get`` answers the length of
    what was kept, a newline, then the bytes (a reply of the same size as an ``ls``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading

import trio

_MAX_LINE = 1 << 16


class _Spinners:
    """Threads that hold the interpreter in a pure-Python loop until told to stop."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _spin(self) -> None:
        stop = self._stop
        while not stop.is_set():
            x = 1
            del x

    def start(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=self._spin, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self._stop = threading.Event()


class _Reader:
    """Lines and counted bytes from a stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _more(self) -> None:
        data = await self._stream.receive_some(_MAX_LINE)
        if not data:
            raise EOFError
        self._buffer += data

    async def line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            await self._more()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    async def exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            await self._more()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data


def _noop() -> None:
    pass


class _Server:
    def __init__(self, hop: bool) -> None:
        self.hop = hop
        self.spinners = _Spinners()
        self.kept = b""

    async def handle(self, stream: trio.abc.Stream) -> None:
        reader = _Reader(stream)
        sleeper: trio.CancelScope | None = None
        async with trio.open_nursery() as nursery:
            try:
                while True:
                    verb, _, rest = (await reader.line()).partition(b" ")
                    if verb == b"echo":
                        if self.hop:
                            await trio.to_thread.run_sync(_noop)
                        await stream.send_all(rest + b"\n")
                    elif verb == b"spin":
                        self.spinners.start(int(rest))
                        await stream.send_all(b"ok\n")
                    elif verb == b"calm":
                        self.spinners.stop()
                        await stream.send_all(b"ok\n")
                    elif verb == b"sleep":
                        sleeper = trio.CancelScope()
                        nursery.start_soon(self._sleep, stream, sleeper)
                    elif verb == b"cancel" and sleeper is not None:
                        sleeper.cancel()
                    elif verb == b"put":
                        self.kept = await reader.exactly(int(rest))
                        await stream.send_all(b"ok\n")
                    elif verb == b"get":
                        await stream.send_all(b"%d\n" % len(self.kept) + self.kept)
                    else:
                        await stream.send_all(b"unknown request\n")
            except (EOFError, trio.BrokenResourceError):
                nursery.cancel_scope.cancel()

    async def _sleep(self, stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep(100)
        await stream.send_all(b"cancelled\n")


async def main(path: str, hop: bool) -> None:
    server = _Server(hop)
    unix = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await unix.bind(path)
    unix.listen()
    tcp = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = tcp[0].socket.getsockname()[1]
    print(json.dumps({"unix": path, "port": port, "pid": os.getpid()}), flush=True)
    listeners = [trio.SocketListener(unix), *tcp]
    await trio.serve_listeners(server.handle, listeners)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the unix socket to listen on")
    parser.add_argument("--hop", action="store_true", help="one thread hop per echo")
    options = parser.parse_args()
    trio.run(main, options.path, options.hop)
