"""Value parsers, header detection and CSV decoding, without a warehouse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from department_feeds import SPECS
from department_feeds import normalise as nz
from department_feeds.headers import find_header
from department_feeds.reading import RawSheet, ReadError, _rows_frame, cell_text, decode, read_csv

FAST = settings(max_examples=60, deadline=None)


def _one(expr: pl.Expr, value: str | None):
    return pl.DataFrame({"v": [value]}, schema={"v": pl.String}).select(expr.alias("o")).item()


DATE_STYLES = [
    lambda d: d.isoformat(),
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d:%Y%m%d}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d.isoformat()} 00:00:00",
    lambda d: str((d - dt.date(1899, 12, 30)).days),  # Excel serial day number
]


@FAST
@given(st.dates(dt.date(1950, 1, 1), dt.date(2090, 12, 31)), st.sampled_from(DATE_STYLES))
def test_date_styles(d, style):
    assert _one(nz.parse_date(pl.col("v")), style(d)) == d


@pytest.mark.parametrize("text", ["2024-02-30", "2024年13月1日", "明年", "", "1800-01-01", "12"])
def test_bad_dates_are_null(text):
    assert _one(nz.parse_date(pl.col("v")), text) is None


@FAST
@given(st.integers(0, 10**11), st.integers(0, 99))
def test_money_with_thousands_separators(yuan, fen):
    amount = Decimal(yuan) + Decimal(fen) / 100
    styles = [f"{amount:,.2f}", f"{amount:.2f}元", f"￥{amount:,.2f}", f" {amount:,.2f} "]
    for text in styles:
        assert _one(nz.parse_money(pl.col("v")), text) == amount, text


@pytest.mark.parametrize(
    ("text", "yuan"),
    [("3.5万元", "35000"), ("12万", "120000"), ("１，２３４．５", "1234.5"), ("-20", "-20")],
)
def test_money_units(text, yuan):
    assert _one(nz.parse_money(pl.col("v")), text) == Decimal(yuan)


@pytest.mark.parametrize("text", ["约五千", "1.2.3", "12美元"])
def test_bad_money_is_null(text):
    assert _one(nz.parse_money(pl.col("v")), text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("是", True), ("否", False), ("Y", True), ("n", False), ("1", True), ("0", False),
     ("√", True), ("不知道", None), (None, None)],
)  # fmt: skip
def test_yes_no(text, value):
    assert _one(nz.parse_bool(pl.col("v"), ticks=False, inverted=None), text) == value


def test_yes_no_inverted_and_ticks():
    frame = pl.DataFrame({"v": ["是", "否", None], "inv": [True, True, True]})
    out = frame.select(nz.parse_bool(pl.col("v"), ticks=True, inverted=pl.col("inv")))
    assert out.to_series().to_list() == [False, True, True]


@pytest.mark.parametrize(
    ("text", "year"), [("2024", 2024), ("2024年", 2024), ("2024-01至2024-12", 2024),
                       ("202401", 2024), ("2024.0", 2024), ("24", None), ("全年", None)]
)  # fmt: skip
def test_year(text, year):
    assert _one(nz.parse_year(pl.col("v")), text) == year


def test_enum_aliases():
    col = SPECS["register"].column("school_status")
    assert _one(nz.parse_enum(pl.col("v"), col), " 初 三 ") == "九年级"
    assert _one(nz.parse_enum(pl.col("v"), col), "高二") == "高中二年级"
    assert _one(nz.parse_enum(pl.col("v"), col), "小学一年级") == "小学一年级"
    assert _one(nz.parse_enum(pl.col("v"), col), "幼儿园") is None
    work = SPECS["register"].column("work_status")
    assert _one(nz.parse_enum(pl.col("v"), work), "乡（镇）内务工") == "乡(镇)内务工"


@pytest.mark.parametrize("word", ["合计", "总计", "全县合计", "小计：", " 合 计 "])
def test_total_words(word):
    assert _one(nz.is_total_word(pl.col("v")), word) is True


@pytest.mark.parametrize("word", ["合计村", "张合计明天", "计"])
def test_not_total_words(word):
    assert _one(nz.is_total_word(pl.col("v")), word) is False


def test_header_below_titles_with_spacing_and_brackets():
    head = [
        ["安宁县2024年个人所得税明细"],
        [None, "单位：元"],
        [],
        ["证 件 号 码", "纳税人姓名", "所属年度", "收入额（元）", "已缴税额", "其他"],
    ]
    m = find_header(SPECS["tax"], head)
    assert m.row == 3 and m.data_start == 4 and not m.missing
    assert m.fields == {0: "id_number", 1: "name", 2: "tax_year", 3: "income", 4: "tax_paid"}


def test_canonical_header_beats_alias_when_both_present():
    # 证件号码 (canonical) and 纳税人识别号 (alias) in the same row: the canonical wins.
    head = [["纳税人识别号", "证件号码", "所属年度", "收入额"]]
    m = find_header(SPECS["tax"], head)
    assert m.fields[1] == "id_number" and 0 not in m.fields


def test_two_row_header_is_merged():
    head = [
        ["证件号码", "姓名", "所属年度", "收入情况", None],
        [None, None, None, "收入额", "已缴税额"],
        ["x", "y", "2024", "1", "2"],
    ]
    m = find_header(SPECS["tax"], head)
    assert m.data_start == 2
    assert m.fields[3] == "income" and m.fields[4] == "tax_paid"


def test_missing_header_names_what_is_missing():
    m = find_header(SPECS["hukou"], [["公民身份号码", "姓名", "性别"]])
    assert set(m.missing) == {"出生日期", "人员状态"}


def test_cell_text_keeps_types():
    assert cell_text(3.0) == "3"
    assert cell_text(1234.5) == "1234.5"
    assert cell_text(dt.datetime(2024, 3, 1)) == "2024-03-01"
    assert cell_text(dt.datetime(2024, 3, 1, 8, 30)) == "2024-03-01 08:30:00"
    assert cell_text(True) == "TRUE"
    assert cell_text("") is None
    assert cell_text(5.301021990010112e17) == "530102199001011200"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("姓名,证件号码\n张三,1\n".encode(), "utf-8"),
        ("姓名,证件号码\n张三,1\n".encode("utf-8-sig"), "utf-8-sig"),
        ("姓名,证件号码\n张三,1\n".encode("gb18030"), "gb18030"),
        ("姓名,证件号码\n𠀀三,1\n".encode("gb18030"), "gb18030"),  # 4-byte GB18030
        ("姓名,证件号码\n张三,1\n".encode("utf-16"), "utf-16"),
    ],
)
def test_decode(data, encoding):
    text, found = decode(data)
    assert found == encoding
    assert text.lstrip("\ufeff").startswith("姓名,证件号码")


def test_decode_refuses_garbage():
    with pytest.raises(ReadError) as info:
        decode(b"\xef\xbb\xbf\xff\xfe\xfd")
    assert "UTF-8" in info.value.message_zh


def test_read_csv_keeps_width_under_a_title_line():
    sheet, _ = read_csv("标题\na,b,c\n1,2,3\n".encode())
    assert sheet.width == 3
    assert sheet.head_text()[1] == ["a", "b", "c"]


@FAST
@given(
    st.lists(
        st.one_of(
            # Exactly representable integers; larger ones: see the ID-column test below.
            st.integers(-(2**53), 2**53).map(float),
            st.integers(-(10**9), 10**9).map(lambda n: n / 100),
            st.text(max_size=5),
            st.booleans(),
            st.none(),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_row_frame_text_matches_cell_text(values):
    """The Polars row builder fast path gives the same text as cell_text."""

    frame = _rows_frame([[v] for v in values], 1)
    assert frame is not None
    expected = [cell_text(v) for v in values]
    # A text cell spelled true/false is folded like a boolean cell (harmless).
    expected = [
        e.upper() if isinstance(v, str) and v in ("true", "false") else e
        for v, e in zip(values, expected, strict=True)
    ]
    assert frame["c0"].to_list() == expected


def test_sheet_columns_with_dates_fall_back_to_cells():
    rows = [["h1", "h2"], [dt.datetime(2024, 3, 1), 530102199001011234.0], ["x", ""]]
    cols, flags = RawSheet("s", rows=rows).columns(1, {1})
    assert cols[0].to_list() == ["2024-03-01", "x"]
    # The digits the float holds (what cell_text gives); "" is nulled by the loader.
    assert cols[1].to_list() == [str(int(530102199001011234.0)), ""]
    assert flags[1].to_list() == [True, False]


@FAST
@given(st.lists(st.integers(10**15, 10**18 - 1), min_size=1, max_size=20))
def test_number_cells_in_id_columns_give_the_exact_float_digits(numbers):
    """Same text on the fast and the cell-by-cell path for IDs stored as numbers."""

    text_id = "11010519491231002X"
    rows = [["id"], *[[float(n)] for n in numbers], [text_id], ["110105194912310021"]]
    cols, flags = RawSheet("s", rows=rows).columns(1, {0})
    expected = [cell_text(float(n)) for n in numbers] + [text_id, "110105194912310021"]
    assert cols[0].to_list() == expected
    assert flags[0].to_list() == [True] * len(numbers) + [False, False]
