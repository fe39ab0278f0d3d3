"""The lists we send as forms: their columns, the answers a township may give, cell text.

Two forms (:data:`FORMS`): the 问题清单 (:data:`PROBLEM_FORM`, outputs.md §1) and
the 监测预警核实清单 (:data:`WARNING_FORM`, monitoring.md §5). One owner for what
``publishing.workbooks`` writes and ``rectification.feedback`` reads back by
header: both import these names, neither declares its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REOPENED_PREFIX = "【重新出现】"
VERIFICATION_VALUES = ("属实", "不属实", "部分属实")
RECTIFICATION_VALUES = ("已整改", "整改中", "无需整改")
STATUS_HEADER = "上次报送处理情况"
FIELD_STATUS_VIEW = "feedback_field_status"
TODO_HEADER = "填报状态"
TODO_PREFIX = "待"  # a 填报状态 starting with this needs the township's (new) answer


@dataclass(frozen=True)
class Column:
    """One column of a village sheet."""

    header: str
    field: str | None  # key in the row dict; None for township fill-in columns
    kind: str  # text | id | wrap | date | seq
    min_width: int
    max_width: int
    fill_in: bool = False


# The 20 columns of outputs.md §1, in order, then 上次报送处理情况 and 填报状态 (locked).
# ``feedback.py`` reads them back by header.
COLUMNS: tuple[Column, ...] = (
    Column("序号", "seq", "seq", 6, 8),
    Column("问题编号", "problem_id", "id", 12, 24),
    Column("自然村(组)", "village_group", "text", 10, 16),
    Column("户编号", "household_id", "id", 10, 24),
    Column("户主姓名", "head_name", "text", 9, 12),
    Column("姓名", "name", "text", 8, 12),
    Column("证件号码", "id_number", "id", 21, 24),
    Column("问题类别", "category", "text", 10, 10),
    Column("问题代码", "rule_code", "text", 12, 22),
    Column("问题描述", "description", "wrap", 30, 40),
    Column("比对部门", "department", "text", 10, 10),
    Column("比对依据", "evidence", "wrap", 20, 32),
    Column("整改要求", "requirement_zh", "wrap", 16, 24),
    Column("整改时限", "due", "date", 12, 12),
    Column("首次发现日期", "first_seen", "date", 14, 14),
    Column("核实结果", None, "text", 10, 10, fill_in=True),
    Column("整改情况", None, "text", 10, 10, fill_in=True),
    Column("整改说明", None, "wrap", 20, 20, fill_in=True),
    Column("核实人", None, "text", 10, 10, fill_in=True),
    Column("核实日期", None, "date", 12, 12, fill_in=True),
    Column(STATUS_HEADER, "field_status", "wrap", 16, 30),
    Column(TODO_HEADER, "todo", "wrap", 16, 24),
)
HEADERS = tuple(c.header for c in COLUMNS)
FILL_IN_HEADERS = tuple(c.header for c in COLUMNS if c.fill_in)

CONCLUSION_VALUES = ("已纳入监测", "符合条件待纳入", "不符合纳入条件", "已是监测对象", "信息有误")
"""核实结论 of the 监测预警核实清单 (monitoring.md §5)."""
INCLUDED_CONCLUSIONS = ("已纳入监测", "已是监测对象")
"""Answers that close a warning once the register shows the household monitored."""
DECISION_CONCLUSIONS = ("不符合纳入条件", "信息有误")
"""Answers that wait for the office's decision, like a waiver (with a 说明)."""


@dataclass(frozen=True)
class Answer:
    """One fill-in column and where its value is stored in ``feedback_responses``."""

    header: str
    response_field: str  # column of feedback_responses
    kind: str  # choice | text | date
    values: tuple[str, ...] = ()  # the dropdown, for kind == "choice"


@dataclass(frozen=True)
class Form:
    """One kind of list: file-name stem, columns in order, fill-in answers."""

    kind: str  # problems | warnings
    title_zh: str  # file name ``<title>_<县>_<乡(镇)>_<YYYYMMDD>.xlsx`` and workbook title
    columns: tuple[Column, ...]
    answers: tuple[Answer, ...]  # the fill-in columns, in column order

    def __post_init__(self) -> None:
        assert tuple(a.header for a in self.answers) == self.fill_in_headers, self.kind

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)

    @property
    def fill_in_headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns if c.fill_in)

    def answer(self, header: str) -> Answer:
        return next(a for a in self.answers if a.header == header)


PROBLEM_FORM = Form(
    kind="problems",
    title_zh="问题清单",
    columns=COLUMNS,
    answers=(
        Answer("核实结果", "verification", "choice", VERIFICATION_VALUES),
        Answer("整改情况", "rectification", "choice", RECTIFICATION_VALUES),
        Answer("整改说明", "note", "text"),
        Answer("核实人", "verifier", "text"),
        Answer("核实日期", "verified_on", "date"),
    ),
)

# monitoring.md §5, in order; 风险类型 comes from the rule (Rule.risk_type_zh),
# 是否在册 from the finding (findings.standing), 核实时限 = first seen + visit_days.
WARNING_COLUMNS: tuple[Column, ...] = (
    Column("序号", "seq", "seq", 6, 8),
    Column("问题编号", "problem_id", "id", 12, 24),
    Column("预警来源部门", "department", "text", 10, 12),
    Column("预警规则", "rule_name_zh", "wrap", 16, 24),
    Column("风险类型", "risk_type", "text", 8, 10),
    Column("乡(镇)", "township", "text", 10, 16),
    Column("行政村", "village", "text", 10, 16),
    Column("户编号", "household_id", "id", 10, 24),
    Column("姓名", "name", "text", 8, 12),
    Column("证件号码", "id_number", "id", 21, 24),
    Column("是否在册", "standing", "text", 10, 14),
    Column("预警依据", "evidence", "wrap", 30, 40),
    Column("首次预警日期", "first_seen", "date", 14, 14),
    Column("核实时限", "due", "date", 12, 12),
    Column("走访日期", None, "date", 12, 12, fill_in=True),
    Column("核实结论", None, "text", 14, 14, fill_in=True),
    Column("说明", None, "wrap", 20, 24, fill_in=True),
    Column("核实人", None, "text", 10, 10, fill_in=True),
    Column(STATUS_HEADER, "field_status", "wrap", 16, 30),
    Column(TODO_HEADER, "todo", "wrap", 16, 24),
)
WARNING_FORM = Form(
    kind="warnings",
    title_zh="监测预警核实清单",
    columns=WARNING_COLUMNS,
    answers=(
        Answer("走访日期", "verified_on", "date"),
        Answer("核实结论", "conclusion", "choice", CONCLUSION_VALUES),
        Answer("说明", "note", "text"),
        Answer("核实人", "verifier", "text"),
    ),
)
FORMS: tuple[Form, ...] = (PROBLEM_FORM, WARNING_FORM)
UNPLACED_TOWNSHIP = "未能定位"
"""乡(镇) of a warning for a person outside the register whose hukou 住址 names no
township of the county (monitoring.md §4): the county-level list for the office."""

XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
EXCEL_CELL_MAX = 32767  # characters (UTF-16 code units) per cell
_TRUNCATED_NOTE = "……【内容过长，已截断，原文共{n}字】"


def _utf16_len(text: str) -> int:
    """Length as Excel counts it: characters beyond U+FFFF (CJK Ext. B…) count two."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_utf16(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units."""
    text = text[:limit]
    while (over := _utf16_len(text) - limit) > 0:
        text = text[: len(text) - max(1, over // 2)]
    return text


def clean_text(value: str) -> tuple[str, int, bool]:
    """``value`` as a cell can hold it: (text, characters replaced, truncated?).

    Characters XML cannot hold become U+FFFD (the cadre sees something was
    there); a text over Excel's 32,767-character limit is cut with a note,
    leaving room for ``REOPENED_PREFIX`` so a prefixed description is not cut
    again (the feedback reader compares ``cell_text`` of the warehouse value).
    """
    text, replaced = XML_ILLEGAL.subn("\ufffd", value)
    if len(text) <= EXCEL_CELL_MAX // 2 or _utf16_len(text) <= EXCEL_CELL_MAX:
        return text, replaced, False
    note = _TRUNCATED_NOTE.format(n=len(value))
    room = EXCEL_CELL_MAX - len(REOPENED_PREFIX) - len(note)
    return cut_utf16(text, room) + note, replaced, True


def cell_text(value: str) -> str:
    """The text a workbook cell shows for ``value`` (what a reader gets back)."""
    return clean_text(value)[0]
