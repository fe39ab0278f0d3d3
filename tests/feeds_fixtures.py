"""Small hand-made feed files for the ingest tests: real xlsx/CSV bytes on disk.

``write_xlsx`` writes with openpyxl exactly what it is given: a ``str`` becomes a
text cell, an ``int``/``float`` a number cell (an 18-digit int is then stored
rounded by openpyxl's ``%.16g``, as Excel itself does), a ``date`` a date cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

import duckdb
import openpyxl

from core.idcard import check_digit


def make_id(n: int = 0, birth: str = "19800101", area: str = "530102") -> str:
    """A valid 18-digit ID number; ``n`` picks the sequence (0–999)."""
    body = f"{area}{birth}{n % 1000:03d}"
    return body + check_digit(body)


def id_with_x(birth: str = "19800101", area: str = "530102") -> str:
    """A valid ID number whose check character is ``X``."""
    for n in range(1000):
        number = make_id(n, birth, area)
        if number.endswith("X"):
            return number
    raise AssertionError("no X check digit found")  # pragma: no cover


def wrong_checksum(number: str) -> str:
    """The same number with a wrong check character."""
    good = number[-1]
    bad = "0" if good != "0" else "1"
    return number[:-1] + bad


Row = Sequence[object]


def write_xlsx(
    path: Path,
    rows: Sequence[Row],
    *,
    title_rows: Sequence[Row] = (),
    sheet: str = "Sheet1",
    extra_sheets: dict[str, Sequence[Row]] | None = None,
) -> Path:
    """A workbook whose first sheet holds ``title_rows`` then ``rows`` (header first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for r in [*title_rows, *rows]:
        ws.append(list(r))
    for name, more in (extra_sheets or {}).items():
        other = wb.create_sheet(name)
        for r in more:
            other.append(list(r))
    wb.save(path)
    return path


def write_csv(
    path: Path,
    rows: Sequence[Row],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    title_lines: Sequence[str] = (),
) -> Path:
    """A CSV file in ``encoding`` (``utf-8-sig`` writes a BOM)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    for line in title_lines:
        buf.write(line + "\n")
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> list[dict]:
    """Rows of a query as dicts."""
    rel = con.execute(sql, list(params))
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def loads_row(con: duckdb.DuckDBPyConnection, source_file: str) -> dict:
    rows = query(con, "SELECT * FROM loads WHERE source_file = ?", [source_file])
    assert len(rows) == 1, rows
    return rows[0]


def rejects_of(con: duckdb.DuckDBPyConnection, source_file: str) -> list[dict]:
    return query(
        con, "SELECT * FROM rejects WHERE source_file = ? ORDER BY row_number", [source_file]
    )


# --------------------------------------------------------------------------- per feed

REGISTER_HEADER = [
    "年度",
    "县(市、区)",
    "乡(镇)",
    "行政村",
    "自然村(组)",
    "户编号",
    "姓名",
    "证件号码",
    "性别",
    "与户主关系",
    "在校生状况",
    "是否参加城乡居民基本医疗保险",
    "是否参加城乡居民基本养老保险",
    "户类型",
    "户状态",
    "家庭人口数",
    "家庭年纯收入",
    "年人均纯收入",
]


def register_row(i: int, **over: object) -> list[object]:
    """One valid register row (canonical headers, ``REGISTER_HEADER`` order)."""
    values: dict[str, object] = {
        "年度": "2024",
        "县(市、区)": "安宁县",
        "乡(镇)": "青山镇",
        "行政村": "河口村",
        "自然村(组)": "一组",
        "户编号": f"H{i // 3:04d}",
        "姓名": f"张{i}",
        "证件号码": make_id(i),
        "性别": "男",
        "与户主关系": "户主",
        "在校生状况": "非在校生",
        "是否参加城乡居民基本医疗保险": "是",
        "是否参加城乡居民基本养老保险": "否",
        "户类型": "一般户",
        "户状态": "已脱贫",
        "家庭人口数": 3,
        "家庭年纯收入": "36000",
        "年人均纯收入": "12000",
    }
    values.update(over)
    return [values[h] for h in REGISTER_HEADER]


FEED_SAMPLES: dict[str, dict[str, object]] = {
    "villages": {
        "年度": "2024",
        "县(市、区)": "安宁县",
        "乡(镇)": "青山镇",
        "行政村": "河口村",
        "自然村(组)": "一组",
        "总户数": 120,
        "总人口数": 450,
        "建档立卡户数": 30,
        "建档立卡人口数": 100,
        "低保户数": 5,
        "劳动力人数": 200,
    },
    "hukou": {
        "公民身份号码": make_id(1),
        "姓名": "李四",
        "性别": "女",
        "出生日期": "1980-01-01",
        "户号": "A001",
        "住址": "青山镇河口村",
        "人员状态": "正常",
        "注销日期": None,
    },
    "vehicles": {
        "所有人证件号码": make_id(2),
        "所有人": "王五",
        "号牌号码": "云A12345",
        "车辆类型": "小型轿车",
        "使用性质": "非营运",
        "初次登记日期": "2019-05-06",
        "机动车状态": "正常",
    },
    "tax": {
        "证件号码": make_id(3),
        "纳税人姓名": "赵六",
        "所属年度": "2024",
        "收入额": "120,000.00",
        "已缴税额": "3,480",
        "扣缴义务人": "某某有限公司",
    },
    "property": {
        "权利人证件号码": make_id(4),
        "权利人": "钱七",
        "坐落": "安宁县城关镇1号",
        "建筑面积": "98.5",
        "规划用途": "住宅",
        "房屋性质": "商品房",
        "区域": "城镇",
        "登记日期": "2021/3/1",
    },
    "house_safety": {
        "户主证件号码": make_id(5),
        "户主姓名": "孙八",
        "鉴定等级": "C级",
        "鉴定日期": "2023年4月5日",
        "改造状态": "已竣工",
        "竣工日期": "20231001",
    },
    "business": {
        "证件号码": make_id(6),
        "姓名": "周九",
        "主体名称": "安宁县周九百货店",
        "统一社会信用代码": "92530102MA6K000001",
        "主体类型": "个体工商户",
        "人员角色": "经营者",
        "注册资本(万元)": "10",
        "成立日期": "2018-08-08",
        "登记状态": "存续",
    },
    "social_insurance": {
        "证件号码": make_id(7),
        "姓名": "吴十",
        "险种": "企业职工基本养老保险",
        "参保状态": "参保缴费",
        "单位名称": "某某有限公司",
        "单位类型": "企业",
        "缴费基数(元/月)": "4,500",
        "年度": "2024",
    },
    "civil_affairs": {
        "证件号码": make_id(8),
        "姓名": "郑一",
        "救助类型": "农村低保",
        "保障人数": "3",
        "月保障金额": "450.00",
        "起始日期": "2023-03-01",
        "终止日期": None,
        "状态": "在保",
        "乡(镇)": "青山镇",
        "行政村": "河口村",
    },
    "medical": {
        "证件号码": make_id(9),
        "姓名": "王二",
        "年度": "2024",
        "参保类型": "城乡居民基本医疗保险",
        "参保状态": "正常参保",
        "资助参保类别": "脱贫人口",
        "医疗总费用": "12,500.00",
        "基金支付": "9,800.00",
        "个人自付": "2,700.00",
    },
    "education": {
        "身份证件号": make_id(10, birth="20120901"),
        "姓名": "冯三",
        "学年": "2024-2025",
        "学校名称": "安宁县第一中学",
        "学段": "初中",
        "年级": "七年级",
        "学籍状态": "在读",
    },
    "disability": {
        "残疾人证号": make_id(11) + "42",
        "姓名": "陈四",
        "残疾类别": "肢体",
        "残疾等级": "二级",
        "发证日期": "2020-06-01",
        "证件状态": "有效",
    },
}
"""One valid row per department feed (and villages), canonical header → value."""


def sample_rows(feed: str, n: int = 3, **over: object) -> list[list[object]]:
    """Header plus ``n`` valid rows of a feed; ID columns get distinct valid numbers."""
    sample = dict(FEED_SAMPLES[feed])
    sample.update(over)
    header = list(sample)
    rows: list[list[object]] = [header]
    for i in range(n):
        row = dict(sample)
        for h in header:
            if "证件号码" in h or h in ("公民身份号码", "身份证件号"):
                row[h] = make_id(100 + i)
            if h == "残疾人证号":  # the ID number + 残疾类别 and 残疾等级 digits
                row[h] = make_id(100 + i) + "42"
        if feed == "villages":
            row["自然村(组)"] = f"{i + 1}组"
        if feed == "vehicles":
            row["号牌号码"] = f"云A{10000 + i}"
        rows.append([row[h] for h in header])
    return rows


def today() -> dt.date:
    return dt.date.today()
