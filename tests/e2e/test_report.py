"""The run report of a generated county: generator → ingest → rules → problems.csv →
report, and the page agrees with the CSV."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from checks.engine import run_rules, write_problems_csv
from checks.rules import WARNING_RULE_CODES
from department_feeds import FEEDS
from publishing.report import render_report
from tests.report_fixtures import ID_RE, RUN2, _num, _Page
from warehouse import connect
from warehouse.ingest import load_all


def test_generated_county_end_to_end(small_county, tmp_path):
    """Generator → ingest → rules → problems.csv → report: the page agrees with the CSV."""

    con = connect(tmp_path / "w.duckdb")
    try:
        load_all(con, small_county / "inbox")
        run = run_rules(con, RUN2)
        n = write_problems_csv(con, tmp_path / "out" / "problems.csv")
        towns = [r[0] for r in con.execute("SELECT DISTINCT township FROM findings").fetchall()]
        summary = render_report(
            con, RUN2, tmp_path / "out" / "report.html", {"problems.csv": "problems.csv"}
        )
    finally:
        con.close()
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    with open(tmp_path / "out" / "problems.csv", encoding="utf-8-sig", newline="") as fh:
        status = Counter(r["status"] for r in csv.DictReader(fh))
    assert n > 0 and page.kpis["findings"] == n == summary.findings == run.findings
    assert page.kpis["new"] == status["new"] == n  # first run: everything is new
    assert page.kpis["rules_not_run"] == len(run.not_run)
    for town in towns:
        assert ("township-category:data-township", town) in page.rows
    assert (
        sum(_num(c[-1]) for k, c in page.rows.items() if k[0] == "township-category:data-township")
        == n
    )
    assert not ID_RE.findall(html)
    assert not re.search(r"https?://", html)
    assert summary.feeds_received == len(FEEDS)  # a generated county holds every feed


def test_generated_county_warnings_section_agrees_with_problems_csv(small_county, tmp_path):
    """The 监测预警 section counts exactly the warning-rule rows of problems.csv (all new
    on a first night: nothing answered, nothing overdue), with 未能定位 among them."""
    if not WARNING_RULE_CODES:
        pytest.skip("no early-warning rules in the catalogue yet")
    con = connect(tmp_path / "w.duckdb")
    try:
        load_all(con, small_county / "inbox")
        run_rules(con, RUN2)
        write_problems_csv(con, tmp_path / "out" / "problems.csv")
        summary = render_report(con, RUN2, tmp_path / "out" / "report.html", {})
    finally:
        con.close()
    with open(tmp_path / "out" / "problems.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["rule_code"] in WARNING_RULE_CODES]
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    total = page.rows[("warning-table:data-warning", "合计")]
    assert _num(total[3]) == summary.warnings == len(rows)
    assert _num(total[4]) == summary.warnings_answered == 0
    unplaced = sum(1 for r in rows if r["township"] == "未能定位")
    assert _num(total[9]) == summary.warnings_unplaced == unplaced
    assert not ID_RE.findall(html)
