"""Township lists: one 问题清单 and one 监测预警核实清单 workbook per township per run.

Two forms (``rectification.form.FORMS``), written alike: the 问题清单
(:data:`PROBLEM_FORM`, outputs.md §1, :func:`write_township_workbooks`) holds
every finding but those of early-warning rules (``checks.rules.WARNING_RULE_CODES``);
the 监测预警核实清单 (:data:`WARNING_FORM`, monitoring.md §5,
:func:`write_warning_workbooks`) holds exactly those, in the same township
folder. Findings ``waived`` or ``included`` (已纳入监测) are on neither. A
township gets a workbook of a form only when it has rows for it.

Layout of the 问题清单 (outputs.md §1), as a cadre sees it:

- Sheet ``汇总`` first. Table 1: one row per 行政村 with one column per 问题类别
  (the six categories, always all six so every township reads the same layout),
  合计, 其中：本次新增, 其中：重新出现, 上次清单以来已整改, then a 合计 row.
  Table 2 below it: one row per rule present (Chinese rule name, 问题类别), one
  column per 行政村, 合计, and the rule code last. Each village name in table 1 links to its sheet.
- Then one sheet per 行政村, rows sorted by 自然村(组), 户编号, 问题代码 (natural
  order, so ``2组`` comes before ``10组``), with the columns of the form.
- A finding whose status is ``reopened`` (reported rectified, found again) has
  its 问题描述 prefixed with ``【重新出现】`` and that cell filled light orange: the
  prefix survives black-and-white printing and filtering, the colour catches the
  eye. ``feedback.py`` strips the prefix again before comparing descriptions.
- Pipeline columns are locked, the township columns unlocked, with list
  validation on each answer of kind ``choice`` (核实结果 / 整改情况) and a date
  validation on each of kind ``date`` (核实日期). Sheets are
  protected without a password; sorting, filtering and resizing columns/rows are
  allowed by the protection flags (note: Excel itself still refuses to *sort* a
  range containing locked cells on a protected sheet; filtering works).
- After the township columns, a locked 上次报送处理情况 column says which
  fields of the township's last returned answer were not accepted and why (view
  ``feedback_field_status``, made by the feedback reader; empty when it is absent).
- **Answers carried forward** (issue 13): the fill-in cells hold the
  township's latest accepted answer (``feedback_responses``, latest by
  ``rectification.status.LATEST_ORDER``; only an answer the same township gave;
  each fill-in header read from its ``Answer.response_field``),
  unlocked and editable. The reader (``feedback.py``) takes a row returned with
  exactly that answer as unchanged, not as a new answer. The last column,
  填报状态 (locked, :func:`todo_status`), says whether the row needs the
  township: text starting ``待`` (no answer, found again after 已整改, 不属实
  without a reason, 属实 without 整改情况, 整改中 past 整改时限); those rows
  have 序号, the fill-in cells and 填报状态 filled light red, and 汇总 row 4
  gives their number (``待填报 N 条``).
- Screen and paper: panes are frozen right of 姓名 below the header, so 序号 …
  姓名 stay in view beside the fill-in columns; A3 landscape, fitted to one page
  wide, header row repeated on every printed page, long texts wrapped.
- A very-hidden last sheet (``rectification.authority.MARKER_SHEET``) holds the signed
  (county, township, run date) marker the feedback reader verifies on return.

The 监测预警核实清单 differs only where its form does: its columns (预警规则,
风险类型 from ``Rule.risk_type_zh``, 是否在册 from ``findings.standing``, 核实时限
= ``findings.due_date``), one dropdown (核实结论) and a date validation (走访日期);
rows sorted by 户编号 (people outside the register last), 姓名; 填报状态 from
:func:`warning_todo_status` (overdue: past 核实时限 with no 核实结论 or still
符合条件待纳入); 汇总 counts per 行政村 × 风险类型 with 待走访核实, 已超过核实时限
and 已报送, then per 预警规则 × 行政村. Warnings for people whose hukou address
names no township go to the township ``未能定位`` (``UNPLACED_TOWNSHIP``):
``未能定位/监测预警核实清单_<县>_未能定位_<YYYYMMDD>.xlsx``, for the office.

Isolation: each workbook is built from queries bound to its own (county,
township) parameters; nothing else is ever read into it (上次报送处理情况 notes
are read once a night and looked up by the workbook's own problem ids).

Hostile data (issue 9): every text is written as a string cell, never a formula,
with Excel's quote prefix when it starts like one; characters XML cannot hold
become U+FFFD; a text over Excel's cell limit is cut with a visible note. Folder
and file names are cleaned, length-capped and unique on case- and
Unicode-folding file systems (Windows, macOS); no path is written twice. Folder
names are worked out over the townships of both forms, so a township's two
lists always share one folder.

Written with openpyxl ``write_only`` (streaming): freeze panes and column widths
are set before the first append; validations, protection, autofilter and page
setup are written when each sheet is closed (right after its rows). Text holding
``_xHHHH_`` or a CR is stored escaped as Excel does: Excel and calamine read the
original back, openpyxl's reader shows the escape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from copy import copy
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.hyperlink import Hyperlink

from checks import rules as catalogue  # read at call time: tests may extend the catalogue
from checks.rules.base import CATEGORIES
from rectification.authority import MARKER_SHEET, ensure_signing_key, make_marker, signing_key
from rectification.form import (  # noqa: F401  (re-exported for the writers' callers)
    COLUMNS,
    DECISION_CONCLUSIONS,
    EXCEL_CELL_MAX,
    FIELD_STATUS_VIEW,
    FILL_IN_HEADERS,
    FORMS,
    HEADERS,
    INCLUDED_CONCLUSIONS,
    PROBLEM_FORM,
    RECTIFICATION_VALUES,
    REOPENED_PREFIX,
    STATUS_HEADER,
    TODO_HEADER,
    TODO_PREFIX,
    UNPLACED_TOWNSHIP,
    VERIFICATION_VALUES,
    WARNING_FORM,
    XML_ILLEGAL,
    Column,
    Form,
    cell_text,
    clean_text,
    cut_utf16,
)
from rectification.status import LATEST_RESPONSES_SQL

log = logging.getLogger(__name__)

SUMMARY_SHEET = "汇总"
COUNT_WIDTH = 12  # width of the count columns of 汇总
# Freeze panes right of 姓名 and below the header: 序号 … 姓名 stay in view.
FREEZE_CELL = get_column_letter(HEADERS.index("姓名") + 2) + "2"
LISTED_OUT_STATUSES = ("waived", "included")
"""Statuses left off both lists: the office accepted a waiver; the register shows
the household monitored after a 已纳入监测 answer (rectification.status)."""

# Excel date serials of 2000-01-01 and 2099-12-31: plain numbers behave the same
# in Excel, WPS and LibreOffice, unlike DATE() formulas in validation rules.
_DATE_MIN_SERIAL = 36526
_DATE_MAX_SERIAL = 73050

_SHEET_BAD_CHARS = re.compile(r"[\[\]:*?/\\]")
_PATH_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
# Characters XML 1.0 cannot hold (openpyxl refuses the C0 controls; U+FFFE/U+FFFF
# and lone surrogates pass it and make a file no reader opens).
# Excel (and calamine) decode _xHHHH_ in cell text; the literal text needs _x005F_.
_EXCEL_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
# Bidi controls and invisible characters: they disguise names (…\u202excod.exe).
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_EDGE = re.compile(r"^[\s.]+|[\s.]+$")
_WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?", re.IGNORECASE)
# A cell Excel/WPS/LibreOffice would turn into a formula when it is edited.
FORMULA_TRIGGERS = frozenset("=+-@＝＋－＠")
# Bytes of the township / county part of a folder or file name (UTF-8, 3 per
# Chinese character): file names stay far below Linux's 255 bytes per component
# and Windows' 260-character paths.
TOWNSHIP_PART_BYTES = 60
COUNTY_PART_BYTES = 45
PATH_COMPONENT_MAX_BYTES = 150
# What else the night writes beside the township folders (assets/outputs.py,
# assets/expectations.py): a township must never take one of these names.
OUTBOX_NAMES = frozenset({"problems.csv", "rejects.csv", "report.html", "data_docs"})
# Excel has 16,384 columns: table 2 of 汇总 lists villages as columns up to this.
MAX_TABLE2_VILLAGES = 16_000


@dataclass
class WorkbookInfo:
    """What was written for one township."""

    county: str | None
    township: str | None
    path: Path
    form: str = PROBLEM_FORM.kind  # problems | warnings (rectification.form.Form.kind)
    villages: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    rows: int = 0  # findings listed (all village sheets)
    new: int = 0
    reopened: int = 0
    rectified_since_last: int = 0
    todo: int = 0  # rows whose 填报状态 asks for an answer or an update
    carried: int = 0  # rows whose fill-in cells hold the township's last accepted answer
    overdue: int = 0  # warnings past 核实时限 with no 核实结论 or still 符合条件待纳入


# --------------------------------------------------------------------------- helpers


def _digits(run: str) -> str:
    """A run of decimal digits (any script) as ASCII without leading zeros."""
    if not run.isascii():
        run = "".join(str(unicodedata.digit(ch)) for ch in run)
    return run.lstrip("0") or "0"


def natural_key(value: str | None) -> tuple:
    """Sort key putting ``2组`` before ``10组``; None sorts first.

    Numbers compare by length, then digits: no ``int()``, which refuses over
    4,300 digits, and ``str.isdigit`` is not used (true for ① and ², which
    ``int()`` rejects). The odd items of the split are the digit runs.
    """
    if value is None:
        return ()
    parts = re.split(r"(\d+)", value)
    return tuple(
        (0, len(d := _digits(p)), d, "") if i % 2 else (1, 0, "", p)
        for i, p in enumerate(parts)
        if p
    )


def display_width(text: str) -> int:
    """Approximate column width units: CJK and full-width characters count 2.

    (UTF-8 bytes + characters) / 2 gives 1 for ASCII and 2 for every 3-byte
    character (CJK, full-width forms) in C speed; a per-character
    ``unicodedata.east_asian_width`` loop cost ~0.5 s per 10,000 findings.
    """
    return (len(text.encode("utf-8", "surrogatepass")) + len(text)) // 2


def wrapped_lines(text: str, width: float) -> int:
    """Lines ``text`` takes in a wrapping column of ``width`` units (estimate)."""
    usable = max(width - 1.5, 1)
    return sum(max(1, math.ceil(display_width(p) / usable)) for p in text.split("\n"))


MAX_ROW_HEIGHT = 409.0  # points: Excel's limit; a taller row is a "repair" prompt


def row_height(lines: int) -> float:
    """Points for ``lines`` lines of 11-pt text (CJK fonts run a little taller)."""
    return min(15.0 * lines + 2.0, MAX_ROW_HEIGHT)


def fold(name: str) -> str:
    """Names Windows/macOS file systems (and Excel sheet names) treat as the same."""
    return unicodedata.normalize("NFKC", name).casefold()


def _tag(*parts: object) -> str:
    """Short stable hash of the exact values (None and "" differ)."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:8]


def _cap_bytes(part: str, limit: int, tag: str) -> tuple[str, bool]:
    """``part`` within ``limit`` UTF-8 bytes; a shortened part ends in ``_<tag>``."""
    raw = part.encode()
    if len(raw) <= limit:
        return part, False
    keep = raw[: limit - len(tag) - 1].decode("utf-8", "ignore")
    return f"{keep}_{tag}", True


def safe_path_part(name: str | None, default: str) -> str:
    """A folder/file name component: no path separators, characters Windows
    rejects, bidi or invisible characters, leading/trailing dots or spaces, or
    Windows device names (CON, NUL, COM1…). Not length-capped (see township_paths)."""
    cleaned = _INVISIBLE.sub("", name or "")
    cleaned = unicodedata.normalize("NFC", XML_ILLEGAL.sub("_", cleaned))
    cleaned = _EDGE.sub("", _PATH_BAD_CHARS.sub("_", cleaned))
    if _WINDOWS_RESERVED.fullmatch(cleaned):
        cleaned += "_"
    return cleaned or default


def township_paths(
    pairs: list[tuple[str | None, str | None]],
    run_date: date,
    title: str = PROBLEM_FORM.title_zh,
) -> dict[tuple[str | None, str | None], tuple[str, str]]:
    """(county, township) -> (folder, file name) for every township of the night.

    ``<乡(镇)>/<title>_<县>_<乡(镇)>_<YYYYMMDD>.xlsx`` (``title``: the form's
    ``title_zh``, 问题清单 by default), unique per (county,
    township) even where file systems fold case and Unicode forms: when cleaned
    names collide, each colliding township gets ``_<hash of its exact name>``,
    except one whose name needed no cleaning (东风镇 keeps its folder when 东风镇.
    appears). Over-long parts are cut and get the hash too, as do names of the
    night's other outputs (problems.csv, data_docs…). Deterministic: the same
    names give the same paths whatever else the night holds.
    """
    township_part: dict[tuple, str] = {}
    county_part: dict[tuple, str] = {}
    tagged: set[tuple] = set()
    for county, township in pairs:
        key = (county, township)
        c, _ = _cap_bytes(safe_path_part(county, "未填县"), COUNTY_PART_BYTES, _tag(county))
        t, cut = _cap_bytes(
            safe_path_part(township, "未填乡镇"), TOWNSHIP_PART_BYTES, _tag(county, township)
        )
        if not cut and fold(t) in OUTBOX_NAMES:
            t, cut = f"{t}_{_tag(county, township)}", True
        county_part[key], township_part[key] = c, t
        if cut:
            tagged.add(key)
    groups: dict[str, list[tuple]] = defaultdict(list)
    for key, t in township_part.items():
        groups[fold(t)].append(key)
    for members in groups.values():
        if len(members) < 2:
            continue
        exact = [k for k in members if k[1] == township_part[k] and k not in tagged]
        keep = exact[0] if len(exact) == 1 else None
        log.warning(
            "township names %s collide as folder/file name %r; adding a hash to all but %r",
            [k[1] for k in members],
            township_part[members[0]],
            keep and keep[1],
        )
        for k in members:
            if k != keep and k not in tagged:
                township_part[k] = f"{township_part[k]}_{_tag(*k)}"
                tagged.add(k)
    out = {
        k: (t, f"{title}_{county_part[k]}_{t}_{run_date:%Y%m%d}.xlsx")
        for k, t in township_part.items()
    }
    folders = Counter(fold(folder) for folder, _ in out.values())
    clash = [k for k, (folder, _) in out.items() if folders[fold(folder)] > 1]
    if clash:  # a real name equal to another's hashed name: never overwrite
        raise RuntimeError(f"townships {clash!r} still share a folder after disambiguation")
    return out


def sheet_title(name: str | None, used: set[str]) -> str:
    """Valid, unique (case-insensitively) Excel sheet name for a village.

    Excel: at most 31 characters, none of ``[]:*?/\\``, no leading or trailing
    apostrophe, not ``History`` (reserved). ``used`` holds :func:`fold` ed titles;
    characters XML cannot hold become U+FFFD.
    """
    base = _SHEET_BAD_CHARS.sub("_", XML_ILLEGAL.sub("\ufffd", name or ""))
    base = base.strip().strip("'") or "未填行政村"
    if base.casefold() == "history":
        base = base + "_"
    candidate = cut_utf16(base, 31)
    n = 2
    while fold(candidate) in used:
        suffix = f"({n})"
        candidate = cut_utf16(base, 31 - len(suffix)) + suffix
        n += 1
    used.add(fold(candidate))
    return candidate


def previous_run_date(con: duckdb.DuckDBPyConnection, run_date: date) -> date | None:
    """The run before ``run_date``: the latest date in finding_history before it.

    Every date in finding_history (first_seen, last_seen, resolved_on) is a run
    date, so the previous distinct one is the previous run.
    """
    row = con.execute(
        """
        SELECT max(d) FROM (
            SELECT first_seen AS d FROM finding_history
            UNION SELECT last_seen FROM finding_history
            UNION SELECT resolved_on FROM finding_history
        ) WHERE d < ?
        """,
        [run_date],
    ).fetchone()
    return row[0] if row else None


# ------------------------------------------------------------------------------ styles


class _Styles:
    """Style objects shared by all cells (openpyxl de-duplicates them per workbook)."""

    thin = Side(style="thin", color="BFBFBF")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    header_font = Font(bold=True)
    title_font = Font(bold=True, size=14)
    header_fill = PatternFill("solid", fgColor="DDEBF7")  # pipeline columns: light blue
    fill_in_header_fill = PatternFill("solid", fgColor="FFF2CC")  # township columns: light yellow
    reopened_fill = PatternFill("solid", fgColor="FCE4D6")  # light orange
    todo_fill = PatternFill("solid", fgColor="FFC7CE")  # light red: still needs an answer
    total_fill = PatternFill("solid", fgColor="F2F2F2")
    header_align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    top = Alignment(vertical="top")
    wrap = Alignment(vertical="top", wrap_text=True)
    centre = Alignment(horizontal="center", vertical="top")
    unlocked = Protection(locked=False)
    date_format = "yyyy-mm-dd"


class _CellMaker:
    """Makes styled write-only cells for one workbook: the one place cells are made.

    Text is always a string cell: openpyxl would make any str starting with "="
    a formula. A text that starts like a formula (after blanks) also gets Excel's
    quote prefix, so Excel, WPS and LibreOffice keep it text when a cadre edits
    the cell. Characters XML cannot hold and over-long texts are counted.

    Setting font/fill/alignment through openpyxl's descriptors hashes the style
    objects on every cell (about 2/3 of the run time for 5,000 findings). The
    resulting style-id array only depends on the style arguments, so it is
    computed once per combination and copied onto each new cell.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}
        self.replaced = 0  # characters replaced by U+FFFD
        self.truncated = 0  # texts cut at Excel's cell limit

    def __call__(
        self,
        ws,
        value: Any,
        *,
        font=None,
        fill=None,
        alignment=None,
        number_format=None,
        protection=None,
        border=True,
    ) -> WriteOnlyCell:
        quote = False
        if isinstance(value, str):
            value, replaced, truncated = clean_text(value)
            self.replaced += replaced
            self.truncated += truncated
            first = value.lstrip()[:1]  # "\t=1+1" is a formula to Excel too
            quote = bool(first) and first in FORMULA_TRIGGERS
            if "_x" in value:
                value = _EXCEL_ESCAPE.sub(r"_x005F_\1", value)
            if "\r" in value:  # XML readers turn a raw CR into LF; Excel writes _x000D_
                value = value.replace("\r", "_x000D_")
        cell = WriteOnlyCell(ws, value)
        if isinstance(value, str):
            cell.data_type = "s"  # never a formula
        key = (id(font), id(fill), id(alignment), number_format, id(protection), border, quote)
        style = self._cache.get(key)
        if style is None:
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
            if alignment is not None:
                cell.alignment = alignment
            if number_format is not None:
                cell.number_format = number_format
            if protection is not None:
                cell.protection = protection
            if border:
                cell.border = _Styles.border
            if quote:
                cell.quotePrefix = True
            # The ids are indexes into this workbook's style tables (shared by its sheets).
            self._cache[key] = copy(cell._style)
        else:
            cell._style = copy(style)
        return cell


def _protect(ws) -> None:
    """Protection without password; allow sorting, filtering, resizing (False = allowed)."""
    p = ws.protection
    p.sheet = True
    p.sort = False
    p.autoFilter = False
    p.formatColumns = False
    p.formatRows = False
    p.selectLockedCells = False
    p.selectUnlockedCells = False


def _page_setup(ws, header_rows: str | None) -> None:
    """Landscape A3, fit to page width, header row repeated: lists get printed.

    Twenty columns on A4 would print at about 40 %; A3 (common in township
    offices) gives about 60 %. The paper can still be changed when printing.
    """
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 8  # A3
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if header_rows:
        ws.print_title_rows = header_rows


# ------------------------------------------------------------------------------ queries

# Which findings a form lists: those of early-warning rules on the 监测预警核实清单,
# all others (a NULL rule code too) on the 问题清单; never a waived or included one.
# Parameters: the warning rule codes, then whether the form is the warning form.
_IS_WARNING = "coalesce(list_contains(?::VARCHAR[], rule_code), false)"
_LISTED = "coalesce(status, '') NOT IN ({})".format(
    ", ".join(f"'{s}'" for s in LISTED_OUT_STATUSES)
)
_TOWNSHIPS_SQL = f"""
SELECT DISTINCT county, township, {_IS_WARNING} AS warning
FROM findings
WHERE {_LISTED}
ORDER BY township, county
"""
_FINDINGS_SQL = f"""
SELECT problem_id, village, village_group, household_id, head_name, name, id_number,
       category, rule_code, rule_name_zh, description, department, evidence,
       requirement_zh, severity, first_seen, status, due_date
FROM findings
WHERE county IS NOT DISTINCT FROM ? AND township IS NOT DISTINCT FROM ?
  AND {_LISTED} AND {_IS_WARNING} = ?
"""
_WARNING_FINDINGS_SQL = f"""
SELECT problem_id, township, village, household_id, name, id_number, category,
       rule_code, rule_name_zh, department, evidence, severity, first_seen, status,
       due_date, standing
FROM findings
WHERE county IS NOT DISTINCT FROM ? AND township IS NOT DISTINCT FROM ?
  AND {_LISTED} AND {_IS_WARNING} = ?
"""
_FIELD_STATUS_SQL = f"""
SELECT problem_id, string_agg(DISTINCT note_zh, '；' ORDER BY note_zh)
FROM {FIELD_STATUS_VIEW} WHERE problem_id IS NOT NULL AND note_zh IS NOT NULL
GROUP BY problem_id
"""

_RECTIFIED_SQL = f"""
SELECT village, count(*) AS n
FROM finding_history
WHERE township IS NOT DISTINCT FROM ?
  AND status = 'resolved'
  AND resolved_on > ? AND resolved_on <= ?
  AND {_IS_WARNING} = ?
GROUP BY village
"""


def _warning_codes() -> list[str]:
    """The early-warning rule codes of the catalogue (their findings: WARNING_FORM)."""
    return sorted(catalogue.WARNING_RULE_CODES)


def _risk_type(code: str | None) -> str | None:
    """风险类型 of a warning rule's findings (``Rule.risk_type_zh``)."""
    rule = catalogue.RULES_BY_CODE.get(code)
    return None if rule is None else rule.risk_type_zh


def _field_status_notes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """problem_id -> 上次报送处理情况, from ``feedback_field_status``; read once a night.

    The view comes from the feedback reader; on a first run it does not exist yet.
    A view that exists but fails must not cost the night its lists: warn, leave
    the column empty.
    """
    (exists,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema() AND table_catalog = current_database()",
        [FIELD_STATUS_VIEW],
    ).fetchone()
    if not exists:
        return {}
    try:
        return dict(con.execute(_FIELD_STATUS_SQL).fetchall())
    except duckdb.Error as exc:
        log.warning("%s unreadable, 上次报送处理情况 left empty: %s", FIELD_STATUS_VIEW, exc)
        return {}


Answer = dict[str, Any]  # fill-in header -> value


def _latest_answers(
    con: duckdb.DuckDBPyConnection, form: Form = PROBLEM_FORM
) -> dict[str, tuple[str | None, Answer]]:
    """problem_id -> (township answering, {fill-in header: value}); read once a night.

    The latest accepted answer per problem (rectification.status's one
    definition); each fill-in header of ``form`` from its ``Answer.response_field``.
    ``feedback_responses`` holds accepted answers only, each for a problem of the
    township whose signed list it came back on. No table yet (first run) or an
    unreadable one: no answers carried (warned), the lists are still written.
    """
    (exists,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'feedback_responses' "
        "AND table_schema = current_schema() AND table_catalog = current_database()"
    ).fetchone()
    if not exists:
        return {}
    fields = ", ".join(a.response_field for a in form.answers)
    try:
        rows = con.execute(
            f"SELECT problem_id, township, {fields} FROM ({LATEST_RESPONSES_SQL})"
        ).fetchall()
    except duckdb.Error as exc:
        log.warning("feedback_responses unreadable, answers not carried forward: %s", exc)
        return {}
    return {
        pid: (township, dict(zip(form.fill_in_headers, rest, strict=True)))
        for pid, township, *rest in rows
    }


def todo_status(status: str | None, answer: Answer | None, due: date | None, run_date: date) -> str:
    """填报状态 of a listed finding; text starting with :data:`TODO_PREFIX` needs action.

    - found again after 已整改 (or after it had disappeared): re-check, whatever
      the last answer says;
    - no answer, or none of it a 核实结果: 待填报;
    - 不属实 without 整改说明 (no waiver can be considered without the reason),
      属实/部分属实 without 整改情况, 整改中 past 整改时限: 待补充 / 待更新;
    - otherwise answered: 不属实 with a reason waits for the office's decision,
      整改中 within its deadline waits for the work.
    """
    if status == "reopened":
        return "待重新核实：此前报已整改（或问题曾消失），本次比对再次发现"
    verification = (answer or {}).get("核实结果")
    if verification is None:
        return "待填报"
    if verification == "不属实":
        if not (answer.get("整改说明") or "").strip():
            return "待补充：核实结果为不属实，请在整改说明中写明核实情况"
        return "已报送：不属实，待区扶贫办审核"
    rectification = answer.get("整改情况")
    if rectification is None:
        return "待补充：请填写整改情况"
    if rectification == "整改中":
        if due is not None and due < run_date:
            return f"待更新：整改中，已过整改时限（{due:%Y-%m-%d}），请更新整改情况"
        return "已报送：整改中"
    return f"已报送：{rectification}"


PENDING_CONCLUSION = "符合条件待纳入"
"""The 核实结论 that still asks the township to act (complete the 纳入 procedure)."""


def warning_overdue(answer: Answer | None, due: date | None, run_date: date) -> bool:
    """A listed warning is overdue: past its 核实时限 with no 核实结论, or still
    符合条件待纳入 (issue 12 interface, decision 6)."""
    conclusion = (answer or {}).get("核实结论")
    return due is not None and due < run_date and conclusion in (None, PENDING_CONCLUSION)


def warning_todo_status(
    status: str | None, answer: Answer | None, due: date | None, run_date: date
) -> str:
    """填报状态 of a listed warning; text starting with :data:`TODO_PREFIX` needs action.

    - found again after it had disappeared: visit again;
    - no 核实结论: 待走访核实 (overdue past 核实时限);
    - 符合条件待纳入: 待纳入 until the township answers 已纳入监测 (overdue too);
    - 不符合纳入条件 / 信息有误 without 说明: 待补充 (the office decides on the
      reason); with it, 已报送, waiting for the office like a waiver;
    - 已纳入监测 / 已是监测对象: 已报送, closed when the register shows it.
    """
    late = f"已超过核实时限（{due:%Y-%m-%d}）" if warning_overdue(answer, due, run_date) else ""
    if status == "reopened":
        text = "待重新核实：此前预警曾消失，本次比对再次发现，请重新走访核实"
        return f"{text}；{late}" if late else text
    conclusion = (answer or {}).get("核实结论")
    if conclusion is None:
        return f"待走访核实：{late}" if late else "待走访核实"
    if conclusion == PENDING_CONCLUSION:
        return f"待纳入：{PENDING_CONCLUSION}，{late + '，' if late else ''}请完成纳入程序后改为已纳入监测"
    if conclusion in DECISION_CONCLUSIONS:
        if not (answer.get("说明") or "").strip():
            return f"待补充：核实结论为{conclusion}，请在说明中写明理由"
        return f"已报送：{conclusion}，待区扶贫办审核"
    if conclusion in INCLUDED_CONCLUSIONS:
        return f"已报送：{conclusion}，待登记数据核验"
    return f"已报送：{conclusion}"


def _rows_for(
    con, county, township, notes: dict[str, str], answers, form: Form = PROBLEM_FORM
) -> list[dict[str, Any]]:
    warnings = form is WARNING_FORM
    sql = _WARNING_FINDINGS_SQL if warnings else _FINDINGS_SQL
    cur = con.execute(sql, [county, township, _warning_codes(), warnings])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["field_status"] = notes.get(r["problem_id"])
        answered_by, answer = answers.get(r["problem_id"], (None, None))
        # Only this township's own answer (a problem moved elsewhere starts afresh).
        r["answer"] = answer if answer is not None and answered_by == township else None
        if warnings:
            r["risk_type"] = _risk_type(r["rule_code"])
    return rows


# ------------------------------------------------------------------------------ writing


def write_township_workbooks(
    con: duckdb.DuckDBPyConnection,
    run_date: date,
    out_dir: Path,
    due_days: dict[str, int],
) -> list[WorkbookInfo]:
    """Write ``out_dir/<乡(镇)>/问题清单_<县>_<乡(镇)>_<YYYYMMDD>.xlsx`` for every township.

    Reads ``findings`` (all statuses but ``waived`` and ``included``; not the
    findings of early-warning rules, see :func:`write_warning_workbooks`) and
    ``finding_history``.
    整改时限 is ``首次发现日期 + due_days[severity]`` (thresholds.toml ``[due_days]``):
    a fixed deadline that does not slip night after night, the same rule the
    engine uses for ``findings.due_date``. A severity missing from ``due_days``
    falls back to ``findings.due_date``.
    """
    return _write_form_workbooks(con, PROBLEM_FORM, run_date, out_dir, due_days)


def write_warning_workbooks(
    con: duckdb.DuckDBPyConnection, run_date: date, out_dir: Path
) -> list[WorkbookInfo]:
    """Write ``out_dir/<乡(镇)>/监测预警核实清单_<县>_<乡(镇)>_<YYYYMMDD>.xlsx`` for
    every township with early-warning findings (monitoring.md §5), the 未能定位
    list among them.

    Reads the findings of ``checks.rules.WARNING_RULE_CODES`` (not ``waived`` or
    ``included``). 核实时限 is ``findings.due_date`` (the engine's first seen +
    ``[early_warning] visit_days``). Same folder as the township's 问题清单.
    """
    return _write_form_workbooks(con, WARNING_FORM, run_date, out_dir, {})


def _write_form_workbooks(
    con: duckdb.DuckDBPyConnection,
    form: Form,
    run_date: date,
    out_dir: Path,
    due_days: dict[str, int],
) -> list[WorkbookInfo]:
    out_dir = Path(out_dir)
    prev_run = previous_run_date(con, run_date)
    listed = con.execute(_TOWNSHIPS_SQL, [_warning_codes()]).fetchall()
    townships = [(c, t) for c, t, warning in listed if warning == (form is WARNING_FORM)]
    if not townships:
        return []
    key = _signing_key(con)
    notes = _field_status_notes(con)
    answers = _latest_answers(con, form)
    # Folders over the townships of both forms: a township's two lists share one
    # folder whichever names collide.
    pairs = list(dict.fromkeys((c, t) for c, t, _ in listed))
    title = {} if form is PROBLEM_FORM else {"title": form.title_zh}
    paths = township_paths(pairs, run_date, **title)
    written: set[str] = set()
    infos = []
    for county, township in townships:
        folder, name = paths[(county, township)]
        path = out_dir / folder / name
        for part in (folder, name):
            if len(part.encode()) > PATH_COMPONENT_MAX_BYTES:
                raise RuntimeError(f"path component too long: {part!r}")
        if fold(f"{folder}/{name}") in written:
            raise RuntimeError(f"{path} would be written twice; refusing to overwrite a list")
        written.add(fold(f"{folder}/{name}"))
        marker = make_marker(key, county, township, run_date)
        infos.append(
            _write_one(
                con,
                notes,
                answers,
                run_date,
                prev_run,
                path,
                due_days,
                county,
                township,
                marker,
                form=form,
            )
        )
    return infos


def _signing_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """The warehouse's signing key; created on a writable connection that has none."""
    try:
        return signing_key(con)
    except (LookupError, duckdb.CatalogException):
        pass
    try:
        ensure_signing_key(con)
    except duckdb.Error as exc:
        raise LookupError(
            "the warehouse has no workbook signing key and the connection is read-only; "
            "open it once read-write (warehouse.connect creates it)"
        ) from exc
    return signing_key(con)


def _write_one(
    con,
    notes,
    answers,
    run_date,
    prev_run,
    path,
    due_days,
    county,
    township,
    marker,
    form: Form = PROBLEM_FORM,
) -> WorkbookInfo:
    warnings = form is WARNING_FORM
    rows = _rows_for(con, county, township, notes, answers, form)
    rectified: dict[str | None, int] = {}
    if prev_run is not None:
        rectified = dict(
            con.execute(
                _RECTIFIED_SQL, [township, prev_run, run_date, _warning_codes(), warnings]
            ).fetchall()
        )
    path.parent.mkdir(parents=True, exist_ok=True)

    if warnings:
        for r in rows:
            r["due"] = r["due_date"]  # first seen + visit_days, set by the engine
            r["overdue"] = warning_overdue(r["answer"], r["due"], run_date)
            r["todo"] = warning_todo_status(r["status"], r["answer"], r["due"], run_date)
    else:
        missing = set()
        for r in rows:
            days = due_days.get(r["severity"])
            if days is None:
                missing.add(r["severity"])
                r["due"] = r["due_date"]
            else:
                r["due"] = (r["first_seen"] or run_date) + timedelta(days=days)
        if missing:
            log.warning(
                "no due_days for severities %s; using findings.due_date", sorted(map(str, missing))
            )
        for r in rows:
            r["todo"] = todo_status(r["status"], r["answer"], r["due"], run_date)

    by_village: dict[str | None, list[dict]] = defaultdict(list)
    for r in rows:
        by_village[r["village"]].append(r)
    villages = sorted(set(by_village) | set(rectified), key=lambda v: (v is None, natural_key(v)))

    wb = Workbook(write_only=True)
    wb.properties.creator = "bidui"
    title = f"{form.title_zh} {county or ''}{township or ''}"[:200]
    wb.properties.title = f"{cell_text(title)} {run_date:%Y-%m-%d}"

    used = {fold(SUMMARY_SHEET), fold(MARKER_SHEET)}
    # The county-level list of people not placed has no village: its sheet says so.
    blank = UNPLACED_TOWNSHIP if township == UNPLACED_TOWNSHIP else None
    titles = {v: sheet_title(v or blank, used) for v in villages if by_village.get(v)}

    info = WorkbookInfo(county=county, township=township, path=path, form=form.kind)
    info.villages = [v or "" for v in villages]
    info.rows = len(rows)
    info.new = sum(r["status"] == "new" for r in rows)
    info.reopened = sum(r["status"] == "reopened" for r in rows)
    info.rectified_since_last = sum(rectified.values())
    info.todo = sum(r["todo"].startswith(TODO_PREFIX) for r in rows)
    info.carried = sum(r["answer"] is not None for r in rows)
    info.overdue = sum(bool(r.get("overdue")) for r in rows)

    # Each sheet is closed when written: a write-only sheet holds a temporary
    # file open until then, and a township with ~1,000 villages would exhaust
    # the usual limit of 1,024 open files.
    make = _CellMaker()
    summary = _write_warning_summary if warnings else _write_summary
    with _discard_on_failure(wb, path):
        summary(
            wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
        ).close()
        info.sheets = [SUMMARY_SHEET]
        for v in villages:
            if v in titles:
                if warnings:
                    _write_form_sheet(wb, make, titles[v], by_village[v], form).close()
                else:  # looked up here: tests replace _write_village
                    _write_village(wb, make, titles[v], by_village[v]).close()
                info.sheets.append(titles[v])
        # Last, so it is never the first or active sheet; very hidden (not listed
        # by Excel's Unhide). The feedback reader verifies it on return.
        hidden = wb.create_sheet(MARKER_SHEET)
        hidden.sheet_state = "veryHidden"
        hidden.append([make(hidden, marker, border=False)])
        wb.save(path)
    if make.replaced or make.truncated:
        log.warning(
            "%s: %d characters Excel cannot hold replaced by U+FFFD, %d texts cut at %d characters",
            path.name,
            make.replaced,
            make.truncated,
            EXCEL_CELL_MAX,
        )
    return info


@contextmanager
def _discard_on_failure(wb: Workbook, path: Path) -> Iterator[None]:
    """On any failure, remove the sheets' temporary files and the partial workbook.

    openpyxl streams every write-only sheet through a file in the system temp
    folder and deletes it only on a successful save (or at interpreter exit):
    names and ID numbers must not be left there.
    """
    try:
        yield
    except BaseException:
        for ws in wb._sheets:
            writer = getattr(ws, "_writer", None)
            if writer is None:
                continue
            with suppress(Exception):
                if ws._rows is not None:
                    ws._rows.close()
                writer.close()
            with suppress(OSError, ValueError):
                writer.cleanup()
        with suppress(OSError):
            path.unlink(missing_ok=True)
        raise


def _summary_sheet(wb, villages, labels: set[str], n_columns: int):
    """汇总, set up for streaming: widths, protection, page (before the first append).

    Column A holds village and rule names (``labels``); the others hold counts,
    their long headers wrap. The last column of table 2 (the rule code) overflows
    into the empty cells to its right.
    """
    ws = wb.create_sheet(SUMMARY_SHEET)
    first = max((display_width(x) for x in [*(v or "" for v in villages), *labels]), default=0)
    ws.column_dimensions["A"].width = min(max(14, first + 2), 40)
    wide = len(villages) if len(villages) <= MAX_TABLE2_VILLAGES else 0
    for i in range(2, max(n_columns, wide + 4) + 1):
        ws.column_dimensions[get_column_letter(i)].width = COUNT_WIDTH
    _protect(ws)
    _page_setup(ws, None)
    return ws


def _summary_lines(ws, make, title: str, run_date, prev_run, note: str, todo_line: str) -> int:
    """Rows 1-5 of 汇总: title, dates, note, the 待填报 line, a blank row; returns 6."""
    S = _Styles
    ws.append([make(ws, title, font=S.title_font, border=False)])
    prev_text = f"{prev_run:%Y-%m-%d}" if prev_run else "无（首次下发）"
    ws.append([make(ws, f"比对日期：{run_date:%Y-%m-%d}　上次清单日期：{prev_text}", border=False)])
    ws.append([make(ws, note, border=False)])
    ws.append([make(ws, todo_line, font=S.header_font, border=False)])
    ws.append([])
    return 6  # next row to be appended


def _summary_table1(ws, make, row_idx, header, villages, values_of, titles, blank_label) -> int:
    """Table 1 of 汇总: one row per village (its name linking to its sheet), then
    合计; returns the next row index (after two blank rows)."""
    S = _Styles
    ws.row_dimensions[row_idx].height = row_height(
        max(wrapped_lines(h, COUNT_WIDTH) for h in header[1:])
    )
    ws.append(
        [
            make(ws, h, font=S.header_font, fill=S.header_fill, alignment=S.header_align)
            for h in header
        ]
    )
    row_idx += 1
    totals = Counter()
    for v in villages:
        values = values_of(v)
        for i, x in enumerate(values):
            totals[i] += x
        name = make(ws, v or blank_label)
        if v in titles:
            # Internal link to the village sheet (location only, no external target).
            name.hyperlink = Hyperlink(
                ref="",
                location="'{}'!A1".format(titles[v].replace("'", "''")),
                display=None if v is None else cell_text(v)[:255],
            )
            name.font = Font(color="0563C1", underline="single")
        ws.append([name, *(make(ws, x) for x in values)])
        row_idx += 1
    ws.append(
        [
            make(ws, "合计", font=S.header_font, fill=S.total_fill),
            *(
                make(ws, totals[i], font=S.header_font, fill=S.total_fill)
                for i in range(len(header) - 1)
            ),
        ]
    )
    ws.append([])
    ws.append([])
    return row_idx + 3


def _summary_table2(
    ws, make, row_idx, title, header2, villages, by_village, per_rule, blank="（未填行政村）"
) -> None:
    """Table 2 of 汇总: one row per rule present (``per_rule``: ordered
    ((name, second column, code), Counter by village)), one column per village
    with rows, 合计, the rule code last. Excel has 16,384 columns: with more
    villages than fit, only the totals per rule."""
    S = _Styles
    listed = [v for v in villages if by_village.get(v)]
    if len(listed) > MAX_TABLE2_VILLAGES:
        title += f"（行政村共{len(listed)}个，超过表格列数上限，仅列合计；各村数量见上表）"
        listed = []
    ws.append([make(ws, title, font=S.header_font, border=False)])
    row_idx += 1
    ws.row_dimensions[row_idx].height = row_height(
        max([1, *(wrapped_lines(v or blank, COUNT_WIDTH) for v in listed)])
    )
    ws.append(
        [
            make(ws, h, font=S.header_font, fill=S.header_fill, alignment=S.header_align)
            for h in [
                *header2[:2],
                *(_village_header(v, blank) for v in listed),
                "合计",
                header2[2],
            ]
        ]
    )
    for (name, second, code), counts in per_rule:
        ws.append(
            [
                make(ws, name or code),
                make(ws, second),
                *(make(ws, counts.get(v, 0)) for v in listed),
                make(ws, counts.total(), font=S.header_font),
                make(ws, code, border=False),
            ]
        )


def _write_summary(
    wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
):
    """汇总 of the 问题清单: villages × 问题类别, then rules × villages."""
    rule_names = {r["rule_name_zh"] or "" for rs in by_village.values() for r in rs}
    ws = _summary_sheet(wb, villages, rule_names, len(CATEGORIES) + 6)
    todo = sum(r["todo"].startswith(TODO_PREFIX) for rs in by_village.values() for r in rs)
    row_idx = _summary_lines(
        ws,
        make,
        f"{county or ''}{township or ''} 问题清单汇总",
        run_date,
        prev_run,
        "说明：“本次新增”为本次首次发现的问题；“重新出现”为曾报已整改又再次发现的问题；"
        "“上次清单以来已整改”为上次清单中本次已不再出现的问题。点击行政村名称可跳转到该村明细。",
        f"待填报 {todo} 条：各村明细中“{TODO_HEADER}”以“{TODO_PREFIX}”开头、序号标红的问题"
        "需要填报或更新；已报送的内容已预填在填报列中，无变化不必改动，有变化请直接修改。",
    )

    # Table 1: villages × categories.
    header = [
        "行政村",
        *CATEGORIES,
        "合计",
        "其中：本次新增",
        "其中：重新出现",
        "上次清单以来已整改",
    ]

    def values_of(v):
        rs = by_village.get(v, [])
        cats = Counter(r["category"] for r in rs)
        return [cats.get(c, 0) for c in CATEGORIES] + [
            len(rs),
            sum(r["status"] == "new" for r in rs),
            sum(r["status"] == "reopened" for r in rs),
            rectified.get(v, 0),
        ]

    row_idx = _summary_table1(
        ws, make, row_idx, header, villages, values_of, titles, "（未填行政村）"
    )

    # Table 2: rules × villages, only rules present in this township.
    per_rule: dict[tuple, Counter] = defaultdict(Counter)
    for v in villages:
        for r in by_village.get(v, []):
            per_rule[(r["category"], r["rule_code"], r["rule_name_zh"])][v] += 1
    cat_order = {c: i for i, c in enumerate(CATEGORIES)}
    ordered = [
        ((name, category, code), per_rule[(category, code, name)])
        for category, code, name in sorted(
            per_rule, key=lambda k: (cat_order.get(k[0], 99), k[1] or "")
        )
    ]
    _summary_table2(
        ws,
        make,
        row_idx,
        "按问题类型统计",
        ("问题名称", "问题类别", "问题代码"),
        villages,
        by_village,
        ordered,
    )
    return ws


def _risk_types(rows: list[dict]) -> list[str | None]:
    """风险类型 columns of the warning 汇总: the catalogue's, in catalogue order,
    then any other present (a rule no longer in the catalogue: None last)."""
    known = list(dict.fromkeys(r.risk_type_zh for r in catalogue.ALL_RULES if r.warning_list))
    present = {r["risk_type"] for r in rows}
    extra = sorted(t for t in present - set(known) if t is not None)
    return [*known, *extra, *([None] if None in present else [])]


def _write_warning_summary(
    wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
):
    """汇总 of the 监测预警核实清单: villages × 风险类型 with 待走访核实,
    已超过核实时限 and 已报送, then 预警规则 × villages."""
    rows = [r for rs in by_village.values() for r in rs]
    risks = _risk_types(rows)
    rule_names = {r["rule_name_zh"] or "" for r in rows}
    ws = _summary_sheet(wb, villages, rule_names, len(risks) + 7)
    todo = sum(r["todo"].startswith(TODO_PREFIX) for r in rows)
    overdue = sum(r["overdue"] for r in rows)
    row_idx = _summary_lines(
        ws,
        make,
        f"{county or ''}{township or ''} 监测预警核实清单汇总",
        run_date,
        prev_run,
        "说明：本清单为部门筛查预警的疑似漏评对象，请在核实时限内入户走访核实，填写走访日期、"
        "核实结论、说明和核实人；核实结论为不符合纳入条件或信息有误的，须在说明中写明理由。"
        "“已超过核实时限”为超过核实时限仍未走访核实或仍待纳入的预警；“上次清单以来已解除”为"
        "上次清单中本次已不再预警的对象。点击行政村名称可跳转到该村明细。",
        f"待填报 {todo} 条（其中已超过核实时限 {overdue} 条）：各村明细中“{TODO_HEADER}”以"
        f"“{TODO_PREFIX}”开头、序号标红的预警需要走访核实或更新；已报送的内容已预填在填报列中，"
        "无变化不必改动，有变化请直接修改。",
    )
    header = [
        "行政村",
        *(t or "（未分类）" for t in risks),
        "合计",
        "其中：本次新增",
        "待走访核实",
        "已超过核实时限",
        "已报送",
        "上次清单以来已解除",
    ]

    def values_of(v):
        rs = by_village.get(v, [])
        kinds = Counter(r["risk_type"] for r in rs)
        return [kinds.get(t, 0) for t in risks] + [
            len(rs),
            sum(r["status"] == "new" for r in rs),
            sum((r["answer"] or {}).get("核实结论") is None for r in rs),
            sum(r["overdue"] for r in rs),
            sum((r["answer"] or {}).get("核实结论") is not None for r in rs),
            rectified.get(v, 0),
        ]

    blank = "（未能定位）" if township == UNPLACED_TOWNSHIP else "（未填行政村）"
    row_idx = _summary_table1(ws, make, row_idx, header, villages, values_of, titles, blank)

    per_rule: dict[tuple, Counter] = defaultdict(Counter)
    for v in villages:
        for r in by_village.get(v, []):
            per_rule[(r["rule_name_zh"], r["risk_type"], r["rule_code"])][v] += 1
    order = {t: i for i, t in enumerate(risks)}
    ordered = [(k, per_rule[k]) for k in sorted(per_rule, key=lambda k: (order[k[1]], k[2] or ""))]
    _summary_table2(
        ws,
        make,
        row_idx,
        "按预警规则统计",
        ("预警规则", "风险类型", "规则代码"),
        villages,
        by_village,
        ordered,
        blank,
    )
    return ws


_ALL_HEADERS = tuple(dict.fromkeys(h for f in FORMS for h in f.headers))


def _village_header(village: str | None, blank: str = "（未填行政村）") -> str:
    """A village as a column header of 汇总 table 2, never taken for a list column.

    The feedback reader finds answer sheets by their headers (whitespace removed,
    full-width brackets made half-width, a lengthened key header found by its
    start); a village named 问题编号 or 核实结果 (or any header of either form)
    would make table 2 look like one.
    """
    name = village or blank
    key = re.sub(r"\s+", "", name).replace("（", "(").replace("）", ")")
    return f"行政村：{name}" if key.startswith(_ALL_HEADERS) else name


def _freeze_cell(form: Form) -> str:
    """Right of 姓名, below the header: 序号 … 姓名 stay in view."""
    return get_column_letter(form.headers.index("姓名") + 2) + "2"


def _sort_key(form: Form):
    """Row order of a village sheet: 问题清单 by 自然村(组), 户编号, 问题代码;
    监测预警核实清单 by 户编号 (people outside the register last), 姓名, rule."""
    if form is WARNING_FORM:
        return lambda r: (
            r["household_id"] is None,
            natural_key(r["household_id"]),
            natural_key(r["name"]),
            r["rule_code"] or "",
            r["problem_id"] or "",
        )
    return lambda r: (
        natural_key(r["village_group"]),
        natural_key(r["household_id"]),
        r["rule_code"] or "",
        r["problem_id"] or "",
    )


def _write_village(wb, make, title: str, rows: list[dict]):
    """A village sheet of the 问题清单."""
    return _write_form_sheet(wb, make, title, rows, PROBLEM_FORM)


def _write_form_sheet(wb, make, title: str, rows: list[dict], form: Form):
    """A village sheet of ``form``: its columns, locked but for the fill-in ones,
    a dropdown per answer of kind choice, a date validation per answer of kind date."""
    ws = wb.create_sheet(title)
    S = _Styles
    columns = form.columns
    rows.sort(key=_sort_key(form))
    n = len(rows)
    last = n + 1

    # Widths and frozen header must exist before the first append (write-only mode).
    widths: list[float] = []
    for idx, col in enumerate(columns, 1):
        if col.field and col.kind != "date":
            longest = max((display_width(str(r.get(col.field) or "")) for r in rows), default=0)
            if col.field == "seq":
                longest = len(str(n))
        else:
            longest = 0
        width = min(max(col.min_width, display_width(col.header) + 2, longest + 2), col.max_width)
        ws.column_dimensions[get_column_letter(idx)].width = width
        widths.append(width)
    # Header row and 序号 … 姓名 stay in view while the fill-in columns far right
    # are filled in.
    ws.freeze_panes = _freeze_cell(form)
    _protect(ws)
    _page_setup(ws, "1:1")
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last}"

    ws.append(
        [
            make(
                ws,
                c.header,
                font=S.header_font,
                fill=S.fill_in_header_fill if c.fill_in else S.header_fill,
                alignment=S.header_align,
            )
            for c in columns
        ]
    )
    for seq, r in enumerate(rows, 1):
        r["seq"] = seq
        reopened = r["status"] == "reopened"
        todo = r["todo"].startswith(TODO_PREFIX)
        answer = r.get("answer") or {}
        out = []
        lines = 1
        for c in columns:
            value = r.get(c.field) if c.field else None
            kw: dict[str, Any] = {}
            if c.kind == "id":
                value = None if value is None else str(value)  # never an int: 18 digits
                kw = {"number_format": "@", "alignment": S.top}
            elif c.kind == "wrap":
                kw = {"alignment": S.wrap}
            elif c.kind == "date":
                kw = {"number_format": S.date_format, "alignment": S.centre}
            elif c.kind == "seq":
                kw = {"alignment": S.centre}
            else:
                kw = {"alignment": S.top}
            if c.field == "description" and reopened:
                value = REOPENED_PREFIX + cell_text(value or "")
                kw["fill"] = S.reopened_fill
            if todo and (c.fill_in or c.field in ("seq", "todo")):
                kw["fill"] = S.todo_fill
            if c.fill_in:
                value = answer.get(c.header)  # the last accepted answer, still editable
                kw["protection"] = S.unlocked
                if c.kind == "text" and "number_format" not in kw:
                    kw["number_format"] = "@"
            out.append(make(ws, value, **kw))
            if c.kind == "wrap" and value:
                lines = max(lines, wrapped_lines(str(value), widths[len(out) - 1]))
        if lines > 1:
            # Explicit height: LibreOffice does not grow rows for wrapped text on
            # import, and Excel/WPS then show the same layout.
            ws.row_dimensions[seq + 1].height = row_height(lines)
        ws.append(out)

    if n:
        col = {c.header: get_column_letter(i) for i, c in enumerate(columns, 1)}
        for a in form.answers:
            ref = f"{col[a.header]}2:{col[a.header]}{last}"
            if a.kind == "choice":
                _add_list_validation(ws, ref, a.header, a.values)
            elif a.kind == "date":
                _add_date_validation(ws, ref, a.header)
    return ws


def _add_date_validation(ws, ref: str, title: str) -> None:
    # Serial numbers, not DATE() formulas: the same in Excel, WPS and LibreOffice.
    dv = DataValidation(
        type="date",
        operator="between",
        allow_blank=True,
        formula1=str(_DATE_MIN_SERIAL),
        formula2=str(_DATE_MAX_SERIAL),
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="日期有误",
        error="请填写日期，如 2024-06-01。",
        showInputMessage=True,
        promptTitle=title,
        prompt="请填写日期，如 2024-06-01",
    )
    dv.add(ref)
    ws.data_validations.append(dv)


def _add_list_validation(ws, ref: str, title: str, values: tuple[str, ...]) -> None:
    options = "、".join(values)
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(values) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="输入有误",
        error=f"{title}只能从下拉列表中选择：{options}。",
        showInputMessage=True,
        promptTitle=title,
        prompt=f"请选择：{options}",
    )
    dv.add(ref)
    ws.data_validations.append(dv)
