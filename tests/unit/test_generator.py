"""The demo county generator in memory: valid IDs and names, realistic households and
years, an injector for every rule and a writer for every feed, the streaming xlsx
writer. (The files it writes and their load: integration/test_generator.py.)"""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook
from stdnum.cn import ric

from checks.rules import ALL_RULES
from checks.rules.cross_county import CROSS_COUNTY_RULES
from checks.thresholds import load_thresholds
from demo import COUNTY_LIMIT, CROSS_COUNTY_CODES, township_count
from demo import pools as P
from demo.county import Builder, build
from demo.early_warning import E_RULES, UNPLACED, build_feeds, e_findings, place, school_matches
from demo.ids import make_id, with_check
from demo.inject import INJECTORS, NEAR_MISSES, missing_injectors
from demo.model import age_dec31, age_sep1
from demo.monitoring import Monitor
from demo.prefecture import county_pools, county_specs, plan_identities
from demo.render import WRITERS, missing_writers
from demo.xlsx import write_fast
from department_feeds import FEEDS

YEAR = 2025
NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
GRADES = (
    [f"小学{c}年级" for c in "一二三四五六"]
    + ["七年级", "八年级", "九年级"]
    + [f"高中{c}年级" for c in "一二三"]
)


@pytest.fixture(scope="module")
def model():
    county, _ = build(250, seed=9, working_year=YEAR)
    return county


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


def test_placement_by_hukou_address():
    """monitoring.md §4: exactly one township in the 住址, then one of its villages."""
    towns = ["龙潭镇", "石坝乡"]
    villages = {"龙潭镇": ["山脚村", "大山脚村", "河口村"], "石坝乡": ["河口村", "新寨村"]}
    assert place("云岭县龙潭镇河口村上寨组3号", towns, villages) == ("龙潭镇", "河口村")
    assert place("云岭县龙潭镇人民路8号", towns, villages) == ("龙潭镇", "")
    # a village of another township: the township only
    assert place("云岭县龙潭镇新寨村5号", towns, villages) == ("龙潭镇", "")
    # several villages: the longest that is not inside another match
    assert place("云岭县龙潭镇大山脚村2号", towns, villages) == ("龙潭镇", "大山脚村")
    assert place("云岭县龙潭镇河口村山脚村", towns, villages) == ("龙潭镇", "")
    assert place("云岭县县城人民路8号", towns, villages) == (UNPLACED, "")
    assert place("云岭县龙潭镇人民路8号（原石坝乡）", towns, villages) == (UNPLACED, "")


def test_school_words_match_the_register():
    assert school_matches("七年级", "初中", "初一")
    assert school_matches("小学", "小学", "三年级")
    assert school_matches("高中二年级", "高中", "高二")
    assert school_matches("学前教育", "学前", None)
    assert not school_matches("小学三年级", "小学", "四年级")
    assert not school_matches("高中一年级", "中职", "一年级")


@pytest.mark.parametrize("today", [True, False])
def test_clean_early_warning_feeds_flag_nothing(today):
    """The clean county's 民政/医保/教育/残联 records (register members and background
    people outside the register) trip no rule E: every finding is a planted one."""
    county, _ = build(250, seed=9, working_year=YEAR)
    if today:
        mon = Monitor(county, 9)
        mon.assign()
        mon.reconcile()
    params = load_thresholds().sql_params(YEAR, dt.date(YEAR + 1, 1, 20))
    feeds = build_feeds(county, 9, today, params)
    outsiders = {p.id for p in county.persons if not p.register}
    assert {r.id for r in county.medical} & outsiders
    assert {r.id for r in county.education} & outsiders
    assert {r.kind for r in county.civil_affairs if r.id in outsiders} - {"农村低保", "特困供养"}
    hits = list(e_findings(county, feeds, today, params, E_RULES))
    assert [(h.code, h.key) for h in hits] == []


# ------------------------------------------------------------------ prefecture (in memory)
def test_county_names_and_codes_of_a_prefecture():
    """Up to COUNTY_LIMIT counties: distinct names none of which contains another (the
    住址 of a prefecture-wide hukou names one county), distinct codes, old codes apart."""
    specs = county_specs(COUNTY_LIMIT, seed=1, households=10)
    names = [s.name for s in specs]
    assert names[:2] == ["滇阳市", "云岭县"] and specs[0].capital
    assert len(set(names)) == len(names)
    assert not [(a, b) for a in names for b in names if a != b and a in b]
    assert all(NAME.match(n) and n[-1] in "县市" for n in names)
    codes = [s.code for s in specs] + [s.old_code for s in specs]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"\d{6}", c) for c in codes)
    # every number of every county is valid: codes for all years, old codes before 1988
    for s in specs:
        for year in (1925, 1987, 2025):
            assert ric.is_valid(with_check(f"{s.code}{year}0615001")), (s.code, year)
        assert ric.is_valid(with_check(f"{s.old_code}19300615001")), s.old_code
        assert ric.is_valid(with_check(f"{s.old_code}19870615001")), s.old_code
    with pytest.raises(ValueError):
        county_specs(COUNTY_LIMIT + 1, seed=1, households=10)
    assert [s.households for s in county_specs(2, 0, [5, 7])] == [5, 7]


def test_id_slots_keep_counties_apart():
    """People born elsewhere share area codes across counties: slot k of n gets
    sequence numbers whose half is k modulo n; no slot means today's numbers."""
    birth = dt.date(1980, 3, 1)
    for k in range(3):
        rng, used = random.Random(k), set()
        for _ in range(40):
            number = make_id(rng, "530102", birth, True, used, slot=(k, 3))
            assert (int(number[14:17]) // 2) % 3 == k and int(number[16]) % 2 == 1
    a = make_id(random.Random(5), "530102", birth, False, set())
    assert a == make_id(random.Random(5), "530102", birth, False, set(), slot=(0, 1))


def test_prefecture_plan_and_pools():
    specs = county_specs(3, seed=2, households=100)
    plan = plan_identities(specs, 2, YEAR, cross_cases=2)
    assert len({i.id for i in plan}) == len(plan) and all(ric.is_valid(i.id) for i in plan)
    assert all(i.home != i.other for i in plan)
    assert all(i.id[:6] in (specs[i.home].code, specs[i.home].old_code) for i in plan)
    assert {i.kind for i in plan} == set(CROSS_COUNTY_CODES)
    assert all(i.other == 0 for i in plan if i.kind in ("car", "flat"))
    assert not [i for i in plan if i.kind in ("car", "flat") and i.home == 0]
    assert all(25 <= age_dec31(i.birth, YEAR) <= 55 for i in plan)
    assert plan_identities(specs[:1], 2, YEAR, 1) == []
    before = (P.COUNTY, P.COUNTY_CODE, list(P.OTHER_AREA_CODES_YN))
    codes = frozenset(s.code for s in specs) | frozenset(s.old_code for s in specs)
    with county_pools(specs[2], codes):
        assert (specs[2].name, specs[2].code) == (P.COUNTY, P.COUNTY_CODE)
        assert not codes & set(P.OTHER_AREA_CODES_YN + P.OTHER_AREA_CODES_CN)
    assert (P.COUNTY, P.COUNTY_CODE, list(P.OTHER_AREA_CODES_YN)) == before


def test_prefecture_truth_names_the_cross_county_rules():
    """The generator's cross-county truth uses exactly the catalogue's rule codes (a
    renamed rule would otherwise read as all missed and all extra)."""
    assert set(CROSS_COUNTY_CODES.values()) == {r.code for r in CROSS_COUNTY_RULES}
