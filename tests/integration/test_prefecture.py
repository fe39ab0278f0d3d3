"""The prefecture layer with real DuckDB files and real Parquet (issue 14): two county
warehouses export, each county's cross-county rules read the other's export, both
lists get a duplicate registration, a car/flat filed in the other county is found,
the other county's personal data stays out, and the prefecture report counts right."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from checks import ALL_RULES
from checks.cross_county import XC_VIEWS, attach_other_counties, export_queries, results_queries
from checks.engine import run_rules
from checks.rules.cross_county import CROSS_COUNTY_CODES, CROSS_COUNTY_RULES
from publishing.prefecture_report import render_prefecture_report
from tests.rules_fixtures import RUN_DATE, Builder
from warehouse.export import county_dir, export_county, write_status

A, B = "甲县", "乙县"
RULES = ALL_RULES + CROSS_COUNTY_RULES


def county_builder(county: str, start: int) -> Builder:
    b = Builder()
    b._n = itertools.count(start)  # distinct ID numbers per county
    return b


def build(tmp_path: Path):
    """Two counties; 张重复 is in both registers; 甲县's 李有车 has a car and a flat
    filed in 乙县; 乙县 also holds a car that 甲县's own feed holds too."""
    a, b = county_builder(A, 1), county_builder(B, 250)
    dup_a = a.household("A-DUP", [{"county": A, "name": "张重复"}], township="甲镇").head
    car = a.household("A-CAR", [{"county": A, "name": "李有车"}], township="甲镇").head
    both = a.household("A-BOTH", [{"county": A, "name": "王两边"}], township="甲镇").head
    a.household("A-OK", [{"county": A}], township="甲镇")
    a.vehicle(both, plate="甲A·00001")
    b.household(
        "B-DUP",
        [{"county": B, "name": "张重复", "id_raw": dup_a.id_number}],
        township="乙镇",
        village="乙村",
    )
    b.household("B-OK", [{"county": B}, {"county": B}], township="乙镇", village="乙村")
    b.vehicle(car, plate="乙A·12345")
    b.property(car, location="乙县城南小区3栋", area_kind="城镇", property_kind="商品房")
    b.vehicle(both, plate="甲A·00001")  # the same record in both feeds: 甲县's own rule
    ca = a.write(tmp_path / "a.duckdb")
    cb = b.write(tmp_path / "b.duckdb")
    return ca, cb, dup_a, car


def night(tmp_path: Path, key=None):
    ca, cb, dup, car = build(tmp_path)
    pre = tmp_path / "prefecture"
    for con, c in ((ca, A), (cb, B)):
        export_county(con, c, pre, export_queries(con), key=key)
    runs = {}
    for con, c in ((ca, A), (cb, B)):
        others = attach_other_counties(con, pre, c, key=key)
        assert others.counties == [B if c == A else A]
        runs[c] = run_rules(con, RUN_DATE, rules=RULES)
        export_county(con, c, pre, results_queries(con, RUN_DATE), key=key, kind="results")
    return ca, cb, pre, runs, dup, car


def rows(con, sql, params=()):
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_cross_county_findings_on_both_sides(tmp_path):
    ca, cb, pre, runs, dup, car = night(tmp_path)
    fa = rows(
        ca,
        "SELECT * FROM findings WHERE rule_code IN (SELECT unnest($c))",
        {"c": sorted(CROSS_COUNTY_CODES)},
    )
    fb = rows(
        cb,
        "SELECT * FROM findings WHERE rule_code IN (SELECT unnest($c))",
        {"c": sorted(CROSS_COUNTY_CODES)},
    )
    dup_a = [f for f in fa if f["rule_code"] == "id_duplicate_cross_county"]
    dup_b = [f for f in fb if f["rule_code"] == "id_duplicate_cross_county"]
    assert [(f["id_number"], f["county"], f["household_id"]) for f in dup_a] == [
        (dup.id_number, A, "A-DUP")
    ]
    assert [(f["id_number"], f["county"], f["household_id"]) for f in dup_b] == [
        (dup.id_number, B, "B-DUP")
    ]
    assert B in dup_a[0]["description"] and dup_a[0]["evidence"].startswith(f"【{B}】")
    assert A in dup_b[0]["description"] and dup_b[0]["evidence"].startswith(f"【{A}】")
    # The department matches: 甲县's member, records filed in 乙县.
    by_rule = {(f["rule_code"], f["household_id"]) for f in fa}
    assert ("owns_car_cross_county", "A-CAR") in by_rule
    assert ("owns_urban_property_cross_county", "A-CAR") in by_rule
    car_f = next(f for f in fa if f["rule_code"] == "owns_car_cross_county")
    assert "乙A·12345" in car_f["evidence"] and f"登记在{B}" in car_f["description"]
    assert car_f["category"] == "疑似错评" and car_f["rule_name_zh"] == "家庭成员在外县名下有车辆"
    # A record the county's own feed holds too is its own rule's finding, not twice.
    assert ("owns_car_cross_county", "A-BOTH") not in by_rule
    own = rows(ca, "SELECT household_id FROM findings WHERE rule_code = 'owns_car'")
    assert {r["household_id"] for r in own} == {"A-BOTH"}
    # 乙县 sees no department finding: 甲县 filed nothing of 乙县's people.
    assert {f["rule_code"] for f in fb} == {"id_duplicate_cross_county"}
    # Stable ids with their own prefixes.
    assert dup_a[0]["problem_id"].startswith("XID-") and car_f["problem_id"].startswith("XOC-")


def test_other_county_personal_data_stays_out(tmp_path):
    """乙县's township, village, household id and other fields never reach 甲县's findings."""
    ca, cb, pre, runs, dup, car = night(tmp_path)
    b_private = {"乙镇", "乙村", "B-DUP", "B-OK"}
    b_private |= {
        r[0] for r in cb.execute("SELECT name FROM register WHERE household_id = 'B-OK'").fetchall()
    }
    text = json.dumps(rows(ca, "SELECT * FROM findings"), ensure_ascii=False, default=str)
    for value in b_private:
        assert value not in text, value
    # The 乙县 register export holds only ID, name, place and kind of the working year.
    cols = [
        c
        for c, *_ in duckdb.sql(
            f"DESCRIBE SELECT * FROM '{county_dir(pre, B) / 'register.parquet'}'"
        ).fetchall()
    ]
    assert cols == [
        "src_county",
        "year",
        "id_number",
        "name",
        "county",
        "township",
        "village",
        "household_id",
        "kind",
    ]


def test_results_export_has_no_names_or_numbers(tmp_path):
    ca, cb, pre, runs, dup, car = night(tmp_path)
    folder = county_dir(pre, A)
    for table in ("findings", "rule_runs", "feed_status", "progress", "summary"):
        dump = json.dumps(
            duckdb.sql(f"SELECT * FROM '{folder / (table + '.parquet')}'").fetchall(),
            ensure_ascii=False,
            default=str,
        )
        assert dup.id_number not in dump and "张重复" not in dump and "李有车" not in dump, table
    other = duckdb.sql(
        f"SELECT other_county FROM '{folder / 'findings.parquet'}' WHERE rule_code LIKE '%cross%'"
    ).fetchall()
    assert {o for (o,) in other} == {B}


def test_no_other_county_means_not_run(tmp_path):
    ca, cb, dup, car = build(tmp_path)
    others = attach_other_counties(ca, tmp_path / "prefecture", A, key=None)
    assert others.counties == [] and set(others.rows) == set(XC_VIEWS)
    run = run_rules(ca, RUN_DATE, rules=RULES)
    for code in CROSS_COUNTY_CODES:
        r = run.result(code)
        assert not r.ran and r.finding_count is None
        assert re.fullmatch(r"外县.+没有2024年度的记录", r.reason), r.reason


def test_single_county_run_unchanged(tmp_path):
    """Without the cross-county rules nothing of them appears (a county office alone)."""
    ca, cb, dup, car = build(tmp_path)
    run_rules(ca, RUN_DATE)
    codes = {r for (r,) in ca.execute("SELECT rule_code FROM rule_runs").fetchall()}
    assert codes == {r.code for r in ALL_RULES}
    assert not codes & CROSS_COUNTY_CODES


def test_encrypted_export(tmp_path, monkeypatch):
    pytest.importorskip("duckdb_extension_httpfs")
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", "prefecture-test-key-0123456789")
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY_FILE", raising=False)
    ca, cb, pre, runs, dup, car = night(tmp_path, key=True)
    folder = county_dir(pre, A)
    data = (folder / "register.parquet").read_bytes()
    assert dup.id_number.encode() not in data and "张重复".encode() not in data
    assert json.loads((folder / "_export.json").read_text(encoding="utf-8"))["encrypted"]
    with pytest.raises(duckdb.Error, match="encrypt"):
        duckdb.sql(f"SELECT * FROM '{folder / 'register.parquet'}'").fetchall()
    assert runs[A].result("id_duplicate_cross_county").finding_count == 1
    # Permissions: the layer is private to the service account.
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "register.parquet").stat().st_mode & 0o777 == 0o600
    # A county without the key cannot read it: left out, with the reason.
    monkeypatch.delenv("BIDUI_WAREHOUSE_KEY")
    others = attach_other_counties(cb, pre, B)
    assert others.counties == [] and "加密" in others.missing[A]
    # A different key: also left out, not an error.
    monkeypatch.setenv("BIDUI_WAREHOUSE_KEY", "another-key-000000000000000000")
    others = attach_other_counties(cb, pre, B)
    assert others.counties == [] and "解密" in others.missing[A]


def test_prefecture_report_numbers(tmp_path):
    ca, cb, pre, runs, dup, car = night(tmp_path)
    write_status(pre, "丙县", "ingest", ok=False, error="户籍文件无法读取")
    out = tmp_path / "out" / "report.html"
    s = render_prefecture_report(pre, RUN_DATE, out, [A, B, "丙县", "丁县"], key=None)
    na = ca.execute("SELECT count(*) FROM findings WHERE status <> 'waived'").fetchone()[0]
    nb = cb.execute("SELECT count(*) FROM findings WHERE status <> 'waived'").fetchone()[0]
    ma = ca.execute("SELECT count(*) FROM register").fetchone()[0]
    mb = cb.execute("SELECT count(*) FROM register").fetchone()[0]
    assert (s.counties, s.counties_ok, s.counties_failed) == (4, 2, 2)
    assert s.members == ma + mb and s.findings == na + nb
    xa = ca.execute(
        "SELECT count(*) FROM findings WHERE rule_code LIKE '%cross_county'"
    ).fetchone()[0]
    assert s.cross_county_findings == xa + 1  # 乙县: the duplicate only
    failed = dict(s.failed)
    assert "数据导入失败：户籍文件无法读取" in failed["丙县"]
    assert "没有任何导出数据" in failed["丁县"]
    page = out.read_text(encoding="utf-8")
    row_a = re.search(rf'<tr data-county="{A}">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-field="findings">' + str(na) + "<", row_a)
    assert f'data-field="rate">{1000 * na / ma:.1f}<' in row_a
    assert f'data-pair="{A}|{B}"' in page and f'data-pair="{B}|{A}"' in page
    assert "丙县" in page and "户籍文件无法读取" in page
    assert dup.id_number not in page and "张重复" not in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_failure_after_results_wins_and_older_failure_does_not(tmp_path):
    ca, cb, pre, runs, dup, car = night(tmp_path)
    out = tmp_path / "r.html"
    # A failure recorded before tonight's results (an earlier attempt) does not count.
    status = write_status(pre, A, "night", ok=False, error="early")
    data = json.loads(status.read_text(encoding="utf-8"))
    data["finished_at"] = "2000-01-01T00:00:00+00:00"
    status.write_text(json.dumps(data), encoding="utf-8")
    assert render_prefecture_report(pre, RUN_DATE, out, key=None).counties_failed == 0
    # One recorded after them does; and results of another night are not tonight's.
    write_status(pre, A, "night", ok=False, error="killed")
    s = render_prefecture_report(pre, RUN_DATE, out, key=None)
    assert dict(s.failed)[A] == "夜间比对失败：killed"
    s = render_prefecture_report(pre, date(2025, 3, 2), out, key=None)
    assert "最近一次为 2025-03-01" in dict(s.failed)[B]
