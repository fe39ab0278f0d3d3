"""Township problem lists (问题清单): one Excel workbook per township per run.

Layout (outputs.md §1), as a cadre sees it:

- Sheet ``汇总`` first. Table 1: one row per 行政村 with one column per 问题类别
  (the six categories, always all six so every township reads the same layout),
  合计, 其中：本次新增, 其中：重新出现, 上次清单以来已整改, then a 合计 row.
  Table 2 below it: one row per rule present (Chinese rule name, 问题类别), one
  column per 行政村, 合计, and the rule code last. Each village name in table 1 links to its sheet.
- Then one sheet per 行政村, rows sorted by 自然村(组), 户编号, 问题代码 (natural
  order, so ``2组`` comes before ``10组``), with the 20 columns of ``COLUMNS``.
- A finding whose status is ``reopened`` (reported rectified, found again) has
  its 问题描述 prefixed with ``【重新出现】`` and that cell filled light orange: the
  prefix survives black-and-white printing and filtering, the colour catches the
  eye. ``feedback.py`` strips the prefix again before comparing descriptions.
- Pipeline columns are locked, the five township columns unlocked, with list
  validation on 核实结果 / 整改情况 and a date validation on 核实日期. Sheets are
  protected without a password; sorting, filtering and resizing columns/rows are
  allowed by the protection flags (note: Excel itself still refuses to *sort* a
  range containing locked cells on a protected sheet; filtering works).

Isolation: each workbook is built from queries bound to its own (county,
township) parameters; nothing else is ever read into it.

Written with openpyxl ``write_only`` (streaming): freeze panes and column widths
are set before the first append; validations, protection, autofilter and page
setup are written at close. Everything round-trips through openpyxl's reader.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
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

log = logging.getLogger(__name__)

SUMMARY_SHEET = "汇总"
COUNT_WIDTH = 12  # width of the count columns of 汇总
REOPENED_PREFIX = "【重新出现】"
CATEGORIES = ("疑似错评", "疑似漏评", "疑似错退", "信息不准", "保障缺失", "需更新")
VERIFICATION_VALUES = ("属实", "不属实", "部分属实")
RECTIFICATION_VALUES = ("已整改", "整改中", "无需整改")


@dataclass(frozen=True)
class Column:
    """One column of a village sheet."""

    header: str
    field: str | None  # key in the row dict; None for township fill-in columns
    kind: str  # text | id | wrap | date | seq
    min_width: int
    max_width: int
    fill_in: bool = False


# The 20 columns of outputs.md §1, in order. ``feedback.py`` reads them back by header.
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
)
HEADERS = tuple(c.header for c in COLUMNS)
FILL_IN_HEADERS = tuple(c.header for c in COLUMNS if c.fill_in)

# Excel date serials of 2000-01-01 and 2099-12-31: plain numbers behave the same
# in Excel, WPS and LibreOffice, unlike DATE() formulas in validation rules.
_DATE_MIN_SERIAL = 36526
_DATE_MAX_SERIAL = 73050

_SHEET_BAD_CHARS = re.compile(r"[\[\]:*?/\\]")
_PATH_BAD_CHARS = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


@dataclass
class WorkbookInfo:
    """What was written for one township."""

    county: str | None
    township: str | None
    path: Path
    villages: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    rows: int = 0  # findings listed (all village sheets)
    new: int = 0
    reopened: int = 0
    rectified_since_last: int = 0


# --------------------------------------------------------------------------- helpers


def natural_key(value: str | None) -> tuple:
    """Sort key putting ``2组`` before ``10组``; None sorts first."""
    if value is None:
        return ()
    parts = re.split(r"(\d+)", value)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


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


def row_height(lines: int) -> float:
    """Points for ``lines`` lines of 11-pt text (CJK fonts run a little taller)."""
    return 15.0 * lines + 2.0


def safe_path_part(name: str | None, default: str) -> str:
    """A folder/file name component: no path separators or characters Windows rejects."""
    cleaned = _PATH_BAD_CHARS.sub("_", name or "").strip(" .")
    return cleaned or default


def sheet_title(name: str | None, used: set[str]) -> str:
    """Valid, unique (case-insensitively) Excel sheet name for a village.

    Excel: at most 31 characters, none of ``[]:*?/\\``, no leading or trailing
    apostrophe, not ``History`` (reserved).
    """
    base = _SHEET_BAD_CHARS.sub("_", name or "").strip().strip("'") or "未填行政村"
    if base.casefold() == "history":
        base = base + "_"
    candidate = base[:31]
    n = 2
    while candidate.casefold() in used:
        suffix = f"({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.casefold())
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
    total_fill = PatternFill("solid", fgColor="F2F2F2")
    header_align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    top = Alignment(vertical="top")
    wrap = Alignment(vertical="top", wrap_text=True)
    centre = Alignment(horizontal="center", vertical="top")
    unlocked = Protection(locked=False)
    date_format = "yyyy-mm-dd"


class _CellMaker:
    """Makes styled write-only cells for one workbook.

    Setting font/fill/alignment through openpyxl's descriptors hashes the style
    objects on every cell (about 2/3 of the run time for 5,000 findings). The
    resulting style-id array only depends on the style arguments, so it is
    computed once per combination and copied onto each new cell.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}

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
        cell = WriteOnlyCell(ws, value)
        key = (id(font), id(fill), id(alignment), number_format, id(protection), border)
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

_FINDINGS_SQL = """
SELECT problem_id, village, village_group, household_id, head_name, name, id_number,
       category, rule_code, rule_name_zh, description, department, evidence,
       requirement_zh, severity, first_seen, status, due_date
FROM findings
WHERE county IS NOT DISTINCT FROM ? AND township IS NOT DISTINCT FROM ?
  AND status IS DISTINCT FROM 'waived'
"""

_RECTIFIED_SQL = """
SELECT village, count(*) AS n
FROM finding_history
WHERE township IS NOT DISTINCT FROM ?
  AND status = 'resolved'
  AND resolved_on > ? AND resolved_on <= ?
GROUP BY village
"""


def _rows_for(con, county, township) -> list[dict[str, Any]]:
    cur = con.execute(_FINDINGS_SQL, [county, township])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


# ------------------------------------------------------------------------------ writing


def write_township_workbooks(
    con: duckdb.DuckDBPyConnection,
    run_date: date,
    out_dir: Path,
    due_days: dict[str, int],
) -> list[WorkbookInfo]:
    """Write ``out_dir/<乡(镇)>/问题清单_<县>_<乡(镇)>_<YYYYMMDD>.xlsx`` for every township.

    Reads ``findings`` (all statuses but ``waived``) and ``finding_history``.
    整改时限 is ``首次发现日期 + due_days[severity]`` (thresholds.toml ``[due_days]``):
    a fixed deadline that does not slip night after night, the same rule the
    engine uses for ``findings.due_date``. A severity missing from ``due_days``
    falls back to ``findings.due_date``.
    """
    out_dir = Path(out_dir)
    prev_run = previous_run_date(con, run_date)
    townships = con.execute(
        """
        SELECT DISTINCT county, township FROM findings
        WHERE status IS DISTINCT FROM 'waived'
        ORDER BY township, county
        """
    ).fetchall()
    infos = []
    for county, township in townships:
        infos.append(_write_one(con, run_date, prev_run, out_dir, due_days, county, township))
    return infos


def _write_one(con, run_date, prev_run, out_dir, due_days, county, township) -> WorkbookInfo:
    rows = _rows_for(con, county, township)
    rectified: dict[str | None, int] = {}
    if prev_run is not None:
        rectified = dict(con.execute(_RECTIFIED_SQL, [township, prev_run, run_date]).fetchall())

    county_part = safe_path_part(county, "未填县")
    township_part = safe_path_part(township, "未填乡镇")
    folder = out_dir / township_part
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"问题清单_{county_part}_{township_part}_{run_date:%Y%m%d}.xlsx"

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

    by_village: dict[str | None, list[dict]] = defaultdict(list)
    for r in rows:
        by_village[r["village"]].append(r)
    villages = sorted(set(by_village) | set(rectified), key=lambda v: (v is None, natural_key(v)))

    wb = Workbook(write_only=True)
    wb.properties.creator = "bidui"
    wb.properties.title = f"问题清单 {county or ''}{township or ''} {run_date:%Y-%m-%d}"

    used = {SUMMARY_SHEET.casefold()}
    titles = {v: sheet_title(v, used) for v in villages if by_village.get(v)}

    info = WorkbookInfo(county=county, township=township, path=path)
    info.villages = [v or "" for v in villages]
    info.rows = len(rows)
    info.new = sum(r["status"] == "new" for r in rows)
    info.reopened = sum(r["status"] == "reopened" for r in rows)
    info.rectified_since_last = sum(rectified.values())

    make = _CellMaker()
    _write_summary(
        wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
    )
    info.sheets = [SUMMARY_SHEET]
    for v in villages:
        if v in titles:
            _write_village(wb, make, titles[v], by_village[v])
            info.sheets.append(titles[v])
    wb.save(path)
    return info


def _write_summary(
    wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
) -> None:
    ws = wb.create_sheet(SUMMARY_SHEET)
    S = _Styles
    rule_names = {r["rule_name_zh"] or "" for rs in by_village.values() for r in rs}
    first = max((display_width(x) for x in [*(v or "" for v in villages), *rule_names]), default=0)
    ws.column_dimensions["A"].width = min(max(14, first + 2), 40)
    # Other columns hold counts; long headers wrap. The last column of table 2
    # (问题代码) overflows into the empty cells to its right.
    for i in range(2, max(len(CATEGORIES) + 6, len(villages) + 4) + 1):
        ws.column_dimensions[get_column_letter(i)].width = COUNT_WIDTH
    _protect(ws)
    _page_setup(ws, None)

    ws.append(
        [make(ws, f"{county or ''}{township or ''} 问题清单汇总", font=S.title_font, border=False)]
    )
    prev_text = f"{prev_run:%Y-%m-%d}" if prev_run else "无（首次下发）"
    ws.append([make(ws, f"比对日期：{run_date:%Y-%m-%d}　上次清单日期：{prev_text}", border=False)])
    ws.append(
        [
            make(
                ws,
                "说明：“本次新增”为本次首次发现的问题；“重新出现”为曾报已整改又再次发现的问题；"
                "“上次清单以来已整改”为上次清单中本次已不再出现的问题。点击行政村名称可跳转到该村明细。",
                border=False,
            )
        ]
    )
    ws.append([])
    row_idx = 5  # next row to be appended (title, date, note, blank above)

    # Table 1: villages × categories.
    header = [
        "行政村",
        *CATEGORIES,
        "合计",
        "其中：本次新增",
        "其中：重新出现",
        "上次清单以来已整改",
    ]
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
        rs = by_village.get(v, [])
        cats = Counter(r["category"] for r in rs)
        values = [cats.get(c, 0) for c in CATEGORIES]
        values += [
            len(rs),
            sum(r["status"] == "new" for r in rs),
            sum(r["status"] == "reopened" for r in rs),
            rectified.get(v, 0),
        ]
        for i, x in enumerate(values):
            totals[i] += x
        name = make(ws, v or "（未填行政村）")
        if v in titles:
            # Internal link to the village sheet (location only, no external target).
            name.hyperlink = Hyperlink(
                ref="", location="'{}'!A1".format(titles[v].replace("'", "''")), display=v
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
    row_idx += 3

    # Table 2: rules × villages, only rules present in this township.
    listed = [v for v in villages if by_village.get(v)]
    ws.append([make(ws, "按问题类型统计", font=S.header_font, border=False)])
    row_idx += 1
    ws.row_dimensions[row_idx].height = row_height(
        max([1, *(wrapped_lines(v or "（未填行政村）", COUNT_WIDTH) for v in listed)])
    )
    ws.append(
        [
            make(ws, h, font=S.header_font, fill=S.header_fill, alignment=S.header_align)
            for h in [
                "问题名称",
                "问题类别",
                *(v or "（未填行政村）" for v in listed),
                "合计",
                "问题代码",
            ]
        ]
    )
    per_rule: dict[tuple, Counter] = defaultdict(Counter)
    for v in listed:
        for r in by_village[v]:
            per_rule[(r["category"], r["rule_code"], r["rule_name_zh"])][v] += 1
    cat_order = {c: i for i, c in enumerate(CATEGORIES)}
    for key in sorted(per_rule, key=lambda k: (cat_order.get(k[0], 99), k[1] or "")):
        category, code, name = key
        counts = per_rule[key]
        ws.append(
            [
                make(ws, name or code),
                make(ws, category),
                *(make(ws, counts.get(v, 0)) for v in listed),
                make(ws, sum(counts.values()), font=S.header_font),
                make(ws, code, border=False),
            ]
        )


def _write_village(wb, make, title: str, rows: list[dict]) -> None:
    ws = wb.create_sheet(title)
    S = _Styles
    rows.sort(
        key=lambda r: (
            natural_key(r["village_group"]),
            natural_key(r["household_id"]),
            r["rule_code"] or "",
            r["problem_id"] or "",
        )
    )
    n = len(rows)
    last = n + 1

    # Widths and frozen header must exist before the first append (write-only mode).
    widths: list[float] = []
    for idx, col in enumerate(COLUMNS, 1):
        if col.field and col.kind != "date":
            longest = max((display_width(str(r.get(col.field) or "")) for r in rows), default=0)
            if col.field == "seq":
                longest = len(str(n))
        else:
            longest = 0
        width = min(max(col.min_width, display_width(col.header) + 2, longest + 2), col.max_width)
        ws.column_dimensions[get_column_letter(idx)].width = width
        widths.append(width)
    ws.freeze_panes = "C2"  # header row and 序号/问题编号 stay visible
    _protect(ws)
    _page_setup(ws, "1:1")
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{last}"

    ws.append(
        [
            make(
                ws,
                c.header,
                font=S.header_font,
                fill=S.fill_in_header_fill if c.fill_in else S.header_fill,
                alignment=S.header_align,
            )
            for c in COLUMNS
        ]
    )
    for seq, r in enumerate(rows, 1):
        r["seq"] = seq
        reopened = r["status"] == "reopened"
        out = []
        lines = 1
        for c in COLUMNS:
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
                value = REOPENED_PREFIX + (value or "")
                kw["fill"] = S.reopened_fill
            if c.fill_in:
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
        col = {c.header: get_column_letter(i) for i, c in enumerate(COLUMNS, 1)}
        _add_list_validation(
            ws, f"{col['核实结果']}2:{col['核实结果']}{last}", "核实结果", VERIFICATION_VALUES
        )
        _add_list_validation(
            ws, f"{col['整改情况']}2:{col['整改情况']}{last}", "整改情况", RECTIFICATION_VALUES
        )
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
            promptTitle="核实日期",
            prompt="请填写日期，如 2024-06-01",
        )
        dv.add(f"{col['核实日期']}2:{col['核实日期']}{last}")
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
