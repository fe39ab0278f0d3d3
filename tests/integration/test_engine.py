"""The rule engine: stable problem ids, finding history, rules that cannot run,
problems.csv and the per-rule summaries of the dashboard. Real DuckDB files."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest

from checks import ALL_RULES, RULES_BY_CODE
from checks.engine import PROBLEMS_CSV_COLUMNS, rule_summary, run_rules, write_problems_csv
from checks.thresholds import load_thresholds
from core.idcard import check_digit
from rectification.status import accept_waivers, derive_statuses
from tests.rules_fixtures import Builder, make_id

D1 = date(2025, 3, 1)
OUTPUTS_MD_COLUMNS = (
    "problem_id, rule_code, category, severity, year, county, township, village, "
    "village_group, household_id, id_number, name, department, description, evidence, "
    "first_seen, status"
).split(", ")
X = make_id("19800505", True, 60, region="530122")
NEAR = X[:14] + "7" + X[15:17]


def scenario(reverse: bool = False) -> Builder:
    """A few households with findings of several rules."""
    b = Builder()
    b.household("MED", [{}, {"has_medical_insurance": False, "name": "钱小红"}])
    car = b.household("CAR").head
    b.vehicle(car, plate="云A·11111")
    b.vehicle(car, plate="云A·22222")
    b.tax(b.household("TAX", wage_income=10000).head, 50000)
    b.business(
        b.household("BIZ").head, entity_type="个体工商户", registered_capital_10k=Decimal("9.99")
    )
    p = b.household("HKN", [{"id_raw": X, "hukou": False, "name": "孙大明"}]).head
    b.hukou(NEAR + check_digit(NEAR), name=p.name)
    b.household("PHN", phone="1234567")
    b.household("OK")
    if reverse:
        for rows in b.rows.values():
            rows.reverse()
    return b


def ids(con) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for pid, code, hh in con.execute(
        "SELECT problem_id, rule_code, household_id FROM findings"
    ).fetchall():
        out.setdefault((code, hh), set()).add(pid)
    return out


def history(con, code: str, hh: str):
    return con.execute(
        "SELECT first_seen, last_seen, resolved_on, times_reopened, status FROM finding_history "
        "WHERE rule_code = ? AND household_id = ?",
        [code, hh],
    ).fetchall()


@pytest.fixture
def con(tmp_path):
    c = scenario().write(tmp_path / "wh.duckdb")
    yield c
    c.close()


def test_same_inputs_give_the_same_problem_ids(tmp_path):
    a = scenario().write(tmp_path / "a.duckdb")
    b = scenario(reverse=True).write(tmp_path / "b.duckdb")
    run_rules(a, D1)
    run_rules(b, D1 + timedelta(days=7))
    assert ids(a) == ids(b)
    all_ids = [pid for s in ids(a).values() for pid in s]
    assert (
        len(all_ids)
        == len(set(all_ids))
        == a.execute("SELECT count(*) FROM findings").fetchone()[0]
    )
    assert all(re.fullmatch(r"[A-Z]{2,4}-[0-9A-F]{10}", pid) for pid in all_ids)
    # Two cars of one person: two findings, two ids.
    assert len(ids(a)[("owns_car", "CAR")]) == 2


def test_history_new_open_resolved_reopened(con):
    run_rules(con, D1)
    assert history(con, "medical_insurance_missing", "MED") == [(D1, D1, None, 0, "new")]
    first_ids = ids(con)

    d2 = D1 + timedelta(days=1)
    run_rules(con, d2)
    assert ids(con) == first_ids
    assert history(con, "medical_insurance_missing", "MED") == [(D1, d2, None, 0, "open")]
    row = con.execute(
        "SELECT first_seen, status FROM findings WHERE rule_code = 'medical_insurance_missing'"
    ).fetchone()
    assert row == (D1, "open")

    # The village fixes it: gone from findings, history says when.
    con.execute("UPDATE register SET has_medical_insurance = true WHERE household_id = 'MED'")
    d3 = d2 + timedelta(days=1)
    run_rules(con, d3)
    assert ("medical_insurance_missing", "MED") not in ids(con)
    assert history(con, "medical_insurance_missing", "MED") == [(D1, d2, d3, 0, "resolved")]
    assert history(con, "owns_car", "CAR")[0][4] == "open"

    # It comes back: same id, first seen kept, reopened (and stays so while present).
    con.execute(
        "UPDATE register SET has_medical_insurance = false "
        "WHERE household_id = 'MED' AND name = '钱小红'"
    )
    d4 = d3 + timedelta(days=1)
    run_rules(con, d4)
    assert ids(con) == first_ids
    assert history(con, "medical_insurance_missing", "MED") == [(D1, d4, None, 1, "reopened")]
    d5 = d4 + timedelta(days=1)
    run_rules(con, d5)
    assert history(con, "medical_insurance_missing", "MED") == [(D1, d5, None, 1, "reopened")]
    status = con.execute(
        "SELECT status FROM findings WHERE rule_code = 'medical_insurance_missing'"
    ).fetchone()[0]
    assert status == "reopened"

    # Running the same night again changes nothing; an earlier night is refused.
    before = con.execute("SELECT * FROM finding_history ORDER BY problem_id").fetchall()
    run_rules(con, d5)
    assert con.execute("SELECT * FROM finding_history ORDER BY problem_id").fetchall() == before
    with pytest.raises(ValueError, match="earlier than the last run"):
        run_rules(con, d3)


def test_waived_status_survives_the_next_run(con):
    """A waiver on record (the ``waivers`` table) makes the next run's finding waived:
    the engine derives statuses through rectification.status, it carries none."""
    run_rules(con, D1)
    pid = next(iter(ids(con)[("owns_car", "CAR")]))
    con.execute("INSERT INTO waivers VALUES (?, '区扶贫办', ?, NULL, NULL)", [pid, D1])
    run_rules(con, D1 + timedelta(days=1))
    assert con.execute("SELECT status FROM findings WHERE problem_id = ?", [pid]).fetchone() == (
        "waived",
    )


def test_missing_feed_means_not_run_not_zero(con):
    run_rules(con, D1)
    car_ids = ids(con)[("owns_car", "CAR")]
    con.execute("DELETE FROM vehicles")
    run = run_rules(con, D1 + timedelta(days=1))

    res = run.result("owns_car")
    assert not res.ran and "机动车" in res.reason and res.finding_count is None
    assert run.result("tax_income_exceeds_register").ran
    assert run.result("medical_insurance_missing").finding_count == 1
    assert con.execute(
        "SELECT ran, reason IS NOT NULL, finding_count FROM rule_runs "
        "WHERE rule_code = 'owns_car' AND run_date = ?",
        [D1 + timedelta(days=1)],
    ).fetchone() == (False, True, None)
    summary = rule_summary(con, "owns_car")
    assert summary["ran"] is False and summary["count"] is None and "机动车" in summary["reason"]
    assert summary["sample"] == []
    # A rule that did not run proves nothing: its findings are not "resolved".
    rows = con.execute(
        "SELECT resolved_on, status FROM finding_history WHERE list_contains(?, problem_id)",
        [list(car_ids)],
    ).fetchall()
    assert rows == [(None, "new"), (None, "new")]
    assert ("owns_car", "CAR") not in ids(con)


def test_failed_load_and_stale_year_mean_not_run(con):
    con.execute(
        "INSERT INTO loads (load_id, feed, source_file, loaded_at, status, error) "
        "VALUES ('x', 'tax', 'tax/2024.xlsx', now(), 'failed', '缺少必需列 证件号码')"
    )
    con.execute("UPDATE social_insurance SET year = 2023")
    run = run_rules(con, D1)
    tax = run.result("tax_income_exceeds_register")
    assert not tax.ran and "加载失败" in tax.reason and "tax/2024.xlsx" in tax.reason
    for code in ("public_employee", "wage_exceeds_register", "pension_insurance_missing"):
        assert not run.result(code).ran
        assert "没有2024年度的记录" in run.result(code).reason
    assert run.result("owns_car").ran and run.result("hukou_not_found").ran


def test_no_register_runs_nothing(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    run = run_rules(con, D1)
    assert run.working_year is None and run.findings == 0
    assert all(not r.ran and r.reason for r in run.results)
    assert len(run.results) == len(ALL_RULES)


def test_a_broken_rule_does_not_hide_the_others(con):
    broken = dataclasses.replace(RULES_BY_CODE["phone_invalid"], sql="SELECT no_such_column")
    rules = [broken if r.code == "phone_invalid" else r for r in ALL_RULES]
    run = run_rules(con, D1, rules=rules)
    assert not run.result("phone_invalid").ran
    assert run.result("phone_invalid").reason.startswith("规则执行出错")
    assert run.result("owns_car").finding_count == 2


def test_thresholds_are_bound_and_recorded(con):
    th0 = load_thresholds()
    business = dataclasses.replace(th0.business, individual_capital_10k=Decimal("9.99"))
    th = dataclasses.replace(th0, business=business)
    run_rules(con, D1, th)
    assert ("business_owner", "BIZ") in ids(con)
    assert rule_summary(con, "business_owner")["thresholds"] == {"capital_min_10k": 9.99}
    run_rules(con, D1 + timedelta(days=1))
    assert ("business_owner", "BIZ") not in ids(con)
    assert rule_summary(con, "business_owner")["thresholds"] == {"capital_min_10k": 10}
    assert rule_summary(con, "exited_below_income_line")["thresholds"] == {"income_line": 6000}


def test_rule_summary_sample_is_masked(con):
    run_rules(con, D1)
    s = rule_summary(con, "hukou_not_found")
    assert s["ran"] and s["count"] == 1 and s["working_year"] == 2024
    (sample,) = s["sample"]
    assert sample["id_number"] == X[:6] + "*" * 8 + X[-4:]
    assert sample["name"] == "孙**"
    assert "疑似正确号码：530122********" in sample["description"]
    assert X not in json.dumps(s, ensure_ascii=False) and "孙大明" not in json.dumps(
        s, ensure_ascii=False
    )
    med = rule_summary(con, "medical_insurance_missing")["sample"][0]
    assert med["name"] == "钱**"
    car = rule_summary(con, "owns_car")["sample"][0]
    assert car["name"] not in ("", None) and "*" in car["description"]
    json.dumps(rule_summary(con, "owns_car"))  # serialisable for Dagster metadata
    phone = rule_summary(con, "phone_invalid")["sample"][0]["description"]
    assert "1234567" not in phone and "“123**67”" in phone


def test_problems_csv(con, tmp_path):
    run_rules(con, D1)
    path = tmp_path / "out" / str(D1) / "problems.csv"
    n = write_problems_csv(con, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][: len(OUTPUTS_MD_COLUMNS)] == OUTPUTS_MD_COLUMNS
    assert list(PROBLEMS_CSV_COLUMNS) == OUTPUTS_MD_COLUMNS
    assert len(rows) - 1 == n == con.execute("SELECT count(*) FROM findings").fetchone()[0]
    col = {c: i for i, c in enumerate(rows[0])}
    hkn = next(r for r in rows[1:] if r[col["rule_code"]] == "hukou_not_found")
    assert hkn[col["id_number"]] == X  # full number, as text
    assert {r[col["status"]] for r in rows[1:]} == {"new"}
    assert all(r[col["first_seen"]] == "2025-03-01" for r in rows[1:])


def test_findings_columns_follow_outputs_md(con):
    run_rules(con, D1)
    cols = [r[0] for r in con.execute("DESCRIBE findings").fetchall()]
    assert cols[: len(OUTPUTS_MD_COLUMNS)] == OUTPUTS_MD_COLUMNS
    assert cols[len(OUTPUTS_MD_COLUMNS) :] == [
        "head_name",
        "rule_name_zh",
        "requirement_zh",
        "due_date",
        "run_date",
        "standing",
    ]
    due = con.execute(
        "SELECT DISTINCT severity, due_date - first_seen FROM findings ORDER BY 1"
    ).fetchall()
    th = load_thresholds()
    assert all(days == th.due_days[sev] for sev, days in due)


def test_year_over_year_rules_need_last_year(con):
    run = run_rules(con, D1)
    for code in ("income_unchanged", "grade_stuck"):
        res = run.result(code)
        assert not res.ran and "没有2023年度的记录" in res.reason and "上一年度" in res.reason


def test_lifecycle_waiver_is_kept_across_runs(con):
    """rectification.status derives the statuses after run_rules; a waiver survives the
    next night, also when the finding disappears meanwhile."""
    run_rules(con, D1)
    pid = next(iter(ids(con)[("medical_insurance_missing", "MED")]))
    con.execute(
        "INSERT INTO feedback_responses (problem_id, township, village, verification, "
        "rectification, note) VALUES (?, '城关镇', '红星村', '不属实', '无需整改', '已在外地参保')",
        [pid],
    )
    accept_waivers(con, [pid], "区扶贫办", D1)
    derive_statuses(con)
    assert con.execute("SELECT status FROM findings WHERE problem_id = ?", [pid]).fetchone() == (
        "waived",
    )
    run_rules(con, D1 + timedelta(days=1))
    assert con.execute("SELECT status FROM findings WHERE problem_id = ?", [pid]).fetchone() == (
        "waived",
    )
    con.execute("UPDATE register SET has_medical_insurance = true")
    run_rules(con, D1 + timedelta(days=2))
    assert history_by_id(con, pid)[-1] == "waived"


def history_by_id(con, pid: str):
    return con.execute(
        "SELECT resolved_on, status FROM finding_history WHERE problem_id = ?", [pid]
    ).fetchone()


def test_readers_work_on_a_read_only_connection(tmp_path):
    """assets/outputs.py writes problems.csv from a read-only connection."""
    path = tmp_path / "wh.duckdb"
    empty = duckdb.connect(str(path))
    empty.close()
    ro = duckdb.connect(str(path), read_only=True)
    assert write_problems_csv(ro, tmp_path / "empty.csv") == 0
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8-sig").startswith("problem_id,")
    assert rule_summary(ro, "owns_car")["reason"] == "尚未运行"
    ro.close()

    rw = scenario().write(path)
    run_rules(rw, D1)
    rw.close()
    ro = duckdb.connect(str(path), read_only=True)
    assert write_problems_csv(ro, tmp_path / "p.csv") > 0
    s = rule_summary(ro, "owns_car")
    assert s["ran"] and s["count"] == 2 and s["thresholds"]["car_include"]
    ro.close()


def test_stale_feed_means_not_run(con):
    # vehicles may be at most 40 days old (thresholds.toml [feed_quality.max_age_days]).
    con.execute(
        "INSERT INTO loads (load_id, feed, source_file, modified_at, loaded_at, status) "
        "VALUES ('v', 'vehicles', 'vehicles/车辆.xlsx', ?, now(), 'loaded')",
        [D1 - timedelta(days=41)],
    )
    run = run_rules(con, D1)
    res = run.result("owns_car")
    assert not res.ran and "过期" in res.reason and "41 天" in res.reason
    assert run.result("hukou_not_found").ran
    con.execute("UPDATE loads SET modified_at = ? WHERE load_id = 'v'", [D1 - timedelta(days=40)])
    assert run_rules(con, D1 + timedelta(days=0)).result("owns_car").ran
