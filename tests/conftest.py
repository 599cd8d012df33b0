"""Shared fixtures; helpers live in the ``support`` package (never imported from here).

Every async test keeps its own ``trio.fail_after``. The server, client and end-to-end
tests take ``runtime`` and ``gate`` from here and their helpers from ``support``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.engine import NativeCall
from support.server import use_private_runtime_dir

import spe_host

#: Folders whose tests drive the command, the REPL and the server from outside, in
#: subprocesses and pseudo-terminals: what they check does not differ between Python
#: versions (the engine's tests, which do, run everywhere), so tools/pytest-all runs them
#: on the first interpreter only, to keep `make test` inside its budget.
_ONCE = ("e2e", "reliability")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    folders = {here / name for name in _ONCE}
    for item in items:
        if Path(item.path).parent in folders:
            item.add_marker(pytest.mark.single_python)


def pytest_configure(config: pytest.Config) -> None:
    # A shell without job control starts a background command (`make test &` in a
    # script, a CI step that backgrounds it) with SIGINT ignored, and exec passes that
    # on: the `spe-host` subprocesses the end-to-end tests Ctrl-C would ignore it and be
    # killed at their deadline. Python's own handler is what the suite expects.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes to ~/.local/state: journals and REPL history go to a tmp dir."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture
async def host() -> AsyncIterator[spe_host.Host]:
    """A host with no idle expiry and a short shutdown deadline."""
    async with spe_host.open_host(idle_timeout=None, shutdown_timeout=2.0) as h:
        yield h


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private runtime directory (not created yet) for sockets and connection files."""
    return use_private_runtime_dir(tmp_path, monkeypatch)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """A threading.Event a script can block on; always set at teardown.

    Setting it at teardown releases any worker thread a failed test left waiting.
    """
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def native_call(gate: threading.Event) -> NativeCall:
    """A call that blocks until the test sets ``gate`` (set at teardown in any case)."""
    return NativeCall(gate)
