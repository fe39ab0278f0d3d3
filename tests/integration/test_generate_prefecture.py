"""A generated prefecture (demo.generate_prefecture): one folder per county with its
own name, code and people; the cross-county truth borne out by the files; each
county's own truth still exactly what the single-county rules find."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from checks import ALL_RULES
from checks.engine import run_rules
from checks.prelude import prepare
from checks.thresholds import load_thresholds
from demo import CROSS_COUNTY_CODES, generate_prefecture
from demo.prefecture import CROSS_TRUTH_COLUMNS
from department_feeds import FEEDS
from warehouse import connect, load_all
from warehouse.schema import create_all

from .test_generator import _digest

LEVELS = {r.code: r.level for r in ALL_RULES}
YEAR = 2025


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _key(row: dict) -> tuple:
    code = row["rule_code"]
    level = LEVELS[code]
    if level == "person":
        return (code, row["household_id"], row["id_number"])
    if level == "household":
        return (code, row["household_id"])
    return (code, row["township"], row["village"], row["village_group"] or "")


@pytest.fixture(scope="module")
def pref(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("pref")
    res = generate_prefecture(out, counties=3, households=150, seed=7, problems_per_rule=1, jobs=1)
    cons = {}
    for name in res.names:
        con = connect(out / f"{name}.duckdb")
        create_all(con)
        load_all(con, out / "inbox" / name)
        run_rules(con, dt.date(YEAR + 1, 1, 20), load_thresholds())
        cons[name] = con
    yield {"out": out, "res": res, "cons": cons, "cross": _rows(out / "truth_cross_county.csv")}
    for con in cons.values():
        con.close()


def _q(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def test_folders_and_truth_files(pref):
    out, res = pref["out"], pref["res"]
    assert sorted(p.name for p in (out / "inbox").iterdir()) == sorted(res.names)
    for name in res.names:
        assert sorted(p.name for p in (out / "inbox" / name).iterdir()) == sorted(FEEDS)
        assert (out / name / "truth.csv").is_file() and (out / name / "near_misses.csv").is_file()
    meta = json.loads((out / "prefecture.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in meta["counties"]] == res.names
    assert meta["counties"][0]["capital"]
    raw = (out / "truth_cross_county.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert list(pref["cross"][0]) == list(CROSS_TRUTH_COLUMNS)
    assert res.unplanned == [] and res.unfitted == []


def test_distinct_counties_and_people(pref):
    """Own name and 6-digit code per county (the register's 县 column, household
    numbers, townships), and no ID number in two registers but the planted ones."""
    res, cons = pref["res"], pref["cons"]
    assert len(set(res.names)) == len(set(res.codes)) == 3
    ids = {}
    for name, code in zip(res.names, res.codes, strict=True):
        con = cons[name]
        assert _q(con, "SELECT DISTINCT county FROM register") == [(name,)]
        assert not _q(
            con,
            "SELECT 1 FROM register WHERE NOT starts_with(household_id, ?) LIMIT 1",
            code,
        )
        ids[name] = {
            i
            for (i,) in _q(
                con,
                "SELECT DISTINCT id_number FROM register WHERE year = ? AND id_number_problem IS NULL",
                YEAR,
            )
        }
    dup = CROSS_COUNTY_CODES["duplicate"]
    planned = {(r["county"], r["id_number"]) for r in pref["cross"] if r["rule_code"] == dup}
    a, b, c = res.names
    shared = {(n, i) for x, y in ((a, b), (a, c), (b, c)) for i in ids[x] & ids[y] for n in (x, y)}
    assert shared == planned and len(planned) == 6


def test_duplicates_are_in_both_registers(pref):
    """Each cross-county duplicate: two truth rows naming each other, the same ID
    number and name in both counties' registers of the working year."""
    cons = pref["cons"]
    rows = [r for r in pref["cross"] if r["rule_code"] == CROSS_COUNTY_CODES["duplicate"]]
    by_id: dict[str, list[dict]] = {}
    for r in rows:
        by_id.setdefault(r["id_number"], []).append(r)
    assert by_id and all(len(v) == 2 for v in by_id.values())
    for number, (r1, r2) in by_id.items():
        assert (r1["county"], r1["other_county"]) == (r2["other_county"], r2["county"])
        for r in (r1, r2):
            got = _q(
                cons[r["county"]],
                "SELECT household_id, name FROM register WHERE year = ? AND id_number = ?",
                YEAR,
                number,
            )
            assert got == [(r["household_id"], r["name"])], (r, got)


def test_department_records_filed_in_another_county(pref):
    """Cars and flats in the capital's feeds, companies, tax and 机关事业单位 pensions in
    another county's: the owner is a member of a household in 帮扶 of the county whose
    list gets the finding, and in no register of the filing county."""
    cons, res = pref["cons"], pref["res"]
    capital = res.names[0]
    where = {
        "car": ("vehicles", "owner_id_number"),
        "flat": ("property", "owner_id_number"),
        "business": ("business", "id_number"),
        "tax": ("tax", "id_number"),
        "public": ("social_insurance", "id_number"),
    }
    kinds = {v: k for k, v in CROSS_COUNTY_CODES.items()}
    seen = set()
    for r in pref["cross"]:
        kind = kinds[r["rule_code"]]
        if kind == "duplicate":
            continue
        seen.add(kind)
        assert r["county"] != r["other_county"]
        if kind in ("car", "flat"):
            assert r["other_county"] == capital
        table, col = where[kind]
        filed = cons[r["other_county"]]
        assert _q(filed, f'SELECT count(*) FROM "{table}" WHERE "{col}" = ?', r["id_number"])[0][0]
        assert not _q(filed, "SELECT 1 FROM register WHERE id_number = ?", r["id_number"])
        con = cons[r["county"]]
        prepare(con, YEAR)  # bd_reg: is_current as the rules read it
        home = _q(
            con,
            "SELECT household_id, name, is_current FROM bd_reg WHERE id_number = ?",
            r["id_number"],
        )
        assert home == [(r["household_id"], r["name"], True)], (r, home)
    assert seen == set(where)
    if_car = _q(
        cons[capital],
        "SELECT vehicle_type, vehicle_status FROM vehicles WHERE owner_id_number = ?",
        next(r["id_number"] for r in pref["cross"] if kinds[r["rule_code"]] == "car"),
    )
    assert if_car and if_car[0][1] == "正常" and "摩托" not in if_car[0][0]


def test_each_county_truth_is_what_its_rules_find(pref):
    """The cross-county cases trip no single-county rule: every county's findings are
    exactly its truth.csv (recall and precision 1), no near miss flagged."""
    for name, con in pref["cons"].items():
        cols = ["rule_code", "township", "village", "village_group", "household_id", "id_number"]
        found = {
            _key({k: ("" if v is None else v) for k, v in zip(cols, row, strict=True)})
            for row in _q(con, f"SELECT {', '.join(cols)} FROM findings")
        }
        truth = {_key(t) for t in _rows(pref["out"] / name / "truth.csv")}
        assert truth, name
        assert (sorted(truth - found), sorted(found - truth)) == ([], []), name
        near = {_key(t) for t in _rows(pref["out"] / name / "near_misses.csv")}
        assert not near & found, name


def test_prefecture_wide_hukou(tmp_path):
    """One hukou export for all counties in inbox/_prefecture/hukou/: every county's
    residents, each 住址 naming its county; no county keeps a hukou folder."""
    res = generate_prefecture(
        tmp_path,
        counties=2,
        households=80,
        seed=3,
        problems_per_rule=0,
        prefecture_wide=True,
        jobs=1,
    )
    files = list((tmp_path / "inbox" / "_prefecture" / "hukou").iterdir())
    assert [f.name for f in files] == ["全州户籍人口信息.csv"]
    for name in res.names:
        assert not (tmp_path / "inbox" / name / "hukou").exists()
    with files[0].open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[2:]
    assert len(rows) == sum(c.residents for c in res.counties)
    counties = [[n for n in res.names if n in r[5]] for r in rows]
    assert all(len(c) == 1 for c in counties)
    assert {c[0] for c in counties} == set(res.names)
    dup = {
        r["id_number"] for r in _rows(res.cross_truth_csv) if r["rule_code"].startswith("id_dup")
    }
    assert dup
    for number in dup:
        assert sorted(
            c[0] for r, c in zip(rows, counties, strict=True) if r[0] == number
        ) == sorted(res.names)


def test_parallel_equals_in_process(tmp_path):
    """Counties made in worker processes are the files made one after the other."""
    a = generate_prefecture(
        tmp_path / "a", counties=2, households=60, seed=5, problems_per_rule=1, jobs=1
    )
    b = generate_prefecture(
        tmp_path / "b", counties=2, households=60, seed=5, problems_per_rule=1, jobs=2
    )
    assert b.jobs == 2
    assert _digest(a.out_dir) == _digest(b.out_dir)
