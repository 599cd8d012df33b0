"""The dashboard's files: served from the package at ``/``, same-origin only, no CDN.

No browser here: these check what the browser tests rely on (every file a page
names is served with its type, the pages need no credentials, and their policy lets
them load and connect to their own origin only).
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
import trio
from support.http import asgi_client

import spe_host
from spe_host.auth import TokenTable
from spe_host.http._dashboard import ROUTES

pytestmark = pytest.mark.single_python

STATIC = resources.files("spe_host.http") / "static" / "dashboard"


async def test_every_page_and_the_files_it_names_are_served_without_credentials(
    host: spe_host.Host,
) -> None:
    with trio.fail_after(10):
        async with asgi_client(host, TokenTable.generate()) as client:
            for page in ("/", "/session/etl-1"):
                answer = await client.get(page)
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/html")
                policy = answer.headers["content-security-policy"]
                assert "default-src 'none'" in policy
                assert "script-src 'self'" in policy
                assert "frame-ancestors 'none'" in policy
                assert answer.headers["x-frame-options"] == "DENY"
                for name in re.findall(r'(?:src|href)="(/dashboard/[^"]+)"', answer.text):
                    asset = await client.get(name)
                    assert asset.status_code == 200, name
                    expected = "text/css" if name.endswith(".css") else "text/javascript"
                    assert asset.headers["content-type"].startswith(expected), name


def test_nothing_is_loaded_from_elsewhere_and_every_file_is_routed() -> None:
    names = {entry.name for entry in STATIC.iterdir()}
    routed = {route.path.rsplit("/", 1)[-1] for route in ROUTES}
    assert names - {"index.html", "session.html"} <= routed
    for entry in STATIC.iterdir():
        text = entry.read_text(encoding="utf-8")
        assert re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text) is None, (
            entry.name
        )
