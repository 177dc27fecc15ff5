"""The leaderboard page in a real browser: headless Chromium driven over the W3C WebDriver protocol (urllib only).

Sorts by clicking a header, filters by data set, and takes a screenshot (into docs/leaderboard.png when
ROBENCH_UPDATE_SCREENSHOT=1). Needs Debian's chromium and
chromium-driver (`apt-get install -y chromium chromium-driver`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "leaderboard" / "index.html"
DOCS_SCREENSHOT = REPO / "docs" / "leaderboard.png"  # refreshed only with ROBENCH_UPDATE_SCREENSHOT=1
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1600,1000"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() or not Path(CHROMEDRIVER).exists(),
                       reason="headless browser test needs /usr/bin/chromium and chromedriver "
                              "(apt-get install -y chromium chromium-driver)"),
]


class WebDriver:
    """The few W3C WebDriver commands the test needs, over plain HTTP."""

    def __init__(self, url: str):
        self.url = url
        self.session = ""

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as err:
            raise AssertionError(f"WebDriver {method} {path}: {err.read().decode()[:500]}") from None

    def start(self, profile: Path) -> None:
        options = {"binary": str(CHROMIUM), "args": [*FLAGS, f"--user-data-dir={profile}"]}
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        self.session = self.call("POST", "/session", {"capabilities": capabilities})["sessionId"]

    def command(self, method: str, path: str = "", body: dict | None = None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def find(self, using: str, value: str) -> str:
        found = self.command("POST", "/element", {"using": using, "value": value})
        assert ELEMENT in found, f"no element {value!r}: {found}"
        return found[ELEMENT]

    def click(self, css: str = "", xpath: str = "") -> None:
        element = self.find("xpath", xpath) if xpath else self.find("css selector", css)
        self.command("POST", f"/element/{element}/click", {})

    def script(self, source: str):
        return self.command("POST", "/execute/sync", {"script": source, "args": []})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def browser(tmp_path):
    port = _free_port()
    process = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = WebDriver(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if driver.call("GET", "/status").get("ready"):
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("chromedriver did not become ready within 30 s")
            time.sleep(0.2)
        driver.start(tmp_path / "profile")
        yield driver
    finally:
        if driver.session:
            driver.command("DELETE")
        process.terminate()
        process.wait(timeout=30)


VISIBLE_ROWS = """
return Array.from(document.querySelectorAll('#leaderboard tbody tr')).filter(r => !r.hidden).map(r => ({
  dataset: r.dataset.dataset, kind: r.dataset.kind, model: r.dataset.model,
  rank: parseInt(r.querySelector('td.rank').dataset.value, 10),
  clean: parseFloat(r.querySelector('td.clean').dataset.value),
  robust: r.querySelector('td.robust').dataset.value === '' ? null : parseFloat(r.querySelector('td.robust').dataset.value)
}));
"""


def _header(label: str) -> str:
    return f"//table[@id='leaderboard']/thead//th[normalize-space()='{label}']"


def test_sort_filter_and_screenshot(browser, tmp_path):
    browser.command("POST", "/url", {"url": PAGE.as_uri()})
    rows = browser.script(VISIBLE_ROWS)
    assert len(rows) == PAGE.read_text().count('<tr class="')

    browser.click(xpath=_header("clean"))
    ascending = [r["clean"] for r in browser.script(VISIBLE_ROWS)]
    assert ascending == sorted(ascending) and len(set(ascending)) > 10
    browser.click(xpath=_header("clean"))
    assert [r["clean"] for r in browser.script(VISIBLE_ROWS)] == sorted(ascending, reverse=True)

    browser.click('#filter-dataset option[value="cifar100"]')
    visible = browser.script(VISIBLE_ROWS)
    expected = sum(1 for r in rows if r["dataset"] == "cifar100")
    assert expected == 4 and len(visible) == expected and {r["dataset"] for r in visible} == {"cifar100"}
    assert browser.script("return document.getElementById('shown').textContent") == f"4 of {len(rows)} records"

    browser.click('#filter-dataset option[value="cifar10"]')
    browser.click(xpath=_header("robust"))
    browser.click(xpath=_header("robust"))
    visible = browser.script(VISIBLE_ROWS)
    robust = [r["robust"] for r in visible]
    assert {r["dataset"] for r in visible} == {"cifar10"} and robust == sorted(robust, reverse=True)

    browser.click(xpath=_header("#"))
    ranks = [r["rank"] for r in browser.script(VISIBLE_ROWS)]
    assert ranks == list(range(1, len(visible) + 1))

    browser.script("document.activeElement.blur(); window.scrollTo(0, 0);")
    time.sleep(0.5)  # let the sorted table finish painting
    screenshot = DOCS_SCREENSHOT if os.environ.get("ROBENCH_UPDATE_SCREENSHOT") == "1" else tmp_path / "page.png"
    screenshot.parent.mkdir(exist_ok=True)
    screenshot.write_bytes(base64.b64decode(browser.command("GET", "/screenshot")))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
