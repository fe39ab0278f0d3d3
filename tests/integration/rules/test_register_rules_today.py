"""Section A on today's 防返贫监测 export (monitoring.md §3, "Changes to section A"):
城镇职工 insurance counts, 大病保险, one finding per gap for 已消除风险 监测对象, 低保/特困
payments against who enjoys them. Hand-made households, rules run once per module."""

from __future__ import annotations

from typing import Any

import pytest

from checks.engine import run_rules
from checks.rules import register
from tests.rules_fixtures import RUN_DATE, Builder, case, expectations, findings_by_household

CASES = []

# A household of today's export: no 户类型 of the older generation, no 户状态.
TODAY: dict[str, Any] = {"household_type": None, "household_status": None}
POOR = {**TODAY, "household_kind": "脱贫户"}
ELIMINATED = {
    **TODAY,
    "household_kind": "监测户",
    "monitoring_category": "边缘易致贫户",
    "risk_eliminated": True,
    "elimination_mode": "帮扶消除",
}
OPEN = {**TODAY, "household_kind": "监测户", "monitoring_category": "脱贫不稳定户"}


def add(c):
    CASES.append(c)
    return c


def today(b: Builder, hid: str, hh: dict[str, Any], members=None, **fields: Any) -> None:
    """A household whose rows carry ``hh`` (today's columns the builder does not know)."""
    b.household(hid, members, **fields)
    for row in b.rows["register"]:
        if row["household_id"] == hid:
            row.update(hh)


@add
@case("medical_insurance_missing", fires=("TMD2", "TMD3"), quiet=("TMD1", "TMD4"))
def _(b: Builder):
    employee = {"has_medical_insurance": False, "has_employee_medical_insurance": True}
    today(b, "TMD1", TODAY, [{"has_medical_insurance": False}])
    for row in b.rows["register"]:
        if row["household_id"] == "TMD1":
            row.update(employee)
    today(
        b,
        "TMD2",
        {**TODAY, "has_employee_medical_insurance": False},
        [{"has_medical_insurance": False}],
    )
    today(b, "TMD3", TODAY, [{"has_critical_illness_insurance": False}])
    # 大病保险 否 outside 城乡居民 insurance (职工 only) is not this rule's.
    today(b, "TMD4", TODAY, [{"has_critical_illness_insurance": False}])
    for row in b.rows["register"]:
        if row["household_id"] == "TMD4":
            row.update(employee)


@add
@case("exited_below_income_line", fires=("TEB1", "TEB3"), quiet=("TEB2", "TEB4"))
def _(b: Builder):
    low = {"wage_income": 4000}
    today(b, "TEB1", POOR, **low)
    # One finding per gap: eliminated_with_gaps reports the 已消除风险 监测对象.
    today(b, "TEB2", ELIMINATED, **low)
    # The older generation's 风险已消除 (rules D do not run there) stays here.
    b.household("TEB3", household_status="风险已消除", **low)
    # Still monitored: neither exited nor this rule's.
    today(b, "TEB4", OPEN, **low)


@add
@case("exited_without_guarantees", fires=("TEG1", "TEG3"), quiet=("TEG2", "TEG4"))
def _(b: Builder):
    today(b, "TEG1", POOR, is_dangerous_house=True)
    today(b, "TEG2", ELIMINATED, is_dangerous_house=True)
    b.household("TEG3", household_status="风险已消除", is_dangerous_house=True)
    today(b, "TEG4", {**TODAY, "household_kind": "一般农户"}, is_dangerous_house=True)


@add
@case(
    "welfare_payment_inconsistent",
    fires=("TWP1", "TWP3", "TWP5"),
    quiet=("TWP2", "TWP4", "TWP6"),
)
def _(b: Builder):
    enjoys = {**TODAY, "dibao_status": "未享受", "destitute_status": "未享受"}
    # A member enjoys 低保, the household has no 低保金.
    today(b, "TWP1", enjoys, [{}, {"relation": "配偶"}])
    for row in b.rows["register"]:
        if row["household_id"] == "TWP1" and row["relation"] == "配偶":
            row["dibao_status"] = "享受农村低保"
    today(b, "TWP2", enjoys, [{}, {"relation": "配偶"}], dibao_payment=2400)
    for row in b.rows["register"]:
        if row["household_id"] == "TWP2" and row["relation"] == "配偶":
            row["dibao_status"] = "享受农村低保"
    # Nobody enjoys 低保, yet 低保金 is paid.
    today(b, "TWP3", enjoys, dibao_payment=2400)
    today(b, "TWP4", enjoys)
    # 特困 likewise.
    today(b, "TWP5", {**enjoys, "destitute_status": "享受农村特困供养"})
    today(b, "TWP6", {**enjoys, "destitute_status": "享受农村特困供养"}, destitute_payment=6000)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    b = Builder()
    for c in CASES:
        c.build(b)
    con = b.write(tmp_path_factory.mktemp("rules_a_today") / "wh.duckdb", feeds=("register",))
    run = run_rules(con, RUN_DATE, rules=register.RULES)
    yield con, run, findings_by_household(con)
    con.close()


@pytest.mark.parametrize(("code", "household", "fires"), expectations(CASES))
def test_rule_fires_or_not(wh, code, household, fires):
    _, run, found = wh
    assert run.result(code).ran
    assert bool(found.get((code, household))) is fires, found.get((code, household))


def _description(wh, code: str, household: str) -> str:
    (row,) = wh[2][(code, household)]
    return row["description"]


def test_descriptions_say_which(wh):
    assert "城镇职工基本医疗保险均登记为“否”" in _description(
        wh, "medical_insurance_missing", "TMD2"
    )
    assert _description(wh, "medical_insurance_missing", "TMD3") == (
        "参加城乡居民基本医疗保险，但是否参加大病保险登记为“否”"
    )
    assert _description(wh, "exited_below_income_line", "TEB1").startswith("脱贫户（")
    assert _description(wh, "exited_below_income_line", "TEB3").startswith("风险已消除户（")
    assert _description(wh, "welfare_payment_inconsistent", "TWP1") == (
        "本户有成员享受低保，低保金为 0"
    )
    assert "本户无成员享受低保，但有低保金 2,400 元" in _description(
        wh, "welfare_payment_inconsistent", "TWP3"
    )
    assert _description(wh, "welfare_payment_inconsistent", "TWP5") == (
        "本户有成员享受特困供养，特困供养金为 0"
    )
