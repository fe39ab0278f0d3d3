"""Township problem lists (问题清单): one Excel workbook per township per run.

Layout (outputs.md §1), as a cadre sees it:

- Sheet ``汇总`` first. Table 1: one row per 行政村 with one column per 问题类别
  (the six categories, always all six so every township reads the same layout),
  合计, 其中：本次新增, 其中：重新出现, 上次清单以来已整改, then a 合计 row.
  Table 2 below it: one row per rule present (Chinese rule name, 问题类别), one
  column per 行政村, 合计, and the rule code last. Each village name in table 1 links to its sheet.
- Then one sheet per 行政村, rows sorted by 自然村(组), 户编号, 问题代码 (natural
  order, so ``2组`` comes before ``10组``), with the 21 columns of ``COLUMNS``.
- A finding whose status is ``reopened`` (reported rectified, found again) has
  its 问题描述 prefixed with ``【重新出现】`` and that cell filled light orange: the
  prefix survives black-and-white printing and filtering, the colour catches the
  eye. ``feedback.py`` strips the prefix again before comparing descriptions.
- Pipeline columns are locked, the five township columns unlocked, with list
  validation on 核实结果 / 整改情况 and a date validation on 核实日期. Sheets are
  protected without a password; sorting, filtering and resizing columns/rows are
  allowed by the protection flags (note: Excel itself still refuses to *sort* a
  range containing locked cells on a protected sheet; filtering works).
- After the five township columns, a locked 上次报送处理情况 column says which
  fields of the township's last returned answer were not accepted and why (view
  ``feedback_field_status``, made by the feedback reader; empty when it is absent).
- **Answers carried forward** (issue 13): the five fill-in cells hold the
  township's latest accepted answer (``feedback_responses``, latest by
  ``rectification.status.LATEST_ORDER``; only an answer the same township gave),
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

Isolation: each workbook is built from queries bound to its own (county,
township) parameters; nothing else is ever read into it (上次报送处理情况 notes
are read once a night and looked up by the workbook's own problem ids).

Hostile data (issue 9): every text is written as a string cell, never a formula,
with Excel's quote prefix when it starts like one; characters XML cannot hold
become U+FFFD; a text over Excel's cell limit is cut with a visible note. Folder
and file names are cleaned, length-capped and unique on case- and
Unicode-folding file systems (Windows, macOS); no path is written twice.

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

from checks.rules.base import CATEGORIES
from rectification.authority import MARKER_SHEET, ensure_signing_key, make_marker, signing_key
from rectification.form import (  # noqa: F401  (re-exported for the writers' callers)
    COLUMNS,
    EXCEL_CELL_MAX,
    FIELD_STATUS_VIEW,
    FILL_IN_HEADERS,
    HEADERS,
    RECTIFICATION_VALUES,
    REOPENED_PREFIX,
    STATUS_HEADER,
    TODO_HEADER,
    TODO_PREFIX,
    VERIFICATION_VALUES,
    XML_ILLEGAL,
    Column,
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
    villages: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    rows: int = 0  # findings listed (all village sheets)
    new: int = 0
    reopened: int = 0
    rectified_since_last: int = 0
    todo: int = 0  # rows whose 填报状态 asks for an answer or an update
    carried: int = 0  # rows whose fill-in cells hold the township's last accepted answer


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
    pairs: list[tuple[str | None, str | None]], run_date: date
) -> dict[tuple[str | None, str | None], tuple[str, str]]:
    """(county, township) -> (folder, file name) for every township of the night.

    ``<乡(镇)>/问题清单_<县>_<乡(镇)>_<YYYYMMDD>.xlsx``, unique per (county,
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
        k: (t, f"问题清单_{county_part[k]}_{t}_{run_date:%Y%m%d}.xlsx")
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

_FINDINGS_SQL = """
SELECT problem_id, village, village_group, household_id, head_name, name, id_number,
       category, rule_code, rule_name_zh, description, department, evidence,
       requirement_zh, severity, first_seen, status, due_date
FROM findings
WHERE county IS NOT DISTINCT FROM ? AND township IS NOT DISTINCT FROM ?
  AND status IS DISTINCT FROM 'waived'
"""
_FIELD_STATUS_SQL = f"""
SELECT problem_id, string_agg(DISTINCT note_zh, '；' ORDER BY note_zh)
FROM {FIELD_STATUS_VIEW} WHERE problem_id IS NOT NULL AND note_zh IS NOT NULL
GROUP BY problem_id
"""

_RECTIFIED_SQL = """
SELECT village, count(*) AS n
FROM finding_history
WHERE township IS NOT DISTINCT FROM ?
  AND status = 'resolved'
  AND resolved_on > ? AND resolved_on <= ?
GROUP BY village
"""


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


# The latest accepted answer per problem: rectification.status's one definition.
_ANSWERS_SQL = f"""
SELECT problem_id, township, verification, rectification, note, verifier, verified_on
FROM ({LATEST_RESPONSES_SQL})
"""

Answer = dict[str, Any]  # fill-in header -> value


def _latest_answers(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str | None, Answer]]:
    """problem_id -> (township answering, {fill-in header: value}); read once a night.

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
    try:
        rows = con.execute(_ANSWERS_SQL).fetchall()
    except duckdb.Error as exc:
        log.warning("feedback_responses unreadable, answers not carried forward: %s", exc)
        return {}
    return {
        pid: (township, dict(zip(FILL_IN_HEADERS, rest, strict=True)))
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


def _rows_for(con, county, township, notes: dict[str, str], answers) -> list[dict[str, Any]]:
    cur = con.execute(_FINDINGS_SQL, [county, township])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["field_status"] = notes.get(r["problem_id"])
        answered_by, answer = answers.get(r["problem_id"], (None, None))
        # Only this township's own answer (a problem moved elsewhere starts afresh).
        r["answer"] = answer if answer is not None and answered_by == township else None
    return rows


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
    if not townships:
        return []
    key = _signing_key(con)
    notes = _field_status_notes(con)
    answers = _latest_answers(con)
    paths = township_paths(townships, run_date)
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
                con, notes, answers, run_date, prev_run, path, due_days, county, township, marker
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
    con, notes, answers, run_date, prev_run, path, due_days, county, township, marker
) -> WorkbookInfo:
    rows = _rows_for(con, county, township, notes, answers)
    rectified: dict[str | None, int] = {}
    if prev_run is not None:
        rectified = dict(con.execute(_RECTIFIED_SQL, [township, prev_run, run_date]).fetchall())
    path.parent.mkdir(parents=True, exist_ok=True)

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
    title = f"问题清单 {county or ''}{township or ''}"[:200]
    wb.properties.title = f"{cell_text(title)} {run_date:%Y-%m-%d}"

    used = {fold(SUMMARY_SHEET), fold(MARKER_SHEET)}
    titles = {v: sheet_title(v, used) for v in villages if by_village.get(v)}

    info = WorkbookInfo(county=county, township=township, path=path)
    info.villages = [v or "" for v in villages]
    info.rows = len(rows)
    info.new = sum(r["status"] == "new" for r in rows)
    info.reopened = sum(r["status"] == "reopened" for r in rows)
    info.rectified_since_last = sum(rectified.values())
    info.todo = sum(r["todo"].startswith(TODO_PREFIX) for r in rows)
    info.carried = sum(r["answer"] is not None for r in rows)

    # Each sheet is closed when written: a write-only sheet holds a temporary
    # file open until then, and a township with ~1,000 villages would exhaust
    # the usual limit of 1,024 open files.
    make = _CellMaker()
    with _discard_on_failure(wb, path):
        _write_summary(
            wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
        ).close()
        info.sheets = [SUMMARY_SHEET]
        for v in villages:
            if v in titles:
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


def _write_summary(
    wb, make, run_date, prev_run, county, township, villages, by_village, rectified, titles
):
    ws = wb.create_sheet(SUMMARY_SHEET)
    S = _Styles
    rule_names = {r["rule_name_zh"] or "" for rs in by_village.values() for r in rs}
    first = max((display_width(x) for x in [*(v or "" for v in villages), *rule_names]), default=0)
    ws.column_dimensions["A"].width = min(max(14, first + 2), 40)
    # Other columns hold counts; long headers wrap. The last column of table 2
    # (问题代码) overflows into the empty cells to its right.
    wide = len(villages) if len(villages) <= MAX_TABLE2_VILLAGES else 0
    for i in range(2, max(len(CATEGORIES) + 6, wide + 4) + 1):
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
    todo = sum(r["todo"].startswith(TODO_PREFIX) for rs in by_village.values() for r in rs)
    ws.append(
        [
            make(
                ws,
                f"待填报 {todo} 条：各村明细中“{TODO_HEADER}”以“{TODO_PREFIX}”开头、序号标红的问题"
                "需要填报或更新；已报送的内容已预填在填报列中，无变化不必改动，有变化请直接修改。",
                font=S.header_font,
                border=False,
            )
        ]
    )
    ws.append([])
    row_idx = 6  # next row to be appended (title, date, note, 待填报, blank above)

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
    row_idx += 3

    # Table 2: rules × villages, only rules present in this township. Excel has
    # 16,384 columns: with more villages than fit, only the totals per rule.
    listed = [v for v in villages if by_village.get(v)]
    title = "按问题类型统计"
    if len(listed) > MAX_TABLE2_VILLAGES:
        title += f"（行政村共{len(listed)}个，超过表格列数上限，仅列合计；各村数量见上表）"
        listed = []
    ws.append([make(ws, title, font=S.header_font, border=False)])
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
                *(_village_header(v) for v in listed),
                "合计",
                "问题代码",
            ]
        ]
    )
    per_rule: dict[tuple, Counter] = defaultdict(Counter)
    for v in villages:
        for r in by_village.get(v, []):
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
                make(ws, counts.total(), font=S.header_font),
                make(ws, code, border=False),
            ]
        )
    return ws


def _village_header(village: str | None) -> str:
    """A village as a column header of 汇总 table 2, never taken for a list column.

    The feedback reader finds answer sheets by their headers (whitespace removed,
    full-width brackets made half-width, a lengthened key header found by its
    start); a village named 问题编号 or 核实结果 would make table 2 look like one.
    """
    name = village or "（未填行政村）"
    key = re.sub(r"\s+", "", name).replace("（", "(").replace("）", ")")
    return f"行政村：{name}" if key.startswith(HEADERS) else name


def _write_village(wb, make, title: str, rows: list[dict]):
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
    # Header row and 序号 … 姓名 stay in view while the fill-in columns far right
    # are filled in.
    ws.freeze_panes = FREEZE_CELL
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
        todo = r["todo"].startswith(TODO_PREFIX)
        answer = r.get("answer") or {}
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
    return ws


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
