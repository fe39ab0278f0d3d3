"""The demo county generator: valid IDs, realistic structure, determinism, files."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook
from stdnum.cn import ric

from checks.rules import ALL_RULES
from demo import TRUTH_COLUMNS, generate, township_count
from demo.county import Builder, build
from demo.inject import INJECTORS, NEAR_MISSES, missing_injectors
from demo.model import age_dec31, age_sep1
from demo.render import WRITERS, missing_writers
from demo.xlsx import write_fast
from department_feeds import DEPARTMENT_FEEDS, FEEDS, SPECS
from warehouse import connect, load_all
from warehouse.schema import create_all

YEAR = 2025
NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
GRADES = (
    [f"小学{c}年级" for c in "一二三四五六"]
    + ["七年级", "八年级", "九年级"]
    + [f"高中{c}年级" for c in "一二三"]
)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gen")
    res = generate(out, households=200, seed=5, problems_per_rule=1)
    con = connect(out / "warehouse.duckdb")
    create_all(con)
    loads = load_all(con, out / "inbox")
    yield {"out": out, "res": res, "con": con, "loads": loads}
    con.close()


@pytest.fixture(scope="module")
def model():
    county, _ = build(250, seed=9, working_year=YEAR)
    return county


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _digest(folder: Path) -> dict[str, str]:
    """Per file: bytes for CSV and our own xlsx writer, cell values for openpyxl files
    (openpyxl stamps the creation time into the workbook)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(folder).as_posix()
        if p.suffix == ".xlsx":
            wb = CalamineWorkbook.from_path(str(p))
            cells = [wb.get_sheet_by_name(n).to_python() for n in wb.sheet_names]
            out[rel] = hashlib.sha256(repr(cells).encode()).hexdigest()
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_every_catalogue_rule_has_an_injector():
    """A new rule needs its ``@injects("code")`` in demo/inject.py: the generator plants
    its problems in catalogue order, and recall is measured on them."""
    assert missing_injectors() == [], "rules without an @injects injector in demo/inject.py"
    assert set(INJECTORS) == {r.code for r in ALL_RULES}
    assert set(NEAR_MISSES) <= set(INJECTORS)


def test_every_feed_has_a_writer():
    """A new feed needs its ``@writes("feed")`` method in demo/render.py."""
    assert missing_writers() == [], "feeds without a @writes method in demo/render.py"
    assert set(WRITERS) == set(FEEDS)


def test_feeds_present_and_named(small):
    inbox = small["out"] / "inbox"
    for feed in FEEDS:
        assert any((inbox / feed).iterdir()), feed
    names = sorted(p.name for p in (inbox / "register").iterdir())
    assert [re.search(r"20\d\d", n).group() for n in names] == ["2023", "2024", "2025"]
    assert (inbox / "register" / "2025年建档立卡人口.xlsx").is_file()


def test_every_file_loads_and_balances(small):
    for feed, fr in small["loads"].items():
        assert not fr.failed, feed
        assert fr.rows_loaded > 0, feed
        for f in fr.files:
            assert f.rows_read == f.rows_loaded + f.rows_rejected, f.source_file
    # the messiness is really there: aliases, inverted yes/no header, GB18030
    con = small["con"]
    mappings = " ".join(r[0] for r in con.execute("SELECT header_mapping FROM loads").fetchall())
    for alias in ("户码", "身份证号", "住房是否安全", "纳税人识别号", "身份证明号码"):
        assert alias in mappings, alias
    encodings = {
        r[0]
        for r in con.execute("SELECT encoding FROM loads WHERE encoding IS NOT NULL").fetchall()
    }
    assert {"gb18030", "utf-8-sig"} <= encodings
    reasons = {r[0] for r in con.execute("SELECT reason_zh FROM rejects").fetchall()}
    assert "合计行" in reasons


def test_register_ids_valid_except_injected(small):
    """Every register number the ingest accepted as valid passes python-stdnum, and
    the ones it flagged are exactly the injected id_invalid problems (+ the 残疾人证)."""
    con, out = small["con"], small["out"]
    ok = con.execute(
        "SELECT DISTINCT id_number FROM register WHERE id_number_problem IS NULL"
    ).fetchall()
    assert ok and all(ric.is_valid(i) for (i,) in ok)
    bad = {
        (h, n)
        for h, n in con.execute(
            "SELECT household_id, name FROM register WHERE year = 2025 AND id_number_problem IS NOT NULL"
        ).fetchall()
    }
    truth = {
        (t["household_id"], t["name"])
        for t in _rows(out / "truth.csv")
        if t["rule_code"] == "id_invalid"
    }
    near = {
        (t["household_id"], t["name"])
        for t in _rows(out / "near_misses.csv")
        if t["rule_code"] == "id_invalid"
    }
    assert truth and bad == truth | near
    # recoverable damage was undone: full-width, 15-digit, lowercase x … all normalised
    raw_messy = con.execute(
        "SELECT count(*) FROM register WHERE id_number_problem IS NULL AND id_number_raw <> id_number"
    ).fetchone()[0]
    assert raw_messy > 0


def test_model_ids_and_names(model):
    assert len({p.id for p in model.persons}) == len(model.persons)
    for p in model.persons:
        assert ric.is_valid(p.id), p.id
        assert ric.get_birth_date(p.id) == p.birth
        assert (int(p.id[16]) % 2 == 1) == (p.gender == "男")
        assert NAME.match(p.name), p.name


def test_household_structure(model):
    for hh in model.households:
        for year, hy in hh.years.items():
            heads = [m for m in hy.members if m.relation == "户主"]
            assert len(heads) == 1, hh.hid
            head_age = age_dec31(heads[0].person.birth, year)
            assert head_age >= 18
            assert hy.size == len(hy.members)
            for m in hy.members:
                a = age_dec31(m.person.birth, year)
                if m.relation in ("之子", "之女"):
                    assert head_age - a >= 15, (hh.hid, m.relation)
                if m.relation in ("之父", "之母"):
                    assert a - head_age >= 15
                if m.relation == "配偶":
                    assert m.gender != heads[0].gender


def test_years_move_on(model):
    """Students move up a grade, incomes change, every number adds up."""
    moved = 0
    assert any(hh.first_year == YEAR for hh in model.households)  # newly monitored
    for hh in model.households:
        if YEAR - 1 not in hh.years:
            continue
        prev, cur = hh.years[YEAR - 1], hh.years[YEAR]
        assert prev.per_capita != cur.per_capita
        for hy in (prev, cur):
            assert hy.net == hy.wage + hy.business + hy.prop + hy.transfer - hy.expense
            assert hy.dibao + hy.destitute + hy.pension_pay <= hy.transfer
            if hh.exited:
                assert hy.per_capita >= 6000
        before = {m.person.pid: m.school_status for m in prev.members}
        for m in cur.members:
            b = before.get(m.person.pid)
            if b in GRADES and m.school_status in GRADES:
                assert GRADES.index(m.school_status) == GRADES.index(b) + 1
                moved += 1
    assert moved > 20


def test_compulsory_age_children_in_school(model):
    for hh in model.households:
        for m in hh.years[YEAR].members:
            if 6 <= age_sep1(m.person.birth, YEAR) <= 15:
                assert m.school_status != "非在校生"


def test_hukou_covers_register_and_more(small):
    con = small["con"]
    reg = con.execute(
        "SELECT count(DISTINCT id_number) FROM register WHERE year = 2025"
    ).fetchone()[0]
    hk = con.execute("SELECT count(*) FROM hukou").fetchone()[0]
    assert hk >= 4 * reg
    missing = con.execute(
        """SELECT count(*) FROM register r WHERE year = 2025 AND id_number_problem IS NULL
           AND NOT EXISTS (SELECT 1 FROM hukou k WHERE k.id_number = r.id_number)"""
    ).fetchone()[0]
    hukou_truth = [
        t for t in _rows(small["out"] / "truth.csv") if t["rule_code"] == "hukou_not_found"
    ]
    assert missing == len(hukou_truth)


def test_truth_and_near_miss_files(small):
    out = small["out"]
    for name in ("truth.csv", "near_misses.csv"):
        raw = (out / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = _rows(out / name)
        assert rows and list(rows[0]) == list(TRUTH_COLUMNS)
        assert {r["level"] for r in rows} <= {"person", "household", "village"}
    assert small["res"].truth_rows == len(_rows(out / "truth.csv"))


def test_deterministic_per_seed(tmp_path):
    a = generate(tmp_path / "a", households=120, seed=3, problems_per_rule=1)
    b = generate(tmp_path / "b", households=120, seed=3, problems_per_rule=1)
    c = generate(tmp_path / "c", households=120, seed=4, problems_per_rule=1)
    da, db, dc = (_digest(r.out_dir) for r in (a, b, c))
    assert da == db
    assert da != dc


def test_township_count():
    assert township_count(2000) >= 8
    assert township_count(20000) >= 8
    towns, villages = Builder(2000, seed=1, working_year=YEAR).places()
    assert len(towns) >= 8 and len(set(towns)) == len(towns)
    assert {v.town for v in villages} == set(range(len(towns)))


_TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
    )
    | st.sampled_from(list("\t &<>\"'　（）５")),
    max_size=12,
)
_CELL = st.one_of(
    st.none(),
    _TEXT,
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2099, 12, 31)),
)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(_CELL, min_size=1, max_size=6), min_size=1, max_size=8))
def test_fast_xlsx_round_trip(tmp_path_factory, rows):
    """What write_fast writes, calamine reads back: text (spaces, tabs, XML
    specials, CJK), numbers, dates; an empty string is an empty cell."""
    path = tmp_path_factory.mktemp("x") / "t.xlsx"
    write_fast(path, rows, sheet="表1", merge_first_row=3)
    back = (
        CalamineWorkbook.from_path(str(path))
        .get_sheet_by_name("表1")
        .to_python(skip_empty_area=False)
    )
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            got = back[i][j] if i < len(back) and j < len(back[i]) else ""
            if v is None or v == "":
                assert got == ""
            elif isinstance(v, (dt.date, str)):
                assert got == v
            else:
                assert float(got) == float(v)


def test_department_ids_valid_or_rejected(small):
    """Department rows either carry a number python-stdnum accepts, or were rejected
    because the number cannot be recovered (an Excel number that lost digits)."""
    con = small["con"]
    for feed in DEPARTMENT_FEEDS:
        col = SPECS[feed].join_id
        ids = con.execute(
            f'SELECT DISTINCT "{col}" FROM "{feed}" WHERE "{col}_problem" IS NULL'
        ).fetchall()
        assert ids and all(ric.is_valid(i) for (i,) in ids), feed
        assert (
            con.execute(
                f'SELECT count(*) FROM "{feed}" WHERE "{col}_problem" IS NOT NULL'
            ).fetchone()[0]
            == 0
        )
    reasons = con.execute(
        "SELECT DISTINCT reason_en FROM rejects WHERE list_contains($feeds, feed)",
        {"feeds": list(DEPARTMENT_FEEDS)},
    ).fetchall()
    assert {r for (r,) in reasons} <= {
        "ID number was stored as an Excel number and lost its last digits"
    }
