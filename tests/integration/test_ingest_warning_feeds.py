"""The department early-warning feeds (民政, 医保, 教育, 残联) on messy hand-made files:
title rows, header aliases, a GB18030 CSV, a damaged ID number and a 合计 row."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

from tests.feeds_fixtures import (
    loads_row,
    make_id,
    query,
    rejects_of,
    write_csv,
    write_xlsx,
    wrong_checksum,
)
from warehouse import load_feed


def _rows(con, feed: str) -> list[dict]:
    return query(con, f'SELECT * FROM "{feed}" ORDER BY row_number')


def _warnings(con) -> list[dict]:
    return query(con, "SELECT * FROM load_warnings ORDER BY row_number")


def test_civil_affairs_aliases_dates_total_and_damaged_id(con, inbox):
    header = ["序号", "救助对象姓名", "救助对象身份证号", "保障类型", "保障人数", "保障金额"]
    header += ["批准日期", "终止日期", "保障状态"]
    rows = [
        header,
        [1, "张 三", make_id(1), "农村低保", "3", "1,350.00", "2023年3月1日", None, "在保"],
        [2, "李四", make_id(2), "特困人员", "1", "800", "2022/1/1", "2024-06-30", "终止"],
        [3, "王五", make_id(3), "临时救助", None, "2000元", "20240515", "20240515", "终止"],
        [4, "赵六", wrong_checksum(make_id(4)), "农村低保", "2", "900", "2023-01-01", None, "在保"],
        ["合计", None, None, None, "6", "5,050.00", None, None, None],
    ]
    write_xlsx(
        inbox / "civil_affairs" / "救助对象.xlsx", rows, title_rows=[["安宁县社会救助对象名册"]]
    )
    load_feed(con, "civil_affairs", inbox)
    got = {r["name"]: r for r in _rows(con, "civil_affairs")}
    assert set(got) == {"张三", "李四", "王五"}
    assert got["张三"]["assistance_kind"] == "农村低保"
    assert got["张三"]["monthly_amount"] == Decimal("1350.00")
    assert got["张三"]["start_on"] == dt.date(2023, 3, 1) and got["张三"]["end_on"] is None
    assert got["李四"]["assistance_kind"] == "特困供养"
    assert got["李四"]["end_on"] == dt.date(2024, 6, 30)
    assert got["王五"]["monthly_amount"] == Decimal("2000.00")
    rejects = {r["row_number"]: r for r in rejects_of(con, "civil_affairs/救助对象.xlsx")}
    assert set(rejects) == {6, 7}
    assert rejects[6]["column_name"] == "id_number"
    assert rejects[7]["reason_zh"] == "合计行"


def test_medical_gb18030_csv_with_title_line_and_aliases(con, inbox):
    rows = [
        ["公民身份号码", "姓名", "参保年度", "险种", "参保状态", "资助类别"]
        + ["总费用", "统筹支付", "合规自付"],
        [make_id(10), "甲", "2024年", "居民医保", "正常", "脱贫人口", "12,000.00", "9000", "3000"],
        [make_id(11), "乙", "2024", "职工医保", "正常参保", None, "0", "0", "0"],
        [
            make_id(12)[:6] + " " + make_id(12)[6:],
            "丙",
            "2024",
            "未参保",
            "终止",
            None,
            None,
            None,
            None,
        ],
        [make_id(13)[:17], "丁", "2024", "居民医保", "正常参保", None, "1", "1", "0"],
        ["合计", None, None, None, None, None, "12,001.00", "9001", "3000"],
    ]
    write_csv(
        inbox / "medical" / "2024年参保及费用.csv",
        rows,
        encoding="gb18030",
        title_lines=["安宁县2024年医疗保障参保及费用明细"],
    )
    load_feed(con, "medical", inbox)
    load = loads_row(con, "medical/2024年参保及费用.csv")
    assert (load["status"], load["encoding"], load["header_row"]) == ("loaded", "gb18030", 2)
    got = {r["name"]: r for r in _rows(con, "medical")}
    assert set(got) == {"甲", "乙", "丙"}
    assert got["甲"]["year"] == 2024
    assert got["甲"]["insurance_kind"] == "城乡居民基本医疗保险"
    assert got["甲"]["enrolment_status"] == "正常参保"
    assert got["甲"]["premium_subsidy"] == "脱贫人口"
    assert got["甲"]["self_paid"] == Decimal("3000.00")
    assert got["乙"]["insurance_kind"] == "职工基本医疗保险"
    assert got["丙"]["id_number"] == make_id(12)
    rejects = {r["row_number"]: r for r in rejects_of(con, "medical/2024年参保及费用.csv")}
    assert set(rejects) == {6, 7}
    assert rejects[6]["column_name"] == "id_number"
    assert rejects[7]["reason_zh"] == "合计行"


def test_education_school_year_gives_the_starting_year(con, inbox):
    header = ["学生姓名", "学生身份证号", "学年", "学校", "学段", "年级", "学籍状态"]
    rows = [
        header,
        ["甲", make_id(20, "20120301"), "2024-2025", "安宁县一中", "初中", "七年级", "在读"],
        ["乙", make_id(21, "20150301"), "2024", "河口小学", "小学", "四年级", "在籍"],
        [
            "丙",
            make_id(22, "20080301"),
            "2024-2025学年",
            "安宁县职中",
            "中等职业教育",
            "一年级",
            "辍学",
        ],
        ["丁", int(make_id(23, "20100301")), "2024-2025", "安宁县一中", "初中", "九年级", "在读"],
        ["戊", make_id(24, "20100301"), "2024-2025", "安宁县一中", "初中", "九年级", "失联"],
        ["合计", None, None, None, None, None, None],
    ]
    write_xlsx(
        inbox / "education" / "学籍.xlsx",
        rows,
        title_rows=[["安宁县2024-2025学年学生学籍信息"], ["导出时间：2024-10-08"]],
    )
    load_feed(con, "education", inbox)
    got = {r["name"]: r for r in _rows(con, "education")}
    assert set(got) == {"甲", "乙", "丙"}
    assert [got[n]["school_year"] for n in "甲乙丙"] == [2024, 2024, 2024]
    assert got["乙"]["status"] == "在读"
    assert got["丙"]["stage"] == "中职" and got["丙"]["status"] == "辍学"
    assert got["甲"]["grade"] == "七年级"
    rejects = {r["row_number"]: r for r in rejects_of(con, "education/学籍.xlsx")}
    assert set(rejects) == {7, 8, 9}
    assert rejects[7]["column_name"] == "id_number"
    assert "精度丢失" in rejects[7]["reason_zh"]
    assert rejects[8]["column_name"] == "status" and rejects[8]["raw_value"] == "失联"
    assert rejects[9]["reason_zh"] == "合计行"


def test_disability_id_number_from_the_certificate(con, inbox):
    header = ["持证人姓名", "残疾证号", "残疾类别", "残疾等级", "办证日期", "持证状态"]
    rows = [
        header,
        ["甲", make_id(30) + "42", "肢体", "二级", "2020-06-01", "有效"],
        ["乙", make_id(31) + "1301", None, None, "2019/3/5", "有效"],  # 22 chars, digits only
        ["丙", make_id(32) + "63", "精神残疾", "3", "20180101", "注销"],
        ["丁", wrong_checksum(make_id(33)) + "42", "肢体", "二级", "2020-06-01", "有效"],
        ["戊", make_id(34)[:16] + "42", "肢体", "二级", "2020-06-01", "有效"],  # too short
        ["合计", None, None, None, None, None],
    ]
    write_xlsx(
        inbox / "disability" / "持证残疾人.xlsx", rows, title_rows=[["安宁县持证残疾人名册"]]
    )
    load_feed(con, "disability", inbox)
    got = {r["name"]: r for r in _rows(con, "disability")}
    assert set(got) == {"甲", "乙", "丙"}
    assert got["甲"]["id_number"] == make_id(30)
    assert got["甲"]["certificate_no"] == make_id(30) + "42"
    assert got["甲"]["id_number_raw"] == make_id(30) + "42"
    assert (got["乙"]["id_number"], got["乙"]["category"], got["乙"]["level"]) == (
        make_id(31),
        "视力",
        "三级",
    )
    assert (got["丙"]["category"], got["丙"]["level"]) == ("精神", "三级")
    rejects = {r["row_number"]: r for r in rejects_of(con, "disability/持证残疾人.xlsx")}
    assert set(rejects) == {6, 7, 8}
    assert rejects[6]["column_name"] == "id_number"
    assert rejects[6]["raw_value"] == wrong_checksum(make_id(33)) + "42"
    assert rejects[7]["column_name"] == "id_number"
    assert rejects[8]["reason_zh"] == "合计行"
    assert _warnings(con) == []


def test_disability_id_number_column_wins(con, inbox):
    rows = [
        ["残疾人证号", "姓名", "证件号码", "残疾类别", "残疾等级", "发证日期", "证件状态"],
        [make_id(40) + "42", "甲", make_id(40), "肢体", "二级", "2020-06-01", "有效"],
        [make_id(41) + "42", "乙", None, "肢体", "二级", "2020-06-01", "有效"],
    ]
    write_csv(inbox / "disability" / "残疾人.csv", rows, encoding="gb18030")
    load_feed(con, "disability", inbox)
    got = {r["name"]: r for r in _rows(con, "disability")}
    assert got["甲"]["id_number"] == make_id(40) and got["甲"]["id_number_raw"] == make_id(40)
    assert got["乙"]["id_number"] == make_id(41)
    assert got["乙"]["id_number_raw"] == make_id(41) + "42"


def test_medical_revised_file_of_a_year_supersedes_the_older(con, inbox):
    header = [
        "证件号码",
        "姓名",
        "年度",
        "参保类型",
        "参保状态",
        "医疗总费用",
        "基金支付",
        "个人自付",
    ]
    rows = [header] + [
        [make_id(50 + i), f"甲{i}", "2024", "居民医保", "正常参保", "100", "80", "20"]
        for i in range(4)
    ]
    old = write_xlsx(inbox / "medical" / "2024年医保.xlsx", rows)
    new = write_xlsx(inbox / "medical" / "2024年医保(修订).xlsx", rows)
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_100_000, 1_700_100_000))
    load_feed(con, "medical", inbox)
    files = {r["source_file"] for r in _rows(con, "medical")}
    assert files == {"medical/2024年医保(修订).xlsx"}
