"""Section A of rules.md (inside the register): for each rule, households that must
fire and near misses that must not, at the boundary of every threshold.

Working year 2024 (the latest register year); 2023/2022 rows only feed the
year-over-year rules. One warehouse for the whole module, rules run once.
"""

from __future__ import annotations

import pytest

from checks.engine import run_rules
from checks.rules import register
from core.idcard import check_digit
from tests.rules_fixtures import (
    RUN_DATE,
    Builder,
    case,
    expectations,
    findings_by_household,
    make_id,
)


def fixed_id(birth: str, male: bool, n: int) -> str:
    # Another county code than the builder's own numbers: never the same by accident.
    return make_id(birth, male, n, region="530122")


CASES = []


def add(c):
    CASES.append(c)
    return c


def child(birth: str, **kw):
    return {"birth": birth, "relation": "之子", **kw}


# --- id_invalid -------------------------------------------------------------------------

VALID = fixed_id("19800505", True, 900)
BAD_CHECK = VALID[:17] + ("0" if VALID[17] != "0" else "1")
BODY_FUTURE = "530102" + "20250101" + "123"
BODY_PROVINCE = "990102" + "19800505" + "123"
BODY_END = "530102" + "20241231" + "123"


def _with_check(body: str) -> str:
    return body + check_digit(body)


@add
@case("id_invalid", fires=("IDI1", "IDI2", "IDI3", "IDI4"), quiet=("IDI5", "IDI6", "IDI7", "IDI8"))
def _(b: Builder):
    b.household("IDI1", [{"id_raw": BAD_CHECK}])
    b.household("IDI2", [{"id_raw": "5.30102198005051E+17", "id_numeric": True}])
    b.household("IDI3", [{"id_raw": _with_check(BODY_FUTURE)}])
    b.household("IDI4", [{"id_raw": _with_check(BODY_PROVINCE)}])
    # An old 15-digit number converts exactly; full-width digits and a lowercase x are fine.
    b.household("IDI5", [{"id_raw": "530102800505123"}])
    b.household("IDI6", [{"id_raw": "ABC", "id_type": "残疾人证"}])
    b.household("IDI7", [{"id_raw": _with_check(BODY_END)}])
    fw = fixed_id("19800505", True, 901)
    b.household(
        "IDI8", [{"id_raw": "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in fw)}]
    )


# --- id_duplicate -----------------------------------------------------------------------

DUP = fixed_id("19700101", True, 902)


@add
@case("id_duplicate", fires=("DUP1", "DUP2", "DUP3"), quiet=("DUP4",))
def _(b: Builder):
    b.household("DUP1", [{"id_raw": DUP}])
    b.household("DUP2", [{"id_raw": DUP}], township="石门乡", village="龙泉村")
    # Listed twice in one household: one finding.
    b.household(
        "DUP3",
        [
            {},
            {"id_raw": fixed_id("19990101", True, 903)},
            {"id_raw": fixed_id("19990101", True, 903)},
        ],
    )
    # The same person in 2023 and 2024 is not a duplicate.
    h = b.household("DUP4")
    b.copy_year(h, 2023)


# --- gender_id_mismatch -----------------------------------------------------------------


@add
@case("gender_id_mismatch", fires="GEN1", quiet="GEN2")
def _(b: Builder):
    b.household("GEN1", [{"id_raw": fixed_id("19800505", True, 904), "gender": "女"}])
    b.household("GEN2", [{"id_raw": fixed_id("19800505", False, 905), "gender": "女"}])


# --- household_head_invalid -------------------------------------------------------------


@add
@case("household_head_invalid", fires=("HHD1", "HHD2"), quiet="HHD3")
def _(b: Builder):
    b.household("HHD1", [{"relation": "配偶"}, {"relation": "之子"}])
    b.household("HHD2", [{}, {"relation": "户主"}])
    b.household("HHD3", [{}, {"relation": "配偶"}, child("20000101")])


# --- household_size_mismatch ------------------------------------------------------------


@add
@case("household_size_mismatch", fires=("HSZ1", "HSZ2"), quiet="HSZ3")
def _(b: Builder):
    b.household("HSZ1", [{}, {}], household_size=3)
    b.household("HSZ2", [{}, {"household_status": "已脱贫"}])
    b.household("HSZ3", [{}, {}], household_size=2)


# --- income_arithmetic (tolerance 1 yuan) -----------------------------------------------


@add
@case("income_arithmetic", fires=("INA1", "INA3", "INA4"), quiet=("INA2", "INA5", "INA6"))
def _(b: Builder):
    b.household("INA1", wage_income=20000, household_net_income=20002)
    b.household("INA2", wage_income=20000, household_net_income=20001)
    b.household("INA3", [{}, {}], wage_income=20000, per_capita_net_income="10001.01")
    b.household(
        "INA4",
        wage_income=20000,
        transfer_income=1000,
        dibao_payment=800,
        pension_payment=300,
        household_type="低保户",
    )
    b.household(
        "INA5",
        wage_income=20000,
        transfer_income=1100,
        dibao_payment=800,
        pension_payment=300,
        household_type="低保户",
    )
    b.household("INA6", [{}, {}], wage_income=20000, per_capita_net_income="10001.00")


# --- income_unchanged -------------------------------------------------------------------


@add
@case("income_unchanged", fires=("INU1", "INU2", "INU6"), quiet=("INU3", "INU4", "INU5"))
def _(b: Builder):
    h = b.household("INU1", wage_income=5230)
    b.copy_year(h, 2023)
    h = b.household("INU2", wage_income=5230)
    b.copy_year(h, 2023)
    b.copy_year(h, 2022)
    h = b.household("INU3", wage_income=5231, per_capita_net_income=5231)
    b.copy_year(h, 2023, per_capita_net_income=5230)
    h = b.household("INU4", wage_income=0)
    b.copy_year(h, 2023)
    h = b.household("INU5", wage_income=5230)  # 2022 equal, 2023 different
    b.copy_year(h, 2023, per_capita_net_income=6000)
    b.copy_year(h, 2022)
    h = b.household("INU6", wage_income=5230)  # 2021 equal but 2022 broke the run
    b.copy_year(h, 2023)
    b.copy_year(h, 2022, per_capita_net_income=4000)
    b.copy_year(h, 2021)


# --- grade_stuck ------------------------------------------------------------------------


@add
@case("grade_stuck", fires="GRS1", quiet=("GRS2", "GRS3", "GRS4", "GRS5"))
def _(b: Builder):
    for hid, y23, y24 in (
        ("GRS1", "小学三年级", "小学三年级"),
        ("GRS2", "小学二年级", "小学三年级"),
        ("GRS3", "学前教育", "学前教育"),
        ("GRS4", "非在校生", "非在校生"),
        ("GRS5", "研究生", "研究生"),
    ):
        h = b.household(hid, [{}, child("20150301", school_status=y24)])
        b.copy_year(h, 2023, members=[{}, {"school_status": y23}])


# --- age_school_mismatch (age at 1 Sep, tolerance 3 years) ------------------------------


@add
@case("age_school_mismatch", fires=("AGS1", "AGS3", "AGS5"), quiet=("AGS2", "AGS4", "AGS6"))
def _(b: Builder):
    b.household("AGS1", [{}, child("20140901", school_status="小学一年级")])  # 10 vs 6
    b.household("AGS2", [{}, child("20140902", school_status="小学一年级")])  # 9
    b.household("AGS3", [{}, child("20140801", school_status="学前教育")])  # 10 vs 3–6
    b.household("AGS4", [{}, child("20240101", school_status="学前教育")])  # 0 = 3 − 3
    b.household("AGS5", [{}, child("20100101", school_status="本科一年级")])  # 14 vs 18
    b.household("AGS6", [{}, child("20090901", school_status="本科一年级")])  # 15


# --- compulsory_education_dropout (6–15 at 1 Sep) --------------------------------------


@add
@case(
    "compulsory_education_dropout",
    fires=("EDU1", "EDU3", "EDU5"),
    quiet=("EDU2", "EDU4", "EDU6"),
)
def _(b: Builder):
    b.household("EDU1", [{}, child("20080902")])  # 15
    b.household("EDU2", [{}, child("20080901")])  # 16
    b.household("EDU3", [{}, child("20180901")])  # 6
    b.household("EDU4", [{}, child("20180902")])  # 5
    b.household("EDU5", [{}, child("20120101", health="残疾")])
    b.household("EDU6", [{}, child("20120101", school_status="小学六年级")])


# --- medical_insurance_missing ----------------------------------------------------------


@add
@case("medical_insurance_missing", fires="MED1", quiet=("MED2", "MED3"))
def _(b: Builder):
    b.household("MED1", [{}, {"has_medical_insurance": False}])
    b.household("MED2", [{"has_medical_insurance": None}])
    b.household("MED3", [{}])


# --- exited_below_income_line (2021 onward: 6000) ---------------------------------------


@add
@case("exited_below_income_line", fires=("EXI1", "EXI4"), quiet=("EXI2", "EXI3"))
def _(b: Builder):
    b.household("EXI1", wage_income=5999, household_status="已脱贫", exit_year=2019)
    b.household("EXI2", wage_income=6000, household_status="已脱贫", exit_year=2019)
    b.household("EXI3", wage_income=3000, household_status="未脱贫")
    b.household("EXI4", wage_income="5999.99", household_status="风险已消除", exit_year=2022)


# --- exited_without_guarantees ----------------------------------------------------------

EXITED = {"household_status": "已脱贫", "exit_year": 2019}


@add
@case(
    "exited_without_guarantees",
    fires=("EXG1", "EXG2", "EXG3", "EXG4"),
    quiet=("EXG5", "EXG6", "EXG7"),
)
def _(b: Builder):
    b.household("EXG1", is_dangerous_house=True, **EXITED)
    b.household("EXG2", [{}, child("20140101")], **EXITED)
    b.household("EXG3", has_safe_water=False, **EXITED)
    b.household("EXG4", [{}, {"has_medical_insurance": False}], **EXITED)
    b.household("EXG5", is_dangerous_house=True, household_status="未脱贫")
    b.household("EXG6", [{}, child("20140101", school_status="小学五年级")], **EXITED)
    b.household("EXG7", [{}, child("20080901")], **EXITED)  # 16: past compulsory age


# --- welfare_payment_inconsistent -------------------------------------------------------


@add
@case(
    "welfare_payment_inconsistent",
    fires=("WEL1", "WEL3", "WEL4", "WEL5"),
    quiet=("WEL2", "WEL6", "WEL7"),
)
def _(b: Builder):
    b.household("WEL1", household_type="低保户")
    b.household("WEL2", household_type="低保户", transfer_income=1200, dibao_payment=1200)
    b.household("WEL3", transfer_income=100, dibao_payment=100)
    b.household("WEL4", household_type="特困供养户")
    b.household("WEL5", transfer_income=500, destitute_payment=500)
    b.household("WEL6", household_type="特困供养户", transfer_income=5000, destitute_payment=5000)
    b.household("WEL7")


# --- phone_invalid ----------------------------------------------------------------------


@add
@case(
    "phone_invalid",
    fires=("PHN1", "PHN4", "PHN5", "PHN7", "PHN8", *(f"PHS{i}" for i in range(6))),
    quiet=("PHN2", "PHN3", "PHN6", *(f"PHQ{i}" for i in range(5))),
)
def _(b: Builder):
    b.household("PHN1", phone="1234567")
    b.household("PHN2", phone="0871-65123456")
    b.household("PHN3", phone="13812345678")
    b.household("PHN4", phone="1381234567")
    b.household("PHN5", phone="12812345678")
    b.household("PHN6", phone="6512345")
    b.household("PHN7", phone="0871-651234")
    b.household("PHN8", phone="")
    for i in range(6):  # 6 households > 5
        b.household(f"PHS{i}", phone="13900000006")
    for i in range(5):
        b.household(f"PHQ{i}", phone="13900000005")


# --- village_stats_mismatch (its own place: 石门乡) ------------------------------------

VILLAGE_ROWS = [
    # village, group, households_total, persons_total, registered hh, registered persons
    ("青松村", "一组", 20, 80, 2, 3),
    ("青松村", "二组", 10, 40, 1, 1),
    ("青松村", None, 30, 120, 3, 4),
    ("白云村", "一组", 40, 160, 1, 3),  # register: 1 household, 2 persons
    ("白云村", None, 50, 160, 1, 2),  # total row: 总户数 50 ≠ 40 (and 劳动力), 人口 2 ≠ 3
]


@add
@case("village_stats_mismatch")
def _(b: Builder):
    kw = {"township": "石门乡"}
    b.household("VQ1", [{}, {}], village="青松村", village_group="一组", **kw)
    b.household("VQ2", village="青松村", village_group="一组", **kw)
    b.household("VQ3", village="青松村", village_group="二组", **kw)
    b.household("VB1", [{}, {}], village="白云村", village_group="一组", **kw)
    for village, group, hh_total, p_total, reg_hh, reg_p in VILLAGE_ROWS:
        b.villages(
            township="石门乡",
            village=village,
            village_group=group,
            is_total=group is None,
            households_total=hh_total,
            persons_total=p_total,
            registered_households=reg_hh,
            registered_persons=reg_p,
            dibao_households=0,
            labour_force=hh_total,
        )


# --- the module's warehouse -------------------------------------------------------------


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    b = Builder()
    for c in CASES:
        c.build(b)
    con = b.write(tmp_path_factory.mktemp("rules_a") / "wh.duckdb", feeds=("register", "villages"))
    run = run_rules(con, RUN_DATE)
    yield con, run, findings_by_household(con)
    con.close()


def test_every_section_a_rule_ran(wh):
    _, run, _ = wh
    assert [
        r.code for r in run.results if not r.ran and r.code in {x.code for x in register.RULES}
    ] == []
    assert {c.code for c in CASES} == {r.code for r in register.RULES}


@pytest.mark.parametrize(("code", "household", "fires"), expectations(CASES))
def test_rule_fires_or_not(wh, code, household, fires):
    _, _, found = wh
    assert bool(found.get((code, household))) is fires, found.get((code, household))


def _one(wh, code, household):
    rows = wh[2][(code, household)]
    assert len(rows) == 1, rows
    return rows[0]


def test_id_invalid_descriptions(wh):
    assert "校验位错误" in _one(wh, "id_invalid", "IDI1")["description"]
    excel = _one(wh, "id_invalid", "IDI2")
    assert "Excel" in excel["description"] and "无法恢复" in excel["description"]
    assert excel["id_number"] == "5.30102198005051E+17"  # raw value, not a guess
    assert "晚于登记年度 2024 年" in _one(wh, "id_invalid", "IDI3")["description"]
    assert "省级行政区划代码" in _one(wh, "id_invalid", "IDI4")["description"]
    # The checksum case prints the (wrong) 18 characters as typed.
    assert _one(wh, "id_invalid", "IDI1")["id_number"] == BAD_CHECK


def test_id_duplicate_names_other_households(wh):
    d1 = _one(wh, "id_duplicate", "DUP1")
    assert d1["description"] == f"证件号码 {DUP} 在2024年度登记中出现 2 次"
    assert "其他乡(镇)另有 1 条登记使用该号码" in d1["evidence"] and "龙泉村" not in d1["evidence"]
    assert "本户重复登记 2 条" in _one(wh, "id_duplicate", "DUP3")["evidence"]


def test_person_and_household_level_naming(wh):
    med = _one(wh, "medical_insurance_missing", "MED1")
    assert med["name"] and med["name"] != med["head_name"]
    hh = _one(wh, "household_size_mismatch", "HSZ1")
    assert hh["name"] is None and hh["head_name"]
    assert hh["description"] == "家庭人口数登记为 3 人，实有成员记录 2 条"
    assert "户状态（已脱贫/未脱贫）" in _one(wh, "household_size_mismatch", "HSZ2")["description"]


def test_income_descriptions(wh):
    assert _one(wh, "income_unchanged", "INU1")["description"] == (
        "年人均纯收入 2023年与2024年均为 5,230 元，连续 2 年无变化"
    )
    assert _one(wh, "income_unchanged", "INU2")["description"] == (
        "年人均纯收入 2022年至2024年均为 5,230 元，连续 3 年无变化"
    )
    assert "连续 2 年" in _one(wh, "income_unchanged", "INU6")["description"]
    assert "计算应为 20,000 元" in _one(wh, "income_arithmetic", "INA1")["description"]
    assert "超过转移性收入 1,000 元" in _one(wh, "income_arithmetic", "INA4")["description"]
    assert _one(wh, "exited_below_income_line", "EXI1")["description"] == (
        "已脱贫户（脱贫年度 2019）2024年年人均纯收入 5,999 元，低于当年标准 6,000 元"
    )
    assert "5,999.99 元" in _one(wh, "exited_below_income_line", "EXI4")["description"]


def test_school_descriptions(wh):
    assert "送教上门" in _one(wh, "compulsory_education_dropout", "EDU5")["description"]
    assert "送教上门" not in _one(wh, "compulsory_education_dropout", "EDU1")["description"]
    assert _one(wh, "age_school_mismatch", "AGS1")["description"] == (
        "按2024年9月1日计年龄 10 岁，在校生状况为“小学一年级”，该年级一般为 6 岁"
    )
    assert "3–6 岁" in _one(wh, "age_school_mismatch", "AGS3")["description"]
    assert "义务教育阶段未在校" in _one(wh, "exited_without_guarantees", "EXG2")["description"]
    assert "连续两年" in _one(wh, "grade_stuck", "GRS1")["description"]


def test_phone_descriptions(wh):
    assert "同时登记在 6 户" in _one(wh, "phone_invalid", "PHS0")["description"]
    assert "既不是11位手机号码" in _one(wh, "phone_invalid", "PHN5")["description"]


def test_village_stats(wh):
    con = wh[0]
    rows = con.execute(
        "SELECT village, village_group, description FROM findings "
        "WHERE rule_code = 'village_stats_mismatch' ORDER BY village, village_group NULLS FIRST"
    ).fetchall()
    assert [(v, g) for v, g, _ in rows] == [("白云村", None), ("白云村", "一组")]
    total, group = rows[0][2], rows[1][2]
    assert "总户数 合计行 50、各组之和 40" in total
    assert "建档立卡人口数 合计行 2、各组之和 3" in total
    assert "建档立卡人口数 3，登记系统 2 人" in group and "建档立卡户数" not in group


def test_working_year_only(wh):
    con = wh[0]
    assert con.execute("SELECT DISTINCT year FROM findings").fetchall() == [(2024,)]


def test_id_invalid_proposes_the_hukou_number_of_a_typo(tmp_path):
    from datetime import date as _date

    right = fixed_id("19800505", True, 950)
    wrong_check = right[:17] + ("0" if right[17] != "0" else "1")
    other = fixed_id("19800505", True, 960)
    typo = other[:14] + str((int(other[14]) + 1) % 10) + other[15:]  # body typo, old check digit
    twin = typo[:15] + str((int(typo[15]) + 1) % 10) + typo[16]
    twin = twin + check_digit(twin)
    b = Builder()
    b.household("SUG1", [{"id_raw": wrong_check, "name": "赵建国", "hukou": False}])
    b.hukou(right, name="赵建国")
    b.household("SUG2", [{"id_raw": typo, "name": "钱建国", "hukou": False}])
    b.hukou(other, name="钱建国")
    b.hukou(twin, name="钱建国")  # two candidates fit: no proposal
    con = b.write(tmp_path / "wh.duckdb")
    run_rules(con, _date(2025, 3, 1))
    desc = dict(
        con.execute(
            "SELECT household_id, description FROM findings WHERE rule_code = 'id_invalid'"
        ).fetchall()
    )
    assert desc["SUG1"].endswith(f"；疑似正确号码：{right}")
    assert "疑似正确号码" not in desc["SUG2"]
