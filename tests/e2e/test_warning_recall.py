"""Rules E (部门筛查预警) on generated counties: recall, precision and placement.

A county of today's 防返贫监测 export (mixed mode) and one of the legacy 建档立卡
export go through the real ingest and the real engine. The generator writes the
four early-warning feeds realistically (register members' records, background
people outside the register with 临时救助, costs under the line, older or 三级
certificates, pupils …), plants every rule E — outsiders placed into township and
village, township only, or not placeable — and near misses at each boundary.

- each rule E finds exactly its truth.csv rows (recall and precision 1.00; the
  assertion message is the per-rule table);
- no near miss is a finding;
- every warning about a person outside the register lands in the township (and
  village) of the truth, or on 未能定位 — never in another township;
- on the legacy export, rules E reading today's columns are not run; the others
  (medical, school, disability records against the register) run and are exact.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from checks import ALL_RULES
from checks.engine import run_rules
from checks.thresholds import load_thresholds
from demo import generate
from demo.early_warning import E_RULES, OUTSIDER_RULES, e_rules_running
from rectification.form import UNPLACED_TOWNSHIP
from warehouse import connect, load_all
from warehouse.schema import create_all

LEVELS = {r.code: r.level for r in ALL_RULES}
COLUMNS = ("rule_code", "township", "village", "household_id", "id_number", "standing")


def key(row: dict) -> tuple:
    rule = row["rule_code"]
    if LEVELS[rule] == "household":
        return (rule, row["household_id"])
    return (rule, row["household_id"], row["id_number"])


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def run_county(out: Path, export_format: str, households: int) -> dict:
    res = generate(
        out,
        households=households,
        seed=23,
        problems_per_rule=5,
        export_format=export_format,
        mixed=True,
    )
    con = connect(out / "warehouse.duckdb")
    try:
        create_all(con)
        loads = load_all(con, out / "inbox")
        run = run_rules(con, res.run_date, load_thresholds())
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM findings").fetchall()
    finally:
        con.close()
    findings = [
        {k: ("" if v is None else v) for k, v in zip(COLUMNS, r, strict=True)} for r in rows
    ]
    return {
        "result": res,
        "loads": loads,
        "run": run,
        "findings": [f for f in findings if f["rule_code"] in E_RULES],
        "truth": [t for t in read_rows(out / "truth.csv") if t["rule_code"] in E_RULES],
        "near": [n for n in read_rows(out / "near_misses.csv") if n["rule_code"] in E_RULES],
    }


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> dict:
    return run_county(tmp_path_factory.mktemp("ew_today"), "today", 700)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory) -> dict:
    return run_county(tmp_path_factory.mktemp("ew_legacy"), "legacy", 500)


def per_rule(findings: list[dict], truth: list[dict], rules: tuple[str, ...]) -> tuple[int, str]:
    expected: dict[str, set] = defaultdict(set)
    found: dict[str, set] = defaultdict(set)
    for t in truth:
        expected[t["rule_code"]].add(key(t))
    for f in findings:
        found[f["rule_code"]].add(key(f))
    bad = 0
    lines = [f"{'rule':36} {'expected':>8} {'found':>6} {'missed':>6} {'extra':>6}"]
    for rule in rules:
        e, g = expected[rule], found[rule]
        missed, extra = sorted(e - g), sorted(g - e)
        bad += len(missed) + len(extra)
        line = f"{rule:36} {len(e):>8} {len(g):>6} {len(missed):>6} {len(extra):>6}"
        if missed or extra:
            line += f"  missed {missed[:2]} extra {extra[:2]}"
        lines.append(line)
    return bad, "\n".join(lines)


def test_feeds_load(today, legacy):
    for county in (today, legacy):
        for feed in ("civil_affairs", "medical", "education", "disability", "hukou"):
            fr = county["loads"][feed]
            assert not fr.failed, (feed, [f.error for f in fr.failed])
            assert sum(f.rows_loaded for f in fr.files) > 0, feed


def test_generator_found_no_unplanned_finding(today, legacy):
    for county in (today, legacy):
        assert county["result"].unplanned == []


def test_today_every_rule_e_runs_and_is_planted(today):
    run = today["run"]
    assert run.errors == {}, run.errors
    ran = {r.code for r in run.results if r.ran}
    assert set(E_RULES) <= ran, [(r.code, r.reason) for r in run.results if not r.ran]
    assert {t["rule_code"] for t in today["truth"]} == set(E_RULES)
    assert {n["rule_code"] for n in today["near"]} == set(E_RULES)


def test_today_recall_and_precision_per_rule(today):
    bad, table = per_rule(today["findings"], today["truth"], E_RULES)
    assert bad == 0, "today's export (mixed): rules E below 1.00\n" + table


def test_legacy_runs_the_rules_it_can(legacy):
    run = legacy["run"]
    assert run.errors == {}, run.errors
    running = e_rules_running(today=False)
    ran = {r.code for r in run.results if r.ran}
    assert ran & set(E_RULES) == set(running)
    assert {t["rule_code"] for t in legacy["truth"]} == set(running)
    bad, table = per_rule(legacy["findings"], legacy["truth"], running)
    assert bad == 0, "legacy export (mixed): rules E below 1.00\n" + table


def test_near_misses_not_flagged(today, legacy):
    for county in (today, legacy):
        found = {key(f) for f in county["findings"]}
        hit = [n for n in county["near"] if key(n) in found]
        assert hit == [], [
            (n["rule_code"], n["note"], n["household_id"], n["id_number"]) for n in hit
        ]


def test_outsiders_land_in_their_township_or_unplaced(today):
    """Every warning about a person outside the register is placed as the truth says:
    township and village, township only, or 未能定位 — never another township."""
    truth = {
        (t["rule_code"], t["id_number"]): t
        for t in today["truth"]
        if not t["household_id"] and t["rule_code"] in OUTSIDER_RULES
    }
    outsiders = [f for f in today["findings"] if not f["household_id"]]
    assert outsiders, "no warning about a person outside the register"
    assert {f["rule_code"] for f in outsiders} == set(OUTSIDER_RULES)
    wrong = []
    for f in outsiders:
        t = truth.get((f["rule_code"], f["id_number"]))
        assert f["standing"] == "不在册", f
        if t is None or (f["township"], f["village"]) != (t["township"], t["village"]):
            wrong.append(
                (f["rule_code"], f["id_number"], f["township"], f["village"], t and t["township"])
            )
    assert wrong == []
    kinds = {
        "village": [t for t in truth.values() if t["village"]],
        "township only": [
            t for t in truth.values() if not t["village"] and t["township"] != UNPLACED_TOWNSHIP
        ],
        "unplaced": [t for t in truth.values() if t["township"] == UNPLACED_TOWNSHIP],
    }
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    for t in kinds["unplaced"]:
        assert t["village"] == ""


def test_mixed_cases(today):
    """Rules E on households that carry another problem; outsiders with several warnings."""
    rules_of: dict[str, set] = defaultdict(set)
    for t in read_rows(today["result"].truth_csv):
        rules_of[t["household_id"] or t["id_number"]].add(t["rule_code"])
    e = set(E_RULES)
    mixed = [k for k, rules in rules_of.items() if rules & e and rules - e]
    assert len(mixed) >= 10, len(mixed)
    several = [k for k, rules in rules_of.items() if len(rules & set(OUTSIDER_RULES)) >= 2]
    assert several
