"""report.html through the Jinja2 template: hostile text in any field stays text.

The warehouse of tests/report_fixtures.py is made hostile: every text the page prints
(county, township, rule reason, reject reason, failed-file error, unused inbox file,
link label) holds a script tag, a spreadsheet formula and a full ID number.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from core.idcard import mask
from publishing.report import render_report
from tests.report_fixtures import RUN2, make_id, report_warehouse

FULL_ID = make_id(777)
HOSTILE = f'<script>alert(1)</script>=HYPERLINK("http://evil.example/?x","点我") {FULL_ID}'
ID_RE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return report_warehouse(tmp_path / "warehouse.duckdb")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += attrs


def _make_hostile(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("UPDATE findings SET county = $h", {"h": HOSTILE})
        con.execute("UPDATE findings SET township = $h WHERE township = '甲镇'", {"h": HOSTILE})
        con.execute("UPDATE rule_runs SET reason = $h WHERE NOT ran", {"h": HOSTILE})
        con.execute("UPDATE rejects SET reason_zh = $h", {"h": HOSTILE})
        con.execute("UPDATE loads SET error = $h WHERE status = 'failed'", {"h": HOSTILE})
        con.execute("INSERT INTO inbox_unread (path, reason_zh) VALUES ($h, $h)", {"h": HOSTILE})
    finally:
        con.close()


def test_hostile_text_in_every_field_is_escaped_and_masked(warehouse, tmp_path):  # noqa: F811
    _make_hostile(warehouse)
    out = tmp_path / "report.html"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        render_report(con, RUN2, out, {HOSTILE: "problems.csv", "甲镇": "甲镇/清单.xlsx"})
    finally:
        con.close()
    page = out.read_text(encoding="utf-8")

    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;=HYPERLINK(&quot;http://evil.example/?x&quot;"
    # county (title), township, not-run reason, reject reason, error, unread file, link label
    assert page.count(escaped) >= 7, page.count(escaped)
    assert "<script" not in page.lower()
    tags = _Tags()
    tags.feed(page)
    assert "script" not in tags.tags
    assert not [a for a, _ in tags.attrs if a.lower().startswith("on")]
    assert not [v for a, v in tags.attrs if a == "href" and v and ":" in v]  # relative only
    assert FULL_ID not in page and not ID_RE.findall(page)
    assert mask(FULL_ID) in page
    assert 'id="rules-not-run"' in page
