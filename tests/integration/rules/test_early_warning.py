"""Section E (部门筛查预警, monitoring.md §4): for each rule, households (and people
outside the register) that must fire and near misses that must not, at each
boundary of the spec's precise readings: 自付 just under the line, certificate
三级, 学籍 转出 with an 在读 record at a new school, 低保 ended before the year end,
停保, 城市低保, outsiders placed to township + village / township only / not at all,
a person with two hukou rows.

Working year 2024, run date 2025-03-01; register households are today's export.
A case key is a household id, or a label of a person outside the register
(``OUT`` maps it to the ID number).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from checks.engine import run_rules
from checks.rules import RULES_BY_CODE, early_warning
from checks.thresholds import load_thresholds
from rectification.form import UNPLACED_TOWNSHIP
from tests.rules_fixtures import RUN_DATE, Builder, Case, case

CASES: list[Case] = []
OUT: dict[str, str] = {}
"""Label of a person outside the register → their ID number."""


def add(c: Case) -> Case:
    CASES.append(c)
    return c


_TODAY: dict[str, Any] = {
    "household_type": None,
    "household_status": None,
    "household_kind": "一般农户",
    "monitoring_category": None,
    "monitoring_from": None,
    "risk_eliminated": None,
    "monitoring_to": None,
    "elimination_mode": None,
    **{f"risk_{i}": None for i in range(1, 6)},
    "measure_comprehensive": None,
    "dibao_status": "未享受",
    "destitute_status": "未享受",
}
ORDINARY: dict[str, Any] = {}
POOR = {"household_kind": "脱贫户"}
MONITORED = {
    "household_kind": "监测户",
    "monitoring_category": "脱贫不稳定户",
    "monitoring_from": date(2023, 6, 1),
    "risk_eliminated": False,
    "risk_1": "因务工就业不稳",
}
ELIMINATED = MONITORED | {
    "risk_eliminated": True,
    "monitoring_to": date(2024, 6, 1),
    "elimination_mode": "帮扶消除",
}


def _stock_keys() -> frozenset[str]:
    b = Builder(auto_hukou=False, auto_pension=False)
    b.household("probe")
    return frozenset(b.rows["register"][0]) | {"birth", "id_raw", "id_numeric", "hukou"}


_STOCK = _stock_keys()
"""Member fields the stock builder knows; the monitoring fields are set after."""


def hh(
    b: Builder,
    hid: str,
    members: list[dict[str, Any]] | None = None,
    kind: dict[str, Any] = ORDINARY,
    township: str = "城关镇",
    village: str = "红星村",
    **kw: Any,
):
    """A household of today's export (every member row carries the household's
    monitoring fields); returns its members."""
    members = members if members is not None else [{}]
    today = _TODAY | kind | kw
    house = b.household(
        hid,
        [{k: v for k, v in m.items() if k in _STOCK} for m in members],
        household_type=today.pop("household_type"),
        household_status=today.pop("household_status"),
        township=township,
        village=village,
    )
    rows = [r for r in b.rows["register"] if r["household_id"] == hid]
    for row, m in zip(rows, members, strict=True):
        row.update(today | {k: v for k, v in m.items() if k not in _STOCK})
    return house.members


def outsider(b: Builder, label: str, address: str | None, birth: str = "19700101", **hukou):
    """A county resident outside the register (hukou row with ``address``)."""
    idn = b.new_id(birth)
    OUT[label] = idn
    if address is not False:
        b.hukou(idn, name="外" + label, address=address, **hukou)
    return idn


# --- dibao_not_monitored -------------------------------------------------------------


@add
@case(
    "dibao_not_monitored",
    fires=(
        "DNM1",
        "DNM2",
        "DNM10",
        "oTV",
        "oT",
        "oU",
        "o2T",
        "oDereg",
        "oTwo",
        "oLong",
        "oTie",
        "oLonger",
    ),
    quiet=(
        "DNM3",
        "DNM4",
        "DNM5",
        "DNM6",
        "DNM7",
        "DNM8",
        "DNM9",
        "DNM11",
        "DNM12",
        "oDead",
        "oNoHukou",
    ),
)
def _(b: Builder):
    b.civil_affairs(hh(b, "DNM1", township="河口乡", village="新民村")[0])
    b.civil_affairs(hh(b, "DNM2")[0], assistance_kind="特困供养")
    b.civil_affairs(hh(b, "DNM3", kind=POOR)[0])
    b.civil_affairs(hh(b, "DNM4", kind=MONITORED)[0])
    b.civil_affairs(hh(b, "DNM5")[0], end_on=date(2024, 12, 30), status="终止")
    b.civil_affairs(hh(b, "DNM6")[0], status="停保")
    b.civil_affairs(hh(b, "DNM7")[0], assistance_kind="城市低保")
    b.civil_affairs(hh(b, "DNM8")[0], assistance_kind="临时救助")
    b.civil_affairs(hh(b, "DNM9")[0], start_on=date(2025, 1, 5))
    b.civil_affairs(hh(b, "DNM10")[0], end_on=date(2024, 12, 31))
    p = hh(b, "DNM11")[0]
    b.set_hukou(p, status="迁出", deregistered_on=date(2024, 6, 1))
    b.civil_affairs(p)
    b.civil_affairs(hh(b, "DNM12", kind=ELIMINATED)[0])
    # A village of 城关镇 whose name holds another's (新红星村 ⊃ 红星村).
    hh(b, "DNM-NEW", township="城关镇", village="新红星村")
    hh(b, "DNM-DF", township="河口乡", village="东风村")
    hh(b, "DNM-HQ", township="河口乡", village="红旗水库村")
    for label, address, extra in (
        ("oTV", "云岭县城关镇红星村5组12号", {}),
        ("oT", "云岭县城关镇幸福社区8栋", {}),
        ("oU", "昆明市五华区某某路3号", {}),
        ("o2T", "云岭县城关镇河口乡交界处", {}),
        (
            "oDereg",
            "云岭县河口乡新民村2组",
            {"status": "迁出", "deregistered_on": date(2025, 2, 1)},
        ),
        ("oDead", "云岭县河口乡新民村2组", {"status": "死亡", "deregistered_on": date(2024, 5, 1)}),
        ("oLong", "云岭县城关镇新红星村1组", {}),
        # Two villages of the township, neither inside the other: the longer one; a tie: blank.
        ("oTie", "云岭县河口乡新民村东风村交界", {}),
        ("oLonger", "云岭县河口乡红旗水库村东风村组", {}),
    ):
        b.civil_affairs(outsider(b, label, address, **extra), name="外" + label)
    two = outsider(b, "oTwo", "云岭县河口乡新民村", status="迁出", deregistered_on=date(2023, 1, 1))
    b.hukou(two, name="外oTwo", address="云岭县城关镇红星村9组")
    b.civil_affairs(two, name="外oTwo")
    b.civil_affairs(outsider(b, "oNoHukou", False), name="外oNoHukou")


# --- dibao_record_mismatch -----------------------------------------------------------


@add
@case(
    "dibao_record_mismatch",
    fires=("DRM1", "DRM2", "DRM4", "DRM5", "DRM7", "DRM9", "DRM10"),
    quiet=("DRM3", "DRM6", "DRM8"),
)
def _(b: Builder):
    rural = {"dibao_status": "享受农村低保"}
    hh(b, "DRM1", [rural])
    b.civil_affairs(hh(b, "DRM2")[0])
    b.civil_affairs(
        hh(b, "DRM3", [{"dibao_status": "享受城市低保"}])[0], assistance_kind="城市低保"
    )
    b.civil_affairs(hh(b, "DRM4", [rural])[0], end_on=date(2024, 11, 30), status="终止")
    hh(b, "DRM5", [{"destitute_status": "享受农村特困供养"}])
    b.civil_affairs(hh(b, "DRM6", [rural])[0])
    b.civil_affairs(hh(b, "DRM7")[0], assistance_kind="特困供养")
    b.civil_affairs(hh(b, "DRM8")[0], status="停保")
    b.civil_affairs(hh(b, "DRM9", [rural])[0], status="停保")
    # The head's record does not cover the member who also enjoys 低保.
    b.civil_affairs(hh(b, "DRM10", [rural, rural])[0], covered_persons=2)


# --- high_medical_cost ----------------------------------------------------------------

HALF, FULL = Decimal("10845.50"), Decimal("21691")
CENT = Decimal("0.01")


@add
@case(
    "high_medical_cost",
    fires=("HMC1", "HMC3", "HMC7", "HMC8", "HMC9", "oHMC"),
    quiet=("HMC2", "HMC4", "HMC5", "HMC6", "HMC10", "HMC11", "oHMClow"),
)
def _(b: Builder):
    b.medical(hh(b, "HMC1", kind=POOR)[0], self_paid=HALF, total_cost=30000, fund_paid=19154.5)
    b.medical(hh(b, "HMC2", kind=POOR)[0], self_paid=HALF - CENT)
    b.medical(hh(b, "HMC3")[0], self_paid=FULL)
    b.medical(hh(b, "HMC4")[0], self_paid=FULL - CENT)
    b.medical(hh(b, "HMC5")[0], self_paid=15000)
    b.medical(hh(b, "HMC6", kind=MONITORED | {"risk_1": "因病"})[0], self_paid=30000)
    b.medical(hh(b, "HMC7", kind=MONITORED | {"risk_1": "因残"})[0], self_paid=12000)
    b.medical(hh(b, "HMC8", kind=ELIMINATED | {"risk_1": "因病"})[0], self_paid=12000)
    p = hh(b, "HMC9", kind=POOR)[0]
    b.medical(p, self_paid=6000)
    b.medical(p, self_paid=5000, insurance_kind="职工基本医疗保险")
    b.medical(hh(b, "HMC10", kind=POOR)[0], self_paid=12000, year=2023)
    p = hh(b, "HMC11")[0]
    b.set_hukou(p, status="迁出", deregistered_on=date(2024, 3, 1))
    b.medical(p, self_paid=25000)
    b.medical(outsider(b, "oHMC", "云岭县河口乡新民村3组"), name="外oHMC", self_paid=FULL)
    b.medical(outsider(b, "oHMClow", "云岭县河口乡新民村3组"), self_paid=FULL - CENT)


# --- medical_enrolment_mismatch ---------------------------------------------------------


@add
@case(
    "medical_enrolment_mismatch",
    fires=("MEM1", "MEM2", "MEM3", "MEM4", "MEM7"),
    quiet=("MEM5", "MEM6"),
)
def _(b: Builder):
    no = [{"has_medical_insurance": False}]
    hh(b, "MEM1")
    b.medical(hh(b, "MEM2")[0], enrolment_status="暂停")
    b.medical(hh(b, "MEM3")[0], insurance_kind="职工基本医疗保险")
    b.medical(hh(b, "MEM4", no)[0])
    b.medical(hh(b, "MEM5", no)[0], insurance_kind="职工基本医疗保险")
    b.medical(hh(b, "MEM6")[0])
    b.medical(hh(b, "MEM7")[0], year=2023)


# --- student_not_enrolled ---------------------------------------------------------------

ADULT: dict[str, Any] = {}


def child(birth: str, **kw: Any) -> dict[str, Any]:
    return {"birth": birth, "school_status": "小学三年级", **kw}


@add
@case(
    "student_not_enrolled",
    fires=("SNE1", "SNE2", "SNE3", "SNE7", "SNE8", "SNE10", "SNE11"),
    quiet=("SNE4", "SNE5", "SNE6", "SNE9"),
)
def _(b: Builder):
    hh(b, "SNE1", [ADULT, child("20150301")])
    b.education(hh(b, "SNE2", [ADULT, child("20150301")])[1], status="辍学")
    b.education(hh(b, "SNE3", [ADULT, child("20150301")])[1], status="休学")
    b.education(hh(b, "SNE4", [ADULT, child("20150301")])[1])
    kid = hh(b, "SNE5", [ADULT, child("20150301")])[1]
    b.education(kid, status="转出")
    b.education(kid, school="外县实验小学")
    hh(b, "SNE6", [ADULT, child("20180902", school_status="学前教育")])
    hh(b, "SNE7", [ADULT, child("20180901", school_status="小学一年级")])
    hh(b, "SNE8", [ADULT, child("20090901", school_status="九年级")])
    hh(b, "SNE9", [ADULT, child("20080901", school_status="非在校生")])
    b.education(hh(b, "SNE10", [ADULT, child("20150301")])[1], school_year=2023)
    b.education(hh(b, "SNE11", [ADULT, child("20150301")])[1], status="转出")


# --- school_status_mismatch -------------------------------------------------------------


@add
@case(
    "school_status_mismatch",
    fires=("SSM1", "SSM2", "SSM8", "SSM11"),
    quiet=("SSM3", "SSM4", "SSM5", "SSM6", "SSM7", "SSM9", "SSM10", "SSM12"),
)
def _(b: Builder):
    def kid(hid: str, registered: str, birth: str = "20150301", **edu: Any) -> None:
        b.education(hh(b, hid, [ADULT, child(birth, school_status=registered)])[1], **edu)

    kid("SSM1", "非在校生")
    kid("SSM2", "小学二年级")
    kid("SSM3", "小学三年级")
    kid("SSM4", "七年级", "20120301", stage="初中", grade="初一", school="一中")
    kid("SSM5", "八年级", "20110301", stage="初中", grade="八年级", school="一中")
    kid("SSM6", "学前教育", "20190301", stage="学前", grade="中班", school="幼儿园")
    kid("SSM7", "小学", grade="五年级")
    kid("SSM8", "七年级", "20120301", grade="六年级")
    kid("SSM9", "非在校生", "20090301", stage="初中", grade="九年级", status="毕业")
    kid("SSM10", "高中一年级", "20090301", stage="高中", grade="高一", school="二中")
    kid("SSM11", "九年级", "20100301", stage="初中", grade="初二", school="一中")
    kid("SSM12", "小学四年级", school_year=2023)


# --- disability_unrecorded --------------------------------------------------------------


@add
@case("disability_unrecorded", fires=("DUR1", "DUR4"), quiet=("DUR2", "DUR3"))
def _(b: Builder):
    b.disability(hh(b, "DUR1")[0])
    b.disability(hh(b, "DUR2", [{"health": "残疾"}])[0])
    b.disability(hh(b, "DUR3")[0], status="注销")
    b.disability(hh(b, "DUR4", [{"health": "患有大病"}])[0], level="三级")


# --- severe_disability_without_subsidy -------------------------------------------------


@add
@case(
    "severe_disability_without_subsidy",
    fires=("SDS1", "SDS4"),
    quiet=("SDS2", "SDS3", "SDS5", "SDS6", "SDS7", "SDS8", "SDS9"),
)
def _(b: Builder):
    dis = [ADULT, {"health": "残疾"}]
    b.disability(hh(b, "SDS1", dis, kind=POOR)[1])
    b.disability(
        hh(b, "SDS2", dis, kind=POOR, measure_comprehensive="低保、残疾人两项补贴")[1],
        level="一级",
    )
    b.disability(hh(b, "SDS3", dis, kind=POOR)[1], level="三级")
    b.disability(hh(b, "SDS4", dis, kind=MONITORED, measure_comprehensive="低保")[1], level="一级")
    b.disability(hh(b, "SDS5", dis)[1], level="一级")
    b.disability(hh(b, "SDS6", dis, kind=ELIMINATED)[1], level="一级")
    b.disability(hh(b, "SDS7", dis, kind=POOR)[1], status="过期")
    b.disability(hh(b, "SDS8", dis, kind=POOR, measure_comprehensive="重度残疾人护理补贴")[1])
    b.disability(hh(b, "SDS9", dis, kind=POOR, measure_comprehensive="残疾人补贴；低保")[1])


# --- new_severe_disability --------------------------------------------------------------


@add
@case(
    "new_severe_disability",
    fires=("NSD1", "NSD2", "NSD6", "oNSD"),
    quiet=("NSD3", "NSD4", "NSD5", "NSD7", "NSD8", "NSD9", "oNSD3"),
)
def _(b: Builder):
    dis = [{"health": "残疾"}]
    b.disability(hh(b, "NSD1", dis)[0], issued_on=date(2024, 1, 1))
    b.disability(hh(b, "NSD2", dis, kind=POOR)[0], level="一级", issued_on=date(2024, 12, 31))
    b.disability(hh(b, "NSD3", dis)[0], issued_on=date(2023, 12, 31))
    b.disability(hh(b, "NSD4", dis)[0], level="三级", issued_on=date(2024, 6, 1))
    b.disability(hh(b, "NSD5", dis, kind=MONITORED)[0], level="一级", issued_on=date(2024, 6, 1))
    b.disability(hh(b, "NSD6", dis, kind=ELIMINATED)[0], level="一级", issued_on=date(2024, 6, 1))
    b.disability(hh(b, "NSD7", dis)[0], issued_on=date(2025, 1, 10))
    b.disability(hh(b, "NSD8", dis)[0], issued_on=date(2024, 6, 1), status="注销")
    p = hh(b, "NSD9", dis)[0]
    b.set_hukou(p, status="迁出", deregistered_on=date(2024, 8, 1))
    b.disability(p, issued_on=date(2024, 6, 1))
    b.disability(
        outsider(b, "oNSD", "云岭县城关镇红星村2组"),
        name="外oNSD",
        category="视力",
        level="一级",
        issued_on=date(2024, 3, 15),
    )
    b.disability(
        outsider(b, "oNSD3", "云岭县城关镇红星村2组"), level="三级", issued_on=date(2024, 3, 15)
    )


# --- the module's warehouse ---------------------------------------------------------------


def expectations() -> list[tuple[str, str, bool]]:
    out = [(c.code, k, True) for c in CASES for k in c.fires]
    out += [(c.code, k, False) for c in CASES for k in c.quiet]
    return out


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    b = Builder()
    for c in CASES:
        c.build(b)
    con = b.write(tmp_path_factory.mktemp("rules_e") / "wh.duckdb")
    run = run_rules(con, RUN_DATE)
    label = {v: k for k, v in OUT.items()}
    found: dict[tuple[str, str], list[dict]] = defaultdict(list)
    cur = con.execute("SELECT * FROM findings")
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        r = dict(zip(cols, row, strict=True))
        key = r["household_id"] or label.get(r["id_number"], r["id_number"])
        found[(r["rule_code"], key)].append(r)
    yield con, run, found
    con.close()


def _one(wh, code: str, key: str) -> dict:
    rows = wh[2][(code, key)]
    assert len(rows) == 1, rows
    return rows[0]


def test_every_section_e_rule_ran(wh):
    _, run, _ = wh
    codes = {r.code for r in early_warning.RULES}
    assert [(r.code, r.reason) for r in run.results if not r.ran and r.code in codes] == []
    assert {c.code for c in CASES} == codes


@pytest.mark.parametrize(("code", "key", "fires"), expectations())
def test_rule_fires_or_not(wh, code, key, fires):
    assert bool(wh[2].get((code, key))) is fires, wh[2].get((code, key))


def test_outsiders_are_placed_by_their_hukou_address(wh):
    placed = {
        "oTV": ("城关镇", "红星村"),
        "oT": ("城关镇", None),
        "oU": (UNPLACED_TOWNSHIP, None),
        "o2T": (UNPLACED_TOWNSHIP, None),
        "oDereg": ("河口乡", "新民村"),
        "oTwo": ("城关镇", "红星村"),
        "oLong": ("城关镇", "新红星村"),
        "oTie": ("河口乡", None),
        "oLonger": ("河口乡", "红旗水库村"),
    }
    for key, place in placed.items():
        f = _one(wh, "dibao_not_monitored", key)
        assert (f["township"], f["village"]) == place, key
        assert f["household_id"] is None and f["head_name"] is None and f["village_group"] is None
        assert (f["county"], f["standing"], f["name"]) == ("云岭县", "不在册", "外" + key)
        assert f["id_number"] == OUT[key]
    f = _one(wh, "dibao_not_monitored", "oTwo")
    assert f["evidence"] == "民政：农村低保（2022-03-01 起，在保）；户籍住址 云岭县城关镇红星村9组"
    assert f["description"] == "2024年12月31日享受农村低保（民政在保），不在防返贫监测登记范围内"


def test_register_rows_carry_their_standing(wh):
    assert _one(wh, "dibao_not_monitored", "DNM1")["standing"] == "一般农户"
    assert (_one(wh, "dibao_not_monitored", "DNM1")["township"]) == "河口乡"
    assert _one(wh, "high_medical_cost", "HMC1")["standing"] == "脱贫户"
    assert _one(wh, "high_medical_cost", "HMC7")["standing"] == "监测对象"
    assert _one(wh, "high_medical_cost", "HMC8")["standing"] == "监测对象(已消除)"
    assert _one(wh, "new_severe_disability", "NSD2")["standing"] == "脱贫户"
    assert _one(wh, "new_severe_disability", "oNSD")["standing"] == "不在册"
    # Rules outside the 预警 list leave standing blank.
    assert _one(wh, "dibao_record_mismatch", "DRM1")["standing"] is None


def test_descriptions_and_evidence(wh):
    hmc = _one(wh, "high_medical_cost", "HMC1")
    assert hmc["description"] == (
        "2024年医保个人自付合计 10,845.50 元，达到本省农村居民人均可支配收入 21,691 元的 50%"
        "（10,845.50 元），所在户为脱贫户，未纳入监测"
    )
    assert (
        hmc["evidence"]
        == "医保：2024年医疗总费用 30,000 元，基金支付 19,154.50 元，个人自付 10,845.50 元"
    )
    assert "自付合计 11,000 元" in _one(wh, "high_medical_cost", "HMC9")["description"]
    out = _one(wh, "high_medical_cost", "oHMC")
    assert out["description"].endswith("的 100%（21,691 元），不在防返贫监测登记范围内")
    assert out["evidence"].endswith("；户籍住址 云岭县河口乡新民村3组")
    assert (out["township"], out["village"]) == ("河口乡", "新民村")
    drm = _one(wh, "dibao_record_mismatch", "DRM4")
    assert drm["description"] == "登记享受低保（享受农村低保），民政2024年12月31日无在保的低保记录"
    assert drm["evidence"].startswith(
        "民政：农村低保（2022-03-01 起，至 2024-11-30，终止）；登记："
    )
    assert _one(wh, "dibao_record_mismatch", "DRM2")["description"] == (
        "登记享受低保政策情况为“未享受”，民政2024年12月31日有在保的农村低保记录"
    )
    drm10 = _one(wh, "dibao_record_mismatch", "DRM10")
    assert drm10["name"] != drm10["head_name"]
    assert _one(wh, "student_not_enrolled", "SNE1")["description"] == (
        "按2024年9月1日计年龄 9 岁，处于义务教育阶段，2024-2025学年学籍无记录"
    )
    assert (
        "无在读记录（红星小学 小学三年级（辍学））"
        in (_one(wh, "student_not_enrolled", "SNE2")["description"])
    )
    assert _one(wh, "school_status_mismatch", "SSM1")["description"] == (
        "在校生状况登记为“非在校生”，2024-2025学年学籍为红星小学 小学三年级（在读）"
    )
    assert _one(wh, "disability_unrecorded", "DUR1")["description"] == (
        "持有效残疾人证（二级肢体残疾），健康状况登记为“健康”"
    )
    sds = _one(wh, "severe_disability_without_subsidy", "SDS1")
    assert sds["description"].startswith("脱贫户家庭成员 ")
    assert "（二级肢体残疾） 持有效重度残疾人证" in sds["description"]
    assert sds["name"] and sds["name"] != sds["head_name"]
    nsd = _one(wh, "new_severe_disability", "oNSD")
    assert nsd["description"] == "新办一级视力残疾（2024-03-15 发证），不在防返贫监测登记范围内"
    assert nsd["evidence"] == (
        f"残联：证号 {OUT['oNSD']}11，一级视力残疾，2024-03-15 发证，证件状态 有效"
        "；户籍住址 云岭县城关镇红星村2组"
    )


def test_enrolment_category_follows_the_case(wh):
    for key in ("MEM1", "MEM2", "MEM3", "MEM7"):
        f = _one(wh, "medical_enrolment_mismatch", key)
        assert (f["category"], f["severity"]) == ("保障缺失", "high"), key
    f = _one(wh, "medical_enrolment_mismatch", "MEM4")
    assert (f["category"], f["severity"]) == ("信息不准", "low")
    assert f["description"].startswith("登记为未参加城乡居民基本医疗保险，但医保2024年有")
    assert _one(wh, "medical_enrolment_mismatch", "MEM1")["evidence"] == "医保：2024年无参保记录"
    assert _one(wh, "medical_enrolment_mismatch", "MEM3")["evidence"] == (
        "医保：2024年 职工基本医疗保险（正常参保）"
    )


def test_categories_departments_prefixes_and_due_dates(wh):
    con = wh[0]
    rows = {
        code: rest
        for code, *rest in con.execute(
            "SELECT rule_code, any_value(problem_id), list(DISTINCT category), "
            "list(DISTINCT department), list(DISTINCT due_date - first_seen) "
            "FROM findings GROUP BY rule_code"
        ).fetchall()
    }
    due = {"high": 15, "medium": 30, "low": 60}
    for rule in early_warning.RULES:
        problem_id, categories, departments, days = rows[rule.code]
        assert problem_id.startswith(rule.prefix + "-"), rule.code
        assert departments == [rule.department], rule.code
        if rule.code != "medical_enrolment_mismatch":
            assert categories == [rule.category], rule.code
            assert days == [15 if rule.warning_list else due[rule.severity]], rule.code


def test_warning_rules_are_the_three_of_decision_1():
    warn = {r.code: r.risk_type_zh for r in early_warning.RULES if r.warning_list}
    assert warn == {
        "dibao_not_monitored": "兜底保障",
        "high_medical_cost": "因病",
        "new_severe_disability": "因残",
    }
    assert [r.code for r in early_warning.RULES if r.category == "疑似漏评"] == list(warn)


# --- deleting a feed ---------------------------------------------------------------------

FEEDS_OF = {r.code: set(r.feeds) for r in early_warning.RULES}


def _all_feeds(b: Builder) -> None:
    p = hh(b, "ALL", [ADULT, child("20150301")])
    b.civil_affairs(p[0])
    b.medical(p[0], self_paid=FULL)
    b.education(p[1])
    b.disability(p[0], issued_on=date(2024, 5, 1))


@pytest.mark.parametrize("how", ["no rows", "no file"])
def test_deleting_medical_stops_exactly_the_medical_rules(tmp_path, how):
    b = Builder()
    _all_feeds(b)
    con = b.write(tmp_path / "wh.duckdb")
    before = run_rules(con, RUN_DATE)
    if how == "no rows":
        con.execute("DELETE FROM medical")
        after = run_rules(con, RUN_DATE + timedelta(days=1))
    else:
        con.close()
        b.rows.pop("medical")
        con = b.write(tmp_path / "wh2.duckdb")
        after = run_rules(con, RUN_DATE + timedelta(days=1))
    medical = {code for code, feeds in FEEDS_OF.items() if "medical" in feeds}
    assert medical == {"high_medical_cost", "medical_enrolment_mismatch"}
    assert set(after.not_run) - set(before.not_run) == medical
    for code in FEEDS_OF:
        assert before.result(code).ran, (code, before.result(code).reason)
        assert after.result(code).ran is (code not in medical), code
    assert "医疗保障" in after.result("high_medical_cost").reason
    assert before.result("high_medical_cost").finding_count == 1
    con.close()


def test_without_hukou_the_three_warning_rules_do_not_run(tmp_path):
    b = Builder(auto_hukou=False)
    _all_feeds(b)
    con = b.write(tmp_path / "wh.duckdb")
    run = run_rules(con, RUN_DATE)
    assert {c for c in run.not_run if c in FEEDS_OF} == {
        code for code, feeds in FEEDS_OF.items() if "hukou" in feeds
    }
    assert con.execute("SELECT count(*) FROM rule_runs WHERE NOT ran").fetchone()[0] > 0
    con.close()


def test_rule_entries():
    for rule in early_warning.RULES:
        assert RULES_BY_CODE[rule.code] is rule
        assert rule.feeds[0] == "register" and len(rule.feeds) >= 2


def test_thresholds_come_from_the_config(tmp_path):
    """The cost percentages and the months of new certificates are the office's."""
    b = Builder()
    b.medical(hh(b, "T1", kind=POOR)[0], self_paid=HALF - CENT)
    b.disability(hh(b, "T2", [{"health": "残疾"}])[0], issued_on=date(2023, 12, 31))
    con = b.write(tmp_path / "wh.duckdb")
    th = load_thresholds()
    th = dataclasses.replace(
        th,
        early_warning=dataclasses.replace(
            th.early_warning, monitored_cost_percent=49, new_disability_months=13
        ),
    )
    run = run_rules(con, RUN_DATE, th, rules=early_warning.RULES)
    assert run.result("high_medical_cost").thresholds == {
        "rural_income": 21691,
        "monitored_cost_pct": 49,
        "others_cost_pct": 100,
    }
    found = dict(
        con.execute(
            "SELECT household_id, description FROM findings "
            "WHERE rule_code IN ('high_medical_cost', 'new_severe_disability')"
        ).fetchall()
    )
    assert set(found) == {"T1", "T2"}
    assert "的 49%（10,628.59 元）" in found["T1"]
    con.close()
