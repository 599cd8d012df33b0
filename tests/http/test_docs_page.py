"""``/api/docs`` in a real browser: the page lists every operation of the document.

Playwright drives Debian's chromium (no browser download); the page loads nothing
but the package's own files and ``/api/openapi.json``.
"""

from __future__ import annotations

import shutil

import httpx
import pytest
from support.sse import threaded_http

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.single_python

CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_the_docs_page_lists_every_operation_with_its_details() -> None:
    with threaded_http() as listening:
        document = httpx.get(f"{listening.url}/api/openapi.json", timeout=10).json()
        count = sum(len(item) for item in document["paths"].values())
        problems: list[str] = []
        asked: list[str] = []
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("request", lambda request: asked.append(request.url))
                page.goto(f"{listening.url}/api/docs")
                page.wait_for_selector("details.op")
                assert page.locator("details.op").count() == count
                output = page.locator("details.op", has_text="/api/sessions/{id}/output")
                output.locator("summary").click()
                assert output.locator("text=event: output").is_visible()
                assert output.locator("text=Last-Event-ID").first.is_visible()
                assert page.locator("#schema-SessionInfo, #schema-Session").count() >= 1
                page.fill("#filter", "tasks")
                assert page.locator("details.op:not([hidden])").count() == sum(
                    len(item) for path, item in document["paths"].items() if "tasks" in path
                )
            finally:
                browser.close()
    assert problems == []
    assert all(url.startswith(listening.url) or url.startswith("data:") for url in asked)
