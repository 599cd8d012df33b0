"""The signature of the call under the cursor, on a session's live namespace
(``Host.signature``)."""

from __future__ import annotations

import pytest
import trio

import spe_host
from spe_host import SessionNotFound, Signature


async def test_a_function_defined_only_in_the_session_has_its_signature(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(30):
        await host.execute("sig", 'def f(a, b=2):\n    "Add them up.\\n\\nMore."\n')
        found = await host.signature("sig", "f(1, ", 5)
        assert found == Signature(name="f", params=["a", "b=2"], index=1, doc="Add them up.")
        assert str(found) == "f(a, b=2)"
        assert await host.signature("sig", "f(1)", 4) is None  # past the closing bracket
        assert await host.signature("sig", "nothing_here(", 13) is None
        # A session that does not exist yet sees the builtins, and is not created.
        fresh = await host.signature("fresh", "len(", 4)
        assert fresh is not None
        assert fresh.name == "len"
        assert not host.sessions("fresh")
        with pytest.raises(ValueError, match="outside the text"):
            await host.signature("sig", "f(", 3)
        with pytest.raises(SessionNotFound):
            await host.signature("bad id!", "f(", 2)


async def test_a_signature_runs_none_of_the_scripts_code(host: spe_host.Host) -> None:
    code = (
        "ran = []\n"
        "class Lazy:\n"
        "    @property\n"
        "    def tool(self):\n"
        "        ran.append(1)\n"
        "        return print\n"
        "lazy = Lazy()\n"
    )
    with trio.fail_after(30):
        await host.execute("lazy", code)
        await host.signature("lazy", "lazy.tool(", 10)
        assert host.session("lazy").namespace["ran"] == []
