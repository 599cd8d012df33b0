"""Stop-deferral zones: ``with spe.critical(reason):`` holds a stop until the block ends (#10)."""

from __future__ import annotations

import threading

import trio
from support.engine import wait_until

import spe_host
from spe_host import ExecutionStatus
from spe_host._model import StopPhase

ZONE = """\
with spe.critical("committing batch 12"):
    entered.set()
    while not gate.is_set():
        pass
    a = 1
    b = 2
after = 1
"""


async def test_a_stop_during_the_zone_lands_after_it(
    host: spe_host.Host, gate: threading.Event
) -> None:
    entered = threading.Event()
    with trio.fail_after(5):
        session = host.start("c", ZONE, args={"entered": entered, "gate": gate}, filename="job.py")
        await wait_until(entered.is_set)
        host.stop("c")
        ticket = host.stop_ticket("c")
        assert ticket is not None
        assert (ticket.phase, ticket.deferred) == (StopPhase.REQUESTED, "committing batch 12")
        assert session.info().stop == ticket  # ls shows it
        gate.set()
        await host.wait("c")
        ticket = host.stop_ticket("c")
        assert ticket is not None
        # The zone's statements all ran; the stop landed at the first one after it.
        assert (session.namespace["a"], session.namespace["b"]) == (1, 2)
        assert "after" not in session.namespace
        assert (ticket.landed_at, ticket.deferred) == ("job.py:7", None)
        assert ticket.status is ExecutionStatus.ABORTED


async def test_nested_zones_show_the_outermost_reason(
    host: spe_host.Host, gate: threading.Event
) -> None:
    script = (
        'with spe.critical("outer"):\n'
        '    with spe.critical("inner"):\n'
        "        entered.set()\n"
        "        gate.wait()\n"
        "        inner_done = 1\n"
        "    outer_done = 1\n"
        "after = 1\n"
    )
    entered = threading.Event()
    with trio.fail_after(5):
        session = host.start("n", script, args={"entered": entered, "gate": gate})
        await wait_until(entered.is_set)
        host.stop("n")
        assert host.stop_ticket("n").deferred == "outer"  # type: ignore[union-attr]
        gate.set()
        await host.wait("n")
        assert session.namespace["inner_done"] == 1
        assert session.namespace["outer_done"] == 1
        assert "after" not in session.namespace


async def test_an_exception_in_a_zone_propagates_and_the_stop_lands_next(
    host: spe_host.Host, gate: threading.Event
) -> None:
    script = (
        "try:\n"
        '    with spe.critical("zone"):\n'
        "        entered.set()\n"
        "        gate.wait()\n"
        "        raise KeyError('boom')\n"
        "except KeyError:\n"
        "    caught = 1\n"
        "after = 1\n"
    )
    entered = threading.Event()
    with trio.fail_after(5):
        session = host.start("x", script, args={"entered": entered, "gate": gate})
        await wait_until(entered.is_set)
        host.stop("x")
        gate.set()
        await host.wait("x")
        # The handler is the first code after the zone: the stop lands there.
        assert "caught" not in session.namespace
        assert "after" not in session.namespace
        assert host.receive("x").status is ExecutionStatus.ABORTED
        # Without a stop an exception just propagates through the zone.
        result = await host.execute(
            "x",
            'try:\n    with spe.critical("z"):\n        1/0\nexcept ZeroDivisionError:\n'
            "    ok = 1\n",
        )
        assert result.status is ExecutionStatus.COMPLETED
        assert session.namespace["ok"] == 1


async def test_a_zone_holds_off_the_cancellation_of_an_await(host: spe_host.Host) -> None:
    script = (
        "import trio\n"
        'with spe.critical("flushing"):\n'
        "    entered.set()\n"
        "    await trio.sleep(0.2)\n"
        "    done = 1\n"
        "after = 1\n"
    )
    entered = threading.Event()
    with trio.fail_after(5):
        session = host.start("w", script, args={"entered": entered})
        await wait_until(entered.is_set)
        host.stop("w")
        assert host.stop_ticket("w").deferred == "flushing"  # type: ignore[union-attr]
        await host.wait("w")
        assert session.namespace["done"] == 1
        assert "after" not in session.namespace


async def test_a_zone_outside_any_execution_does_nothing(host: spe_host.Host) -> None:
    with trio.fail_after(5):
        await host.execute(
            "o", "def commit():\n    with spe.critical('commit'):\n        return 42\n"
        )
        commit = host.session("o").namespace["commit"]
        assert commit() == 42  # the embedding program calls it itself
        with host.session("o").namespace["spe"].critical("direct"):
            pass
        assert host.stop_ticket("o") is None
