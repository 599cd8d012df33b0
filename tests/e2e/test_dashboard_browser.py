"""The dashboard in a real headless browser: Debian's chromium, driven by Playwright.

One ``spe-host serve --http`` subprocess and one browser serve the whole module; each
test has a fresh browser context (its own cookies and sessionStorage, so its own
logon) and its own sessions. Jobs are started from the API with httpx, as another
client would; what is asserted is what the page shows, waited for with Playwright's
deadlines, never slept for.

With ``SPE_SCREENSHOTS=1`` the tests also save the screenshots of docs/dashboard.md
(docs/img/); a normal run writes nothing to the tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli import ServerProcess, start_server

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the dashboard's browser tests need Playwright: pip install -e '.[e2e]'",
)
expect = sync_api.expect

pytestmark = pytest.mark.single_python

#: Where Debian's chromium is; Playwright drives it instead of a browser of its own.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Without the networking flags chromium's background connections are refused on a
#: closed network, and it waits for them.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
#: Every wait of the page, in milliseconds.
DEADLINE_MS = 10_000


@dataclass
class Dashboard:
    """The served host: the dashboard's URL and an API client per role."""

    url: str
    tokens: dict[str, str]
    admin: httpx.Client

    def start(self, session: str, code: str, name: str | None = None) -> None:
        """Start a background run from the API, as another client would."""
        answer = self.admin.post(
            f"/api/sessions/{session}?action=start", json={"code": code, "name": name}
        )
        assert answer.status_code == 202, answer.text

    def session(self, session: str) -> Any:
        answer = self.admin.get(f"/api/sessions/{session}")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """``spe-host serve --http`` on a loopback port, for the module."""
    runtime = tmp_path_factory.mktemp("dashboard") / "run"
    server: ServerProcess = start_server(runtime, "--no-journal", "--http", "tcp://127.0.0.1:0")
    try:
        http = server.announced["http"]
        tokens = {role: _read_token(Path(path)) for role, path in http["token_files"].items()}
        headers = {"Authorization": f"Bearer {tokens['admin']}"}
        with httpx.Client(base_url=http["url"], headers=headers, timeout=10) as admin:
            yield Dashboard(http["url"], tokens, admin)
    finally:
        server.stop()


def _read_token(path: Path) -> str:
    return str(json.loads(path.read_text())["token"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"the dashboard's browser tests were skipped: no chromium at {CHROMIUM}; "
            "install Debian's package with `apt-get install -y chromium` (.ci/run does)"
        )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookie, no logon) at 1280x800, and a page in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(DEADLINE_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"the page's scripts raised: {errors}"


def log_on(page: Any, dashboard: Dashboard, role: str = "admin", url: str | None = None) -> None:
    """Log on through the form, as a person would: the token, once."""
    page.goto((url or dashboard.url) + "/")
    page.get_by_label("Token").fill(dashboard.tokens[role])
    page.get_by_role("button", name="Log on").click()
    expect(page.locator("#role")).to_have_text(f"signed in as {role}")


def row(page: Any, session: str) -> Any:
    return page.locator(f'#sessions tr[data-id="{session}"]')


def screenshot(page: Any, name: str) -> None:
    if os.environ.get("SPE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


COUNTING = """\
import time
for step in range(1, 2000):
    spe.progress(step % 100, f"step {step} of 2000")
    time.sleep(0.05)
"""


def test_admin_logs_on_and_the_table_shows_jobs_started_from_the_api_live(
    page: Any, dashboard: Dashboard
) -> None:
    log_on(page, dashboard)
    page.evaluate("window.loadedOnce = true")
    for number, name in enumerate(["nightly import", "reindex", "mail digest"], 1):
        dashboard.start(f"live-{number}", COUNTING, name)
    for number, name in enumerate(["nightly import", "reindex", "mail digest"], 1):
        expect(row(page, f"live-{number}").locator(".col-state")).to_have_text("● running")
        expect(row(page, f"live-{number}").locator(".col-name")).to_have_text(name)
    bar = row(page, "live-1").locator("progress")
    expect(bar).to_have_attribute("value", re.compile(r"\d"))
    before = float(bar.evaluate("bar => bar.value"))
    page.wait_for_function(
        "([tr, before]) => tr.querySelector('progress').value !== before",
        arg=[row(page, "live-1").element_handle(), before],
    )
    expect(row(page, "live-1").locator(".col-progress")).to_contain_text("of 2000")
    expect(row(page, "live-1").locator(".col-location")).to_contain_text("<session live-1 #1>:")
    # Still the first page load: the rows came over the event stream.
    assert page.evaluate("window.loadedOnce") is True
    # On a phone's width each session is a card: nothing runs off the side.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#sessions thead th").nth(1)).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "dashboard-narrow.png")
    answer = dashboard.admin.post("/api/sessions/stop", json={"ids": ["live-*"]})
    assert answer.status_code == 202
    for number in (1, 2, 3):
        expect(row(page, f"live-{number}").locator(".col-last")).to_have_text("⊘ aborted")


LOOP = """\
n = 0
while True:
    n += 1
    if n % 300000 == 0:
        print("still looping, n =", n)
"""


def test_stop_button_on_a_looping_job_shows_the_phases_and_who_stopped_it(
    page: Any, dashboard: Dashboard
) -> None:
    dashboard.start("loop-1", LOOP, "endless loop")
    log_on(page, dashboard)
    expect(row(page, "loop-1").locator(".col-state")).to_have_text("● running")
    page.get_by_label("Reason for stopping").fill("dashboard test")
    page.get_by_role("button", name="Stop loop-1").click()
    ticket = row(page, "loop-1").locator(".ticket")
    expect(ticket).to_have_text(
        re.compile(
            r"^stop requested, reason “dashboard test” → "
            r"landed at <session loop-1 #1>:\d → aborted$"
        )
    )
    expect(row(page, "loop-1").locator(".col-state")).to_have_text("○ idle")
    expect(row(page, "loop-1").locator(".col-last")).to_have_text("⊘ aborted")
    # A stop that does nothing says so.
    page.get_by_label("Select loop-1").check()
    page.get_by_role("button", name="Stop selected (1)").click()
    expect(row(page, "loop-1").locator(".row-message")).to_have_text(
        "session 'loop-1' was not running"
    )
    page.get_by_role("link", name="loop-1").click()
    traceback = page.locator('#runs [data-run="loop-1#1"] .traceback')
    expect(traceback).to_contain_text(
        re.compile(
            r"ScriptAborted: session 'loop-1' run #1 was stopped by "
            r"admin at 127\.0\.0\.1:\d+ \(http\): dashboard test"
        )
    )
    expect(page.locator("#f-stop")).to_contain_text("stop requested by admin at 127.0.0.1:")
    expect(page.locator("#output")).to_contain_text("still looping")
    screenshot(page, "dashboard-session.png")


SLEEPER = """\
import time
print("going to sleep")
time.sleep(2)
print("woke up")
"""


def test_a_job_in_time_sleep_shows_blocked_in_time_sleep_before_it_lands(
    page: Any, dashboard: Dashboard
) -> None:
    log_on(page, dashboard)
    dashboard.start("sleeper", SLEEPER, "sleeps 2 s")
    expect(row(page, "sleeper").locator(".col-location")).to_have_text("<session sleeper #1>:3")
    page.get_by_role("button", name="Stop sleeper").click()
    # One look at the row: the stop is still requested while it shows what blocks it.
    page.wait_for_function(
        """tr => {
            const trail = tr.querySelector(".trail");
            return trail !== null && trail.dataset.phase === "requested"
                && trail.querySelector("strong").textContent.startsWith(
                    "blocked in time.sleep() called at <session sleeper #1>:3 for ");
        }""",
        arg=row(page, "sleeper").element_handle(),
    )
    screenshot(page, "dashboard-sessions.png")
    expect(row(page, "sleeper").locator(".ticket")).to_have_text(
        re.compile(
            r"^stop requested → blocked in time\.sleep\(\) called at <session sleeper #1>:3 "
            r"for \d+\.\d s → landed at <session sleeper #1>:4 → aborted$"
        )
    )
    trail = row(page, "sleeper").locator(".ticket").inner_text()
    assert trail.index("blocked in time.sleep()") < trail.index("landed at")


LINES = """\
import time
for i in range(10000):
    print(f"line {i:05d}")
    if i % 250 == 249:
        time.sleep(0.07)
"""


def test_following_ten_thousand_lines_across_a_reload_shows_every_line_once(
    page: Any, dashboard: Dashboard
) -> None:
    # The page follows the session before the job prints, so the lines come as printed.
    made = dashboard.admin.post("/api/sessions/lines/execute", json={"code": "pass"})
    assert made.status_code == 200
    log_on(page, dashboard)
    page.goto(dashboard.url + "/session/lines")
    expect(page.locator("#stream")).to_have_text("live")
    dashboard.start("lines", LINES, "10,000 lines")
    output = page.locator("#output")
    expect(output).to_contain_text("line 03000")
    assert "line 09999" not in output.text_content()
    page.reload()
    expect(output).to_contain_text("line 09999")
    expect(page.locator("#f-state")).to_have_text("○ idle")
    expected = [f"line {i:05d}" for i in range(10000)]
    assert output.text_content().splitlines() == expected


TICKING = """\
import time
while True:
    time.sleep(0.1)
"""


def test_operator_has_no_code_box_and_forged_or_csrf_less_requests_are_refused(
    page: Any, dashboard: Dashboard
) -> None:
    dashboard.start("op-target", TICKING, "ticks")
    log_on(page, dashboard, "operator")
    page.goto(dashboard.url + "/session/op-target")
    expect(page.locator("#f-state")).to_have_text("● running")
    assert page.locator("#admin, #code, #remove").count() == 0
    forged = page.evaluate(
        """async () => {
            const csrf = JSON.parse(sessionStorage.getItem("spe_host.logon")).csrf_token;
            const answer = await fetch("/api/sessions/op-target?action=start", {
                method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                body: JSON.stringify({code: "print('forged')"}),
            });
            return [answer.status, await answer.json()];
        }"""
    )
    assert forged[0] == 403
    assert forged[1]["error"]["code"] == "forbidden"
    no_csrf = page.evaluate(
        """async () => {
            const answer = await fetch("/api/sessions/op-target?action=stop", {method: "POST"});
            return [answer.status, await answer.json()];
        }"""
    )
    assert no_csrf[0] == 403
    assert "X-CSRF-Token" in no_csrf[1]["error"]["message"]
    assert dashboard.session("op-target")["stop"] is None
    # With its token the page's own stop goes through: an operator may stop, and by
    # keyboard alone - the focused button shows its outline.
    page.get_by_label("Reason for stopping").focus()
    page.keyboard.type("operator test")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => [document.activeElement.id, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["stop", "solid"]
    page.keyboard.press("Enter")
    expect(page.locator("#f-stop")).to_contain_text(
        re.compile(
            r"stop requested by operator at 127\.0\.0\.1:\d+ \(http\), "
            r"reason “operator test” → .* → aborted$"
        )
    )
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Token")).to_be_visible()
    after = page.evaluate("async () => (await fetch('/api/sessions')).status")
    assert after == 401


class CuttableProxy:
    """A loopback TCP proxy to the host whose open connections the test can cut."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target, timeout=10)
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection open now, as a network failure would."""
        with self._lock:
            dropped, self._open = self._open, []
        for end in dropped:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


SLOW_LINES = """\
import time
for i in range(400):
    print(f"line {i:03d}")
    time.sleep(0.01)
"""


def test_a_dropped_output_stream_shows_reconnecting_and_resumes_without_loss(
    page: Any, dashboard: Dashboard
) -> None:
    proxy = CuttableProxy(dashboard.url)
    try:
        log_on(page, dashboard, url=proxy.url)
        dashboard.start("dropped", SLOW_LINES, "400 lines")
        page.goto(proxy.url + "/session/dropped")
        output = page.locator("#output")
        expect(output).to_contain_text("line 050")
        proxy.cut()
        expect(page.locator("#stream")).to_have_text("reconnecting…")
        # The browser comes back by itself (Last-Event-ID) a few seconds later.
        expect(page.locator("#stream")).to_have_text("live")
        expect(output).to_contain_text("line 399")
        assert output.text_content().splitlines() == [f"line {i:03d}" for i in range(400)]
    finally:
        proxy.close()
