"""Problem lists returned by townships (``<inbox>/feedback/``): read the fill-in columns back.

The workbooks are the ones ``bidui.workbooks`` sent down, filled in by villages
and townships, and they come back in every state: renamed, rows re-sorted or
deleted, extra sheets, title rows inserted, read-only columns edited despite the
sheet protection, other formats (.xls/.ods saved by WPS or LibreOffice). Rules:

- A sheet is read when one of its first 20 rows holds ``问题编号`` and at least
  one of the five fill-in headers; columns are found by header, not position.
  Other sheets (``汇总``, notes added by the township) are skipped.
- Rows are matched by 问题编号 against ``findings`` and ``finding_history``;
  township and village come from the warehouse, never from the file.
- Only the five fill-in columns are taken. A pipeline column whose value differs
  from what the warehouse says for that problem id (证件号码, 姓名, 问题代码,
  问题描述, …) is ignored and written to ``feedback_issues`` and, as a warning
  of feed ``feedback``, to ``load_warnings``; the row itself is still accepted.
  (The comparison is with tonight's data: a value the register changed since
  the list was sent is reported the same way, worded to say so.)
- A row with none of the fill-in columns filled is not a response.
- A response with an unknown or empty 问题编号, a value outside the dropdown
  lists, an unparseable or implausible 核实日期, or a 问题编号 already answered
  earlier in the same file is rejected as a whole (``rejects``, feed
  ``feedback``, one line per offending cell, reasons in Chinese and English):
  accepting half a row would hide the mistake from the township.
- Every accepted response is appended to ``feedback_responses``; nothing is ever
  updated or deleted, so the history of answers stays. ``feedback_latest`` is a
  view with the latest answer per problem. A file whose bytes (sha256) were read
  before is skipped entirely, whatever its name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import python_calamine

from bidui.lifecycle import LATEST_ORDER
from bidui.workbooks import (
    FILL_IN_HEADERS,
    RECTIFICATION_VALUES,
    REOPENED_PREFIX,
    VERIFICATION_VALUES,
)

log = logging.getLogger(__name__)

FEED = "feedback"
READABLE_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
HEADER_SCAN_ROWS = 20

DDL = """
CREATE TABLE IF NOT EXISTS feedback_files (
    load_id VARCHAR PRIMARY KEY,
    source_file VARCHAR,
    checksum VARCHAR UNIQUE,
    size_bytes BIGINT,
    modified_at TIMESTAMP,
    loaded_at TIMESTAMP,
    sheets VARCHAR,            -- JSON list of the sheets read as problem lists
    rows_read INTEGER,         -- = rows_accepted + rows_rejected + rows_not_filled
    rows_accepted INTEGER,
    rows_rejected INTEGER,
    rows_not_filled INTEGER,
    edits_ignored INTEGER,     -- cells of pipeline columns that differed from the warehouse
    status VARCHAR,            -- loaded | failed
    error VARCHAR
);
-- Same columns as bidui.lifecycle.FEEDBACK_DDL (either module may create it first);
-- checksum links a response to its file in feedback_files.
CREATE TABLE IF NOT EXISTS feedback_responses (
    problem_id VARCHAR,
    township VARCHAR,
    village VARCHAR,
    verification VARCHAR,      -- 核实结果: 属实 / 不属实 / 部分属实 / NULL
    rectification VARCHAR,     -- 整改情况: 已整改 / 整改中 / 无需整改 / NULL
    note VARCHAR,              -- 整改说明
    verifier VARCHAR,          -- 核实人
    verified_on DATE,          -- 核实日期
    source_file VARCHAR,
    sheet VARCHAR,
    row_number INTEGER,
    checksum VARCHAR,
    loaded_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS feedback_issues (
    load_id VARCHAR,
    source_file VARCHAR,
    sheet VARCHAR,
    row_number INTEGER,
    problem_id VARCHAR,
    column_name VARCHAR,
    raw_value VARCHAR,         -- what the file says
    expected_value VARCHAR,    -- what the warehouse says
    reason_zh VARCHAR,
    reason_en VARCHAR,
    checksum VARCHAR,
    loaded_at TIMESTAMP
);
-- Owned by ingest; the same columns as docs/warehouse.md so either may create them.
CREATE TABLE IF NOT EXISTS load_warnings (
    load_id VARCHAR,
    feed VARCHAR,
    source_file VARCHAR,
    sheet VARCHAR,
    row_number INTEGER,
    column_name VARCHAR,
    raw_value VARCHAR,
    reason_zh VARCHAR,
    reason_en VARCHAR
);
CREATE TABLE IF NOT EXISTS rejects (
    load_id VARCHAR,
    feed VARCHAR,
    source_file VARCHAR,
    sheet VARCHAR,
    row_number INTEGER,
    column_name VARCHAR,
    raw_value VARCHAR,
    reason_zh VARCHAR,
    reason_en VARCHAR
);
"""
# One definition of "the answer that counts" for the view and the lifecycle.
LATEST_VIEW = (
    "CREATE OR REPLACE VIEW feedback_latest AS SELECT * FROM feedback_responses "
    f"QUALIFY row_number() OVER (PARTITION BY problem_id ORDER BY {LATEST_ORDER}) = 1"
)

# Pipeline columns compared with the warehouse: header -> (field, source).
# "f" fields exist only while the finding is in ``findings``; "h" fields also in
# ``finding_history``. 序号 and 整改时限 are not compared (re-numbering and due
# dates are not the township's data).
_COMPARED = {
    "自然村(组)": "village_group",
    "户编号": "household_id",
    "户主姓名": "head_name",
    "姓名": "name",
    "证件号码": "id_number",
    "问题类别": "category",
    "问题代码": "rule_code",
    "问题描述": "description",
    "比对部门": "department",
    "比对依据": "evidence",
    "整改要求": "requirement_zh",
    "首次发现日期": "first_seen",
}

_LOOKUP_SQL = """
WITH ids AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS problem_id)
SELECT ids.problem_id,
       coalesce(f.township, h.township) AS township,
       coalesce(f.village, h.village) AS village,
       f.village_group, coalesce(f.household_id, h.household_id) AS household_id,
       f.head_name, f.name, coalesce(f.id_number, h.id_number) AS id_number,
       f.category, coalesce(f.rule_code, h.rule_code) AS rule_code, f.description,
       f.department, f.evidence, f.requirement_zh,
       coalesce(f.first_seen, h.first_seen) AS first_seen,
       f.problem_id IS NOT NULL AS in_findings
FROM ids
LEFT JOIN {findings} f ON f.problem_id = ids.problem_id
LEFT JOIN {history} h ON h.problem_id = ids.problem_id
WHERE f.problem_id IS NOT NULL OR h.problem_id IS NOT NULL
"""
# Stand-ins when a table does not exist yet (first run): same columns, no rows.
_EMPTY_FINDINGS = (
    "(SELECT NULL::VARCHAR AS problem_id, NULL::VARCHAR AS township, NULL::VARCHAR AS village, "
    "NULL::VARCHAR AS village_group, NULL::VARCHAR AS household_id, NULL::VARCHAR AS head_name, "
    "NULL::VARCHAR AS name, NULL::VARCHAR AS id_number, NULL::VARCHAR AS category, "
    "NULL::VARCHAR AS rule_code, NULL::VARCHAR AS description, NULL::VARCHAR AS department, "
    "NULL::VARCHAR AS evidence, NULL::VARCHAR AS requirement_zh, NULL::DATE AS first_seen "
    "WHERE false)"
)
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
    files_failed: int = 0  # could not be opened
    files_unsupported: list[str] = field(default_factory=list)
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    not_filled: int = 0
    edits_ignored: int = 0
    load_ids: list[str] = field(default_factory=list)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the feedback tables (and ``rejects``) if they do not exist."""
    con.execute(DDL)
    con.execute(LATEST_VIEW)


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


# ----------------------------------------------------------------------------- reading


@dataclass
class _Sheet:
    name: str
    header_row: int  # 0-based index into rows
    columns: dict[str, int]  # canonical header -> 0-based column index
    rows: list[list[Any]]


def _find_sheets(book: python_calamine.CalamineWorkbook) -> list[_Sheet]:
    found = []
    for meta in book.sheets_metadata:
        if str(meta.typ) != str(python_calamine.SheetTypeEnum.WorkSheet):
            continue
        rows = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            headers = [_norm_header(v) for v in row]
            if "问题编号" in headers and any(h in headers for h in FILL_IN_HEADERS):
                columns: dict[str, int] = {}
                for j, h in enumerate(headers):
                    columns.setdefault(h, j)  # first occurrence wins
                found.append(_Sheet(meta.name, i, columns, rows))
                break
    return found


def _lookup(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
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
        out.setdefault(rec["problem_id"], rec)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_feedback(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    *,
    loaded_at: datetime | None = None,
) -> FeedbackResult:
    """Read every workbook under ``folder`` (``<inbox>/feedback``) not read before.

    ``source_file`` is stored relative to the inbox (``feedback/…``, the folder's
    own name first). Each file is written in one transaction. ``loaded_at``
    defaults to now (local time).
    """
    ensure_tables(con)
    loaded_at = loaded_at or datetime.now().replace(microsecond=0)
    folder = Path(folder)
    result = FeedbackResult()
    if not folder.is_dir():
        log.info("no feedback folder at %s", folder)
        return result
    seen = {r[0] for r in con.execute("SELECT checksum FROM feedback_files").fetchall()}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        if path.name.startswith(("~$", ".")):
            continue  # Excel lock files, hidden files
        if path.suffix.lower() not in READABLE_SUFFIXES:
            log.warning("feedback: unsupported file %s ignored", rel)
            result.files_unsupported.append(rel)
            continue
        checksum = _sha256(path)
        if checksum in seen:
            result.files_skipped += 1
            continue
        seen.add(checksum)
        _read_file(con, path, rel, checksum, loaded_at, result)
    return result


def _read_file(
    con, path: Path, rel: str, checksum: str, loaded_at: datetime, result: FeedbackResult
) -> None:
    load_id = f"{FEED}-{checksum[:16]}"
    stat = path.stat()
    file_row = {
        "load_id": load_id,
        "source_file": rel,
        "checksum": checksum,
        "size_bytes": stat.st_size,
        "modified_at": datetime.fromtimestamp(stat.st_mtime).replace(microsecond=0),
        "loaded_at": loaded_at,
        "sheets": "[]",
        "rows_read": 0,
        "rows_accepted": 0,
        "rows_rejected": 0,
        "rows_not_filled": 0,
        "edits_ignored": 0,
        "status": "loaded",
        "error": None,
    }
    responses: list[tuple] = []
    issues: list[tuple] = []
    rejects: list[tuple] = []
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        sheets = _find_sheets(book)
    except Exception as exc:  # corrupt or password-protected file
        log.warning("feedback: cannot open %s: %s", rel, exc)
        file_row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        rejects.append(
            (
                load_id,
                FEED,
                rel,
                None,
                None,
                None,
                None,
                "文件无法打开（可能已损坏或设置了打开密码），请重新导出后报送",
                f"file cannot be opened: {type(exc).__name__}",
            )
        )
        result.files_failed += 1
    else:
        file_row["sheets"] = json.dumps([s.name for s in sheets], ensure_ascii=False)
        counts = _read_rows(
            con, sheets, load_id, rel, checksum, loaded_at, responses, issues, rejects
        )
        file_row.update(counts)
        result.files_read += 1
        result.rows_read += counts["rows_read"]
        result.accepted += counts["rows_accepted"]
        result.rejected += counts["rows_rejected"]
        result.not_filled += counts["rows_not_filled"]
        result.edits_ignored += counts["edits_ignored"]
    result.load_ids.append(load_id)

    con.begin()
    try:
        con.execute(
            f"INSERT INTO feedback_files ({', '.join(file_row)}) "
            f"VALUES ({', '.join('?' * len(file_row))})",
            list(file_row.values()),
        )
        if responses:
            con.executemany(
                "INSERT INTO feedback_responses (problem_id, township, village, "
                "verification, rectification, note, verifier, verified_on, source_file, sheet, "
                "row_number, checksum, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                responses,
            )
        if issues:
            con.executemany(
                "INSERT INTO feedback_issues (load_id, source_file, sheet, row_number, problem_id, "
                "column_name, raw_value, expected_value, reason_zh, reason_en, checksum, "
                "loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                issues,
            )
        if issues:
            # Also as warnings of feed 'feedback', where the report lists every feed's.
            con.executemany(
                "INSERT INTO load_warnings (load_id, feed, source_file, sheet, row_number, "
                "column_name, raw_value, reason_zh, reason_en) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(i[0], FEED, i[1], i[2], i[3], i[5], i[6], i[8], i[9]) for i in issues],
            )
        if rejects:
            con.executemany(
                "INSERT INTO rejects (load_id, feed, source_file, sheet, row_number, column_name, "
                "raw_value, reason_zh, reason_en) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rejects,
            )
        con.commit()
    except Exception:
        con.rollback()
        raise
    log.info(
        "feedback: %s -> %s",
        rel,
        {k: file_row[k] for k in ("rows_read", "rows_accepted", "rows_rejected", "edits_ignored")},
    )


def _get(row: list[Any], cols: dict[str, int], header: str) -> Any:
    """The cell under ``header`` in ``row`` (None when the column is missing)."""
    j = cols.get(header)
    return row[j] if j is not None and j < len(row) else None


def _read_rows(
    con, sheets: list[_Sheet], load_id, rel, checksum, loaded_at, responses, issues, rejects
) -> dict[str, int]:
    counts = dict(rows_read=0, rows_accepted=0, rows_rejected=0, rows_not_filled=0, edits_ignored=0)
    ids = sorted(
        {
            _text(row[s.columns["问题编号"]])
            for s in sheets
            for row in s.rows[s.header_row + 1 :]
            if s.columns["问题编号"] < len(row) and _text(row[s.columns["问题编号"]])
        }
    )
    known = _lookup(con, ids)
    answered: dict[str, tuple[str, int]] = {}  # problem id -> (sheet, row) of its first answer

    for sheet in sheets:
        cols = sheet.columns
        for idx in range(sheet.header_row + 1, len(sheet.rows)):
            row = sheet.rows[idx]
            row_number = idx + 1  # calamine rows start at A1 with skip_empty_area=False

            if all(_text(v) == "" for v in row):
                continue
            counts["rows_read"] += 1
            pid = _text(_get(row, cols, "问题编号"))
            rec = known.get(pid)

            # Pipeline columns: compare, report, ignore.
            if rec is not None:
                for header, fld in _COMPARED.items():
                    if header not in cols or (rec[fld] is None and not rec["in_findings"]):
                        continue  # column deleted, or the warehouse no longer knows the value
                    raw = _get(row, cols, header)
                    got = _compact(raw)
                    want = _compact(rec[fld])
                    if header == "问题描述":
                        got = got.removeprefix(REOPENED_PREFIX)
                    if header == "证件号码":
                        got, want = got.upper(), want.upper()
                    if got != want:
                        counts["edits_ignored"] += 1
                        issues.append(
                            (
                                load_id,
                                rel,
                                sheet.name,
                                row_number,
                                pid,
                                header,
                                _text(raw),
                                None if rec[fld] is None else _text(rec[fld]),
                                f"“{header}”为系统生成的只读列，报送文件中的内容与系统数据不一致"
                                "（被修改，或系统数据已更新），已忽略，以系统数据为准；"
                                "如系统数据有误，请在整改说明中反映",
                                f"read-only column {header!r} differs from the warehouse "
                                "(edited in the returned file, or the data changed since); ignored",
                                checksum,
                                loaded_at,
                            )
                        )

            fills = {h: _get(row, cols, h) for h in FILL_IN_HEADERS}
            if all(_text(v) == "" for v in fills.values()):
                counts["rows_not_filled"] += 1
                continue

            errors: list[tuple[str | None, str, str, str]] = []
            if not pid:
                errors.append(
                    (
                        "问题编号",
                        "",
                        "问题编号为空，无法对应到问题清单中的问题",
                        "problem id is empty; the row cannot be matched",
                    )
                )
            elif rec is None:
                errors.append(
                    (
                        "问题编号",
                        pid,
                        "问题编号在系统中不存在（可能被修改或不是本系统下发的清单）",
                        "unknown problem id (edited, or not from a list we sent)",
                    )
                )
            elif pid in answered:
                first_sheet, first_row = answered[pid]
                errors.append(
                    (
                        "问题编号",
                        pid,
                        f"同一问题编号在本文件中重复填报（首次出现在“{first_sheet}”第{first_row}行），"
                        "本行未采用",
                        f"problem id answered twice in this file (first at {first_sheet!r} "
                        f"row {first_row}); this row is not used",
                    )
                )
            chosen = {}
            for header, en, allowed in (
                ("核实结果", "verification", VERIFICATION_VALUES),
                ("整改情况", "rectification", RECTIFICATION_VALUES),
            ):
                chosen[header] = _choice(fills[header])
                if chosen[header] is not None and chosen[header] not in allowed:
                    errors.append(
                        (
                            header,
                            _text(fills[header]),
                            f"{header}只能填写：{'、'.join(allowed)}",
                            f"{en} must be one of {', '.join(allowed)}",
                        )
                    )
            verification, rectification = chosen["核实结果"], chosen["整改情况"]
            verified_on = None
            try:
                verified_on = parse_date(fills["核实日期"])
            except (ValueError, TypeError):
                errors.append(
                    (
                        "核实日期",
                        _text(fills["核实日期"]),
                        "核实日期无法识别，请填写日期，如 2024-06-01",
                        "verification date cannot be parsed",
                    )
                )
            else:
                if verified_on is not None and not (
                    date(2000, 1, 1) <= verified_on <= loaded_at.date()
                ):
                    errors.append(
                        (
                            "核实日期",
                            _text(fills["核实日期"]),
                            "核实日期不合理（早于2000年或晚于报送日期）",
                            "verification date is before 2000 or after the date the file was loaded",
                        )
                    )
            if errors:
                counts["rows_rejected"] += 1
                for column, raw, zh, en in errors:
                    rejects.append(
                        (load_id, FEED, rel, sheet.name, row_number, column, raw, zh, en)
                    )
                continue

            answered[pid] = (sheet.name, row_number)
            counts["rows_accepted"] += 1
            responses.append(
                (
                    pid,
                    rec["township"],
                    rec["village"],
                    verification,
                    rectification,
                    _text(fills["整改说明"]) or None,
                    _text(fills["核实人"]) or None,
                    verified_on,
                    rel,
                    sheet.name,
                    row_number,
                    checksum,
                    loaded_at,
                )
            )
    return counts
