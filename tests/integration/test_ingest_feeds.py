"""Each feed's loader on small hand-made files with the mess real exports carry."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from department_feeds import DEPARTMENT_FEEDS, SPECS
from department_feeds.validation import failures
from tests.feeds_fixtures import (
    FEED_SAMPLES,
    REGISTER_HEADER,
    id_with_x,
    loads_row,
    make_id,
    query,
    register_row,
    rejects_of,
    sample_rows,
    write_csv,
    write_xlsx,
)
from warehouse import connect, load_feed

# Every feed but the register (its own header and row builder below), from the registry:
# a new feed without a sample in FEED_SAMPLES fails here rather than going untested.
SAMPLED_FEEDS = [f for f in SPECS if f != "register"]


@pytest.fixture
def con(tmp_path: Path):
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


def _rows(con, feed: str, order: str = "row_number") -> list[dict]:
    return query(con, f'SELECT * FROM "{feed}" ORDER BY {order}')


@pytest.mark.parametrize("feed", SAMPLED_FEEDS)
def test_clean_file_loads_typed_rows(con, inbox, feed):
    write_xlsx(inbox / feed / "2024.xlsx", sample_rows(feed, 3), title_rows=[["标题行"]])
    result = load_feed(con, feed, inbox)
    assert result.rows_loaded == 3 and result.rows_rejected == 0, rejects_of(
        con, f"{feed}/2024.xlsx"
    )
    row = _rows(con, feed)[0]
    spec = SPECS[feed]
    for col in spec.columns:
        value = row[col.field]
        if value is None:
            continue
        expected = {
            "int": int,
            "money": Decimal,
            "date": dt.date,
            "bool": bool,
            "text": str,
            "enum": str,
            "id": str,
        }.get(col.kind)
        if col.kind == "decimal":
            expected = Decimal if col.duckdb_type.startswith("DECIMAL") else float
        assert isinstance(value, expected), (col.field, value)
    for col in spec.id_columns:
        assert row[f"{col.field}_problem"] is None
        assert row[col.field] == make_id(100)
    # The pandera schema is what decides: every loaded row passes it.

    typed = con.sql(f'SELECT * FROM "{feed}"').pl()
    assert failures(spec, typed).is_empty()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("feed", DEPARTMENT_FEEDS)
def test_csv_encodings(con, inbox, feed, encoding):
    write_csv(inbox / feed / "export.csv", sample_rows(feed, 2), encoding=encoding)
    load_feed(con, feed, inbox)
    load = loads_row(con, f"{feed}/export.csv")
    assert load["status"] == "loaded"
    assert load["encoding"] == encoding
    assert load["rows_loaded"] == 2
    # Chinese text survives the decode exactly.
    name_field = next(c.field for c in SPECS[feed].columns if "name" in c.field)
    names = {r[name_field] for r in _rows(con, feed)}
    sample_name = next(
        v for h, v in FEED_SAMPLES[feed].items() if "姓名" in h or h in ("所有人", "权利人")
    )
    assert names == {sample_name}


def test_gbk_csv_with_title_line_and_semicolons(con, inbox):
    rows = sample_rows("hukou", 2)
    write_csv(
        inbox / "hukou" / "gbk.csv",
        rows,
        encoding="gbk",
        delimiter=";",
        title_lines=["安宁县户籍人口信息（导出）"],
    )
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/gbk.csv")
    assert (load["status"], load["encoding"], load["header_row"]) == ("loaded", "gb18030", 2)
    assert [r["row_number"] for r in _rows(con, "hukou")] == [3, 4]


def test_undecodable_csv_fails_clearly(con, inbox):
    (inbox / "hukou").mkdir()
    # A UTF-8 BOM followed by bytes that are not UTF-8.
    (inbox / "hukou" / "bad.csv").write_bytes(b"\xef\xbb\xbf" + "公民身份号码".encode("gbk"))
    load_feed(con, "hukou", inbox)
    load = loads_row(con, "hukou/bad.csv")
    assert load["status"] == "failed"
    assert "UTF-8" in load["error"] and "请重新导出" in load["error"]


# --------------------------------------------------------------------------- register


def test_register_messy_workbook(con, inbox):
    header = [
        "户码",
        "县",
        "成员姓名",
        "身份证号码",
        "乡镇",
        "村",
        "组",
        "性别",
        "与户主关系",
        "在校生状况",
        "参加基本医疗保险",
        "参加养老保险",
        "贫困户属性",
        "脱贫属性",
        "家庭人口数",
        "家庭纯收入（元）",
        "人均纯收入",
        "住房是否安全",
        "备注",
    ]
    base = [
        "H1",
        "安宁县",
        "张 三",
        make_id(1),
        "青山镇",
        "河口村",
        "一组",
        "男",
        "户主",
        "非在校生",
        "是",
        "√",
        "一般贫困户",
        "已脱贫",
        "3",
        "36,000.50元",
        "12,000.17",
        "否",
        "自备注",
    ]

    def row(**over):
        r = dict(zip(header, base, strict=True))
        r.update(over)
        return [r[h] for h in header]

    x = id_with_x()
    rows = [
        header,
        row(),
        row(
            **{
                "身份证号码": x.lower(),
                "成员姓名": "李四",
                "在校生状况": "初一",
                "参加养老保险": None,
            }
        ),
        row(**{"身份证号码": "'" + make_id(3), "成员姓名": "王五", "住房是否安全": "是"}),
        row(**{"身份证号码": make_id(4)[:6] + make_id(4)[8:17], "成员姓名": "老赵"}),  # 15-digit
        row(**{"身份证号码": int(make_id(5)), "成员姓名": "钱七"}),  # number cell: digits lost
        row(
            **{
                "身份证号码": make_id(6)[:-1] + "0"
                if make_id(6)[-1] != "0"
                else make_id(6)[:-1] + "1",
                "成员姓名": "孙八",
            }
        ),
        row(**{"成员姓名": None}),  # cannot be placed: rejected
        row(**{"家庭人口数": "三口"}),  # optional int unreadable: warning, NULL
        [None] * len(header),  # blank row: skipped, not counted
        ["合计", *[None] * (len(header) - 1)],
    ]
    write_xlsx(
        inbox / "register" / "青山镇2024年防返贫监测.xlsx",
        rows,
        title_rows=[
            ["青山镇2024年防返贫监测对象信息表"],
            [None],
            ["填报单位：青山镇", None, "单位：元"],
        ],
    )
    load_feed(con, "register", inbox)
    load = loads_row(con, "register/青山镇2024年防返贫监测.xlsx")
    assert (load["rows_read"], load["rows_loaded"], load["rows_rejected"]) == (9, 7, 2)
    mapping = json.loads(load["header_mapping"])
    assert mapping["家庭纯收入（元）"] == "household_net_income"
    assert mapping["住房是否安全"] == "is_dangerous_house"
    assert "备注" not in mapping

    rows_by_name = {r["name"]: r for r in _rows(con, "register")}
    a = rows_by_name["张三"]  # name spaces removed
    assert a["year"] == 2024  # from the file name
    assert a["household_type"] == "一般户"
    assert a["household_net_income"] == Decimal("36000.50")
    assert a["per_capita_net_income"] == Decimal("12000.17")
    assert a["has_medical_insurance"] is True and a["has_pension_insurance"] is True
    assert a["is_dangerous_house"] is True  # 住房是否安全 = 否
    assert a["id_type"] == "居民身份证"  # default
    assert a["id_number"] == make_id(1) and a["id_number_problem"] is None
    b = rows_by_name["李四"]
    assert b["id_number"] == x and b["id_number_raw"] == x.lower()
    assert b["school_status"] == "七年级"
    assert b["has_pension_insurance"] is False  # blank in a √ column
    assert rows_by_name["王五"]["id_number"] == make_id(3)
    assert rows_by_name["王五"]["is_dangerous_house"] is False
    assert rows_by_name["老赵"]["id_number"] == make_id(4)
    # The register keeps people with bad numbers (rule id_invalid reports them).
    assert rows_by_name["钱七"]["id_number_problem"] == "precision_lost"
    assert rows_by_name["钱七"]["id_number"] != make_id(5)
    assert rows_by_name["孙八"]["id_number_problem"] == "checksum"

    rejects = rejects_of(con, "register/青山镇2024年防返贫监测.xlsx")
    assert [(r["row_number"], r["column_name"], r["reason_zh"]) for r in rejects] == [
        (11, "name", "必填项“姓名”为空"),
        (14, None, "合计行"),
    ]
    (warn,) = query(con, "SELECT * FROM load_warnings")
    assert (warn["row_number"], warn["column_name"], warn["raw_value"]) == (
        12,
        "household_size",
        "三口",
    )
    assert "已置为空" in warn["reason_zh"] and "set to NULL" in warn["reason_en"]
    extra = json.loads(
        query(con, "SELECT extra_columns FROM raw_register WHERE row_number = 5")[0][
            "extra_columns"
        ]
    )
    assert extra == {"备注": "自备注"}


def test_register_year_column_wins_and_repeated_header_is_rejected(con, inbox):
    rows = [
        REGISTER_HEADER,
        register_row(0, **{"年度": "2023年"}),
        REGISTER_HEADER,  # a second table pasted below the first
        register_row(1, **{"年度": 2023}),
    ]
    write_xlsx(inbox / "register" / "2024年.xlsx", rows)
    load_feed(con, "register", inbox)
    assert {r["year"] for r in _rows(con, "register")} == {2023}
    (rej,) = rejects_of(con, "register/2024年.xlsx")
    assert rej["row_number"] == 3 and rej["reason_zh"] == "重复的表头行"


def test_register_two_sheets_and_an_unrelated_sheet(con, inbox):
    write_xlsx(
        inbox / "register" / "2024.xlsx",
        [REGISTER_HEADER, register_row(0)],
        sheet="一村",
        extra_sheets={
            "二村": [["说明"], REGISTER_HEADER, register_row(1), register_row(2)],
            "填表说明": [["本表由各村填报"], ["请勿修改表头"]],
        },
    )
    load_feed(con, "register", inbox)
    load = loads_row(con, "register/2024.xlsx")
    assert json.loads(load["sheets"]) == ["一村", "二村"]
    assert load["rows_loaded"] == 3
    got = [(r["sheet"], r["row_number"]) for r in _rows(con, "register", "sheet, row_number")]
    assert got == [("一村", 2), ("二村", 3), ("二村", 4)]
    (warn,) = query(con, "SELECT * FROM load_warnings")
    assert warn["sheet"] == "填表说明" and "已跳过" in warn["reason_zh"]


# --------------------------------------------------------------------------- department feeds


def test_hukou_dates_and_damaged_ids(con, inbox):
    header = ["公民身份号码", "姓名", "性别", "出生日期", "人员状态", "注销日期"]
    fw = make_id(11).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    rows = [
        header,
        [make_id(10), "甲", "男", dt.datetime(1980, 1, 2), "正常", None],
        [fw, "乙", "女", "1980/1/2", "死亡", "2024年3月1日"],
        [make_id(12)[:9] + " " + make_id(12)[9:], "丙", "男", "19800102", "迁出", "2024.3.1"],
        [make_id(13), "丁", "男", "1980-01-02", "注销", "45352"],  # serial day number as text
        [int(make_id(14)), "戊", "男", "1980-01-02", "正常", None],  # number cell
        [make_id(15), "己", "男", "1980-13-40", "正常", None],  # impossible optional date
        [make_id(16), "庚", "男", "1980-01-02", "失踪", None],  # unknown required enum
    ]
    write_xlsx(inbox / "hukou" / "户籍.xlsx", rows)
    load_feed(con, "hukou", inbox)
    got = {r["name"]: r for r in _rows(con, "hukou")}
    assert set(got) == {"甲", "乙", "丙", "丁", "己"}
    assert got["甲"]["birth_date"] == dt.date(1980, 1, 2)
    assert got["乙"]["birth_date"] == dt.date(1980, 1, 2)
    assert got["乙"]["id_number"] == make_id(11)
    assert got["乙"]["deregistered_on"] == dt.date(2024, 3, 1)
    assert got["丙"]["id_number"] == make_id(12)
    assert got["丙"]["deregistered_on"] == dt.date(2024, 3, 1)
    assert got["丁"]["deregistered_on"] == dt.date(2024, 3, 1)
    assert got["己"]["birth_date"] is None
    rejects = {r["row_number"]: r for r in rejects_of(con, "hukou/户籍.xlsx")}
    assert set(rejects) == {6, 8}
    assert rejects[6]["column_name"] == "id_number"
    assert rejects[6]["reason_en"].startswith("ID number was stored as an Excel number")
    assert "精度丢失" in rejects[6]["reason_zh"]
    assert rejects[8]["column_name"] == "status" and rejects[8]["raw_value"] == "失踪"
    (warn,) = query(con, "SELECT * FROM load_warnings")
    assert warn["column_name"] == "birth_date" and "日期" in warn["reason_zh"]


def test_tax_period_thousands_and_wan_header(con, inbox):
    rows = [
        ["身份证件号码", "姓名", "税款所属期", "收入额(万元)", "实缴税额"],
        [make_id(20), "甲", "2024-01至2024-12", "12.5", "1,234.56"],
        [make_id(21), "乙", "2023年", "80000元", "￥３４５"],
        [make_id(22), "丙", "2024", "3万元", "0"],
        [make_id(23), "丁", "全年", "1", "0"],  # no year: rejected
    ]
    write_xlsx(inbox / "tax" / "个税.xlsx", rows)
    load_feed(con, "tax", inbox)
    got = {r["name"]: r for r in _rows(con, "tax")}
    assert got["甲"]["tax_year"] == 2024
    assert got["甲"]["income"] == Decimal("125000.00")  # header in 万元
    assert got["甲"]["tax_paid"] == Decimal("1234.56")
    assert got["乙"]["tax_year"] == 2023
    assert got["乙"]["income"] == Decimal("80000.00")  # explicit 元 stays yuan
    assert got["乙"]["tax_paid"] == Decimal("345.00")
    assert got["丙"]["income"] == Decimal("30000.00")
    (rej,) = rejects_of(con, "tax/个税.xlsx")
    assert rej["column_name"] == "tax_year" and rej["raw_value"] == "全年"


def test_business_capital_in_wan(con, inbox):
    rows = sample_rows("business", 4)
    j = rows[0].index("注册资本(万元)")
    for r, v in zip(rows[1:], ["50", "50万元", "500,000元", "1.5万"], strict=True):
        r[j] = v
    write_xlsx(inbox / "business" / "b.xlsx", rows)
    load_feed(con, "business", inbox)
    caps = [r["registered_capital_10k"] for r in _rows(con, "business")]
    assert caps == [Decimal("50"), Decimal("50"), Decimal("50"), Decimal("1.5")]


def test_villages_totals(con, inbox):
    rows = sample_rows("villages", 2)
    total = list(rows[1])
    total[rows[0].index("自然村(组)")] = "合计"
    county_total = ["2024", "安宁县", "合计", None, None, 1, 1, 1, 1, 1, 1]
    write_xlsx(inbox / "villages" / "2024村组.xlsx", [*rows, total, county_total])
    load_feed(con, "villages", inbox)
    got = _rows(con, "villages")
    assert [(r["village_group"], r["is_total"]) for r in got] == [
        ("1组", False),
        ("2组", False),
        (None, True),
    ]
    (rej,) = rejects_of(con, "villages/2024村组.xlsx")
    assert rej["reason_zh"] == "合计行" and rej["row_number"] == 5
    # The total row's 合计 group becomes NULL by design, not as an unreadable value.
    assert query(con, "SELECT * FROM load_warnings") == []


def test_house_safety_grade_alias_and_department_id_reject(con, inbox):
    rows = sample_rows("house_safety", 2)
    rows[1][rows[0].index("鉴定等级")] = "D"
    rows[2][rows[0].index("户主证件号码")] = None
    write_xlsx(inbox / "house_safety" / "h.xlsx", rows)
    load_feed(con, "house_safety", inbox)
    (row,) = _rows(con, "house_safety")
    assert row["grade"] == "D级"
    assert row["appraised_on"] == dt.date(2023, 4, 5)
    assert row["renovated_on"] == dt.date(2023, 10, 1)
    (rej,) = rejects_of(con, "house_safety/h.xlsx")
    assert rej["column_name"] == "head_id_number" and rej["reason_zh"] == "证件号码为空"


def test_numeric_id_column_read_as_number_is_detected(con, inbox):
    """A whole ID column typed as numbers: every row flagged, none guessed."""
    rows = sample_rows("social_insurance", 3)
    j = rows[0].index("证件号码")
    numbers = [make_id(n) for n in range(200, 230) if not make_id(n).endswith("X")]
    for r, number in zip(rows[1:], numbers, strict=False):
        r[j] = int(number)
    write_xlsx(inbox / "social_insurance" / "s.xlsx", rows)
    load_feed(con, "social_insurance", inbox)
    assert _rows(con, "social_insurance") == []
    rejects = rejects_of(con, "social_insurance/s.xlsx")
    assert [r["reason_zh"].startswith("证件号码以数字格式存储") for r in rejects] == [True] * 3
