"""Section B of rules.md (register against department feeds): for each rule,
households that must fire and near misses that must not, at every threshold's
boundary. Working year 2024; one warehouse for the module, rules run once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from checks.engine import run_rules
from checks.rules import departments
from core.idcard import check_digit
from tests.rules_fixtures import (
    RUN_DATE,
    Builder,
    case,
    expectations,
    findings_by_household,
    make_id,
)

CASES = []
EXITED = {"household_status": "已脱贫", "exit_year": 2020}


def add(c):
    CASES.append(c)
    return c


def fixed_id(birth: str, male: bool, n: int, region: str = "530122") -> str:
    return make_id(birth, male, n, region=region)


def with_digits(idn: str, changes: dict[int, str]) -> str:
    """``idn`` with 0-based positions of the first 17 replaced, check digit recomputed."""
    body = list(idn[:17])
    for i, c in changes.items():
        body[i] = c
    return "".join(body) + check_digit("".join(body))


# --- hukou_not_found --------------------------------------------------------------------

# Positions 14–15 (0-based) are the two free digits of the sequence code: "12".
X1 = fixed_id("19800505", True, 60)
X2 = fixed_id("19810606", True, 60)
X3 = fixed_id("19820707", False, 60)
X4 = fixed_id("19830808", True, 60)
X5 = fixed_id("19840909", True, 60)
X6 = fixed_id("19851010", True, 60)
ONE_DIGIT = with_digits(X1, {14: "7"})
SWAPPED = with_digits(X2, {14: X2[15], 15: X2[14]})
BIO = make_id("19830808", True, 61, region="532301")
CANDIDATES = {}


@add
@case(
    "hukou_not_found",
    fires=("HKN1", "HKN2", "HKN3", "HKN4", "HKN5", "HKN6"),
    quiet=("HKN7", "HKN8"),
)
def _(b: Builder):
    p = b.household("HKN1", [{"id_raw": X1, "hukou": False}]).head
    b.hukou(ONE_DIGIT, name=p.name)
    p = b.household("HKN2", [{"id_raw": X2, "hukou": False}]).head
    b.hukou(SWAPPED, name=p.name)
    # Two near candidates (and both with the same birth date): no proposal.
    p = b.household("HKN3", [{"id_raw": X3, "gender": "女", "hukou": False}]).head
    b.hukou(with_digits(X3, {14: "5"}), name=p.name)
    b.hukou(with_digits(X3, {15: "9"}), name=p.name)
    # Nothing near, but exactly one with the same name, birth date and gender.
    p = b.household("HKN4", [{"id_raw": X4, "hukou": False}]).head
    b.hukou(BIO, name=p.name)
    # Two digits apart, not adjacent, other birth date: no proposal.
    p = b.household("HKN5", [{"id_raw": X5, "hukou": False}]).head
    b.hukou(with_digits(X5, {2: "9", 9: "0"}), name=p.name)
    # One digit apart but another name: no proposal.
    b.household("HKN6", [{"id_raw": X6, "hukou": False}])
    b.hukou(with_digits(X6, {14: "7"}), name="某某某")
    b.household("HKN7")  # in hukou
    b.household("HKN8", [{"id_raw": "53012219800505123", "hukou": False}])  # invalid: id_invalid


# --- hukou_name_mismatch ----------------------------------------------------------------


@add
@case("hukou_name_mismatch", fires="HKM1", quiet=("HKM2", "HKM3"))
def _(b: Builder):
    b.set_hukou(b.household("HKM1", [{"name": "张三丰"}]).head, name="张三风")
    b.set_hukou(b.household("HKM2", [{"name": "张三"}]).head, name="张 三")
    b.set_hukou(b.household("HKM3", [{"name": "阿依·木沙"}]).head, name="阿依•木沙")


# --- deceased / moved out (on or before 12-31 of the register year) --------------------


@add
@case("deceased_still_registered", fires=("DEC1", "DEC3"), quiet=("DEC2", "DEC4"))
def _(b: Builder):
    for hid, status, on in (
        ("DEC1", "死亡", date(2024, 12, 31)),
        ("DEC2", "死亡", date(2025, 1, 1)),
        ("DEC3", "死亡", None),
        ("DEC4", "迁出", date(2024, 3, 1)),
    ):
        b.set_hukou(b.household(hid, [{}, {}]).members[1], status=status, deregistered_on=on)


@add
@case("moved_out_still_registered", fires=("MOV1", "MOV3"), quiet=("MOV2", "MOV4"))
def _(b: Builder):
    for hid, status, on in (
        ("MOV1", "迁出", date(2024, 6, 1)),
        ("MOV2", "迁出", date(2025, 1, 1)),
        ("MOV3", "迁出", None),
        ("MOV4", "注销", date(2024, 1, 1)),
    ):
        b.set_hukou(b.household(hid).head, status=status, deregistered_on=on)


# --- owns_car ---------------------------------------------------------------------------


@add
@case(
    "owns_car",
    fires=("OC1", "OC4", "OC6", "OC8", "OC12", "OC13"),
    quiet=("OC2", "OC3", "OC5", "OC7", "OC9", "OC10", "OC11", "OC14"),
)
def _(b: Builder):
    b.vehicle(b.household("OC1").head, plate="云A·12345")
    for hid, vtype in (
        ("OC2", "普通二轮摩托车"),
        ("OC3", "轻型普通货车"),
        ("OC4", "重型半挂牵引车"),
        ("OC9", "三轮汽车"),
        ("OC10", "低速货车"),
        ("OC11", "轮式拖拉机"),
        ("OC13", "中型普通客车"),
        ("OC14", "微型普通货车"),
    ):
        b.vehicle(b.household(hid).head, vehicle_type=vtype)
    b.vehicle(b.household("OC5").head, vehicle_status="注销")
    # Exited in 2020: only cars first registered before 2020-01-01 count.
    b.vehicle(b.household("OC6", **EXITED).head, first_registered_on=date(2019, 12, 31))
    b.vehicle(b.household("OC7", **EXITED).head, first_registered_on=date(2020, 1, 1))
    b.vehicle(b.household("OC8", household_status="已脱贫").head)  # 脱贫年度 blank: all
    p = b.household("OC12").head
    b.vehicle(p, plate="云A·00001")
    b.vehicle(p, plate="云A·00002")


# --- owns_urban_property ----------------------------------------------------------------


@add
@case(
    "owns_urban_property",
    fires=("OUP1", "OUP4"),
    quiet=("OUP2", "OUP3", "OUP5", "OUP6", "OUP7"),
)
def _(b: Builder):
    b.property(b.household("OUP1").head, location="城关镇幸福小区3栋2单元101")
    b.property(b.household("OUP2").head, property_kind="安置房")
    b.property(b.household("OUP3").head, area_kind="农村")
    b.property(b.household("OUP4").head, property_kind="自建房", usage="商业")
    b.property(b.household("OUP5", **EXITED).head)
    b.property(b.household("OUP6").head, property_kind="安置房", usage="商业")
    b.property(b.household("OUP7").head, property_kind="自建房", usage="住宅")


# --- dangerous_house_unrecorded ---------------------------------------------------------


@add
@case(
    "dangerous_house_unrecorded",
    fires=("DHU1", "DHU2", "DHU6"),
    quiet=("DHU3", "DHU4", "DHU5", "DHU7"),
)
def _(b: Builder):
    b.house_safety(b.household("DHU1").head, grade="C级")
    b.house_safety(b.household("DHU2", **EXITED).head, grade="D级", renovation_status="改造中")
    b.house_safety(b.household("DHU3").head, renovation_status="已竣工")
    p = b.household("DHU4").head  # latest appraisal B级
    b.house_safety(p, grade="D级", appraised_on=date(2021, 1, 1))
    b.house_safety(p, grade="B级", appraised_on=date(2023, 1, 1))
    b.house_safety(b.household("DHU5", is_dangerous_house=True).head)
    p = b.household("DHU6").head  # latest C级
    b.house_safety(p, grade="A级", appraised_on=date(2021, 1, 1))
    b.house_safety(p, grade="C级", appraised_on=date(2024, 5, 1))
    # A member who is not the head: the appraisal is of the head's house.
    b.house_safety(b.household("DHU7", [{}, {}]).members[1])


# --- business_owner (个体工商户 from 10 万元) ---------------------------------------------


@add
@case(
    "business_owner",
    fires=("BO1", "BO3", "BO8", "BO9"),
    quiet=("BO2", "BO4", "BO5", "BO6", "BO7"),
)
def _(b: Builder):
    b.business(b.household("BO1").head, entity_name="云岭县兴旺商贸有限公司")
    b.business(
        b.household("BO2").head,
        entity_type="个体工商户",
        role="经营者",
        registered_capital_10k=Decimal("9.99"),
    )
    b.business(
        b.household("BO3").head, entity_type="个体工商户", role="经营者", registered_capital_10k=10
    )
    b.business(b.household("BO4").head, entity_type="农民专业合作社", registered_capital_10k=100)
    b.business(b.household("BO5").head, role="成员")
    b.business(b.household("BO6").head, registration_status="注销")
    b.business(b.household("BO7", **EXITED).head)
    b.business(
        b.household("BO8").head, entity_type="个人独资企业", role="投资人", registered_capital_10k=1
    )
    b.business(b.household("BO9").head, entity_type="合伙企业", role="股东")


# --- public_employee --------------------------------------------------------------------


@add
@case("public_employee", fires=("PE1", "PE2"), quiet=("PE3", "PE4", "PE5"))
def _(b: Builder):
    b.social_insurance(
        b.household("PE1").head,
        insurance_kind="机关事业单位养老保险",
        employer="云岭县某局",
        employer_kind="机关",
        monthly_wage_base=6000,
    )
    b.social_insurance(
        b.household("PE2", **EXITED).head,
        insurance_kind="工伤保险",
        employer="云岭县某中学",
        employer_kind="事业单位",
    )
    b.social_insurance(
        b.household("PE3").head,
        insurance_kind="机关事业单位养老保险",
        employer_kind="机关",
        year=2023,
    )
    b.social_insurance(
        b.household("PE4").head,
        insurance_kind="机关事业单位养老保险",
        employer_kind="机关",
        enrolment_status="领取待遇",
    )
    b.social_insurance(
        b.household("PE5").head,
        insurance_kind="企业职工基本养老保险",
        employer_kind="企业",
        monthly_wage_base=2000,
    )


# --- tax_income_exceeds_register (> 10 % and > 3,000 yuan) -------------------------------


@add
@case("tax_income_exceeds_register", fires=("TAX1", "TAX4"), quiet=("TAX2", "TAX3", "TAX5"))
def _(b: Builder):
    h = b.household("TAX1", [{}, {}], wage_income=20000)
    b.tax(h.members[0], "10000")
    b.tax(h.members[1], "13000.01")
    h = b.household("TAX2", [{}, {}], wage_income=20000)
    b.tax(h.members[0], 10000)
    b.tax(h.members[1], 13000)
    b.tax(b.household("TAX3", wage_income=30000, business_income=10000).head, 44000)
    b.tax(b.household("TAX4", wage_income=30000, business_income=10000).head, "44000.01")
    b.tax(b.household("TAX5", wage_income=20000).head, 90000, tax_year=2023)


# --- wage_exceeds_register --------------------------------------------------------------


@add
@case("wage_exceeds_register", fires="WAG1", quiet=("WAG2", "WAG3"))
def _(b: Builder):
    for hid, base, status in (
        ("WAG1", 2000, "参保缴费"),  # 24,000 vs 20,000
        ("WAG2", Decimal("1916.66"), "参保缴费"),  # 22,999.92: 2,999.92 over
        ("WAG3", 9000, "暂停缴费"),
    ):
        p = b.household(hid, wage_income=20000).head
        b.social_insurance(
            p,
            insurance_kind="企业职工基本养老保险",
            employer="某公司",
            employer_kind="企业",
            monthly_wage_base=base,
            enrolment_status=status,
        )


# --- pension_enrolment_mismatch ---------------------------------------------------------


@add
@case("pension_enrolment_mismatch", fires=("PEM1", "PEM2"), quiet=("PEM3", "PEM4"))
def _(b: Builder):
    b.household("PEM1", [{"pension_record": False}])
    p = b.household("PEM2", [{"has_pension_insurance": False}]).head
    b.social_insurance(p, insurance_kind="企业职工基本养老保险", enrolment_status="终止参保")
    p = b.household("PEM3", [{"has_pension_insurance": False}]).head
    b.social_insurance(p, insurance_kind="失业保险")
    p = b.household("PEM4", [{"pension_record": False}]).head
    b.social_insurance(p, insurance_kind="城乡居民基本养老保险", enrolment_status="领取待遇")


# --- pension_insurance_missing (16–59 at 31 Dec) ----------------------------------------

NO_PENSION = {"has_pension_insurance": False, "relation": "之子"}


@add
@case(
    "pension_insurance_missing",
    fires=("PIM1", "PIM3"),
    quiet=("PIM2", "PIM4", "PIM5", "PIM6", "PIM7"),
)
def _(b: Builder):
    b.household("PIM1", [{}, {"birth": "20081231", **NO_PENSION}])  # 16
    b.household("PIM2", [{}, {"birth": "20090101", **NO_PENSION}])  # 15
    b.household("PIM3", [{}, {"birth": "19650101", **NO_PENSION}])  # 59
    b.household("PIM4", [{}, {"birth": "19641231", **NO_PENSION}])  # 60
    b.household("PIM5", [{}, {"birth": "20040101", "school_status": "本科二年级", **NO_PENSION}])
    h = b.household("PIM6", [{}, {"birth": "19900101", **NO_PENSION}])
    b.social_insurance(
        h.members[1], insurance_kind="企业职工基本养老保险", enrolment_status="暂停缴费"
    )
    b.household("PIM7", [{}, {"birth": "19900101", "pension_record": False}])  # register says 是


# --- the module's warehouse -------------------------------------------------------------


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    b = Builder()
    for c in CASES:
        c.build(b)
    con = b.write(tmp_path_factory.mktemp("rules_b") / "wh.duckdb")
    run = run_rules(con, RUN_DATE)
    yield con, run, findings_by_household(con)
    con.close()


def test_every_section_b_rule_ran(wh):
    _, run, _ = wh
    codes = {r.code for r in departments.RULES}
    assert [r.code for r in run.results if r.code in codes and not r.ran] == []
    assert {c.code for c in CASES} == codes


@pytest.mark.parametrize(("code", "household", "fires"), expectations(CASES))
def test_rule_fires_or_not(wh, code, household, fires):
    _, _, found = wh
    assert bool(found.get((code, household))) is fires, found.get((code, household))


def _one(wh, code, household):
    rows = wh[2][(code, household)]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize(
    ("household", "proposal"),
    [
        ("HKN1", ONE_DIGIT),
        ("HKN2", SWAPPED),
        ("HKN3", None),
        ("HKN4", BIO),
        ("HKN5", None),
        ("HKN6", None),
    ],
)
def test_hukou_not_found_proposes_the_likely_number(wh, household, proposal):
    desc = _one(wh, "hukou_not_found", household)["description"]
    assert "在公安户籍库中无记录" in desc
    if proposal:
        assert desc.endswith(f"；疑似正确号码：{proposal}")
    else:
        assert "疑似正确号码" not in desc


def test_owns_car_text(wh):
    oc = _one(wh, "owns_car", "OC1")
    assert oc["evidence"].startswith("车管：云A·12345 小型轿车，2022-05-10 初次登记")
    assert oc["category"] == "疑似错评" and oc["department"] == "公安"
    assert "早于脱贫年度 2020 年" in _one(wh, "owns_car", "OC6")["description"]
    assert "脱贫年度未填" in _one(wh, "owns_car", "OC8")["description"]
    two = wh[2][("owns_car", "OC12")]
    assert len({r["problem_id"] for r in two}) == 2


def test_category_follows_household_status(wh):
    assert _one(wh, "dangerous_house_unrecorded", "DHU1")["category"] == "保障缺失"
    assert _one(wh, "dangerous_house_unrecorded", "DHU2")["category"] == "疑似错退"
    assert "C级（2024-05-01）" in _one(wh, "dangerous_house_unrecorded", "DHU6")["description"]


def test_summing_rules_name_the_largest_member(wh):
    tax = _one(wh, "tax_income_exceeds_register", "TAX1")
    assert tax["description"] == (
        "家庭成员2024年个人所得税收入额合计 23,000.01 元，高于登记的工资性收入与生产经营性收入之和 "
        "20,000 元（超出 3,000.01 元，15.0%）"
    )
    assert tax["evidence"].count("元") == 2  # every member's amount
    assert tax["evidence"].index("13,000.01") < tax["evidence"].index("10,000")
    assert tax["name"] in tax["evidence"].split("；")[0]
    wag = _one(wh, "wage_exceeds_register", "WAG1")
    assert "合计 24,000 元" in wag["description"] and wag["name"]


def test_hukou_status_texts(wh):
    assert _one(wh, "deceased_still_registered", "DEC1")["description"] == (
        "公安户籍库登记该人员已死亡（注销日期 2024-12-31），2024年度仍登记为家庭成员"
    )
    assert "注销日期 未填" in _one(wh, "moved_out_still_registered", "MOV3")["description"]
    assert "张三风" in _one(wh, "hukou_name_mismatch", "HKM1")["description"]


def test_business_and_property_texts(wh):
    assert _one(wh, "business_owner", "BO1")["description"].endswith(
        "为有限责任公司“云岭县兴旺商贸有限公司”的法定代表人"
    )
    assert "注册资本 10 万元" in _one(wh, "business_owner", "BO3")["evidence"]
    assert "城关镇幸福小区3栋2单元101" in _one(wh, "owns_urban_property", "OUP1")["description"]
