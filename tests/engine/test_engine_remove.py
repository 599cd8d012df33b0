"""remove(force=True) keeps a deadline, and args cannot shadow the host's names."""

from __future__ import annotations

import logging
import threading

import pytest
import trio
from support.engine import NativeCall

import spe_host
from spe_host import SessionState


async def test_force_remove_abandons_a_session_stuck_in_a_native_call(
    caplog: pytest.LogCaptureFixture, gate: threading.Event, native_call: NativeCall
) -> None:
    # The native call returns only when the test opens the gate, after the remove.
    with trio.fail_after(10):
        async with spe_host.open_host(
            namespace={"native_call": native_call}, idle_timeout=None, shutdown_timeout=0.3
        ) as host:
            session = host.start("stuck", "native_call()\nafter = 1")
            await native_call.wait_entered()
            started = trio.current_time()
            with caplog.at_level(logging.WARNING, logger="spe_host"):
                await host.remove("stuck", force=True)
            elapsed = trio.current_time() - started
            assert elapsed < 2.0, "remove(force=True) must not wait past its deadline"
            assert host.sessions() == []
            assert session.state is SessionState.CLOSED
            assert "'stuck' did not stop within 0.3 s" in caplog.text
            assert "<session stuck #1>:1" in caplog.text
            assert session.last is not None
            assert session.last.status is spe_host.ExecutionStatus.ABORTED
            gate.set()


@pytest.mark.parametrize("name", ["spe", "__builtins__", "__spe_abort__", "__spe_checkpoint__"])
async def test_args_cannot_rebind_the_names_the_host_owns(host: spe_host.Host, name: str) -> None:
    with trio.fail_after(5):
        with pytest.raises(ValueError, match="cannot be passed as args"):
            host.start("job", "x = 1", args={name: 1})
        assert host.sessions() == []
