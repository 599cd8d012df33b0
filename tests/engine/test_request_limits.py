"""The limits a host puts on one request are the host's own (open_host(limits=...))."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

import spe_host
from spe_host import RequestLimits
from spe_host.service import EMBEDDING_PROGRAM, InvalidArgument, Service


async def test_a_host_refuses_patterns_beyond_its_own_limits() -> None:
    limits = RequestLimits(max_pattern_length=8, max_patterns=2)
    with trio.fail_after(5):
        async with spe_host.open_host(limits=limits) as host:
            assert host.sessions("a", "b") == []
            with pytest.raises(ValueError, match="at most 2 are allowed"):
                host.sessions("a", "b", "c")
            with pytest.raises(InvalidArgument, match="patterns may have at most 8"):
                Service(host).sessions(EMBEDDING_PROGRAM, "x" * 9)
            # The default limits would have refused neither of these.
            async with spe_host.open_host() as roomy:
                assert roomy.sessions("a", "b", "c", "x" * 9) == []


async def test_a_host_refuses_script_files_beyond_its_own_size_limit(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("x = 1\n" * 50, encoding="utf-8")  # 300 bytes
    with trio.fail_after(5):
        async with spe_host.open_host(limits=RequestLimits(max_script_size=100)) as host:
            with pytest.raises(InvalidArgument, match="larger than 100 bytes"):
                await Service(host).start(EMBEDDING_PROGRAM, "s", path=script)
            with pytest.raises(ValueError, match="larger than 100 bytes"):
                host.start("s", path=script)
            assert host.sessions() == []


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="max_patterns must be at least 1"):
        RequestLimits(max_patterns=0)
