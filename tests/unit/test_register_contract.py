"""The register contract of today's export (monitoring.md §1): enum spellings, risk codes,
header spellings, 残疾人证 numbers — value by value, without a warehouse."""

from __future__ import annotations

import polars as pl
import pytest

from core.idcard import check_digit, normalise
from department_feeds import normalise as nz
from department_feeds.headers import find_header
from department_feeds.register import HOUSEHOLD_FIELDS, MEASURE_FIELDS, RISKS, SPEC


def _enum(field: str, value: str | None) -> str | None:
    col = SPEC.column(field)
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.String})
    return frame.select(nz.parse_enum(pl.col("v"), col)).item()


@pytest.mark.parametrize(
    ("raw", "word"),
    [
        ("01", "因病"),
        ("1", "因病"),
        ("02", "因灾"),
        ("0201", "因灾"),
        ("0299", "因灾"),
        ("03", "因残"),
        ("04", "缺劳动力"),
        ("4", "缺劳动力"),
        ("05", "因意外事故"),
        ("06", "因产业项目失败"),
        ("07", "因务工就业不稳"),
        ("09", "因学"),
        ("99", "其他"),
        ("因自然灾害", "因灾"),
        ("因自然灾害（洪涝）", "因灾"),
        ("因洪涝灾害", "因灾"),
        ("因缺劳动力", "缺劳动力"),
        ("缺劳动力", "缺劳动力"),
        ("因产业失败", "因产业项目失败"),
        ("因安全住房", "因安全住房"),
        ("因 病", "因病"),
        *((w, w) for w in RISKS),
    ],
)
def test_risk_words_and_codes(raw, word):
    for i in range(1, 6):
        assert _enum(f"risk_{i}", raw) == word, (i, raw)


@pytest.mark.parametrize("raw", ["08", "10", "因穷", "0300", None, ""])
def test_unknown_risk_spellings_are_null(raw):
    assert _enum("risk_1", raw) is None


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        ("school_status", "学龄前儿童", "学前教育"),
        ("school_status", "小学", "小学"),
        ("school_status", "硕士生及以上", "研究生"),
        ("school_status", "高职高专一年级", "高职一年级"),
        ("school_status", "高职高专三年级", "高职三年级"),
        ("education", "大专", "大专"),
        ("education", "高职高专", "高职高专"),
        ("education", "本科及以上", "本科及以上"),
        ("education", "本科及研究生及以上", "本科及研究生及以上"),
        ("education", "技师", "技师"),
        ("labour_skill", "技能劳动能力", "技能劳动力"),
        ("household_kind", "脱贫户", "脱贫户"),
        ("household_kind", "一般农户", "一般农户"),
        ("monitoring_category", "突发严重困难户", "突发严重困难户"),
        ("elimination_mode", "帮扶消除", "帮扶消除"),
    ],
)
def test_enum_spellings_of_todays_export(field, raw, value):
    assert _enum(field, raw) == value


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("是否危房户", "is_dangerous_house"),
        ("是否解决安全饮用水", "has_safe_water"),
        ("家庭成员联系电话", "phone"),
        ("户联系电话", "phone"),
        ("人均纯收入（元）", "per_capita_net_income"),
        ("致贫返贫风险3", "risk_3"),
        ("致贫/返贫风险5", "risk_5"),
        ("纳入监测时间", "monitoring_from"),
        ("风险消除时间", "monitoring_to"),
        ("公益性岗位", "measure_public_job"),
        ("合规自付医疗费用", "compliant_self_paid"),
        ("是否参加城镇职工基本医疗保险", "has_employee_medical_insurance"),
        ("整户无劳动能力兜底保障户", "whole_household_safety_net"),
        ("出生日期", "registered_birth_date"),
    ],
)
def test_header_spellings(header, field):
    required = [c.header for c in SPEC.columns if c.header_required and c.field != field]
    match = find_header(SPEC, [[*required, header]])
    assert not match.missing
    assert match.fields[len(required)] == field


def test_todays_export_needs_no_old_generation_header():
    """户类型 and 户状态 are optional: today's export has no 户状态."""
    required = {c.header for c in SPEC.columns if c.header_required}
    assert "户状态" not in required and "户类型" not in required


def test_measures_and_household_fields():
    assert len(MEASURE_FIELDS) == 14
    measures = {f for f, _, _ in MEASURE_FIELDS}
    assert {c.field for c in SPEC.columns if c.kind == "text"} >= measures
    # The monitoring record is household-level (same on every member's row), the
    # 低保/特困 status and the 城镇职工 insurance are not.
    assert measures | {"monitoring_category", "household_kind", "risk_1"} <= set(HOUSEHOLD_FIELDS)
    assert not {"dibao_status", "has_employee_medical_insurance"} & set(HOUSEHOLD_FIELDS)


# --- 残疾人证 numbers -----------------------------------------------------------------

BODY = "53252920141126613"
ID = BODY + check_digit(BODY)


@pytest.mark.parametrize("suffix", ["12", "1201", "74"])
def test_certificate_number_carries_the_id_number(suffix):
    assert normalise(ID + suffix, certificate=True) == (ID, None)


def test_certificate_number_with_a_bad_check_digit():
    bad = BODY + ("0" if ID[-1] != "0" else "1")
    assert normalise(bad + "12", certificate=True) == (bad, "checksum")


def test_certificate_shape_only_on_certificate_rows():
    # A 20-character number of a 居民身份证 row is a wrong length, not a certificate.
    assert normalise(ID + "12") == (ID + "12", "length")
    # A certificate row holding just the 18-character number is read as usual.
    assert normalise(ID, certificate=True) == (ID, None)
    assert normalise("ABC", certificate=True)[1] == "chars"
