"""The problem list as a form: its columns, the answers a township may give, cell text.

One owner for what ``publishing.workbooks`` writes and ``rectification.feedback``
reads back by header: both import these names, neither declares its own.
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
