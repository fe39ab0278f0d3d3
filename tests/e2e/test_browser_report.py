"""The report and the Data Docs in a real headless Chromium, without network.

Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe``
(JSON messages on fds 3/4, NUL-separated: stdlib only, no websocket client).
Every console message, uncaught exception, log error and network request is
recorded; name resolution is disabled, so any remote fetch fails and shows up.
Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from checks.expectations import validate_feed
from publishing.report import render_report
from tests.conftest import PROJECT_ROOT
from tests.expectations_fixtures import build
from tests.report_fixtures import FINDINGS, RUN2, make_id, report_warehouse

pytestmark = pytest.mark.browser

ROOT = PROJECT_ROOT
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return report_warehouse(tmp_path / "warehouse.duckdb")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip(
        "headless Chromium not found (looked for chromium, chromium-browser): "
        "install the Debian package 'chromium' to run the browser tests",
        allow_module_level=True,
    )


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def wire() -> None:  # in the child: the pipe Chromium expects on fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--remote-debugging-pipe", f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars",
                "--disable-background-networking", "--disable-component-update",
                "about:blank",
            ],
            preexec_fn=wire, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=True)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._res_r, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self, method: str, params: dict | None = None, session: bool = False, timeout: float = 30
    ) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for e in self.events:
            if e.get("method") == method:
                return e
        while True:
            e = self._read(deadline)
            self.events.append(e)
            if e.get("method") == method:
                return e

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")
        # let deferred scripts (Data Docs' $(fn) handlers) run and log
        self.evaluate("new Promise(r => setTimeout(r, 300))")

    def evaluate(self, expression: str) -> Any:
        res = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    def problems(self, folder: Path) -> list[str]:
        """Console messages, exceptions, log errors, and requests outside ``folder``."""
        out = []
        base = folder.resolve().as_uri() + "/"
        urls = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        }
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled":
                out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('exception', {})}")
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry']['text']}")
            elif m == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith((base, "data:")):
                    out.append(f"request: {url}")
            elif m == "Network.loadingFailed":
                out.append(f"failed load: {urls.get(p['requestId'])} {p.get('errorText')}")
        return out

    def screenshot(self, dest: Path, width: int = 1280) -> None:
        def metrics(height: int) -> None:
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=True,
            )

        metrics(900)  # lay out at the final width first, then size to the content
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        metrics(min(height, 8000))
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def test_harness_sees_console_errors_and_remote_requests(browser, tmp_path):
    """The checks below mean something: a broken page is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<link rel="stylesheet" href="https://cdn.example.org/x.css"></head>'
        '<body><script>console.error("boom"); nope();</script></body></html>',
        encoding="utf-8",
    )
    browser.open(page)
    found = "\n".join(browser.problems(tmp_path))
    assert "console.error: ['boom']" in found
    assert "exception" in found
    assert "request: https://cdn.example.org/x.css" in found


def test_report_renders_offline_with_headline_numbers(browser, warehouse):
    out = warehouse.parent / "outbox" / RUN2.isoformat() / "report.html"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        summary = render_report(con, RUN2, out, {"甲镇": "甲镇/问题清单_云岭县_甲镇_20251115.xlsx"})
    finally:
        con.close()
    browser.open(out)
    assert browser.problems(out.parent) == []
    kpis = dict(
        browser.evaluate(
            "[...document.querySelectorAll('[data-kpi]')]"
            ".map(e => [e.dataset.kpi, e.querySelector('.value').innerText.trim()])"
        )
    )
    assert kpis["findings"] == str(summary.findings) == str(len(FINDINGS))
    assert kpis["new"] == "4" and kpis["reopened"] == "2" and kpis["waived"] == "1"
    assert kpis["rules_not_run"] == "1"
    # laid out and visible: the headline is on screen, the not-run alert is shown,
    # every chart has a size
    layout = browser.evaluate(
        """(() => {
          const k = document.querySelector('[data-kpi="findings"]').getBoundingClientRect();
          const a = document.getElementById('rules-not-run');
          const charts = [...document.querySelectorAll('svg.chart')]
            .map(s => s.getBoundingClientRect()).map(r => [r.width, r.height]);
          return {kpi: [k.top, k.width, k.height], alert: a && a.offsetHeight,
                  charts, title: document.title, text: document.body.innerText};
        })()"""
    )
    top, width, height = layout["kpi"]
    assert 0 <= top < 400 and width > 80 and height > 40
    assert layout["alert"] and layout["alert"] > 30
    assert len(layout["charts"]) >= 3 and all(w > 200 and h > 50 for w, h in layout["charts"])
    assert "运行报告" in layout["title"]
    assert "本次有 1 条比对规则未运行" in layout["text"]
    assert make_id(0) not in layout["text"]
    browser.screenshot(ARTIFACTS / "report.png")
    assert (ARTIFACTS / "report.png").stat().st_size > 20_000


def test_data_docs_pages_render_offline(browser, tmp_path):
    """The GX pages work with the vendored jQuery/Bootstrap/bootstrap-table: no
    errors, no remote request, the index table styled by bootstrap-table."""

    db = build(tmp_path / "w.duckdb", bad=True)
    site = tmp_path / "data_docs"
    con = duckdb.connect(str(db), read_only=True)
    try:
        v = validate_feed(con, "vehicles", dt.date(2025, 11, 15), site)
    finally:
        con.close()
    index = site / "index.html"
    browser.open(index)
    assert browser.problems(site) == []
    rows = browser.evaluate("document.querySelectorAll('.bootstrap-table tbody tr').length")
    assert rows >= 1  # the index table was filled by bootstrap-table
    # bootstrap-table built its toolbar (search box) and Bootstrap styled the table
    assert browser.evaluate("document.querySelectorAll('.fixed-table-toolbar').length") >= 1
    assert browser.evaluate("!!document.querySelector('.fixed-table-toolbar input.search-input')")
    border = browser.evaluate(
        "getComputedStyle(document.querySelector('.bootstrap-table td')).borderTopStyle"
    )
    assert border == "solid"
    page = site / v.docs_page
    browser.open(page)
    assert browser.problems(site) == []
    text = browser.evaluate("document.body.innerText")
    assert "飞走" in text and "vehicle_status" in text
    browser.screenshot(ARTIFACTS / "data_docs_vehicles.png")
