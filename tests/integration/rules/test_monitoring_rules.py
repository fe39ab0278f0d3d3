"""Section D (防返贫监测, monitoring.md §3): for each rule, households that must fire
and near misses that must not, at every boundary of the spec's precise readings
(grace period 29/30 days, 5 months 30 days vs 6 months, 20000 vs 20000.01,
一般农户, 突发严重困难户, 兜底 households…).

Working year 2024, run date 2025-01-10 (so the 30-day grace boundary falls in
2024). Households are today's export: 户类型 监测户/脱贫户/一般农户 and the
monitoring columns, set on every member row like the national export does.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb
import pytest

from checks.engine import run_rules
from checks.rules import monitoring
from department_feeds.register import SPEC as REGISTER_SPEC
from tests.rules_fixtures import Builder, case, expectations, findings_by_household

RUN_DATE = date(2025, 1, 10)
GRACE_EDGE = date(2024, 12, 11)  # exactly 30 days before the run date: counts
GRACE_INSIDE = date(2024, 12, 12)  # 29 days: still in the grace period

CASES = []


def add(c):
    CASES.append(c)
    return c


def _stock_keys() -> frozenset[str]:
    b = Builder(auto_hukou=False, auto_pension=False)
    b.household("probe")
    return frozenset(b.rows["register"][0]) | {"birth", "id_raw", "id_numeric", "hukou"}


_STOCK = _stock_keys()
"""Fields the stock builder knows; the monitoring fields are set on its rows after."""

TODAY: dict[str, Any] = {
    "household_type": None,
    "household_status": None,
    "household_kind": "监测户",
    "monitoring_category": "脱贫不稳定户",
    "monitoring_from": date(2023, 6, 1),
    "risk_eliminated": False,
    "monitoring_to": None,
    "elimination_mode": None,
    "risk_1": "因务工就业不稳",
    **{f"risk_{i}": None for i in range(2, 6)},
    **{f: None for f in monitoring.MEASURES},
    "measure_employment": "劳务输出、外出务工补贴",
    "dibao_status": "未享受",
    "destitute_status": "未享受",
    "whole_household_safety_net": False,
    "has_employee_medical_insurance": False,
    "has_employee_pension_insurance": False,
    "compliant_self_paid": None,
}
"""A clean 监测户 of today's export: 风险未消除, a risk that needs no particular
measure, a development measure, labour (the builder's 普通劳动力), no 低保/特困."""

POOR_EXITED = {"household_kind": "脱贫户", "monitoring_category": None, "monitoring_from": None}
ORDINARY = {"household_kind": "一般农户", "monitoring_category": None, "monitoring_from": None}
NO_MEASURES = {f: None for f in monitoring.MEASURES}


def eliminated(mode: str = "自然消除", to: date = date(2024, 6, 1), **kw: Any) -> dict[str, Any]:
    return {"risk_eliminated": True, "monitoring_to": to, "elimination_mode": mode, **kw}


def mon(
    b: Builder, hid: str, members: list[dict[str, Any]] | None = None, **hh: Any
) -> list[dict[str, Any]]:
    """A household of today's export; returns its register rows."""
    members = members if members is not None else [{}]
    stock_hh = {k: v for k, v in hh.items() if k in _STOCK}
    stock_hh.setdefault("wage_income", 10000 * len(members))
    b.household(
        hid,
        [{k: v for k, v in m.items() if k in _STOCK} for m in members],
        **(stock_hh | {k: TODAY[k] for k in ("household_type", "household_status") if k not in hh}),
    )
    rows = [r for r in b.rows["register"] if r["household_id"] == hid]
    extra_hh = {k: v for k, v in hh.items() if k not in _STOCK}
    for row, m in zip(rows, members, strict=True):
        row.update(
            {k: v for k, v in TODAY.items() if k not in _STOCK}
            | extra_hh
            | {k: v for k, v in m.items() if k not in _STOCK}
        )
    return rows


def person(birth: str = "19800505", **kw: Any) -> dict[str, Any]:
    return {"birth": birth, **kw}


NO_LABOUR = {"labour_skill": "丧失劳动力", "health": "患有大病"}


def set_register_headers(con: duckdb.DuckDBPyConnection, fields: set[str]) -> None:
    """Record every register load as having mapped exactly ``fields`` (the engine
    runs a rule only when the working year's files mapped all its columns)."""
    mapping = json.dumps(
        {c.header: c.field for c in REGISTER_SPEC.columns if c.field in fields}, ensure_ascii=False
    )
    con.execute("DELETE FROM loads WHERE feed = 'register'")
    for (load_id,) in con.execute("SELECT DISTINCT load_id FROM register").fetchall():
        con.execute(
            "INSERT INTO loads (load_id, feed, source_file, status, header_mapping) "
            "VALUES (?, 'register', 'register/2024.xlsx', 'loaded', ?)",
            [load_id, mapping],
        )


ALL_FIELDS = {c.field for c in REGISTER_SPEC.columns}


# --- monitoring_without_measures ------------------------------------------------------


@add
@case(
    "monitoring_without_measures",
    fires=("MWM1", "MWM2", "MWM3", "MWM4"),
    quiet=("MWM5", "MWM6", "MWM7", "MWM8", "MWM9"),
)
def _(b: Builder):
    mon(b, "MWM1", **NO_MEASURES)
    mon(b, "MWM2", **NO_MEASURES, monitoring_from=GRACE_EDGE)
    mon(b, "MWM3", **NO_MEASURES, risk_eliminated=None)  # blank = not eliminated
    mon(b, "MWM4", **NO_MEASURES, monitoring_from=None)  # no date: no grace
    mon(b, "MWM5", **NO_MEASURES, monitoring_from=GRACE_INSIDE)
    mon(b, "MWM6", **NO_MEASURES, **eliminated())
    mon(b, "MWM7", **NO_MEASURES | {"measure_social": "结对帮扶"})
    mon(b, "MWM8", **NO_MEASURES | ORDINARY)
    mon(b, "MWM9", **NO_MEASURES | POOR_EXITED)


# --- labour_without_development -------------------------------------------------------

ONLY_SOCIAL = NO_MEASURES | {"measure_social": "结对帮扶"}


@add
@case(
    "labour_without_development",
    fires=("LWD1", "LWD2", "LWD3"),
    quiet=("LWD4", "LWD5", "LWD6", "LWD7", "LWD8"),
)
def _(b: Builder):
    mon(b, "LWD1", [{}, NO_LABOUR], **ONLY_SOCIAL)
    mon(b, "LWD2", [{"labour_skill": "弱劳动力或半劳动力"}], **ONLY_SOCIAL)
    mon(b, "LWD3", **ONLY_SOCIAL, monitoring_from=GRACE_EDGE)
    mon(b, "LWD4", [NO_LABOUR, {"labour_skill": None}], **ONLY_SOCIAL)
    mon(b, "LWD5", **ONLY_SOCIAL | {"measure_public_job": "护林员"})
    mon(b, "LWD6", **ONLY_SOCIAL, monitoring_from=GRACE_INSIDE)
    mon(b, "LWD7", **ONLY_SOCIAL, **eliminated())
    mon(b, "LWD8", **ONLY_SOCIAL | POOR_EXITED)


# --- no_labour_without_safety_net -----------------------------------------------------


@add
@case(
    "no_labour_without_safety_net",
    fires=("NLS1", "NLS2", "NLS3"),
    quiet=("NLS4", "NLS5", "NLS6", "NLS7", "NLS8"),
)
def _(b: Builder):
    mon(b, "NLS1", [NO_LABOUR, {"labour_skill": "无劳动力"}], **POOR_EXITED)
    mon(b, "NLS2", [{"labour_skill": None}], dibao_status=None)  # blank: no labour, no 低保
    mon(b, "NLS3", [NO_LABOUR], **POOR_EXITED, destitute_status="未享受")
    # 兜底: one member enjoys 低保 (or 特困) — covered.
    mon(b, "NLS4", [NO_LABOUR, NO_LABOUR | {"dibao_status": "享受农村低保"}], **POOR_EXITED)
    mon(b, "NLS5", [NO_LABOUR | {"destitute_status": "享受农村特困供养"}])
    mon(b, "NLS6", [NO_LABOUR, {"labour_skill": "弱劳动力或半劳动力"}], **POOR_EXITED)
    mon(b, "NLS7", [NO_LABOUR], **ORDINARY)
    mon(b, "NLS8", [NO_LABOUR], **eliminated())  # 已消除风险, not a 脱贫户


# --- eliminated_without_labour --------------------------------------------------------


@add
@case("eliminated_without_labour", fires=("EWL1", "EWL2"), quiet=("EWL3", "EWL4", "EWL5"))
def _(b: Builder):
    mon(b, "EWL1", [NO_LABOUR, {"labour_skill": None}], **eliminated("帮扶消除"))
    # A 兜底 household eliminated by 帮扶消除 still fires: it stays monitored.
    mon(b, "EWL2", [NO_LABOUR | {"dibao_status": "享受农村低保"}], **eliminated("帮扶消除"))
    mon(b, "EWL3", [NO_LABOUR], **eliminated("自然消除"))
    mon(b, "EWL4", [NO_LABOUR, {"labour_skill": "弱劳动力或半劳动力"}], **eliminated("帮扶消除"))
    mon(b, "EWL5", [NO_LABOUR])


# --- eliminated_too_soon (6 calendar months, strictly less) ---------------------------


@add
@case("eliminated_too_soon", fires=("ETS1", "ETS3", "ETS5"), quiet=("ETS2", "ETS4", "ETS6", "ETS7"))
def _(b: Builder):
    helped = {"monitoring_from": date(2024, 1, 15)}
    mon(b, "ETS1", **helped, **eliminated("帮扶消除", date(2024, 7, 14)))  # 5 months 30 days
    mon(b, "ETS2", **helped, **eliminated("帮扶消除", date(2024, 7, 15)))  # 6 months
    leap = {"monitoring_from": date(2023, 8, 31)}  # + 6 months = 2024-02-29
    mon(b, "ETS3", **leap, **eliminated("帮扶消除", date(2024, 2, 28)))
    mon(b, "ETS4", **leap, **eliminated("帮扶消除", date(2024, 2, 29)))
    mon(b, "ETS5", **helped, **eliminated("帮扶消除", date(2024, 1, 10)))  # before identified
    mon(b, "ETS6", **helped, **eliminated("自然消除", date(2024, 3, 1)))
    mon(b, "ETS7", **helped, **eliminated("帮扶消除", None))  # no date: cannot judge


# --- eliminated_with_gaps -------------------------------------------------------------


@add
@case(
    "eliminated_with_gaps",
    fires=("EWG1", "EWG3", "EWG4", "EWG5", "EWG6", "EWG10"),
    quiet=("EWG2", "EWG7", "EWG8", "EWG9", "EWG11"),
)
def _(b: Builder):
    gone = eliminated("帮扶消除", date(2024, 3, 1))
    mon(b, "EWG1", **gone, per_capita_net_income="5999.99")
    mon(b, "EWG2", **gone, per_capita_net_income=6000)  # at the line: not below
    mon(b, "EWG3", **gone, is_dangerous_house=True)
    mon(b, "EWG4", **gone, has_safe_water=False)
    mon(b, "EWG5", [{}, person("20140301", relation="之子", school_status="非在校生")], **gone)
    mon(b, "EWG6", [{}, {"has_medical_insurance": False}], **gone)
    mon(b, "EWG7", per_capita_net_income="5999.99")  # 风险未消除
    mon(b, "EWG8", **POOR_EXITED, per_capita_net_income="5999.99")  # section A's household
    mon(b, "EWG9", [{}, person("20180902", relation="之子", school_status="非在校生")], **gone)  # 5
    mon(b, "EWG10", [{}, {"has_critical_illness_insurance": False}], **gone)
    # 城镇职工 insurance counts (medical_insurance_missing's reading).
    mon(
        b,
        "EWG11",
        [{"has_medical_insurance": False, "has_employee_medical_insurance": True}],
        **gone,
    )


# --- identified_above_range -----------------------------------------------------------


@add
@case(
    "identified_above_range",
    fires=("IAR1", "IAR5"),
    quiet=("IAR2", "IAR3", "IAR4", "IAR6"),
)
def _(b: Builder):
    y = {"monitoring_from": date(2024, 5, 1), "wage_income": 25000}
    mon(b, "IAR1", **y, per_capita_net_income="20000.01")
    mon(b, "IAR2", **y, per_capita_net_income=20000)
    mon(b, "IAR3", **y, per_capita_net_income=25000, monitoring_category="突发严重困难户")
    mon(b, "IAR4", wage_income=25000, monitoring_from=date(2023, 12, 31))
    mon(b, "IAR5", **y, per_capita_net_income=25000, **eliminated(to=date(2024, 11, 1)))
    mon(b, "IAR6", **ORDINARY, wage_income=25000)


# --- risk_type_unsupported ------------------------------------------------------------


@add
@case(
    "risk_type_unsupported",
    fires=("RTU1", "RTU3", "RTU5", "RTU8", "RTU11"),
    quiet=("RTU2", "RTU4", "RTU6", "RTU7", "RTU9", "RTU10"),
)
def _(b: Builder):
    mon(b, "RTU1", risk_1="因病")
    mon(b, "RTU2", [{}, {"health": "长期慢性病"}], risk_1="因病")
    mon(b, "RTU3", risk_2="因残")
    mon(b, "RTU4", [{}, {"health": "残疾"}], risk_2="因残")
    mon(b, "RTU5", [{}, {"labour_skill": "技能劳动力"}], risk_1="缺劳动力")
    mon(b, "RTU6", [{}, {"labour_skill": "丧失劳动力"}], risk_1="缺劳动力")
    mon(b, "RTU7", [{}, {"labour_skill": None}], risk_1="缺劳动力")  # blank = no labour
    mon(b, "RTU8", risk_1="因学")
    mon(
        b,
        "RTU9",
        [{}, person("20200301", relation="之女", school_status="学前教育")],
        risk_1="因学",
    )
    mon(b, "RTU10", risk_1="因病", **eliminated())
    mon(b, "RTU11", risk_1="因病", risk_3="因学")  # both named


# --- risk_without_matching_measure ----------------------------------------------------


@add
@case(
    "risk_without_matching_measure",
    fires=("RWM1", "RWM4", "RWM7", "RWM8", "RWM11"),
    quiet=("RWM2", "RWM3", "RWM5", "RWM6", "RWM9", "RWM10", "RWM12"),
)
def _(b: Builder):
    ill = {"risk_1": "因病"}
    mon(b, "RWM1", **ill)
    mon(b, "RWM2", **ill, measure_social="大病救助")
    mon(b, "RWM3", **ill, measure_health="家庭医生签约")
    mon(b, "RWM4", risk_1="因学")
    mon(b, "RWM5", risk_1="因学", measure_education="雨露计划")
    mon(b, "RWM6", risk_1="因安全住房", measure_relocation="易地扶贫搬迁")
    mon(b, "RWM7", risk_1="因安全住房", measure_water="改水")
    mon(b, "RWM8", risk_1="因安全饮水")
    mon(b, "RWM9", risk_1="因安全饮水", measure_water="集中供水")
    mon(b, "RWM10", **ill, monitoring_from=GRACE_INSIDE)
    mon(b, "RWM11", **ill, monitoring_from=GRACE_EDGE)
    mon(b, "RWM12", **ill, **eliminated())


# --- safety_net_record_mismatch -------------------------------------------------------


@add
@case(
    "safety_net_record_mismatch",
    fires=("SNR1", "SNR2", "SNR5", "SNR7"),
    quiet=("SNR3", "SNR4", "SNR6", "SNR8"),
)
def _(b: Builder):
    mon(b, "SNR1", measure_comprehensive="低保、残疾人两项补贴")
    mon(b, "SNR2", [{}, {"dibao_status": "享受农村低保"}])
    mon(b, "SNR3", [{"dibao_status": "享受农村低保"}], measure_comprehensive="低保")
    mon(b, "SNR4", [{"dibao_status": "享受农村低保"}], measure_comprehensive="临时救助；农村低保金")
    mon(b, "SNR5", measure_comprehensive="特困供养")
    mon(b, "SNR6", **POOR_EXITED, measure_comprehensive="低保")  # not a 监测对象
    mon(b, "SNR7", **eliminated(), measure_comprehensive="低保")  # 已消除 is still one
    mon(b, "SNR8", measure_comprehensive="残疾人两项补贴")


# --- destitute_working_age_healthy (18–59 at 31 December) -----------------------------

DESTITUTE = {"destitute_status": "享受农村特困供养"}


@add
@case(
    "destitute_working_age_healthy",
    fires=("DWH1", "DWH3", "DWH4"),
    quiet=("DWH2", "DWH5", "DWH6", "DWH7", "DWH8"),
)
def _(b: Builder):
    mon(b, "DWH1", [person("19900101", **DESTITUTE)])
    mon(b, "DWH2", [person("19641231", **DESTITUTE)])  # 60
    mon(b, "DWH3", [person("19650101", **DESTITUTE)])  # 59
    mon(b, "DWH4", [person("20061231", **DESTITUTE)])  # 18
    mon(b, "DWH5", [person("20070101", **DESTITUTE)])  # 17
    mon(b, "DWH6", [person("19900101", health="长期慢性病", **DESTITUTE)])
    mon(b, "DWH7", [person("20050301", school_status="本科一年级", **DESTITUTE)])
    mon(b, "DWH8", [person("19900101")])


# --- working_age_no_labour (16–59 at 31 December) -------------------------------------

NONE_LABOUR = {"labour_skill": "无劳动力"}


@add
@case(
    "working_age_no_labour",
    fires=("WNL1", "WNL2", "WNL5"),
    quiet=("WNL3", "WNL4", "WNL6", "WNL7", "WNL8", "WNL9"),
)
def _(b: Builder):
    mon(b, "WNL1", [person("19850101", **NONE_LABOUR)], **POOR_EXITED)
    mon(b, "WNL2", [person("19850101", labour_skill="丧失劳动力")])
    mon(b, "WNL3", [person("19850101", labour_skill=None)])  # blank: not stated
    mon(b, "WNL4", [person("19641231", **NONE_LABOUR)])  # 60
    mon(b, "WNL5", [person("20081231", **NONE_LABOUR)])  # 16
    mon(b, "WNL6", [person("20090101", **NONE_LABOUR)])  # 15
    mon(b, "WNL7", [person("19850101", **NONE_LABOUR)], **ORDINARY)
    mon(b, "WNL8", [person("20060301", school_status="高中三年级", **NONE_LABOUR)])
    mon(b, "WNL9", [person("19850101", health="残疾", **NONE_LABOUR)])


# --- eliminated_without_measures ------------------------------------------------------


@add
@case("eliminated_without_measures", fires="EWM1", quiet=("EWM2", "EWM3", "EWM4"))
def _(b: Builder):
    mon(b, "EWM1", **NO_MEASURES, **eliminated("帮扶消除"))
    mon(b, "EWM2", **NO_MEASURES, **eliminated("自然消除"))
    mon(b, "EWM3", **NO_MEASURES | {"measure_housing": "危房改造"}, **eliminated("帮扶消除"))
    mon(b, "EWM4", **NO_MEASURES)


# --- ill_risk_without_costs -----------------------------------------------------------


@add
@case("ill_risk_without_costs", fires=("IRC1", "IRC2"), quiet=("IRC3", "IRC4", "IRC5"))
def _(b: Builder):
    ill = {"risk_1": "因病", "measure_health": "家庭医生签约"}
    mon(b, "IRC1", [{}, {"health": "患有大病"}], **ill)
    mon(b, "IRC2", [{"compliant_self_paid": 0}, {"health": "患有大病"}], **ill)
    mon(b, "IRC3", [{}, {"health": "患有大病", "compliant_self_paid": "0.01"}], **ill)
    mon(b, "IRC4", [{"health": "患有大病"}], **ill, **eliminated())
    mon(b, "IRC5", [{"health": "残疾"}], risk_1="因残")


# --- medical_insurance_double ---------------------------------------------------------


@add
@case("medical_insurance_double", fires="MID1", quiet=("MID2", "MID3"))
def _(b: Builder):
    mon(b, "MID1", [{}, {"has_employee_medical_insurance": True}])
    mon(b, "MID2", [{"has_medical_insurance": False, "has_employee_medical_insurance": True}])
    mon(b, "MID3", [{"has_employee_medical_insurance": None}])


# --- the module's warehouse -----------------------------------------------------------


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    b = Builder()
    for c in CASES:
        c.build(b)
    con = b.write(tmp_path_factory.mktemp("rules_d") / "wh.duckdb", feeds=("register",))
    set_register_headers(con, ALL_FIELDS)
    run = run_rules(con, RUN_DATE)
    yield con, run, findings_by_household(con)
    con.close()


def test_every_section_d_rule_ran(wh):
    _, run, _ = wh
    codes = {r.code for r in monitoring.RULES}
    assert [(r.code, r.reason) for r in run.results if not r.ran and r.code in codes] == []
    assert {c.code for c in CASES} == codes


@pytest.mark.parametrize(("code", "household", "fires"), expectations(CASES))
def test_rule_fires_or_not(wh, code, household, fires):
    _, _, found = wh
    assert bool(found.get((code, household))) is fires, found.get((code, household))


def _one(wh, code, household):
    rows = wh[2][(code, household)]
    assert len(rows) == 1, rows
    return rows[0]


def test_measure_descriptions(wh):
    assert _one(wh, "monitoring_without_measures", "MWM1")["description"] == (
        "脱贫不稳定户（识别监测时间 2023-06-01）风险未消除，14 项帮扶措施均未登记"
    )
    assert (
        "识别监测时间 （日期空）" in _one(wh, "monitoring_without_measures", "MWM4")["description"]
    )
    lwd = _one(wh, "labour_without_development", "LWD1")["description"]
    assert "（普通劳动力） 有劳动能力" in lwd and "丧失劳动力" not in lwd
    rwm = _one(wh, "risk_without_matching_measure", "RWM7")["description"]
    assert rwm == "风险类型含“因安全住房”，住房安全保障、搬迁均未登记"


def test_labour_descriptions(wh):
    nls = _one(wh, "no_labour_without_safety_net", "NLS1")["description"]
    assert nls.startswith("脱贫户家庭成员 2 人均无劳动能力（")
    assert nls.endswith("（无劳动力）），无成员享受低保或特困供养")
    assert (
        "脱贫不稳定户（风险未消除）"
        in _one(wh, "no_labour_without_safety_net", "NLS2")["description"]
    )
    assert "劳动技能空" in _one(wh, "eliminated_without_labour", "EWL1")["description"]
    assert "应持续监测" in _one(wh, "eliminated_without_labour", "EWL2")["description"]
    assert "应持续监测" not in _one(wh, "eliminated_without_labour", "EWL1")["description"]
    wnl = _one(wh, "working_age_no_labour", "WNL5")
    assert wnl["name"] and wnl["description"] == (
        "16岁（按2024年12月31日计），健康状况为健康，非在校生，劳动技能登记为“无劳动力”"
    )
    assert _one(wh, "destitute_working_age_healthy", "DWH3")["description"].startswith(
        "享受特困供养（享受农村特困供养），59岁"
    )


def test_elimination_descriptions(wh):
    assert _one(wh, "eliminated_too_soon", "ETS1")["description"] == (
        "风险消除方式为帮扶消除，识别监测时间 2024-01-15 至消除监测时间 2024-07-14 仅 181 天，不足 6 个月"
    )
    assert "早于识别监测时间" in _one(wh, "eliminated_too_soon", "ETS5")["description"]
    assert _one(wh, "eliminated_with_gaps", "EWG1")["description"] == (
        "脱贫不稳定户风险已消除（帮扶消除，消除监测时间 2024-03-01），收入或“三保障”未达标："
        "2024年年人均纯收入 5,999.99 元，低于当年监测范围 6,000 元"
    )
    assert "义务教育阶段未在校" in _one(wh, "eliminated_with_gaps", "EWG5")["description"]
    assert _one(wh, "eliminated_with_gaps", "EWG6")["description"].endswith(" 未参加基本医疗保险")
    assert _one(wh, "eliminated_with_gaps", "EWG10")["description"].endswith(
        " 参加城乡居民基本医疗保险但未参加大病保险"
    )
    assert _one(wh, "identified_above_range", "IAR1")["description"] == (
        "脱贫不稳定户于 2024-05-01 纳入监测，2024年年人均纯收入 20,000.01 元，高于 20,000 元"
    )
    assert (
        "（已于 2024-11-01 标注风险消除）"
        in (_one(wh, "identified_above_range", "IAR5")["description"])
    )


def test_record_descriptions(wh):
    assert _one(wh, "risk_type_unsupported", "RTU11")["description"] == (
        "风险类型含“因病”，但家庭成员均未登记患有大病或长期慢性病；"
        "风险类型含“因学”，但家庭成员均非在校生"
    )
    assert _one(wh, "safety_net_record_mismatch", "SNR1")["description"] == (
        "综合保障登记有“低保”，但家庭成员均未享受低保"
    )
    snr2 = _one(wh, "safety_net_record_mismatch", "SNR2")["description"]
    assert snr2.endswith("（享受农村低保） 享受低保，综合保障未登记低保")
    assert _one(wh, "safety_net_record_mismatch", "SNR5")["description"] == (
        "综合保障登记有“特困供养”，但家庭成员均未享受特困供养"
    )
    assert (
        "2 人的合规自付支出均为空或 0" in _one(wh, "ill_risk_without_costs", "IRC1")["description"]
    )
    mid = _one(wh, "medical_insurance_double", "MID1")
    assert mid["name"] and mid["name"] != mid["head_name"]


def test_one_finding_per_gap(wh):
    """An 已消除风险 监测对象 gets eliminated_with_gaps, not section A's exited rules;
    a 脱贫户 keeps getting those."""
    found = wh[2]
    for hid in ("EWG1", "EWG3", "EWG4", "EWG5", "EWG6"):
        assert not found.get(("exited_below_income_line", hid)), hid
        assert not found.get(("exited_without_guarantees", hid)), hid
    assert found.get(("exited_below_income_line", "EWG8"))


def test_categories_severities_and_prefixes(wh):
    con = wh[0]
    rows = {
        code: rest
        for code, *rest in con.execute(
            "SELECT rule_code, any_value(problem_id), list(DISTINCT category), "
            "list(DISTINCT severity), list(DISTINCT department) FROM findings GROUP BY rule_code"
        ).fetchall()
    }
    for rule in monitoring.RULES:
        problem_id, categories, severities, departments = rows[rule.code]
        assert problem_id.startswith(rule.prefix + "-"), rule.code
        assert categories == [rule.category] and departments == ["本系统"], rule.code
        assert len(severities) == 1, rule.code


# --- not run on an older export -------------------------------------------------------


def _small(tmp_path, fields: set[str]) -> tuple[duckdb.DuckDBPyConnection, Any]:
    b = Builder()
    mon(b, "OLD1", **NO_MEASURES)
    con = b.write(tmp_path / "wh.duckdb", feeds=("register",))
    set_register_headers(con, fields)
    return con, run_rules(con, RUN_DATE, rules=monitoring.RULES)


def test_not_run_on_a_register_without_monitoring_category(tmp_path):
    con, run = _small(tmp_path, ALL_FIELDS - {"monitoring_category"})
    assert len(run.results) == len(monitoring.RULES)
    for r in run.results:
        assert not r.ran and r.finding_count is None, r.code
        assert "“监测对象类别”" in r.reason and "旧版建档立卡导出" in r.reason, r.reason
    stored = con.execute("SELECT count(*) FROM rule_runs WHERE NOT ran").fetchone()[0]
    assert stored == len(monitoring.RULES)
    con.close()


def test_one_missing_column_stops_only_the_rules_that_read_it(tmp_path):
    con, run = _small(tmp_path, ALL_FIELDS - {"compliant_self_paid"})
    not_run = {r.code: r.reason for r in run.results if not r.ran}
    assert list(not_run) == ["ill_risk_without_costs"]
    assert "“合规自付支出”" in not_run["ill_risk_without_costs"]
    assert run.result("monitoring_without_measures").finding_count == 1
    con.close()


def test_every_rule_names_monitoring_category():
    for rule in monitoring.RULES:
        assert rule.columns[0] == "monitoring_category", rule.code
        assert rule.level in ("person", "household") and rule.department == "本系统"
