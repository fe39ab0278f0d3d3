"""Lists returned by townships (``<inbox>/feedback/``): read the fill-in columns back.

Two forms (``rectification.form.FORMS``): the 问题清单 (核实结果, 整改情况, 整改说明,
核实人, 核实日期) and the 监测预警核实清单 (走访日期, 核实结论, 说明, 核实人); each
fill-in column is stored in the ``feedback_responses`` column its ``Answer.response_field``
names (核实结论 in ``conclusion``, 走访日期 in ``verified_on``, 说明 in ``note``).
Everything below holds for both; "the fill-in columns" are those of the sheet's form.
The workbooks are the ones ``publishing.workbooks`` sent down, filled in by villages
and townships, and they come back in every state: renamed, rows re-sorted or
deleted, extra sheets, title rows inserted, read-only columns edited despite the
sheet protection, other formats (.xls/.ods saved by WPS or LibreOffice), and now
and then hostile. Rules, in the order they are applied to a file:

- **Once per content.** A file whose bytes (sha256) were read before is skipped
  entirely, whatever its name (a renamed copy adds nothing). A file that cannot
  be read from disk (no permission, moved away meanwhile) is logged and tried
  again the next night; the other files are read.
- **Limits before parsing** (``department_feeds.limits``; caps: the general
  ``BIDUI_MAX_*`` settings, but never more than :data:`MAX_FILE_BYTES`,
  :data:`MAX_UNCOMPRESSED_BYTES`, :data:`MAX_COMPRESSION_RATIO`, :data:`MAX_CELLS`
  for a returned list), and for .xlsx/.ods how far the cells reach, from the XML
  (the reader lays sheets out densely: one stray cell at XFD1048576, or one
  repeated .ods cell, would abort the process). A file over a cap is not opened: one reject line,
  ``feedback_files.status = 'too_large'``. A password-protected file (Office
  encryption) is opened with the township passwords the office sent the lists
  with (``BIDUI_WORKBOOK_PASSWORDS``, ``core.office_crypto``: Excel keeps the
  password on saving); when none fits, or none is configured, or it is an
  encrypted .ods, it is not read: status ``encrypted``, a reject asking to remove
  the password. A file that cannot be opened: ``failed``.
- **Rows per file**: more than :data:`MAX_ROWS` non-empty rows (a township's list
  is a few thousand at most) → the whole file is rejected with ONE reject line,
  status ``too_many_rows``; nothing of it is stored.
- **Township authority.** Every list we send carries a very-hidden sheet
  ``rectification.authority.MARKER_SHEET`` whose A1 holds a marker signed with the
  warehouse's key (county, township, run date). A file without a valid marker
  (sheet missing, marker edited or forged, made from scratch, signed by another
  warehouse) is not applied at all: status ``unverified``, one reject line per
  filled row (within the detail cap below). The marker survives a LibreOffice
  round trip to .ods and .xls (tested). Within a verified file, a row whose problem belongs to another
  township or county (looked up in ``findings``/``finding_history``, never taken
  from the file) is rejected, never applied, and its locked cells are not
  compared (the reason names the problem id, not the other township's people).
  The marker's run date does not matter: a list from an older night still
  answers for its own township's problems, including problems since resolved
  (then only in ``finding_history``); a problem that has moved to another
  township since is that township's. A township holding another's workbook file
  can answer for it: the marker proves where a file was sent, not who filled it.
- A sheet is read when one of its first 20 rows holds ``问题编号`` and at least
  one fill-in header of a form (or, 问题编号 deleted, two of them); of the two
  forms it is the one with more of its fill-in headers there, then more of all its
  headers (核实人 is in both), a tie going to the 问题清单. Columns are
  found by header, not position, a lengthened header (``核实结果（属实/不属实）``,
  ``核实人签字``) by its start. Other sheets (``汇总``, notes added by the
  township, the marker sheet) are skipped; the header row pasted again lower
  down is no row. A fill-in cell merged over several rows answers each of them.
  A workbook with no such sheet at all gets one reject line (status ``no_list``);
  a file of another format (a scan, a WPS ``.et``, an ``.xlsb`` whose extent
  cannot be checked before parsing) one line too (``unsupported``), once per content.
  问题编号 is compared after NFKC (full-width → half-width), removing spaces and
  invisible characters, and upper-casing.
- Only the fill-in columns are taken. A pipeline column whose value differs
  from what the warehouse says for that problem id (证件号码, 姓名, 问题代码,
  问题描述, 是否在册, 预警依据, …: the form's ``Column.field``; not 风险类型, which
  the warehouse does not hold) is ignored and written to ``feedback_issues`` and, as a warning
  of feed ``feedback``, to ``load_warnings``; the row itself is still accepted.
  :data:`STATUS_HEADER` (what happened to the last answer) is ours, not compared.
- A row with none of the fill-in columns filled is not a response.
- **Carried answers.** The next list comes pre-filled with the township's latest
  accepted answer (``publishing.workbooks``). A row whose fill-in values (as
  stored: dropdowns without blanks, texts trimmed, the date) equal the latest
  stored answer of that problem, given by the same township, is not a new answer:
  nothing is appended, it counts as not filled (``rows_unchanged``). So returning
  a list untouched neither re-dates an answer (``loaded_at`` stays the night it
  was first given, which the lifecycle and the waiver queue read) nor duplicates
  history. Any change in any fill-in cell makes it a new answer. The latest
  answer is read per file, so of two files in one night the later one is
  compared with what the earlier one stored. Emptying all fill-in cells withdraws
  nothing (an empty row is no answer): the next list carries the answer again.
- **Row-level faults reject the row**: an empty, unknown or foreign 问题编号 (or a
  sheet whose 问题编号 column was deleted), a problem on the wrong form (below), or
  a 问题编号 already answered earlier in the same file (the first answer counts,
  even when none of it could be kept).
- **Which form answers which problem.** A 监测预警核实清单 row may only answer an
  early warning, a 问题清单 row only any other problem: an early warning is a problem
  whose rule code (from ``findings``, else ``finding_history``; never from the file)
  is one of ``warning_rules`` (:func:`load_feedback`; the pipeline passes
  ``checks.rules.WARNING_RULE_CODES``, by default the rule codes of tonight's findings
  with a 是否在册, ``findings.standing``). Otherwise the row is rejected with a reason
  naming the right list, and its locked cells are not compared.
- **Field-level faults reject the field, not the answer**: a value outside the
  form's dropdown list (``Answer.values``), 整改说明/说明/核实人 longer than
  :data:`TEXT_MAX_CHARS`, an unreadable 核实日期/走访日期, or one before 2000 or after the day the file is read ("today" in the office's time zone ``BIDUI_TIMEZONE``, default
  Asia/Shanghai, not the machine's UTC clock). The field is stored as NULL, the
  rest of the answer is accepted, and the field is listed in ``rejects`` (column,
  raw value, Chinese and English reason) and in ``feedback_field_rejects`` (with
  the problem id). ``feedback_field_status`` is a view with one Chinese sentence per
  problem about the township's latest returned row (``上次报送：…，未采用；其余内容
  已采用``); ``publishing.workbooks`` shows it in the list. If no field is left after
  the faulty ones are dropped, nothing is stored (an empty answer would replace
  the previous one) and the row counts as rejected.
- Counts: rows_read = accepted + rejected + not_filled for every file; a row with
  rejected fields counts as accepted, its fields in ``fields_rejected``; a carried
  answer returned unchanged counts as not filled and in ``rows_unchanged``.
- **Detail caps.** Per file, at most :data:`DETAIL_CAP` reject lines per reason
  and :data:`DETAIL_CAP` locked-cell issues per column are stored; the rest are
  summed up in one line (``另有N…未逐条列出``). Counts stay exact.
  ``feedback_field_rejects`` is not capped: after duplicate rows are rejected it
  holds at most one line per field of each of the township's own problems.
- Every accepted response is appended to ``feedback_responses``; nothing is ever
  updated or deleted, so the history of answers stays. ``feedback_latest`` is a
  view with the latest answer per problem (``rectification.status.LATEST_ORDER``:
  latest ``loaded_at`` first). **Several files in one night** (e.g. a township's
  draft and final version): files are read in order of modification time, then
  name, and the n-th file read gets ``loaded_at`` = the night's time + n
  microseconds, so the answer of the later-modified file (then the later name)
  is the one that counts; the earlier one stays in the history.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import duckdb
import msoffcrypto
import python_calamine

from core.config import local_time
from core.config import now as config_now
from core.office_crypto import PasswordsError, configured_passwords, decrypt_returned
from department_feeds.limits import (
    ADVICE_ZH,
    MB,
    LimitExceeded,
    Limits,
    check_cells,
    check_file,
    check_rows,
    check_xlsx_extent,
    check_zip,
)
from rectification.authority import MARKER_SHEET, Marker, read_marker, signing_key
from rectification.form import FORMS, PROBLEM_FORM, REOPENED_PREFIX, Form, cell_text
from rectification.status import LATEST_ORDER, LATEST_RESPONSES_SQL
from warehouse.schema import columns, create_all, insert_sql

log = logging.getLogger(__name__)

FEED = "feedback"
READABLE_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
"""Not .xlsb: its extent cannot be checked before the reader lays the sheets out."""
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
HEADER_SCAN_ROWS = 20

# Caps for a returned list: tighter than for department feeds (a township's list
# is a few hundred kB and a few thousand rows).
MAX_FILE_BYTES = 20 * MB
MAX_UNCOMPRESSED_BYTES = 200 * MB
MAX_COMPRESSION_RATIO = 100.0
MAX_ROWS = 20_000
MAX_CELLS = 2_000_000
"""Rows × columns of one sheet as the reader lays it out: a list is ~26 columns wide."""
DETAIL_CAP = 200
"""Reject lines per reason and locked-cell issues per column stored per file."""

"""Workbook column (``publishing.workbooks``) showing ``feedback_field_status``; not the township's."""

UNVERIFIED_ZH = (
    "文件缺少或篡改了系统来源标记，无法确认所属乡镇，本行未采用；"
    "请在下发的问题清单原文件上填写后报送"
)
UNVERIFIED_EN = (
    "the workbook has no valid township marker (missing, edited or not from this system); "
    "row not used"
)

# One definition of "the answer that counts" for the view and the lifecycle.
LATEST_VIEW = (
    "CREATE OR REPLACE VIEW feedback_latest AS SELECT * FROM feedback_responses "
    f"QUALIFY row_number() OVER (PARTITION BY problem_id ORDER BY {LATEST_ORDER}) = 1"
)
# A fill-in header's place in its form (核实人 is fourth in both).
_FIELD_INDEX: dict[str, int] = {}
for _form in FORMS:
    for _i, _h in enumerate(_form.fill_in_headers):
        assert _FIELD_INDEX.setdefault(_h, _i) == _i, _h
_FIELD_ORDER = " ".join(f"WHEN '{h}' THEN {i}" for h, i in _FIELD_INDEX.items())
# Per problem, the township's latest returned row (stored, or dropped for having
# nothing left) and what of it was not taken. No line: everything was taken.
FIELD_STATUS_VIEW = f"""
CREATE OR REPLACE VIEW feedback_field_status AS
WITH attempts AS (
    SELECT problem_id, loaded_at, verified_on, source_file, sheet, row_number, checksum
    FROM feedback_responses
    UNION ALL
    SELECT DISTINCT problem_id, loaded_at, NULL::DATE, source_file, sheet, row_number, checksum
    FROM feedback_field_rejects WHERE NOT row_accepted
), latest AS (
    SELECT * FROM attempts
    QUALIFY row_number() OVER (PARTITION BY problem_id ORDER BY {LATEST_ORDER}) = 1
)
SELECT l.problem_id::VARCHAR AS problem_id,
       ('上次报送：' || string_agg(r.note_zh, '；'
            ORDER BY CASE r.column_name {_FIELD_ORDER} ELSE 99 END, r.column_name)
        || CASE WHEN bool_and(r.row_accepted) THEN '；其余内容已采用'
                ELSE '；该行没有其他可采用的内容，整行未采用' END)::VARCHAR AS note_zh
FROM latest l
JOIN feedback_field_rejects r
  ON r.problem_id = l.problem_id AND r.checksum = l.checksum
 AND r.sheet IS NOT DISTINCT FROM l.sheet AND r.row_number = l.row_number
GROUP BY l.problem_id
"""

# Pipeline columns compared with the warehouse, of both forms: header -> field of the
# lookup below (the forms' ``Column.field``). Fields that exist only while the finding
# is in ``findings`` are not compared once it is in ``finding_history`` alone. Not
# compared: 序号, 问题编号 (the key), 整改时限/核实时限 (due dates), 上次报送处理情况 and
# 填报状态 (our notes, not the township's data), 风险类型 (the rule catalogue's, not in
# the warehouse).
_NOT_COMPARED = {"seq", "problem_id", "due", "field_status", "todo", "risk_type"}
_COMPARED: dict[str, str] = {}
for _form in FORMS:
    for _c in _form.columns:
        if not _c.fill_in and _c.field not in _NOT_COMPARED:
            assert _COMPARED.setdefault(_c.header, _c.field) == _c.field, _c.header


def _compared(form: Form) -> dict[str, str]:
    """The compared columns of ``form``: header -> field."""
    return {h: f for h, f in _COMPARED.items() if h in form.headers}


_LOOKUP_SQL = """
WITH ids AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS problem_id)
SELECT ids.problem_id,
       f.county,
       coalesce(f.township, h.township) AS township,
       coalesce(f.village, h.village) AS village,
       f.village_group, coalesce(f.household_id, h.household_id) AS household_id,
       f.head_name, f.name, coalesce(f.id_number, h.id_number) AS id_number,
       f.category, coalesce(f.rule_code, h.rule_code) AS rule_code, f.description,
       f.department, f.evidence, f.requirement_zh,
       coalesce(f.first_seen, h.first_seen) AS first_seen,
       f.rule_name_zh, f.standing,
       f.problem_id IS NOT NULL AS in_findings
FROM ids
LEFT JOIN {findings} f ON f.problem_id = ids.problem_id
LEFT JOIN {history} h ON h.problem_id = ids.problem_id
WHERE f.problem_id IS NOT NULL OR h.problem_id IS NOT NULL
"""
# Stand-ins when a table does not exist yet (first run): same columns, no rows.
_EMPTY_FINDINGS = (
    "(SELECT NULL::VARCHAR AS problem_id, NULL::VARCHAR AS county, NULL::VARCHAR AS township, "
    "NULL::VARCHAR AS village, "
    "NULL::VARCHAR AS village_group, NULL::VARCHAR AS household_id, NULL::VARCHAR AS head_name, "
    "NULL::VARCHAR AS name, NULL::VARCHAR AS id_number, NULL::VARCHAR AS category, "
    "NULL::VARCHAR AS rule_code, NULL::VARCHAR AS description, NULL::VARCHAR AS department, "
    "NULL::VARCHAR AS evidence, NULL::VARCHAR AS requirement_zh, NULL::DATE AS first_seen, "
    "NULL::VARCHAR AS rule_name_zh, NULL::VARCHAR AS standing "
    "WHERE false)"
)
# What a response stores from the fill-in cells, of either form (feedback_responses).
_RESPONSE_FIELDS = tuple(dict.fromkeys(a.response_field for f in FORMS for a in f.answers))
_RESPONSE_COLUMNS = columns("feedback_responses")
assert set(_RESPONSE_FIELDS) <= set(_RESPONSE_COLUMNS)
# The latest accepted answer of each problem (rectification.status's one definition),
# as the next list carries it forward into the fill-in cells.
_LATEST_ANSWERS_SQL = f"""
SELECT problem_id, township, {", ".join(_RESPONSE_FIELDS)}
FROM ({LATEST_RESPONSES_SQL})
WHERE problem_id IN (SELECT unnest(?::VARCHAR[]))
"""
# Rule codes of early warnings when the caller names none: those whose findings carry
# 是否在册 (``findings.standing``), which the engine writes for early-warning rules only.
_WARNING_RULES_SQL = "SELECT DISTINCT rule_code FROM findings WHERE standing IS NOT NULL"
_EMPTY_HISTORY = (
    "(SELECT NULL::VARCHAR AS problem_id, NULL::VARCHAR AS township, NULL::VARCHAR AS village, "
    "NULL::VARCHAR AS household_id, NULL::VARCHAR AS id_number, NULL::VARCHAR AS rule_code, "
    "NULL::DATE AS first_seen WHERE false)"
)


@dataclass
class FeedbackResult:
    """Counts of one ``read_feedback`` call. rows_read = accepted + rejected + not_filled."""

    files_read: int = 0
    files_skipped: int = 0  # same bytes read before
    files_failed: int = 0  # not read: cannot be opened, encrypted, over a cap
    files_unverified: int = 0  # read, but no valid township marker: nothing applied
    files_unsupported: list[str] = field(default_factory=list)
    rows_read: int = 0
    accepted: int = 0  # including rows with some fields rejected
    rejected: int = 0
    not_filled: int = 0
    unchanged: int = 0  # of not_filled: the last accepted answer, returned as it was sent
    fields_rejected: int = 0
    edits_ignored: int = 0
    load_ids: list[str] = field(default_factory=list)


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    """The views over the feedback tables (the tables: ``warehouse.schema``)."""
    con.execute(LATEST_VIEW)
    con.execute(FIELD_STATUS_VIEW)


def feedback_limits(base: Limits | None = None) -> Limits:
    """The general limits (``BIDUI_MAX_*``), tightened to the caps of a returned list."""
    base = base or Limits.from_env()
    return dataclasses.replace(
        base,
        max_file_bytes=min(base.max_file_bytes, MAX_FILE_BYTES),
        max_uncompressed_bytes=min(base.max_uncompressed_bytes, MAX_UNCOMPRESSED_BYTES),
        max_compression_ratio=min(base.max_compression_ratio, MAX_COMPRESSION_RATIO),
        max_rows=min(base.max_rows, MAX_ROWS),
        max_cells=min(base.max_cells, MAX_CELLS),
    )


def office_now() -> datetime:
    """Now in the office's time zone (``BIDUI_TIMEZONE``, default Asia/Shanghai), naive."""
    return config_now().replace(microsecond=0)


# ----------------------------------------------------------------------------- parsing


def _norm_header(value: Any) -> str:
    """Header as written by us: no whitespace, half-width brackets."""
    text = re.sub(r"\s+", "", _text(value))
    return text.replace("（", "(").replace("）", ")")


def _text(value: Any) -> str:
    """Cell value as text the way a person reads it (12.0 -> '12', dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return (
            value.date().isoformat()
            if value.time() == datetime.min.time()
            else value.isoformat(" ")
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _compact(value: Any) -> str:
    """Text with all whitespace collapsed, for comparing cells."""
    return " ".join(_text(value).split())


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?$"),
)
_EXCEL_EPOCH = date(1899, 12, 30)


def parse_date(value: Any) -> date | None:
    """核实日期 from an Excel date, serial number or common text forms.

    Returns None for a blank cell; raises ValueError when it cannot be read.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if float(value).is_integer() and 19000101 <= value <= 21001231:
            value = str(int(value))  # 20240603 typed as a number
        elif 1 <= value < 2958466:
            return _EXCEL_EPOCH + timedelta(days=int(value))  # serial without date format
        else:
            raise ValueError(value)
    text = str(value).strip().replace("／", "/").replace("－", "-")
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError(value)


def _choice(value: Any) -> str | None:
    text = re.sub(r"\s+", "", _text(value))
    return text or None


_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff]+")


def norm_problem_id(value: Any) -> str:
    """问题编号 as the engine writes it: NFKC (full-width → half-width), no spaces or
    invisible characters, upper case."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", _text(value))).upper()


# ----------------------------------------------------------------------------- reading


@dataclass
class _Sheet:
    name: str
    header_row: int  # 0-based index into rows
    columns: dict[str, int]  # canonical header -> 0-based column index
    rows: list[list[Any]]
    form: Form = PROBLEM_FORM  # the list it is a sheet of, recognised by its headers

    def data(self):
        """(1-based row number, row) of every non-empty row under the header; the
        header row pasted again further down (a separator) is not a row."""
        j = self.columns.get("问题编号")
        for idx in range(self.header_row + 1, len(self.rows)):
            row = self.rows[idx]
            if j is not None and j < len(row) and _norm_header(row[j]) == "问题编号":
                continue
            if any(_text(v) != "" for v in row):
                yield idx + 1, row  # calamine rows start at A1 with skip_empty_area=False


def _columns(headers: list[str], form: Form) -> dict[str, int]:
    """Header -> column index; first occurrence wins. A key header of ``form`` the
    township lengthened (``核实结果（属实/不属实）``, ``核实人签字``) is found by its start."""
    columns: dict[str, int] = {}
    for j, h in enumerate(headers):
        columns.setdefault(h, j)
    keys = ("问题编号", *form.fill_in_headers)
    for key in keys:
        if key not in columns:
            j = next((j for j, h in enumerate(headers) if h.startswith(key)), None)
            if j is not None and j not in {columns[k] for k in keys if k in columns}:
                columns[key] = j
    return columns


def _is_list_header(columns: dict[str, int], form: Form) -> bool:
    """问题编号 and a fill-in column, or (问题编号 deleted) two fill-in columns."""
    fill_in = sum(h in columns for h in form.fill_in_headers)
    return fill_in >= 2 or ("问题编号" in columns and fill_in >= 1)


def _list_header(headers: list[str]) -> tuple[Form, dict[str, int]] | None:
    """The form whose header row this is, with its columns; None for no list header.

    Of the forms it could be, the one with the most of its fill-in headers present,
    then of all its headers (核实人 alone is in both); a tie goes to the first form."""
    best: tuple[tuple[int, int], Form, dict[str, int]] | None = None
    for form in FORMS:
        columns = _columns(headers, form)
        if not _is_list_header(columns, form):
            continue
        score = (
            sum(h in columns for h in form.fill_in_headers),
            sum(h in columns for h in form.headers),
        )
        if best is None or score > best[0]:
            best = (score, form, columns)
    return None if best is None else (best[1], best[2])


def _sheet(book: python_calamine.CalamineWorkbook, name: str, limits: Limits):
    sheet = book.get_sheet_by_name(name)
    # Python lists of a sheet laid out densely are the memory risk; refuse before.
    check_cells(name, sheet.total_height, sheet.total_width, limits)
    return sheet


def _unmerge(rows: list[list[Any]], merged, header_row: int, columns: set[int]) -> None:
    """Give every row of a vertically merged fill-in cell the merged value.

    A village that merges 核实结果 or 核实人 over its rows answers all of them; the
    reader only sees the value in the top cell. Ranges reaching into the header,
    and other columns, are left alone.
    """
    for (r1, c1), (r2, _) in merged or []:
        if r1 <= header_row or c1 not in columns or r1 >= len(rows):
            continue
        value = rows[r1][c1] if c1 < len(rows[r1]) else None
        for r in range(r1 + 1, min(r2, len(rows) - 1) + 1):
            if c1 < len(rows[r]) and _text(rows[r][c1]) == "":
                rows[r][c1] = value


def _find_sheets(book: python_calamine.CalamineWorkbook, limits: Limits) -> list[_Sheet]:
    found = []
    for meta in book.sheets_metadata:
        if str(meta.typ) != str(python_calamine.SheetTypeEnum.WorkSheet):
            continue
        if meta.name == MARKER_SHEET:
            continue
        sheet = _sheet(book, meta.name, limits)
        rows = sheet.to_python(skip_empty_area=False)
        for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            match = _list_header([_norm_header(v) for v in row])
            if match is not None:
                form, columns = match
                fill_in = {columns[h] for h in form.fill_in_headers if h in columns}
                _unmerge(rows, sheet.merged_cell_ranges, i, fill_in)
                found.append(_Sheet(meta.name, i, columns, rows, form))
                break
    return found


def _marker(book: python_calamine.CalamineWorkbook, key: bytes, limits: Limits) -> Marker | None:
    """The verified township marker of the workbook, None when missing or not valid."""
    if MARKER_SHEET not in {m.name for m in book.sheets_metadata}:
        return None
    rows = _sheet(book, MARKER_SHEET, limits).to_python(skip_empty_area=False)
    text = rows[0][0] if rows and rows[0] else None
    return read_marker(key, text)


_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def _repeat(elem, attr: str) -> int:
    try:
        return max(1, int(elem.get(f"{_TABLE}number-{attr}-repeated", "1")))
    except ValueError:
        return 1


def check_ods_extent(path: Path | io.BytesIO, limits: Limits) -> None:
    """Raise ``LimitExceeded`` when a sheet of an .ods reaches too far (rows × columns).

    One repeated cell (``table:number-columns-repeated``/``number-rows-repeated``)
    of a few bytes can stand for millions of cells, which the reader lays out
    densely (> 4 GB for 90 million, then the process aborts). Streams content.xml
    (expat >= 2.4 refuses entity-expansion bombs; etree resolves no external entities);
    only cells holding a value count, as for the reader.
    """
    try:
        zf = zipfile.ZipFile(path)
        part = zf.open("content.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        return  # not an ods the reader can open either: it fails with its own reason
    with zf, part:
        name, rows, width, row = "", 0, 0, 0
        open_elems: list = []  # so a finished row can be dropped from its parent
        for event, elem in ElementTree.iterparse(part, events=("start", "end")):
            if event == "start":
                open_elems.append(elem)
                if elem.tag == f"{_TABLE}table":
                    name, rows, width, row = elem.get(f"{_TABLE}name", ""), 0, 0, 0
                continue
            open_elems.pop()
            if elem.tag == f"{_TABLE}table-row":
                repeat, col, last = _repeat(elem, "rows"), 0, 0
                for cell in elem:
                    col += _repeat(cell, "columns")
                    if cell.get(f"{_OFFICE}value-type") is not None or len(cell):
                        last = col
                row += repeat
                if last:
                    rows, width = row, max(width, last)
                    check_cells(name, rows, width, limits)
                    check_rows(rows, limits)
                if open_elems:
                    open_elems[-1].remove(elem)  # memory stays flat however many rows


_CFB_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


def _is_encrypted(path: Path) -> bool:
    """Office encryption (an OOXML package inside a CFB container, or an encrypted
    .xls) or an encrypted .ods: neither can be read without the password."""
    with path.open("rb") as fh:
        magic = fh.read(8)
        if magic == _CFB_MAGIC:
            fh.seek(0)
            try:
                return bool(msoffcrypto.OfficeFile(fh).is_encrypted())
            except Exception:  # not an Office file msoffcrypto knows: let the reader decide
                return path.suffix.lower() in {".xlsx", ".xlsm"}
    if path.suffix.lower() == ".ods":
        try:
            with zipfile.ZipFile(path) as zf:
                return b"encryption-data" in zf.read("META-INF/manifest.xml")
        except (zipfile.BadZipFile, KeyError, OSError):
            return False
    return False


def _lookup(
    con: duckdb.DuckDBPyConnection, ids: list[str], warning_rules: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """问题编号 -> what the warehouse says of the problem (never the file), with
    ``is_warning``: its rule is an early-warning rule (``warning_rules``)."""
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name IN ('findings', 'finding_history')"
        ).fetchall()
    }
    sql = _LOOKUP_SQL.format(
        findings="findings" if "findings" in tables else _EMPTY_FINDINGS,
        history="finding_history" if "finding_history" in tables else _EMPTY_HISTORY,
    )
    if not ids:
        return {}
    cur = con.execute(sql, [ids])
    names = [d[0] for d in cur.description]
    out: dict[str, dict[str, Any]] = {}
    for row in cur.fetchall():
        rec = dict(zip(names, row, strict=True))
        rec["is_warning"] = rec["rule_code"] in warning_rules
        out.setdefault(rec["problem_id"], rec)
    return out


def _belongs(rec: dict[str, Any], marker: Marker) -> bool:
    """Whether the problem is the marker's township's (county too, while it is known)."""
    if (rec["township"] or "") != marker.township:
        return False
    return not rec["in_findings"] or (rec["county"] or "") == marker.county


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _FileRejected(Exception):
    """The whole file is not read: one reject line, ``feedback_files.status``."""

    def __init__(self, status: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


@dataclass
class _Out:
    """What one file adds to the warehouse, with detail lines capped per reason."""

    load_id: str
    rel: str
    checksum: str
    loaded_at: datetime
    responses: list[tuple] = field(default_factory=list)
    issues: list[tuple] = field(default_factory=list)
    rejects: list[tuple] = field(default_factory=list)
    field_rejects: list[tuple] = field(default_factory=list)
    _seen: Counter = field(default_factory=Counter)
    _first: dict = field(default_factory=dict)

    def _keep(self, key: tuple, first: tuple) -> bool:
        self._seen[key] += 1
        self._first.setdefault(key, first)
        return self._seen[key] <= DETAIL_CAP

    def reject_file(self, zh: str, en: str) -> None:
        """One reject line for the whole file (no sheet, row or cell)."""
        self.reject("file", None, None, None, None, zh, en)

    def reject(self, kind, sheet, row_number, column, raw, zh, en) -> None:
        if self._keep(("reject", kind, column), (zh, en)):
            self.rejects.append(
                (self.load_id, FEED, self.rel, sheet, row_number, column, raw, zh, en)
            )

    def issue(self, sheet, row_number, pid, column, raw, expected, zh, en) -> None:
        if self._keep(("issue", column), (zh, en)):
            self.issues.append(
                (
                    self.load_id,
                    self.rel,
                    sheet,
                    row_number,
                    pid,
                    column,
                    raw,
                    expected,
                    zh,
                    en,
                    self.checksum,
                    self.loaded_at,
                )
            )

    def summarise(self) -> None:
        """One line for everything over the cap, per reason (rows stay counted exactly)."""
        for key, n in self._seen.items():
            extra = n - DETAIL_CAP
            if extra <= 0:
                continue
            zh, en = self._first[key]
            if key[0] == "reject":
                self.rejects.append(
                    (
                        self.load_id,
                        FEED,
                        self.rel,
                        None,
                        None,
                        key[2],
                        None,
                        f"另有{extra}行因同类原因未采用，未逐条列出；同类原因如：{zh}",
                        f"{extra} more rows not used for the same reason, not listed: {en}",
                    )
                )
            else:
                self.issue_summary(key[1], extra)

    def issue_summary(self, column: str, extra: int) -> None:
        self.issues.append(
            (
                self.load_id,
                self.rel,
                None,
                None,
                None,
                column,
                None,
                None,
                f"“{column}”列另有{extra}处同类修改未逐条列出（均已忽略，以系统数据为准）",
                f"{extra} more edits of read-only column {column!r} not listed (all ignored)",
                self.checksum,
                self.loaded_at,
            )
        )


def load_feedback(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    *,
    loaded_at: datetime | None = None,
    limits: Limits | None = None,
    warning_rules: Collection[str] | None = None,
) -> FeedbackResult:
    """Read every workbook under ``folder`` (``<inbox>/feedback``) not read before.

    ``source_file`` is stored relative to the inbox (``feedback/…``, the folder's
    own name first). Each file is written in one transaction. ``loaded_at``
    defaults to now in the office's time zone; the n-th file read gets it plus n
    microseconds (files in order of modification time, then name). ``limits``
    defaults to :func:`feedback_limits`.

    ``warning_rules``: the rule codes of early warnings (``checks.rules.WARNING_RULE_CODES``,
    which this layer cannot import): their problems are answered on the
    监测预警核实清单, all others on the 问题清单. None: the rule codes of tonight's
    findings that carry 是否在册 (``findings.standing``, written for early warnings only).
    """
    create_all(con)
    _create_views(con)
    key = signing_key(con)  # created here when missing: then no list was verifiable yet
    limits = limits or feedback_limits()
    loaded_at = loaded_at or office_now()
    warnings = frozenset(
        warning_rules
        if warning_rules is not None
        else (r[0] for r in con.execute(_WARNING_RULES_SQL).fetchall())
    )
    folder = Path(folder)
    result = FeedbackResult()
    if not folder.is_dir():
        log.info("no feedback folder at %s", folder)
        return result
    seen = {r[0] for r in con.execute("SELECT checksum FROM feedback_files").fetchall()}
    todo: list[tuple[float, str, Path, str]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        if path.name.startswith(("~$", ".")) or path.name.lower() in SYSTEM_FILES:
            continue  # Excel lock files, hidden files, files the OS puts in folders
        try:
            checksum = _sha256(path)
        except OSError as exc:  # no permission, or moved away meanwhile: next night
            log.warning("feedback: cannot read %s from disk: %s", rel, exc)
            result.files_failed += 1
            continue
        if checksum in seen:
            result.files_skipped += 1
            continue
        seen.add(checksum)
        if path.suffix.lower() not in READABLE_SUFFIXES:
            # Reported once (a scan, a WPS .et file): the township must hear of it.
            log.warning("feedback: unsupported file %s not read", rel)
            result.files_unsupported.append(rel)
            _unsupported(con, path, rel, checksum, loaded_at, result)
            continue
        todo.append((path.stat().st_mtime, rel, path, checksum))
    # Later-modified files are read later, so their answers are the latest.
    for n, (_, rel, path, checksum) in enumerate(sorted(todo, key=lambda t: (t[0], t[1]))):
        at = loaded_at + timedelta(microseconds=n)
        try:
            _read_file(con, key, limits, path, rel, checksum, at, result, warnings)
        except OSError as exc:  # gone since it was hashed: nothing stored, next night
            log.warning("feedback: cannot read %s from disk: %s", rel, exc)
            result.files_failed += 1
    return result


def _file_row(path: Path, rel: str, checksum: str, loaded_at: datetime) -> dict[str, Any]:
    """The ``feedback_files`` line of a file, before reading it."""
    stat = path.stat()
    return {
        "load_id": f"{FEED}-{checksum[:16]}",
        "source_file": rel,
        "checksum": checksum,
        "size_bytes": stat.st_size,
        "modified_at": local_time(int(stat.st_mtime)),
        "loaded_at": loaded_at,
        "sheets": "[]",
        "rows_read": 0,
        "rows_accepted": 0,
        "rows_rejected": 0,
        "rows_not_filled": 0,
        "rows_unchanged": 0,
        "fields_rejected": 0,
        "edits_ignored": 0,
        "status": "loaded",
        "error": None,
        "county": None,
        "township": None,
        "marker_run_date": None,
    }


def _unsupported(con, path: Path, rel: str, checksum: str, loaded_at, result) -> None:
    file_row = _file_row(path, rel, checksum, loaded_at)
    suffix = path.suffix.lower() or "（无扩展名）"
    file_row.update(status="unsupported", error=f"unsupported format {suffix}")
    out = _Out(file_row["load_id"], rel, checksum, loaded_at)
    out.reject_file(
        f"文件格式不支持（{suffix}），未读取；请在下发的问题清单原文件（.xlsx）上填写后报送",
        f"unsupported file format {suffix}; not read",
    )
    result.load_ids.append(file_row["load_id"])
    _store(con, file_row, out)


def _decrypted(path: Path, limits: Limits) -> io.BytesIO:
    """The plaintext of a password-protected file, when it opens with one of the
    office's township passwords (``BIDUI_WORKBOOK_PASSWORDS``: the lists go out
    encrypted and Excel keeps the password on saving); else the file is rejected.
    Which township the answers are for is still the signed marker's to say."""
    try:
        passwords = configured_passwords()
    except PasswordsError as exc:
        log.error("feedback: workbook passwords unusable: %s", exc)
        passwords = None
    if passwords:
        try:
            data, _ = decrypt_returned(path, passwords)
        except Exception as exc:  # wrong password, or an encryption msoffcrypto cannot undo
            log.warning("feedback: %s not decrypted: %s", path.name, exc)
        else:
            source = io.BytesIO(data)
            check_zip(source, path.stat().st_size, limits)  # the package inside, uncompressed
            return source
    hint = "（也不是下发时设置的密码）" if passwords else ""
    raise _FileRejected(
        "encrypted",
        f"文件设置了打开密码{hint}，无法读取，整个文件未采用；请取消密码后报送",
        "file is password-protected (encrypted) and no township password opens it; "
        "remove the password and send it again",
    )


def _rewound(source: io.BytesIO) -> io.BytesIO:
    source.seek(0)  # the checks before read it
    return source


def _over_limit(exc: LimitExceeded) -> _FileRejected:
    """A cap of ``department_feeds.limits`` exceeded, worded for a township."""
    # Rows are counted from the XML by limits.check_rows; any other cap is size.
    status = "too_many_rows" if exc.message_en.startswith("too many rows") else "too_large"
    # A township is not to split its list: it is to use the one it was sent.
    zh = exc.message_zh.replace(ADVICE_ZH, "请在下发的问题清单原文件上填写后报送")
    return _FileRejected(status, zh, exc.message_en)


def _open(path: Path, key: bytes, limits: Limits) -> tuple[Marker | None, list[_Sheet]]:
    """Marker and problem-list sheets; raises ``_FileRejected`` for a file not to be read."""
    try:
        return _open_checked(path, key, limits)
    except LimitExceeded as exc:
        raise _over_limit(exc) from exc


def _open_checked(path: Path, key: bytes, limits: Limits) -> tuple[Marker | None, list[_Sheet]]:
    check_file(path, limits)
    source: Path | io.BytesIO = path
    if _is_encrypted(path):
        source = _decrypted(path, limits)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        # How far the cells reach, from the XML: calamine lays a sheet out densely and
        # aborts the whole process on one stray cell at XFD1048576.
        check_xlsx_extent(source, limits)
    if path.suffix.lower() == ".ods":
        check_ods_extent(source, limits)
    book = (
        python_calamine.CalamineWorkbook.from_path(str(path))
        if isinstance(source, Path)
        else python_calamine.CalamineWorkbook.from_filelike(_rewound(source))
    )
    sheets = _find_sheets(book, limits)
    rows = sum(1 for s in sheets for _ in s.data())
    if rows > limits.max_rows:
        raise _FileRejected(
            "too_many_rows",
            f"文件行数过多（{rows:,} 行，上限 {limits.max_rows:,} 行），远超一个乡镇问题清单的"
            "正常行数，整个文件未采用；请在下发的问题清单原文件上填写后报送",
            f"too many rows ({rows:,}, limit {limits.max_rows:,}); file not used",
        )
    return _marker(book, key, limits), sheets


def _read_file(
    con,
    key: bytes,
    limits: Limits,
    path: Path,
    rel: str,
    checksum: str,
    loaded_at: datetime,
    result: FeedbackResult,
    warning_rules: frozenset[str],
) -> None:
    file_row = _file_row(path, rel, checksum, loaded_at)
    load_id = file_row["load_id"]
    out = _Out(load_id, rel, checksum, loaded_at)
    try:
        marker, sheets = _open(path, key, limits)
    except _FileRejected as exc:
        log.warning("feedback: %s not read: %s", rel, exc.en)
        file_row.update(status=exc.status, error=exc.en)
        out.reject_file(exc.zh, exc.en)
        result.files_failed += 1
    except Exception as exc:  # corrupt file, or one the reader does not understand
        log.warning("feedback: cannot open %s: %s", rel, exc)
        file_row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        out.reject_file(
            "文件无法打开（可能已损坏或设置了打开密码），请重新导出后报送",
            f"file cannot be opened: {type(exc).__name__}",
        )
        result.files_failed += 1
    else:
        file_row["sheets"] = json.dumps([s.name for s in sheets], ensure_ascii=False)
        if not sheets:
            counts = _new_counts()
            file_row["status"] = "no_list"
            out.reject_file(
                "文件中没有找到问题清单或监测预警核实清单工作表（需含“问题编号”和“核实结果”"
                "或“核实结论”等填报列），未读取；请在下发的清单原文件上填写后报送",
                "no problem-list or early-warning sheet found (needs 问题编号 and the "
                "fill-in columns)",
            )
        elif marker is None:
            counts = _reject_unverified(sheets, out)
            file_row["status"] = "unverified"
            result.files_unverified += 1
        else:
            file_row.update(
                county=marker.county, township=marker.township, marker_run_date=marker.run_date
            )
            counts = _read_rows(con, sheets, marker, out, warning_rules)
        file_row.update(counts)
        result.files_read += 1
        result.rows_read += counts["rows_read"]
        result.accepted += counts["rows_accepted"]
        result.rejected += counts["rows_rejected"]
        result.not_filled += counts["rows_not_filled"]
        result.unchanged += counts["rows_unchanged"]
        result.fields_rejected += counts["fields_rejected"]
        result.edits_ignored += counts["edits_ignored"]
    result.load_ids.append(load_id)
    out.summarise()
    _store(con, file_row, out)
    log.info(
        "feedback: %s -> %s",
        rel,
        {
            k: file_row[k]
            for k in ("status", "rows_read", "rows_accepted", "rows_rejected", "fields_rejected")
        },
    )


def _store(con, file_row: dict[str, Any], out: _Out) -> None:
    con.begin()
    try:
        con.execute(
            f"INSERT INTO feedback_files ({', '.join(file_row)}) "
            f"VALUES ({', '.join('?' * len(file_row))})",
            list(file_row.values()),
        )
        if out.responses:
            con.executemany(insert_sql("feedback_responses"), out.responses)
        if out.field_rejects:
            con.executemany(insert_sql("feedback_field_rejects"), out.field_rejects)
        if out.issues:
            con.executemany(insert_sql("feedback_issues"), out.issues)
            # Also as warnings of feed 'feedback', where the report lists every feed's.
            con.executemany(
                insert_sql("load_warnings"),
                [(i[0], FEED, i[1], i[2], i[3], i[5], i[6], i[8], i[9]) for i in out.issues],
            )
        if out.rejects:
            con.executemany(insert_sql("rejects"), out.rejects)
        con.commit()
    except Exception:
        con.rollback()
        raise


def _get(row: list[Any], cols: dict[str, int], header: str) -> Any:
    """The cell under ``header`` in ``row`` (None when the column is missing)."""
    j = cols.get(header)
    return row[j] if j is not None and j < len(row) else None


def _filled(row: list[Any], cols: dict[str, int], form: Form) -> dict[str, Any] | None:
    """The fill-in cells of ``form``, None when none of them is filled."""
    fills = {h: _get(row, cols, h) for h in form.fill_in_headers}
    return None if all(_text(v) == "" for v in fills.values()) else fills


def _new_counts() -> dict[str, int]:
    return dict(
        rows_read=0,
        rows_accepted=0,
        rows_rejected=0,
        rows_not_filled=0,
        rows_unchanged=0,
        fields_rejected=0,
        edits_ignored=0,
    )


def _reject_unverified(sheets: list[_Sheet], out: _Out) -> dict[str, int]:
    """No valid marker: every filled row is rejected, nothing compared or stored."""
    counts = _new_counts()
    for sheet in sheets:
        zh = UNVERIFIED_ZH.replace("问题清单", sheet.form.title_zh)
        for row_number, row in sheet.data():
            counts["rows_read"] += 1
            if _filled(row, sheet.columns, sheet.form) is None:
                counts["rows_not_filled"] += 1
                continue
            counts["rows_rejected"] += 1
            raw = _text(_get(row, sheet.columns, "问题编号"))
            out.reject("unverified", sheet.name, row_number, "问题编号", raw, zh, UNVERIFIED_EN)
    return counts


def _note_header(form: Form) -> str:
    """The fill-in column where a township explains itself (整改说明 / 说明)."""
    return next(a.header for a in form.answers if a.response_field == "note")


def _edits(rec: dict[str, Any], row, sheet: _Sheet, row_number: int, pid: str, out: _Out) -> int:
    """Compare the pipeline columns with the warehouse; report differences, return how many."""
    n = 0
    cols = sheet.columns
    for header, fld in _compared(sheet.form).items():
        if header not in cols or (rec[fld] is None and not rec["in_findings"]):
            continue  # column deleted, or the warehouse no longer knows the value
        raw = _get(row, cols, header)
        got = _compact(raw)
        # As the workbook shows it: control characters as U+FFFD, over-long text cut.
        want = _compact(cell_text(rec[fld]) if isinstance(rec[fld], str) else rec[fld])
        if header == "问题描述":
            got = got.removeprefix(REOPENED_PREFIX)
        if header == "证件号码":
            got, want = got.upper(), want.upper()
        if got != want:
            n += 1
            out.issue(
                sheet.name,
                row_number,
                pid,
                header,
                _text(raw),
                None if rec[fld] is None else _text(rec[fld]),
                f"“{header}”为系统生成的只读列，报送文件中的内容与系统数据不一致"
                "（被修改，或系统数据已更新），已忽略，以系统数据为准；"
                f"如系统数据有误，请在{_note_header(sheet.form)}中反映",
                f"read-only column {header!r} differs from the warehouse "
                "(edited in the returned file, or the data changed since); ignored",
            )
    return n


def _row_error(
    pid: str,
    raw_pid: str,
    rec: dict[str, Any] | None,
    foreign: bool,
    marker: Marker,
    answered: dict[str, tuple[str, int]],
    has_id_column: bool = True,
    form: Form = PROBLEM_FORM,
) -> tuple[str, str, str] | None:
    """(kind, reason_zh, reason_en) when the whole row cannot be used."""
    if not pid and not has_id_column:
        return (
            "no_id_column",
            "本工作表缺少“问题编号”列（可能被删除或改名），无法对应到问题，本行未采用；"
            "请勿删除或修改“问题编号”列",
            "the sheet has no 问题编号 column (deleted or renamed); the row cannot be matched",
        )
    if not pid:
        return (
            "empty_id",
            f"问题编号为空，无法对应到{form.title_zh}中的问题",
            "problem id is empty; the row cannot be matched",
        )
    if rec is None:
        return (
            "unknown_id",
            "问题编号在系统中不存在（可能被修改或不是本系统下发的清单）",
            "unknown problem id (edited, or not from a list we sent)",
        )
    if foreign:
        # Names the problem id only: nothing about the other township's people.
        return (
            "foreign",
            f"问题编号“{pid}”不是本乡镇（{marker.township or '未填乡镇'}）{form.title_zh}中的问题，"
            f"本行未采用；请只填报本乡镇{form.title_zh}中的问题",
            f"problem {pid} does not belong to the township this workbook was sent to; "
            "row not used",
        )
    if rec["is_warning"] != (form.kind == "warnings"):
        return _wrong_form(pid, rec["is_warning"])
    if pid in answered:
        first_sheet, first_row = answered[pid]
        return (
            "duplicate",
            f"同一问题编号在本文件中重复填报（首次出现在“{first_sheet}”第{first_row}行），"
            "本行未采用",
            f"problem id answered twice in this file (first at {first_sheet!r} "
            f"row {first_row}); this row is not used",
        )
    return None


def _wrong_form(pid: str, is_warning: bool) -> tuple[str, str, str]:
    """A problem answered on the other form (a row pasted across, or a hand-made sheet)."""
    if is_warning:
        return (
            "wrong_form",
            f"问题编号“{pid}”是部门筛查预警线索，应在监测预警核实清单中填报"
            "（走访日期、核实结论、说明、核实人），不能在问题清单中填报，本行未采用",
            f"problem {pid} is an early warning: answer it on the 监测预警核实清单, "
            "not on the 问题清单; row not used",
        )
    return (
        "wrong_form",
        f"问题编号“{pid}”不是部门筛查预警线索，应在问题清单中填报"
        "（核实结果、整改情况、整改说明、核实人、核实日期），不能在监测预警核实清单中填报，"
        "本行未采用",
        f"problem {pid} is not an early warning: answer it on the 问题清单, "
        "not on the 监测预警核实清单; row not used",
    )


# (column, raw, note_zh for the list, reason_zh, reason_en)
_FieldError = tuple[str, str, str, str, str]


TEXT_MAX_CHARS = {"整改说明": 2000, "说明": 2000, "核实人": 100}
"""Longer free text is a field fault (nothing a village writes by hand is this long)."""
NOTE_RAW_CHARS = 20
"""A faulty value quoted in the list's note is cut to this many characters."""
_EN = {
    "核实结果": "verification",
    "整改情况": "rectification",
    "整改说明": "note",
    "核实人": "verifier",
    "核实日期": "verification date",
    "走访日期": "visit date",
    "核实结论": "conclusion",
    "说明": "note",
}
"""A fill-in header in the English reasons."""


def _quote(raw: str) -> str:
    """``raw`` for the note in the township's list: short, on one line."""
    text = " ".join(raw.split())
    return text if len(text) <= NOTE_RAW_CHARS else text[:NOTE_RAW_CHARS] + "…"


def _check_fields(
    fills: dict[str, Any], today: date, form: Form = PROBLEM_FORM
) -> tuple[dict[str, Any], list[_FieldError]]:
    """Fill-in values of ``form`` to store, by header (a faulty field becomes None),
    and the faults found: a value off the dropdown, an over-long text, a date that
    cannot be read or is before 2000 or after ``today``."""
    errors: list[_FieldError] = []
    values: dict[str, Any] = {}
    for answer in form.answers:
        header, en = answer.header, _EN.get(answer.header, answer.response_field)
        if answer.kind == "choice":
            allowed = answer.values
            value = _choice(fills[header])
            if value is not None and value not in allowed:
                raw = _text(fills[header])
                errors.append(
                    (
                        header,
                        raw,
                        f"{header}“{_quote(raw)}”不是可选值（{'、'.join(allowed)}），未采用",
                        f"{header}只能填写：{'、'.join(allowed)}",
                        f"{en} must be one of {', '.join(allowed)}",
                    )
                )
                value = None
            values[header] = value
        elif answer.kind == "text":
            text = _text(fills[header]) or None
            cap = TEXT_MAX_CHARS.get(header, 2000)
            if text is not None and len(text) > cap:
                errors.append(
                    (
                        header,
                        text,
                        f"{header}“{_quote(text)}”超过{cap}字，未采用",
                        f"{header}超过{cap}字，请精简后重新报送",
                        f"{en} longer than {cap} characters",
                    )
                )
                text = None
            values[header] = text
        else:
            values[header], error = _check_date(header, en, fills[header], today)
            if error is not None:
                errors.append(error)
    return values, errors


def _check_date(
    header: str, en: str, value: Any, today: date
) -> tuple[date | None, _FieldError | None]:
    """A date cell (核实日期, 走访日期): the date, or None and the fault."""
    raw = _text(value)
    try:
        day = parse_date(value)
    except (ValueError, TypeError, OverflowError):
        return None, (
            header,
            raw,
            f"{header}“{_quote(raw)}”无法识别，未采用",
            f"{header}无法识别，请填写日期，如 2024-06-01",
            f"{en} cannot be parsed",
        )
    if day is not None and day < date(2000, 1, 1):
        return None, (
            header,
            raw,
            f"{header}“{_quote(raw)}”早于2000年，未采用",
            f"{header}不合理（早于2000年）",
            f"{en} is before 2000",
        )
    if day is not None and day > today:
        return None, (
            header,
            raw,
            f"{header}“{_quote(raw)}”晚于报送日期，未采用",
            f"{header}不合理（晚于报送日期 {today.isoformat()}）",
            f"{en} is after the date the file was read ({today.isoformat()})",
        )
    return day, None


def _read_rows(
    con, sheets: list[_Sheet], marker: Marker, out: _Out, warning_rules: frozenset[str]
) -> dict[str, int]:
    counts = _new_counts()
    ids = sorted(
        {
            pid
            for s in sheets
            for _, row in s.data()
            if (pid := norm_problem_id(_get(row, s.columns, "问题编号")))
        }
    )
    known = _lookup(con, ids, warning_rules)
    # Read per file: a file read earlier the same night counts as stored before it.
    latest = {
        pid: (township, tuple(values))
        for pid, township, *values in con.execute(_LATEST_ANSWERS_SQL, [ids]).fetchall()
    }
    answered: dict[str, tuple[str, int]] = {}  # problem id -> (sheet, row) of its first answer
    today = out.loaded_at.date()

    for sheet in sheets:
        cols, form = sheet.columns, sheet.form
        for row_number, row in sheet.data():
            counts["rows_read"] += 1
            raw_pid = _text(_get(row, cols, "问题编号"))
            pid = norm_problem_id(raw_pid)
            rec = known.get(pid)
            foreign = rec is not None and not _belongs(rec, marker)

            # Pipeline columns of the township's own problems on their own form:
            # compare, report, ignore.
            if rec is not None and not foreign and rec["is_warning"] == (form.kind == "warnings"):
                counts["edits_ignored"] += _edits(rec, row, sheet, row_number, pid, out)

            fills = _filled(row, cols, form)
            if fills is None:
                counts["rows_not_filled"] += 1
                continue

            error = _row_error(
                pid, raw_pid, rec, foreign, marker, answered, "问题编号" in cols, form
            )
            if error is not None:
                kind, zh, en = error
                counts["rows_rejected"] += 1
                out.reject(kind, sheet.name, row_number, "问题编号", raw_pid, zh, en)
                continue

            # The first answer to a problem in the file counts, kept or not: later
            # copies are duplicates (so repeated rows cannot multiply field rejects).
            answered[pid] = (sheet.name, row_number)
            values, field_errors = _check_fields(fills, today, form)
            kept = any(v is not None for v in values.values())
            counts["fields_rejected"] += len(field_errors)
            rest_zh = "；本行其余内容已采用" if kept else "；本行没有其他可采用的内容，整行未采用"
            rest_en = (
                "; the rest of the row was used" if kept else "; nothing else to use in the row"
            )
            for column, raw, note, zh, en in field_errors:
                out.reject(
                    f"field:{zh}", sheet.name, row_number, column, raw, zh + rest_zh, en + rest_en
                )
                out.field_rejects.append(
                    (
                        out.load_id,
                        pid,
                        out.rel,
                        sheet.name,
                        row_number,
                        column,
                        raw,
                        note,
                        zh + rest_zh,
                        en + rest_en,
                        kept,
                        out.checksum,
                        out.loaded_at,
                    )
                )
            if not kept:
                counts["rows_rejected"] += 1
                continue
            answer = dict.fromkeys(_RESPONSE_FIELDS)
            answer.update({a.response_field: values[a.header] for a in form.answers})
            if not field_errors and latest.get(pid) == (
                rec["township"],
                tuple(answer.values()),
            ):
                # The answer the list carried forward, returned as it was: nothing
                # new to store (history keeps the answer with its own date).
                counts["rows_not_filled"] += 1
                counts["rows_unchanged"] += 1
                continue

            counts["rows_accepted"] += 1
            stored = {
                **answer,
                "problem_id": pid,
                "township": rec["township"],
                "village": rec["village"],
                "source_file": out.rel,
                "sheet": sheet.name,
                "row_number": row_number,
                "checksum": out.checksum,
                "loaded_at": out.loaded_at,
            }
            out.responses.append(tuple(stored[c] for c in _RESPONSE_COLUMNS))
    return counts
