"""Recall and precision per rule on generated counties of both register generations.

Two counties go through the real ingest and the real rule engine:

- today's 防返贫监测 export in mixed mode: several problems on one household and
  near misses (decoys) beside real problems, so the rules are measured on
  overlapping cases; every rule of the catalogue runs, rules D included;
- the legacy 建档立卡 export (mixed too): rules D are not run, with the missing
  column (监测对象类别) named; every other rule runs.

Each rule must find exactly its truth.csv rows (recall and precision 1.00); the
assertion message is the per-rule table (rule, expected, found, missed, extra).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest

from checks import ALL_RULES
from checks.engine import run_rules
from checks.rules import RULES_BY_CODE, monitoring
from checks.thresholds import load_thresholds
from demo import generate
from demo.inject import needs_today
from department_feeds.register import SPEC as REGISTER_SPEC
from warehouse import connect, load_all
from warehouse.schema import create_all

LEVELS = {r.code: r.level for r in ALL_RULES}
D_RULES = {r.code for r in ALL_RULES if needs_today(r)}
FINDING_COLUMNS = ("rule_code", "township", "village", "village_group", "household_id", "id_number")


def key(row: dict) -> tuple:
    """How a finding and a truth row are matched (at the level of the rule)."""
    rule = row["rule_code"]
    if LEVELS[rule] == "person":
        return (rule, row["household_id"], row["id_number"])
    if LEVELS[rule] == "household":
        return (rule, row["household_id"])
    return (rule, row["township"], row["village"], row["village_group"] or "")


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def per_rule(findings: list[dict], truth: list[dict]) -> tuple[int, str]:
    """(misses + extras, the table rule / expected / found / missed / extra)."""
    expected: dict[str, set] = defaultdict(set)
    found: dict[str, set] = defaultdict(set)
    for t in truth:
        expected[t["rule_code"]].add(key(t))
    for f in findings:
        found[f["rule_code"]].add(key(f))
    bad = 0
    lines = [f"{'rule':32} {'expected':>8} {'found':>6} {'missed':>6} {'extra':>6}"]
    for rule in (r.code for r in ALL_RULES):
        e, g = expected[rule], found[rule]
        missed, extra = sorted(e - g), sorted(g - e)
        bad += len(missed) + len(extra)
        line = f"{rule:32} {len(e):>8} {len(g):>6} {len(missed):>6} {len(extra):>6}"
        if missed or extra:
            line += f"  missed {missed[:2]} extra {extra[:2]}"
        lines.append(line)
    return bad, "\n".join(lines)


def run_county(out: Path, export_format: str) -> dict:
    res = generate(
        out,
        households=1200,
        seed=17,
        problems_per_rule=3,
        export_format=export_format,
        mixed=True,
    )
    con = connect(out / "warehouse.duckdb")
    try:
        create_all(con)
        loads = load_all(con, out / "inbox")
        run = run_rules(con, res.run_date, load_thresholds())
        rows = con.execute(f"SELECT {', '.join(FINDING_COLUMNS)} FROM findings").fetchall()
    finally:
        con.close()
    findings = [
        {k: ("" if v is None else v) for k, v in zip(FINDING_COLUMNS, r, strict=True)} for r in rows
    ]
    return {
        "result": res,
        "loads": loads,
        "run": run,
        "findings": findings,
        "truth": read_rows(out / "truth.csv"),
        "near": read_rows(out / "near_misses.csv"),
    }


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> dict:
    return run_county(tmp_path_factory.mktemp("today_mixed"), "today")


@pytest.fixture(scope="module")
def legacy(tmp_path_factory) -> dict:
    return run_county(tmp_path_factory.mktemp("legacy_mixed"), "legacy")


def test_every_file_loads(today, legacy):
    for county in (today, legacy):
        for feed, fr in county["loads"].items():
            assert not fr.failed, (feed, [f.error for f in fr.failed])
            for f in fr.files:
                assert f.rows_read == f.rows_loaded + f.rows_rejected, (feed, f.source_file)


def test_today_every_rule_runs(today):
    run = today["run"]
    assert run.errors == {}, run.errors
    assert [(r.code, r.reason) for r in run.results if not r.ran] == []
    assert {r.code for r in run.results if r.ran} == {r.code for r in ALL_RULES}


def test_legacy_rules_d_not_run_with_the_column_named(legacy):
    run = legacy["run"]
    assert run.errors == {}, run.errors
    not_run = {r.code: r.reason for r in run.results if not r.ran}
    assert set(not_run) == D_RULES
    for code, reason in not_run.items():
        # Rules D, and E rules reading the monitoring columns: the one legacy reason.
        if code in {r.code for r in monitoring.RULES} or (
            "monitoring_category" in RULES_BY_CODE[code].columns
        ):
            assert "监测对象类别" in reason and "旧版建档立卡导出" in reason, (code, reason)
        else:  # a rule reading only today's person-level columns names them
            headers = [REGISTER_SPEC.column(f).header for f in RULES_BY_CODE[code].columns]
            assert all(h in reason for h in headers), (code, reason)
    assert {r.code for r in run.results if r.ran} == {r.code for r in ALL_RULES} - D_RULES


def test_truth_covers_the_rules_that_run(today, legacy):
    assert {t["rule_code"] for t in today["truth"]} == {r.code for r in ALL_RULES}
    assert {t["rule_code"] for t in legacy["truth"]} == {r.code for r in ALL_RULES} - D_RULES
    for county in (today, legacy):
        for t in county["truth"]:
            assert t["level"] == LEVELS[t["rule_code"]], t
        assert county["result"].unplanned == []


def test_today_recall_and_precision_per_rule(today):
    bad, table = per_rule(today["findings"], today["truth"])
    assert bad == 0, "today's export (mixed): recall/precision below 1.00\n" + table


def test_legacy_recall_and_precision_per_rule(legacy):
    bad, table = per_rule(legacy["findings"], legacy["truth"])
    assert bad == 0, "legacy export (mixed): recall/precision below 1.00\n" + table


def test_near_misses_not_flagged(today, legacy):
    for county in (today, legacy):
        found = {key(f) for f in county["findings"]}
        hit = [n for n in county["near"] if key(n) in found]
        assert hit == [], [(n["rule_code"], n["note"], n["household_id"]) for n in hit]
    # a near miss at the boundary of every rule D that has one
    assert {n["rule_code"] for n in today["near"]} >= D_RULES


def test_mixed_cases_overlap(today, legacy):
    """Households with several problems, and decoys on households with a real one."""
    for county, at_least in ((today, 40), (legacy, 20)):
        rules_of: dict[str, set] = defaultdict(set)
        for t in county["truth"]:
            rules_of[t["household_id"]].add(t["rule_code"])
        several = [h for h, rules in rules_of.items() if h and len(rules) >= 2]
        assert len(several) >= at_least, len(several)
        decoys = [
            n for n in county["near"] if rules_of.get(n["household_id"], set()) - {n["rule_code"]}
        ]
        assert len(decoys) >= at_least // 2, len(decoys)
    # rules D overlap with each other and with sections A/B
    d_with_ab = [
        h
        for h, rules in _rules_by_household(today["truth"]).items()
        if rules & D_RULES and rules - D_RULES
    ]
    assert len(d_with_ab) >= 5


def _rules_by_household(truth: list[dict]) -> dict[str, set]:
    out: dict[str, set] = defaultdict(set)
    for t in truth:
        if t["household_id"]:
            out[t["household_id"]].add(t["rule_code"])
    return out


def test_grace_period_truth_follows_the_run_date(tmp_path):
    """The 30-day grace of the measure rules is planted relative to the run date the
    county is generated for, and holds when the engine runs on that date."""
    day = dt.date(2026, 1, 5)
    res = generate(tmp_path, households=400, seed=5, problems_per_rule=2, run_date=day)
    assert res.run_date == day
    near = read_rows(tmp_path / "near_misses.csv")
    assert [n for n in near if "29天" in n["note"]], "no near miss at the grace boundary"
    truth = read_rows(tmp_path / "truth.csv")
    assert [t for t in truth if "恰满30天" in t["note"]], "no problem at the grace boundary"
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        create_all(con)
        load_all(con, tmp_path / "inbox")
        run_rules(con, day, load_thresholds())
        rows = con.execute(f"SELECT {', '.join(FINDING_COLUMNS)} FROM findings").fetchall()
    finally:
        con.close()
    findings = [
        {k: ("" if v is None else v) for k, v in zip(FINDING_COLUMNS, r, strict=True)} for r in rows
    ]
    bad, table = per_rule(findings, truth)
    assert bad == 0, f"run on {day}\n" + table
