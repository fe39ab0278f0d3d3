"""Today's 防返贫监测 export beside the older 建档立卡 export (monitoring.md §1, §3):
real files through the loader into one warehouse, the working set, rules not run for a
missing column, the income line carried over, 残疾人证 numbers — down to the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assets.findings import rule_check_metadata
from checks.engine import rule_summary, run_rules
from checks.prelude import prepare
from checks.rules import RULES_BY_CODE
from checks.rules.base import Rule
from checks.thresholds import load_thresholds
from core.config import today
from publishing.report import render_report
from tests.feeds_fixtures import (
    FEED_SAMPLES,
    REGISTER_HEADER,
    make_id,
    query,
    register_row,
    write_xlsx,
    wrong_checksum,
)
from warehouse import connect, load_feed

TODAY_HEADER = [
    "年度",
    "县(市、区)",
    "乡(镇)",
    "行政村",
    "自然村(组)",
    "户编号",
    "姓名",
    "证件类型",
    "证件号码",
    "性别",
    "与户主关系",
    "文化程度",
    "在校生状况",
    "健康状况",
    "劳动技能",
    "是否参加城乡居民基本医疗保险",
    "是否参加大病保险",
    "是否参加城镇职工基本医疗保险",
    "是否参加城乡居民基本养老保险",
    "户类型",
    "监测对象类别",
    "识别监测时间",
    "风险是否已消除",
    "消除监测时间",
    "风险消除方式",
    "致贫返贫风险1",
    "致贫/返贫风险2",
    "产业帮扶",
    "就业帮扶",
    "公益性岗位",
    "综合保障",
    "享受低保政策情况",
    "享受特困供养政策情况",
    "家庭人口数",
    "家庭成员联系电话",
    "家庭年纯收入",
    "人均纯收入（元）",
    "是否危房户",
    "是否解决安全饮用水",
]

CERT_ID = make_id(7, birth="19700101")
"""The ID number inside H3's head's 残疾人证号."""
BAD_CERT = wrong_checksum(make_id(8, birth="19700101")) + "21"


def today_row(hh: str, n: int, **over: object) -> list[object]:
    """One row of today's export (``TODAY_HEADER`` order): a 一般农户 member by default."""
    values: dict[str, object] = {
        "年度": "2025",
        "县(市、区)": "安宁县",
        "乡(镇)": "青山镇",
        "行政村": "河口村",
        "自然村(组)": "一组",
        "户编号": hh,
        "姓名": f"王{n}",
        "证件类型": "居民身份证",
        "证件号码": make_id(n, birth="19850101"),
        "性别": "男",
        "与户主关系": "户主",
        "文化程度": "大专",
        "在校生状况": "非在校生",
        "健康状况": "健康",
        "劳动技能": "技能劳动能力",
        "是否参加城乡居民基本医疗保险": "是",
        "是否参加大病保险": "是",
        "是否参加城镇职工基本医疗保险": "否",
        "是否参加城乡居民基本养老保险": "否",
        "户类型": "一般农户",
        "监测对象类别": "",
        "识别监测时间": "",
        "风险是否已消除": "",
        "消除监测时间": "",
        "风险消除方式": "",
        "致贫返贫风险1": "",
        "致贫/返贫风险2": "",
        "产业帮扶": "",
        "就业帮扶": "",
        "公益性岗位": "",
        "综合保障": "",
        "享受低保政策情况": "未享受",
        "享受特困供养政策情况": "未享受",
        "家庭人口数": "1",
        "家庭成员联系电话": f"139{n:08d}",
        "家庭年纯收入": "30000",
        "人均纯收入（元）": "30000",
        "是否危房户": "否",
        "是否解决安全饮用水": "是",
    }
    unknown = set(over) - set(values)
    assert not unknown, unknown
    values.update(over)
    return [values[h] for h in TODAY_HEADER]


def today_file(inbox: Path, name: str = "2025年防返贫监测人口信息.xlsx") -> Path:
    poor = {"户类型": "脱贫户", "人均纯收入（元）": "5000", "家庭年纯收入": "5000"}
    eliminated = {
        "户类型": "监测户",
        "监测对象类别": "边缘易致贫户",
        "识别监测时间": "2024-01-10",
        "风险是否已消除": "是",
        "消除监测时间": "2025-03-01",
        "风险消除方式": "帮扶消除",
        "致贫返贫风险1": "04",
        "就业帮扶": "劳务输出、外出务工补贴",
        "人均纯收入（元）": "5000",
        "家庭年纯收入": "5000",
    }
    monitored = {
        "户类型": "监测户",
        "监测对象类别": "脱贫不稳定户",
        "识别监测时间": "2025-02-01",
        "致贫返贫风险1": "01",
        "致贫/返贫风险2": "0203",
        "综合保障": "低保、残疾人两项补贴",
        "家庭人口数": "2",
    }
    rows = [
        TODAY_HEADER,
        today_row("H1", 1, **poor),
        today_row("H2", 2, **eliminated),
        today_row(
            "H3",
            3,
            **monitored,
            **{
                "证件类型": "残疾人证",
                "证件号码": CERT_ID + "14",
                "享受低保政策情况": "享受农村低保",
            },
        ),
        today_row(
            "H3",
            4,
            **monitored,
            **{"与户主关系": "之子", "劳动技能": "", "在校生状况": "学龄前儿童"},
        ),
        today_row("H4", 5, **{"证件类型": "残疾人证", "证件号码": BAD_CERT}),
        # Medical insurance: 职工 instead of 城乡居民 is covered; neither is not; 城乡居民
        # without 大病保险 is not either.
        today_row(
            "H5",
            6,
            **{"是否参加城乡居民基本医疗保险": "否", "是否参加城镇职工基本医疗保险": "是"},
        ),
        today_row("H6", 9, **{"是否参加城乡居民基本医疗保险": "否"}),
        today_row("H7", 10, **{"是否参加大病保险": "否"}),
    ]
    return write_xlsx(inbox / "register" / name, rows, title_rows=[["2025年防返贫监测人口信息"]])


def old_file(inbox: Path, year: int = 2020) -> Path:
    rows = [
        REGISTER_HEADER,
        register_row(0, **{"年度": str(year), "户类型": "一般户"}),
        register_row(3, **{"年度": str(year), "户类型": "低保户", "户状态": "风险已消除"}),
        register_row(6, **{"年度": str(year), "户类型": "特困供养户", "户状态": "边缘易致贫户"}),
    ]
    return write_xlsx(inbox / "register" / f"{year}年建档立卡人口.xlsx", rows)


def hukou_file(inbox: Path) -> Path:
    header = list(FEED_SAMPLES["hukou"])
    sample = FEED_SAMPLES["hukou"]
    people = [
        (make_id(n, birth="19850101"), f"王{n}", "正常", None) for n in (1, 2, 4, 5, 6, 9, 10)
    ]
    people.append((CERT_ID, "王3", "死亡", "2025-05-01"))
    rows = [header]
    for idn, name, status, dereg in people:
        row = dict(sample) | {"公民身份号码": idn, "姓名": name, "人员状态": status}
        row["注销日期"] = dereg
        rows.append([row[h] for h in header])
    return write_xlsx(inbox / "hukou" / "户籍人口.xlsx", rows)


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


def _run(con, rules=None):
    kw = {} if rules is None else {"rules": rules}
    return run_rules(con, today(), load_thresholds(), **kw)


def _findings(con, code: str) -> list[dict]:
    return query(
        con, "SELECT * FROM findings WHERE rule_code = ? ORDER BY household_id, name", [code]
    )


# --- loading ------------------------------------------------------------------------


def test_two_generations_in_one_warehouse(con, inbox):
    """户类型 is decided per file from its values: 一般户/低保户 in the 2020 file is
    household_type, 脱贫户/监测户 in the 2025 file is household_kind."""
    old_file(inbox)
    today_file(inbox)
    result = load_feed(con, "register", inbox)
    assert result.rows_rejected == 0

    old = query(con, "SELECT * FROM register WHERE year = 2020 ORDER BY row_number")
    assert [r["household_type"] for r in old] == ["一般户", "低保户", "特困供养户"]
    assert {r["household_kind"] for r in old} == {None}
    assert [r["household_status"] for r in old] == ["已脱贫", "风险已消除", "边缘易致贫户"]

    new = query(con, "SELECT * FROM register WHERE year = 2025 ORDER BY row_number")
    assert [r["household_kind"] for r in new[:3]] == ["脱贫户", "监测户", "监测户"]
    assert {r["household_type"] for r in new} == {None}
    assert {r["household_status"] for r in new} == {None}

    mappings = {
        r["source_file"]: json.loads(r["header_mapping"])
        for r in query(con, "SELECT source_file, header_mapping FROM loads")
    }
    assert mappings["register/2020年建档立卡人口.xlsx"]["户类型"] == "household_type"
    assert mappings["register/2025年防返贫监测人口信息.xlsx"]["户类型"] == "household_kind"

    h2, h3 = new[1], new[2]
    assert h2["monitoring_category"] == "边缘易致贫户" and h2["risk_eliminated"] is True
    assert h2["risk_1"] == "缺劳动力" and h2["elimination_mode"] == "帮扶消除"
    assert h2["measure_employment"] == "劳务输出、外出务工补贴"
    assert h3["risk_1"] == "因病" and h3["risk_2"] == "因灾"
    assert h3["measure_comprehensive"] == "低保、残疾人两项补贴"
    assert h3["dibao_status"] == "享受农村低保"
    assert h3["labour_skill"] == "技能劳动力" and h3["education"] == "大专"
    assert new[3]["school_status"] == "学前教育"
    assert h3["phone"] == "13900000003" and h3["is_dangerous_house"] is False
    assert h3["has_safe_water"] is True and str(new[0]["per_capita_net_income"]) == "5000.00"
    # The 残疾人证号 keeps its ID number for matching, the whole number as received.
    assert (h3["id_type"], h3["id_number"], h3["id_number_problem"]) == ("残疾人证", CERT_ID, None)
    assert h3["id_number_raw"] == CERT_ID + "14"


def test_working_set_either_generation(con, inbox):
    old_file(inbox)
    today_file(inbox)
    load_feed(con, "register", inbox)
    cols = (
        "household_id, is_poor_exited, is_monitored, risk_open, risk_closed, is_current, "
        "is_exited, has_labour, enjoys_dibao, enjoys_destitute, risks, measures_blank, "
        "dev_measure, hh_no_labour, hh_any_dibao, hh_any_destitute"
    )
    prepare(con, 2025)
    hh = {r["household_id"]: r for r in query(con, f"SELECT {cols} FROM bd_hh")}
    assert hh["H1"]["is_poor_exited"] and hh["H1"]["is_exited"] and not hh["H1"]["is_current"]
    assert hh["H2"]["risk_closed"] and hh["H2"]["is_exited"] and not hh["H2"]["risk_open"]
    assert hh["H2"]["dev_measure"] and not hh["H2"]["measures_blank"]
    h3 = hh["H3"]
    assert h3["risk_open"] and h3["is_current"] and not h3["is_exited"]
    assert h3["risks"] == ["因病", "因灾"] and h3["hh_any_dibao"] and not h3["hh_any_destitute"]
    assert not h3["hh_no_labour"] and not h3["dev_measure"]
    # 一般农户: neither current nor exited.
    assert not hh["H4"]["is_current"] and not hh["H4"]["is_exited"] and hh["H4"]["risks"] == []
    # Person level: H3's child has no labour (blank 劳动技能) and does not enjoy 低保.
    child = query(con, "SELECT * FROM bd_reg WHERE household_id = 'H3' AND relation = '之子'")[0]
    assert not child["has_labour"] and not child["enjoys_dibao"] and child["hh_any_dibao"]

    prepare(con, 2020)
    old = {r["household_id"]: r for r in query(con, f"SELECT {cols} FROM bd_hh")}
    by_type = {
        r["household_type"]: r["household_id"]
        for r in query(con, "SELECT household_id, household_type FROM bd_hh")
    }
    general, dibao, destitute = (old[by_type[t]] for t in ("一般户", "低保户", "特困供养户"))
    assert general["is_poor_exited"] and general["is_exited"] and not general["is_monitored"]
    assert dibao["risk_closed"] and dibao["is_exited"] and dibao["enjoys_dibao"]
    assert destitute["risk_open"] and destitute["is_current"] and destitute["enjoys_destitute"]


# --- rules --------------------------------------------------------------------------


def test_todays_export_through_the_rules(con, inbox):
    today_file(inbox)
    hukou_file(inbox)
    load_feed(con, "register", inbox)
    load_feed(con, "hukou", inbox)
    run = _run(con)
    assert run.working_year == 2025

    # One finding per gap: the 已消除风险 监测对象 H2 is left to rules D.
    below = _findings(con, "exited_below_income_line")
    assert [f["household_id"] for f in below] == ["H1"]
    assert below[0]["description"].startswith(
        "脱贫户（脱贫年度 （空））2025年年人均纯收入 5,000 元"
    )
    assert "低于当年标准 6,000 元" in below[0]["description"]

    # The 残疾人证 holder is matched to hukou by the ID number inside the certificate.
    deceased = _findings(con, "deceased_still_registered")
    assert [(f["household_id"], f["id_number"]) for f in deceased] == [("H3", CERT_ID)]
    assert not [f for f in _findings(con, "hukou_not_found") if f["household_id"] == "H3"]
    # A 残疾人证号 with a bad check digit in its first 18 characters is id_invalid.
    invalid = _findings(con, "id_invalid")
    assert [f["household_id"] for f in invalid] == ["H4"]
    assert "校验位错误" in invalid[0]["description"] and "残疾人证" in invalid[0]["evidence"]

    medical = {
        f["household_id"]: f["description"] for f in _findings(con, "medical_insurance_missing")
    }
    assert set(medical) == {"H6", "H7"}
    assert "城镇职工基本医疗保险均登记为“否”" in medical["H6"]
    assert "大病保险登记为“否”" in medical["H7"]


def test_income_line_carried_over_is_said(con, inbox, tmp_path):
    """2025 has no line in thresholds.toml: the rule uses 2021's and says so in
    rule_runs, the check metadata and the report's alert box."""
    note = "2025 年监测范围未配置，沿用 2021 年 6000 元"
    assert load_thresholds().income_line_note(2025) == note
    today_file(inbox)
    load_feed(con, "register", inbox)
    run = _run(con)
    result = run.result("exited_below_income_line")
    assert result.ran and result.reason == note and result.finding_count == 1
    assert run.result("medical_insurance_missing").reason is None  # binds no income line

    summary = rule_summary(con, "exited_below_income_line")
    assert summary["ran"] and summary["note"] == note
    rule = RULES_BY_CODE["exited_below_income_line"]
    metadata = rule_check_metadata(rule, summary)
    assert metadata["note"] == note and "not_run_reason" not in metadata

    render_report(con, today(), tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    box = page[page.index('id="rule-notes"') :]
    box = box[: box.index("</div>")]
    assert note in box and "exited_below_income_line" in box


def test_configured_line_gives_no_note(con, inbox):
    th = load_thresholds()
    assert th.income_line_note(2021) is None and th.income_line_note(2012) is None
    old_file(inbox, 2021)
    load_feed(con, "register", inbox)
    run = run_rules(con, today(), th)
    assert run.result("exited_below_income_line").reason is None


def test_rule_without_its_column_is_not_run(con, inbox, tmp_path):
    """An older export has no 监测对象类别 (nor 联系电话 here): the rules needing them
    are not run, the column named, like a missing feed — never "0 findings"."""
    old_file(inbox, 2024)
    load_feed(con, "register", inbox)
    probe = Rule(
        code="monitoring_probe",
        name_zh="监测对象测试",
        category="保障缺失",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="ZZP",
        sql="SELECT * FROM bd_hh WHERE false",
        description_zh="",
        requirement_zh="",
        columns=("monitoring_category", "measure_industry"),
    )
    many = Rule(
        **{
            **probe.__dict__,
            "code": "monitoring_probe_many",
            "prefix": "ZZQ",
            "columns": ("measure_industry", "risk_1", "measure_water", "dibao_status"),
        }
    )
    rules = [probe, many, RULES_BY_CODE["phone_invalid"], RULES_BY_CODE["id_invalid"]]
    run = _run(con, rules=rules)
    # Without 监测对象类别 (the older export) every such rule gives one reason.
    older = "登记数据缺少“监测对象类别”列（旧版建档立卡导出，没有防返贫监测信息）"
    assert run.result("monitoring_probe").reason == older
    assert run.result("monitoring_probe_many").reason == (
        "登记数据缺少“产业帮扶”、“致贫/返贫风险1”、“饮水安全保障”等 4 列"
    )
    assert run.result("phone_invalid").reason == "登记数据缺少“联系电话”列"
    assert run.result("id_invalid").ran
    rows = query(con, "SELECT rule_code, ran, reason, finding_count FROM rule_runs")
    phone = next(r for r in rows if r["rule_code"] == "phone_invalid")
    assert not phone["ran"] and phone["finding_count"] is None
    assert phone["reason"] == "登记数据缺少“联系电话”列"

    summary = rule_summary(con, "phone_invalid")
    metadata = rule_check_metadata(RULES_BY_CODE["phone_invalid"], summary)
    assert metadata["not_run_reason"] == "登记数据缺少“联系电话”列" and not metadata["ran"]

    render_report(con, today(), tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    box = page[page.index('id="rules-not-run"') :]
    box = box[: box.index("</div></div>") if "</div></div>" in box else None]
    assert "登记数据缺少“联系电话”列" in box and "phone_invalid" in box


def test_column_missing_from_one_file_of_the_year(con, inbox):
    """A column is present only when every register file of the working year has it."""
    today_file(inbox, "2025年防返贫监测_青山镇.xlsx")
    rows = [REGISTER_HEADER, register_row(30, **{"年度": "2025", "乡(镇)": "白水镇"})]
    write_xlsx(inbox / "register" / "2025年建档立卡_白水镇.xlsx", rows)
    load_feed(con, "register", inbox)
    run = _run(con, rules=[RULES_BY_CODE["phone_invalid"]])
    assert run.result("phone_invalid").reason == "登记数据缺少“联系电话”列"


def test_file_mixing_both_generations_of_hukou_type(con, inbox):
    """One file whose 户类型 holds mostly today's values (脱贫户/监测户/一般农户) and a
    few of the older generation (低保户): the majority decides the column; the stray
    values are not silently dropped or read as the other field — each such row is
    accounted for with a reason that names the column and the value."""
    rows = [
        TODAY_HEADER,
        today_row("M1", 21, **{"户类型": "脱贫户"}),
        today_row("M2", 22, **{"户类型": "监测户", "监测对象类别": "边缘易致贫户"}),
        today_row("M3", 23),
        today_row("M4", 24, **{"户类型": "低保户"}),
    ]
    write_xlsx(inbox / "register" / "2025年混合导出.xlsx", rows)
    result = load_feed(con, "register", inbox)
    (mapping,) = [json.loads(r["header_mapping"]) for r in query(con, "SELECT * FROM loads")]
    assert mapping["户类型"] == "household_kind"

    loaded = query(con, "SELECT household_id, household_kind, household_type FROM register")
    kinds = {r["household_id"]: r["household_kind"] for r in loaded}
    assert {r["household_type"] for r in loaded} == {None}
    assert (kinds["M1"], kinds["M2"], kinds["M3"]) == ("脱贫户", "监测户", "一般农户")
    # M4 is either rejected or loaded with its value set aside — never lost, never
    # read as today's value, and the reason says which column and value.
    reasons = query(
        con,
        "SELECT raw_value, reason_zh FROM rejects WHERE feed = 'register' "
        "UNION ALL SELECT raw_value, reason_zh FROM load_warnings WHERE feed = 'register'",
    )
    assert kinds.get("M4") is None
    assert result.rows_read == 4
    assert result.rows_loaded + result.rows_rejected == 4
    assert any("户类型" in r["reason_zh"] and r["raw_value"] == "低保户" for r in reasons), reasons
