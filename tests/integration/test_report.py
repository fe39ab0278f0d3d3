"""The run report (publishing.report): numbers equal the warehouse, nothing leaks, opens offline.

A small warehouse is built by hand in a real DuckDB file: three runs of rule_runs
(one rule not run tonight, with a reason that holds markup and an ID number),
findings of every status, history with rectified and reopened problems, township
feedback, loads with a failed file and rejects whose raw values are full IDs.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pytest

from checks.engine import write_problems_csv
from checks.expectations import STORE_DIR, ExpectationOutcome, FeedValidation, _validation_to_json
from checks.rules import ALL_RULES, RULES_BY_CODE, WARNING_RULE_CODES
from checks.rules.cross_county import CROSS_COUNTY_RULES
from checks.thresholds import load_thresholds
from core.idcard import mask
from publishing.report import ReportSummary, render_report
from tests.report_fixtures import (
    FINDINGS,
    ID_RE,
    INSERT_FINDING,
    NOT_RUN,
    RULE_RUNS_COLS,
    RUN1,
    RUN2,
    WARNING_EXPECTED,
    WARNINGS,
    _num,
    _Page,
    make_id,
    report_warehouse,
    warning_id,
    warning_warehouse,
)
from warehouse.schema import create_all

LINKS = {
    "甲镇": "甲镇/问题清单_云岭县_甲镇_20251115.xlsx",
    "乙乡": "乙乡/问题清单_云岭县_乙乡_20251115.xlsx",
    "数据质量报告 (Data Docs)": "data_docs/index.html",
    "problems.csv": "problems.csv",
}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return report_warehouse(tmp_path / "warehouse.duckdb")


def _render(
    warehouse: Path, out: Path, links=LINKS, run_date=RUN2
) -> tuple[ReportSummary, str, _Page]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        summary = render_report(con, run_date, out, links)
    finally:
        con.close()
    html = out.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    return summary, html, page


def test_headline_numbers_equal_tables_and_problems_csv(warehouse, tmp_path):
    summary, _, page = _render(warehouse, tmp_path / "out" / "report.html")
    con = duckdb.connect(str(warehouse))  # write_problems_csv ensures its tables
    n = write_problems_csv(con, tmp_path / "problems.csv")
    con.close()
    with open(tmp_path / "problems.csv", encoding="utf-8-sig", newline="") as fh:
        csv_status = Counter(r["status"] for r in csv.DictReader(fh))

    assert page.kpis["findings"] == n == len(FINDINGS) == summary.findings
    assert page.kpis["new"] == csv_status["new"] == 4
    assert page.kpis["open"] == csv_status["open"] == 3
    assert page.kpis["reopened"] == csv_status["reopened"] == 2
    assert page.kpis["waived"] == csv_status["waived"] == 1
    # gone since the previous run (RUN1), not waived: three; the one of RUN1 is older
    assert page.kpis["rectified"] == summary.rectified_since_last_run == 3
    # still found after 整改时限 (due before RUN2), waived left out
    overdue = sum(1 for f in FINDINGS if f[3] != "waived" and f[5] < RUN2)
    assert page.kpis["overdue"] == summary.overdue == overdue == 4
    assert page.kpis["rules_not_run"] == summary.rules_not_run == 1
    assert summary.previous_run == RUN1.isoformat()
    assert summary.not_run_rules == (NOT_RUN,)
    assert summary.rules_ran == len(ALL_RULES) - 1


def test_rule_that_did_not_run_is_visible_with_its_reason(warehouse, tmp_path):
    _, html, page = _render(warehouse, tmp_path / "report.html")
    rule = RULES_BY_CODE[NOT_RUN]
    alert = html[html.index('id="rules-not-run"') :]
    alert = alert[: alert.index("</div></ul>") if "</div></ul>" in alert else 2000]
    assert "1 条比对规则未运行" in alert
    assert rule.name_zh in alert
    assert "机动车登记信息未收到" in alert
    # the reason's markup is text, and its ID number is masked
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "530102********1234" in html
    row = page.rows[("rule-table:data-rule", NOT_RUN)]
    assert "未运行" in row[4] and row[5] == "–"
    ran = page.rows[("rule-table:data-rule", "medical_insurance_missing")]
    assert "已运行" in ran[4] and _num(ran[5]) == 2
    # previous run found 2 × 2 = 4: the change is shown
    assert ran[6] == "-2"
    assert f'data-rule="{NOT_RUN}" data-state="not_run"' in html


def test_sparkline_has_a_gap_where_the_rule_did_not_run(warehouse, tmp_path):
    _, html, _ = _render(warehouse, tmp_path / "report.html")
    row = html[html.index(f'data-rule="{NOT_RUN}"') :]
    row = row[: row.index("</tr>")]
    assert row.count("<polyline") == 1  # runs 0 and 1 joined; run 2 not drawn
    assert 'class="gap"' in row and "未运行" in row
    other = html[html.index('data-rule="id_invalid"') :]
    other = other[: other.index("</tr>")]
    assert 'class="gap"' not in other and 'class="last"' in other


def test_township_by_category_table_and_links(warehouse, tmp_path):
    _, html, page = _render(warehouse, tmp_path / "report.html")
    expected = Counter((f[0], RULES_BY_CODE[f[2]].category) for f in FINDINGS if f[3] != "waived")
    header_cats = re.search(
        r'<table id="township-category"><thead><tr><th>乡（镇）</th>(.*?)</tr>', html
    ).group(1)
    cats = re.findall(r'<th class="num">(.*?)</th>', header_cats)[:-1]
    for town in ("甲镇", "乙乡", "丙镇"):
        cells = page.rows[("township-category:data-township", town)]
        assert cells[0] == town
        got = {
            c: (0 if v in ("·", "") else _num(v)) for c, v in zip(cats, cells[1:-1], strict=True)
        }
        assert got == {c: expected.get((town, c), 0) for c in cats}
        assert _num(cells[-1]) == sum(v for (t, _), v in expected.items() if t == town)
    # workbook links, relative and percent-encoded; 丙镇 has no workbook link
    hrefs = {unquote(h) for h in page.hrefs}
    assert LINKS["甲镇"] in hrefs and LINKS["乙乡"] in hrefs
    assert "data_docs/index.html" in hrefs
    assert not any("丙镇/" in h for h in hrefs)


def test_rectification_progress_per_township(warehouse, tmp_path):
    _, _, page = _render(warehouse, tmp_path / "report.html")
    # columns: name, 待整改, 已反馈, 反馈已整改, 整改中, 上次以来已整改, 累计已整改, 逾期,
    #          逾期未反馈, 已核销, 整改率
    jia = [page.rows[("progress-table:data-township", "甲镇")][i] for i in range(11)]
    assert _num(jia[1]) == 4
    assert _num(jia[2]) == 2  # two answered
    assert _num(jia[3]) == 1  # latest answer 已整改 (the older 整改中 does not count)
    assert _num(jia[4]) == 1
    assert _num(jia[5]) == 2 and _num(jia[6]) == 2
    assert _num(jia[7]) == 2 and _num(jia[8]) == 0  # overdue: 2, both answered
    assert _num(jia[9]) == 0
    assert jia[10] == "33.3%"  # 2 / (2 + 4)
    yi = page.rows[("progress-table:data-township", "乙乡")]
    assert _num(yi[1]) == 2 and _num(yi[2]) == 1 and _num(yi[9]) == 1
    assert _num(yi[5]) == 1  # the waived-then-gone problem is not "rectified"
    bing = page.rows[("progress-table:data-township", "丙镇")]
    assert _num(bing[5]) == 0 and _num(bing[6]) == 1  # resolved before the previous run
    assert _num(bing[7]) == 2 and _num(bing[8]) == 2  # overdue and never answered


def test_feed_health(warehouse, tmp_path):
    _, html, page = _render(warehouse, tmp_path / "report.html")
    # columns: 数据, 状态, 文件, 读入行, 入库行, 拒收行, 主要拒收原因, 最新文件, 质量期望
    hukou = page.rows[("feed-table:data-feed", "hukou")]
    assert "1 个文件失败" in hukou[1]
    assert _num(hukou[2]) == 2 and _num(hukou[3]) == 800 and _num(hukou[4]) == 790
    assert _num(hukou[5]) == 10
    assert hukou[6].index("证件号码校验位错误") < hukou[6].index("证件号码位数不对")
    assert "× 6" in hukou[6] and "合计行" in hukou[6]
    assert "2025-11-14" in hukou[7]
    assert "无法识别表头" in html  # the failed file's error is in the alert
    reg = page.rows[("feed-table:data-feed", "register")]
    assert "已入库" in reg[1] and _num(reg[5]) == 10 and "姓名为空" in reg[6]
    assert "5 天前" in reg[7]
    vehicles = page.rows[("feed-table:data-feed", "vehicles")]
    assert "未收到" in vehicles[1]


def test_no_full_id_number_and_no_remote_resource(warehouse, tmp_path):
    _, html, page = _render(warehouse, tmp_path / "report.html")
    assert not ID_RE.findall(html)
    for i in range(len(FINDINGS)):
        assert make_id(i) not in html
    for k in range(10):
        assert make_id(200 + k) not in html and mask(make_id(200 + k)) not in html
    assert not re.search(r"https?://", html)
    assert page.tags["script"] == 0 and page.tags["link"] == 0 and page.tags["img"] == 0
    assert page.tags["svg"] >= 3
    assert '<meta charset="utf-8">' in html and 'lang="zh-CN"' in html


def test_links_must_be_relative(warehouse, tmp_path):
    for bad in (
        "https://example.org/x.html",
        "/etc/passwd",
        "file:///tmp/x",
        "javascript:alert(1)",
    ):
        with pytest.raises(ValueError, match="relative"):
            _render(warehouse, tmp_path / "report.html", links={"x": bad})
    assert not (tmp_path / "report.html").exists()


def test_empty_warehouse_renders_with_notes(tmp_path):
    """No engine tables at all (a first night that failed early): still a page."""
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    summary, html, page = _render(path, tmp_path / "report.html", links={})
    assert summary.findings == 0 and summary.rules_ran == 0 and summary.feeds_received == 0
    assert page.kpis["findings"] == 0
    assert "没有比对结果" in html
    assert "仓库中没有加载记录" in html


def test_first_run_without_history_or_feedback(tmp_path):
    path = tmp_path / "first.duckdb"
    con = duckdb.connect(str(path))
    create_all(con)
    for table in ("feedback_responses", "waivers"):  # a warehouse from before feedback
        con.execute(f"DROP TABLE {table}")
    r = RULES_BY_CODE["phone_invalid"]
    con.execute(
        INSERT_FINDING,
        [
            "P-1",
            r.code,
            r.category,
            r.severity,
            2025,
            "云岭县",
            "甲镇",
            "一村",
            None,
            "H1",
            make_id(1),
            "张三",
            r.department,
            "d",
            "e",
            RUN2,
            "new",
            "张三",
            r.name_zh,
            r.requirement_zh,
            RUN2 + dt.timedelta(days=30),
            RUN2,
        ],
    )
    con.execute(
        f"INSERT INTO rule_runs ({RULE_RUNS_COLS}) VALUES (?, ?, true, NULL, 1, 1.0)",
        [RUN2, r.code],
    )
    con.close()
    summary, html, page = _render(path, tmp_path / "report.html", links={})
    assert summary.previous_run == "" and summary.findings == 1 and page.kpis["new"] == 1
    assert "首次运行" in html and "尚未收到乡（镇）返回的问题清单" in html
    assert not ID_RE.findall(html)


def test_rerender_replaces_the_file_atomically(warehouse, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("old", encoding="utf-8")
    _render(warehouse, out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob("*.tmp"))


def test_feed_table_shows_expectation_results_from_data_docs(warehouse, tmp_path):
    """A Data Docs link to a site built by checks.expectations brings each feed's result."""
    import json

    out = tmp_path / "out"
    store = out / "data_docs" / STORE_DIR
    store.mkdir(parents=True)
    ok = ExpectationOutcome("expect_column_values_to_not_be_null", "name", "必填", True)
    bad = ExpectationOutcome("expect_column_values_to_be_unique", "plate", "唯一", False, 2)
    for feed, results in (("register", (ok, ok)), ("hukou", (ok, bad, bad))):
        v = FeedValidation(
            feed=feed,
            title_zh=feed,
            validated=True,
            success=all(r.success for r in results),
            rows=10,
            rows_validated=10,
            sampled=False,
            results=results,
            docs_page=f"validations/{feed}/x/{feed}.html",
        )
        (store / f"{feed}.validation.json").write_text(
            json.dumps(_validation_to_json(v), ensure_ascii=False), encoding="utf-8"
        )
    (out / "data_docs" / "index.html").write_text("<html></html>", encoding="utf-8")
    _, html, page = _render(warehouse, out / "report.html", links={"质量": "data_docs/index.html"})
    reg = page.rows[("feed-table:data-feed", "register")]
    hukou = page.rows[("feed-table:data-feed", "hukou")]
    assert "全部 2 项满足" in reg[8]
    assert "2 项未满足" in hukou[8]
    assert 'href="data_docs/validations/hukou/x/hukou.html"' in html
    assert page.rows[("feed-table:data-feed", "tax")][8] == "–"


def test_stale_feed_is_flagged_against_its_limit(warehouse, tmp_path):
    from dataclasses import replace

    th = load_thresholds()
    th = replace(th, feed_quality=replace(th.feed_quality, max_age_days={"tax": 10}))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        render_report(con, RUN2, tmp_path / "report.html", {}, thresholds=th)
    finally:
        con.close()
    page = _Page()
    page.feed((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "14 天前，超过 10 天" in page.rows[("feed-table:data-feed", "tax")][7]
    # register falls back to default_max_age_days (40): 5 days is fine
    assert page.rows[("feed-table:data-feed", "register")][7].endswith("5 天前")


# --------------------------------------------------------------------------- 监测预警

needs_warning_rules = pytest.mark.skipif(
    not {w[1] for w in WARNINGS} <= WARNING_RULE_CODES,
    reason="the early-warning rules (checks/rules/early_warning.py) are not in the catalogue",
)


@needs_warning_rules
def test_warnings_section_by_department_and_risk_type(tmp_path):
    """Warnings, answered (latest 核实结论), 纳入, 纳入率, pending office decision, overdue
    (decision 6) and 未能定位 per 预警来源部门 × 风险类型; waived left out."""
    path = warning_warehouse(tmp_path / "w.duckdb")
    summary, html, page = _render(path, tmp_path / "report.html")
    assert 'id="warnings"' in html and "监测预警" in html
    # columns: 部门, 风险类型, 规则, 预警数, 已核实, 纳入, 纳入率, 待审核, 逾期, 未能定位
    for key, (n, answered, included, pending, overdue, unplaced) in WARNING_EXPECTED.items():
        cells = page.rows[("warning-table:data-warning", key)]
        assert cells[0] + "·" + cells[1] == key
        assert [_num(c) for c in cells[3:6]] == [n, answered, included]
        assert cells[6] == (f"{100 * included / answered:.1f}%" if answered else "–")
        assert [_num(c) for c in cells[7:10]] == [pending, overdue, unplaced]
    total = page.rows[("warning-table:data-warning", "合计")]
    sums = [sum(v[k] for v in WARNING_EXPECTED.values()) for k in range(6)]
    assert [_num(c) for c in total[3:6]] == sums[:3] == [10, 7, 2]
    assert total[6] == "28.6%"
    assert [_num(c) for c in total[7:10]] == sums[3:] == [1, 3, 2]
    assert RULES_BY_CODE["new_severe_disability"].name_zh in html
    assert (summary.warnings, summary.warnings_answered, summary.warnings_included) == (10, 7, 2)
    assert (summary.warnings_overdue, summary.warnings_unplaced) == (3, 2)
    assert re.search(r'data-field="unplaced">2<', html)


@needs_warning_rules
def test_warnings_overdue_follows_the_conclusion_in_headline_and_progress(tmp_path):
    """A warning past its 核实时限 is overdue only while unconcluded or 符合条件待纳入:
    the headline and the township progress count it the same way."""
    path = warning_warehouse(tmp_path / "w.duckdb")
    summary, _, page = _render(path, tmp_path / "report.html")
    base = sum(1 for f in FINDINGS if f[3] != "waived" and f[5] < RUN2)
    assert page.kpis["overdue"] == summary.overdue == base + 3
    assert page.kpis["findings"] == len(FINDINGS) + len(WARNINGS)
    # columns 7, 8: 逾期, 逾期未反馈 (the fixture's own problems: 甲镇 2 + 0, 乙乡 0, 丙镇 2 + 2)
    jia = page.rows[("progress-table:data-township", "甲镇")]
    assert (_num(jia[7]), _num(jia[8])) == (2 + 1, 0 + 1)  # + the one never answered
    yi = page.rows[("progress-table:data-township", "乙乡")]
    assert (_num(yi[7]), _num(yi[8])) == (1, 0)  # 符合条件待纳入; not 不符合纳入条件
    bing = page.rows[("progress-table:data-township", "丙镇")]
    assert (_num(bing[7]), _num(bing[8])) == (2 + 1, 2)  # latest 符合条件待纳入, not included
    unplaced = page.rows[("progress-table:data-township", "未能定位")]
    assert _num(unplaced[7]) == 0  # not yet due


@needs_warning_rules
def test_warnings_section_never_shows_a_full_id(tmp_path):
    path = warning_warehouse(tmp_path / "w.duckdb")
    _, html, _ = _render(path, tmp_path / "report.html")
    assert not ID_RE.findall(html)
    for i in range(len(WARNINGS)):
        assert warning_id(i) not in html


@needs_warning_rules
def test_warnings_section_when_rules_ran_without_findings_or_not_at_all(warehouse, tmp_path):
    """The rules ran and found nothing: the section shows zeros. None of them ran
    and nothing found: no section (the not-run alert says why)."""
    _, html, page = _render(warehouse, tmp_path / "ran.html")
    assert 'id="warnings"' in html
    assert [_num(c) for c in page.rows[("warning-table:data-warning", "合计")][3:6]] == [0, 0, 0]
    con = duckdb.connect(str(warehouse))
    con.execute(
        "UPDATE rule_runs SET ran = false, reason = '民政数据未收到', finding_count = NULL "
        "WHERE run_date = ? AND list_contains(?, rule_code)",
        [RUN2, sorted(WARNING_RULE_CODES)],
    )
    con.close()
    _, html, _ = _render(warehouse, tmp_path / "not_run.html")
    assert 'id="warnings"' not in html and "民政数据未收到" in html


@needs_warning_rules
def test_warning_rule_not_run_says_why_in_its_row(warehouse, tmp_path):
    """One warning rule not run while the others ran: its row is marked 未运行 with the
    reason (not the rule's name a second time)."""
    con = duckdb.connect(str(warehouse))
    con.execute(
        "UPDATE rule_runs SET ran = false, reason = '未收到医保数据', finding_count = NULL "
        "WHERE run_date = ? AND rule_code = 'high_medical_cost'",
        [RUN2],
    )
    con.close()
    _, _, page = _render(warehouse, tmp_path / "report.html")
    (key,) = [k for k in page.rows if k[0] == "warning-table:data-warning" and "因病" in k[1]]
    cell = page.rows[key][2]
    assert "未运行" in cell and "未收到医保数据" in cell
    assert cell.count(RULES_BY_CODE["high_medical_cost"].name_zh) == 1


def test_unknown_status_still_renders(warehouse, tmp_path):
    """A status the report has no label or colour for (a newer one) is drawn, by its
    code, and counted."""
    con = duckdb.connect(str(warehouse))
    con.execute("UPDATE findings SET status = 'under_review' WHERE problem_id = 'TST-0000000000'")
    con.close()
    summary, html, _ = _render(warehouse, tmp_path / "report.html")
    assert summary.findings == len(FINDINGS)
    assert "under_review 1" in html


@needs_warning_rules
def test_warning_workbooks_are_linked_apart(tmp_path):
    """Links as assets.outputs.workbook_links names them: a township's 预警 list
    beside its 问题清单, the county-level 未能定位 list under its own name."""
    path = warning_warehouse(tmp_path / "w.duckdb")
    links = {
        "甲镇": LINKS["甲镇"],
        "甲镇 监测预警核实清单": "甲镇/监测预警核实清单_云岭县_甲镇_20251115.xlsx",
        "未能定位": "未能定位/监测预警核实清单_云岭县_未能定位_20251115.xlsx",
        "problems.csv": "problems.csv",
    }
    _, html, _ = _render(path, tmp_path / "report.html", links=links)
    section = html[html.index('id="links"') :]
    problems, rest = section.split("各乡（镇）监测预警核实清单", 1)
    warnings, other = rest.split("<h3>其他</h3>", 1)
    assert "甲镇/" in unquote(problems) and "未能定位" not in unquote(problems)
    assert re.findall(r'data-link="warning">(.*?)</a>', warnings) == ["甲镇", "未能定位"]
    assert "problems.csv" in other
    unplaced = html[html.index('id="warnings-unplaced"') :]
    unplaced = unquote(unplaced[: unplaced.index("</p>")])
    assert 'href="未能定位/监测预警核实清单_云岭县_未能定位_20251115.xlsx"' in unplaced


def test_cross_county_rule_is_named_not_coded(warehouse, tmp_path):
    """A prefecture run's cross-county rule (not in the county catalogue) is listed by
    its Chinese name and category, not by its code alone."""
    rule = CROSS_COUNTY_RULES[0]
    con = duckdb.connect(str(warehouse))
    con.execute(
        "INSERT INTO rule_runs (run_date, rule_code, ran, reason, finding_count, duration_ms) "
        "VALUES (?, ?, true, NULL, 0, 1.0)",
        [RUN2, rule.code],
    )
    con.close()
    _, html, _ = _render(warehouse, tmp_path / "report.html")
    assert rule.name_zh in html and rule.category in html
