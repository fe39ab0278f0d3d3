"""Parse one feed file into the frames the warehouse stores.

``parse_file`` does no database work: it returns the ``raw_<feed>`` rows, the
typed ``<feed>`` rows, the rejects and the load warnings of one file, plus its
``loads`` record. The warehouse layer (``warehouse.ingest``) decides which
files to parse and writes the frames.

Row fate, per file (rows read = rows loaded + rows rejected, always):

- blank rows are skipped and not counted;
- a summary row (合计/总计/小计; feed-specific in ``villages``) is read and
  rejected with reason ``合计行``; a repeated header row likewise (``重复的表头行``);
- a row failing the feed's pandera schema (``department_feeds.validation``) is
  rejected, one ``rejects`` row per source row listing every failing column;
- every other row is loaded; an optional value that cannot be read becomes
  NULL and is written to ``load_warnings``.

A file that cannot be used at all (unreadable, no sheet with the required
headers, no year) fails: its ``loads`` row has ``status='failed'``, nothing of it
is loaded, not even into ``raw_<feed>``, and one file-level ``rejects`` row
(``row_number`` NULL) carries the reason. Its data rows (non-blank rows below
the best header candidate, or every non-blank row when no header cell was
recognised) count as read and rejected, so the balance still holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl
from openpyxl.utils import get_column_letter

from core.config import local_time, today
from core.config import now as office_now
from core.idcard import PROBLEMS_EN, PROBLEMS_ZH, normalise_frame
from department_feeds import normalise as nz
from department_feeds.headers import HeaderMatch, duplicate_columns, find_header, lookup
from department_feeds.limits import LimitExceeded, Limits
from department_feeds.reading import RawSheet, ReadError, read_csv, read_xlsx
from department_feeds.spec import Column, FeedSpec, normalise_header
from department_feeds.validation import failures

log = logging.getLogger(__name__)

LOADER_VERSION = "2"  # 2: the register columns of today's export, 残疾人证 numbers
"""Part of every ``load_id``: bumping it makes the next run re-load unchanged files."""

SUFFIXES = (".xlsx", ".xlsm", ".csv")

UNSUPPORTED_SUFFIXES = (".xls", ".xlsb", ".et", ".ods", ".numbers", ".zip", ".rar", ".7z")
"""Spreadsheet-like files the loader does not read: reported as failed, never ignored."""

REASON_TOTAL = ("合计行", "summary (total) row, not a record")
REASON_HEADER = ("重复的表头行", "repeated header row, not a record")
COPY_SHEET_ZH = "”的内容完全相同（重复的工作表），未导入"
COPY_SHEET_EN = " (a copy of that sheet); not loaded"

# The row of ``rejects`` and ``load_warnings``: warehouse.schema declares both tables from it.
REJECT_SCHEMA = {
    "load_id": pl.String,
    "feed": pl.String,
    "source_file": pl.String,
    "sheet": pl.String,
    "row_number": pl.Int32,
    "column_name": pl.String,
    "raw_value": pl.String,
    "reason_zh": pl.String,
    "reason_en": pl.String,
}

_SHEET_WARNING_SCHEMA = {
    k: v for k, v in REJECT_SCHEMA.items() if k not in ("load_id", "feed", "source_file")
}

_KIND_ZH = {
    "int": "整数",
    "money": "金额",
    "decimal": "数值",
    "date": "日期",
    "bool": "是/否",
    "enum": "规定取值",
}


@dataclass
class SheetInfo:
    """How one sheet of a file was used."""

    name: str
    status: str
    """``loaded`` or ``skipped`` (no header row with the feed's required headers)."""
    header_row: int | None = None
    """1-based row number of the header (as Excel shows it)."""
    missing_required: list[str] = field(default_factory=list)
    rows_read: int = 0


@dataclass
class ParsedFile:
    """Everything the warehouse stores for one file."""

    feed: str
    path: Path
    source_file: str
    checksum: str
    size_bytes: int
    modified_at: dt.datetime
    load_id: str
    encoding: str | None = None
    status: str = "loaded"
    """``loaded``, ``failed`` or ``duplicate`` (same bytes as another file of the feed,
    which is the one loaded); ``superseded`` is set later by the warehouse (an older
    version of the same year's list)."""
    error: str | None = None
    sheets: list[SheetInfo] = field(default_factory=list)
    header_row: int | None = None
    header_mapping: dict[str, str] = field(default_factory=dict)
    inverted: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    sheet_notes: list[tuple[str, str, str]] = field(default_factory=list)
    """(sheet, reason_zh, reason_en) of file-level warnings (a duplicated column)."""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    raw: pl.DataFrame | None = None
    typed: pl.DataFrame | None = None
    rejects: pl.DataFrame | None = None
    warnings: pl.DataFrame | None = None

    def loads_record(self, loaded_at: dt.datetime) -> dict[str, object]:
        """The row of the ``loads`` table."""
        return {
            "load_id": self.load_id,
            "feed": self.feed,
            "source_file": self.source_file,
            "checksum": self.checksum,
            "size_bytes": self.size_bytes,
            "modified_at": self.modified_at,
            "loaded_at": loaded_at,
            "encoding": self.encoding,
            "sheets": json.dumps(
                [s.name for s in self.sheets if s.status == "loaded"], ensure_ascii=False
            ),
            "header_row": self.header_row,
            "header_mapping": json.dumps(self.header_mapping, ensure_ascii=False),
            "missing_required": json.dumps(self.missing_required, ensure_ascii=False),
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "status": self.status,
            "error": self.error,
        }


def source_name(path: Path, inbox: Path) -> str:
    """``source_file`` of a path: relative to the inbox, ``/``-separated. A name that
    is not valid UTF-8 (a zip made on a Chinese Windows, unpacked here) keeps its
    bytes as ``\\xNN`` escapes: unique, and storable."""
    rel = path.relative_to(inbox).as_posix()
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        rel = os.fsencode(rel).decode("utf-8", "backslashreplace")
    return rel


def file_checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_load_id(feed: str, source_file: str, checksum: str) -> str:
    """Deterministic: same loader version, file and bytes → same id."""
    key = f"{LOADER_VERSION}\0{feed}\0{source_file}\0{checksum}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def year_from_path(source_file: str) -> int | None:
    """A four-digit year 20xx in the file name, else in its folders under the feed."""
    parts = source_file.split("/")[1:] or [source_file]
    for part in reversed(parts):
        m = re.search(r"(?<!\d)(20\d{2})(?!\d)", part)
        if m:
            return int(m.group(1))
    return None


# --------------------------------------------------------------------------- sheets


def _sheet_frame(spec: FeedSpec, sheet: RawSheet, match: HeaderMatch) -> pl.DataFrame:
    """The non-blank rows of one sheet: fields as raw text, flags, extras as JSON."""
    id_fields = {c.field for c in spec.id_columns}
    id_positions = {j for j, f in match.fields.items() if f in id_fields}
    cols, flags = sheet.columns(match.data_start, id_positions)
    if not cols:
        return pl.DataFrame()
    frame = pl.DataFrame(cols)
    names = frame.columns
    frame = frame.with_columns(_cell_test("empty_to_null", n) for n in names)
    blank = _blank_rows(frame)
    total_any = pl.any_horizontal(_cell_test("total", n) for n in names)
    header_again = _header_again(spec, match, frame)

    extras = [
        j
        for j in range(len(names))
        if j not in match.fields
        and (j in match.headers or frame[f"c{j}"].null_count() < len(frame))
    ]
    extra_names: list[str] = []
    for j in extras:
        base = match.headers.get(j) or f"列{get_column_letter(j + 1)}"
        name, k = base, 2
        while name in extra_names:
            name, k = f"{base}_{k}", k + 1
        extra_names.append(name)
    extra_json = (
        pl.struct(
            [pl.col(f"c{j}").alias(n) for j, n in zip(extras, extra_names, strict=True)]
        ).struct.json_encode()
        if extras
        else pl.lit(None, dtype=pl.String)
    )

    out = [
        pl.lit(sheet.name).alias("sheet"),
        (pl.int_range(pl.len(), dtype=pl.Int32) + match.data_start + 1).alias("row_number"),
        *[pl.col(f"c{j}").alias(f) for j, f in match.fields.items()],
        *[pl.lit(True).alias(f"__inv_{f}") for f in match.inverted],
        *[pl.lit(True).alias(f"__wan_{f}") for f in match.wan],
        extra_json.alias("extra_columns"),
        pl.col("__total_any"),
        pl.col("__header_again"),
        *[pl.col(f"__num_{match.fields[j]}") for j in id_positions],
    ]
    frame = frame.with_columns(
        blank,
        total_any.alias("__total_any"),
        header_again,
        *[pl.Series(f"__num_{match.fields[j]}", flags[j]) for j in id_positions],
    )
    keep = ~frame["__blank"]
    # Only a field named by two columns can conflict: no filtered copy otherwise.
    if duplicate_columns(spec, match):
        match.conflicts = _conflicts(spec, match, frame.filter(keep))
    return frame.select(out).filter(keep)


_CELL_TESTS = {
    "empty_to_null": lambda c: c.replace("", None),
    "blank": lambda c: nz.blank_to_null(c).is_null(),
    "total": nz.is_total_word,
    "squeezable": lambda c: c.str.contains_any(nz.SQUEEZABLE),
}
_CELL_EXPRS: dict[tuple[str, str], pl.Expr] = {}


def _cell_test(test: str, column: str) -> pl.Expr:
    """``_CELL_TESTS[test]`` of a sheet column (``c0``…), built once."""
    expr = _CELL_EXPRS.get((test, column))
    if expr is None:
        expr = _CELL_TESTS[test](pl.col(column))
        if len(_CELL_EXPRS) < 4096:  # a hostile sheet thousands of columns wide
            _CELL_EXPRS[test, column] = expr
    return expr


def _blank_rows(frame: pl.DataFrame) -> pl.Series:
    """Rows whose every cell is null or whitespace: the first column over every row,
    the others over the rows it leaves blank (few: most rows start with a value)."""
    names = frame.columns
    first = frame.select(_cell_test("blank", names[0])).to_series()
    rows = first.arg_true()
    if len(names) > 1 and len(rows):
        rest = frame.select(names[1:])[rows]
        still = rest.select(pl.all_horizontal(_cell_test("blank", n) for n in names[1:]))
        rows = rows.filter(still.to_series())
    blank = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    return blank.scatter(rows, True).alias("__blank")


_SQUEEZED_HITS: dict[tuple, pl.Expr] = {}


def _header_hit(spec: FeedSpec, column: str, field: str) -> pl.Expr:
    """1 where the squeezed cell of ``column`` is a header of ``field``, else 0."""
    key = (spec.name, column, field)
    cached = _SQUEEZED_HITS.get(key)
    if cached is None:
        keys = [k for k, e in lookup(spec).items() if e.field == field]
        cached = nz.squeeze(pl.col(column)).is_in(keys).fill_null(False).cast(pl.Int32)
        _SQUEEZED_HITS[key] = cached
    return cached


def _header_again(spec: FeedSpec, match: HeaderMatch, frame: pl.DataFrame) -> pl.Series:
    """Rows repeating the header: at least half (and two) of the mapped cells are
    a header of their field (compared squeezed).

    A row with ``needed`` hits among the mapped columns has one among any
    ``len - needed + 1`` of them: those are tested on every row (``squeeze`` only
    where it changes the text), all of them on the few rows with a hit.
    """
    headers = lookup(spec)
    mapped = sorted(match.fields)
    needed = max(2, (len(mapped) + 1) // 2)
    first = mapped[: max(len(mapped) - needed + 1, 0)]
    again = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    if not first or frame.height == 0:  # no rows: the aggregate tests below have none
        return again.alias("__header_again")
    keys = {j: [k for k, e in headers.items() if e.field == match.fields[j]] for j in first}
    tests = frame.select(
        *[pl.col(f"c{j}").is_in(keys[j]).fill_null(False).alias(f"h{j}") for j in first],
        *[_cell_test("squeezable", f"c{j}").any().alias(f"s{j}") for j in first],
    )
    hits = {j: tests[f"h{j}"] for j in first}
    for j in first:
        if tests[f"s{j}"][0]:  # some cells squeeze differently: test those squeezed
            cells = frame[f"c{j}"]
            where = cells.to_frame().select(_cell_test("squeezable", cells.name)).to_series()
            where = where.fill_null(False).arg_true()
            part = cells.gather(where).to_frame()
            squeezed = part.select(_header_hit(spec, f"c{j}", match.fields[j]) == 1).to_series()
            hits[j] = hits[j].scatter(where, squeezed)
    rows = pl.DataFrame(list(hits.values())).select(pl.any_horizontal(pl.all())).to_series()
    rows = rows.arg_true()
    if len(rows):
        part = frame.select(f"c{j}" for j in mapped)[rows]
        total = pl.sum_horizontal(_header_hit(spec, f"c{j}", match.fields[j]) for j in mapped)
        again = again.scatter(rows, part.select(total >= needed).to_series())
    return again.alias("__header_again")


def _conflicts(
    spec: FeedSpec, match: HeaderMatch, frame: pl.DataFrame
) -> list[tuple[str, int, int, int]]:
    """Fields named by two columns whose values differ (compared without spaces)."""
    out = []
    for f, i, j in duplicate_columns(spec, match):
        a = nz.squeeze(pl.col(f"c{i}")).fill_null("")
        b = nz.squeeze(pl.col(f"c{j}")).fill_null("")
        n = frame.select((a != b).sum()).item()
        if n:
            out.append((f, i, j, n))
    return out


def _conflict_text(spec: FeedSpec, sheet: str, conflict: tuple[str, int, int, int]) -> tuple:
    f, i, j, n = conflict
    col = spec.column(f)
    a, b = get_column_letter(i + 1), get_column_letter(j + 1)
    where = f"工作表“{sheet}”" if sheet else "文件"
    zh = f"{where}有两列都是“{col.header}”（第{a}列、第{b}列），内容不同（{n}行不一致）"
    en = f"two {col.header} columns ({a}, {b}) in {sheet or 'the file'} differ in {n} rows"
    return zh, en


def _count_rows_below(sheet: RawSheet, match: HeaderMatch) -> int:
    """Non-blank rows under the best header candidate (all rows if there is none)."""
    start = match.data_start if match.row >= 0 else 0
    cols, _ = sheet.columns(start, set())
    if not cols:
        return 0
    frame = pl.DataFrame(cols)
    blank = pl.all_horizontal(nz.blank_to_null(pl.col(n)).is_null() for n in frame.columns)
    return int(frame.select((~blank).sum()).item())


# --------------------------------------------------------------------------- typing


DISTINCT_MIN_ROWS = 2_000
"""A frame this long or longer may be parsed once per distinct value (:func:`_per_distinct`)."""
DISTINCT_SAMPLE = 4_096
DISTINCT_SHARE = 0.5
"""Parse per distinct value when at most this share of the rows are distinct
(a township, an enum, a year, a person's rows in a monthly list…)."""


def _repeats(keys: pl.DataFrame, thorough: bool) -> bool:
    """Whether the rows of ``keys`` repeat enough that parsing each distinct row once
    and joining the results back costs less than parsing every row. Judged on the
    first rows, then (``thorough``, for a costly parse) on all of their hashes."""
    if keys.height < DISTINCT_MIN_ROWS:
        return False
    head = keys.head(DISTINCT_SAMPLE)
    if head.n_unique() <= head.height * DISTINCT_SHARE:
        return True
    return thorough and keys.hash_rows().n_unique() <= keys.height * DISTINCT_SHARE


def _repeating(frame: pl.DataFrame, names: set[str], thorough: set[str]) -> list[str]:
    """The columns among ``names`` whose values repeat (as :func:`_repeats`, for many
    columns at once)."""
    if frame.height < DISTINCT_MIN_ROWS or not names:
        return []
    names_ = sorted(names)
    head = frame.head(DISTINCT_SAMPLE)
    counts = head.select(pl.col(n).n_unique() for n in names_).row(0)
    out = [n for n, c in zip(names_, counts, strict=True) if c <= head.height * DISTINCT_SHARE]
    rest = [n for n in names_ if n not in out and n in thorough]
    if rest:
        counts = frame.select(pl.col(n).hash().n_unique() for n in rest).row(0)
        limit = frame.height * DISTINCT_SHARE
        out += [n for n, c in zip(rest, counts, strict=True) if c <= limit]
    return out


def _numbered(values: pl.Series) -> tuple[pl.DataFrame, pl.Series] | None:
    """(the distinct values then null, each row's index among them) of a text column,
    None if its categorical codes are not 0, 1, … (then it is parsed row by row).

    The codes of a fresh categorical number the distinct values in one hash pass:
    cheaper than ``unique()`` on the text and a join back."""
    coded = values.cast(pl.Categorical(pl.Categories.random()))
    codes = coded.to_physical()
    seen = coded.unique().drop_nulls()
    table = pl.DataFrame({"code": seen.to_physical(), "text": seen.cast(pl.String)}).sort("code")
    if table.height and table["code"][-1] != table.height - 1:
        return None
    text = pl.concat([table["text"], pl.Series([None], dtype=pl.String)]).alias(values.name)
    return text.to_frame(), codes.fill_null(table.height) if codes.null_count() else codes


class _Columns:
    """A frame's text columns, those whose values repeat numbered by distinct value
    (:func:`_numbered`): a row-wise expression of one of them is computed once per
    value and gathered back. Row-wise, so the result is the one of ``frame.select``."""

    def __init__(self, frame: pl.DataFrame, names: set[str], thorough: set[str]) -> None:
        self.frame = frame
        self.numbered: dict[str, tuple[pl.DataFrame, pl.Series]] = {}
        for n in _repeating(frame, names, thorough):
            if frame.schema[n] == pl.String and (numbered := _numbered(frame[n])) is not None:
                self.numbered[n] = numbered

    def select(self, exprs: list[pl.Expr]) -> list[pl.Series]:
        """``frame.select(exprs)`` as Series (every expression row-wise)."""
        out: dict[int, pl.Series] = {}
        direct: list[int] = []
        for i, e in enumerate(exprs):
            inputs = set(e.meta.root_names())
            name = inputs.pop() if len(inputs) == 1 else None
            if name in self.numbered:
                table, codes = self.numbered[name]
                out[i] = table.select(e).to_series().gather(codes)
            else:
                direct.append(i)
        if direct:
            names = [exprs[i].meta.output_name() for i in direct]
            done = self.frame.with_columns(exprs[i] for i in direct).select(names)
            out.update(zip(direct, done.get_columns(), strict=True))
        return [out[i] for i in range(len(exprs))]


def _per_distinct(
    frame: pl.DataFrame,
    inputs: list[str],
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    outputs: list[str],
) -> pl.DataFrame:
    """``compute(frame.select(inputs)).select(outputs)``, computed once per distinct
    row of ``inputs`` when rows repeat. ``compute`` must be row-wise: each output
    row a function of its input row only (the parsers are), so the result is the same."""
    keys = frame.select(inputs)
    if not _repeats(keys, thorough=True):
        return compute(keys).select(outputs)
    distinct = compute(keys.unique()).select(*inputs, *outputs)
    joined = keys.join(distinct, on=inputs, how="left", nulls_equal=True, maintain_order="left")
    return joined.select(outputs)


_TYPED: dict[tuple, pl.Expr] = {}


def _typed_expr(spec: FeedSpec, col: Column, frame: pl.DataFrame, ticks: bool, year: int | None):
    """The typed column of ``col`` as an expression of its raw text (built once per
    spec, column and variant: building expressions costs more than small files)."""
    wan, inv = f"__wan_{col.field}" in frame.columns, f"__inv_{col.field}" in frame.columns
    year = year if col.field == spec.year_from_file_name else None
    latest = _latest_year() if col.parse == "year" else None
    key = (spec.name, col.field, ticks, wan, inv, year, latest)
    cached = _TYPED.get(key)
    if cached is not None:
        return cached
    v = _parse(col, pl.col(f"__raw_{col.field}"), ticks, frame)
    if year is not None:
        v = v.fill_null(pl.lit(year, dtype=pl.Int32))
    if latest is not None:
        # A year not yet begun (2027 typed for 2025) would become the working year.
        v = pl.when(v <= latest).then(v)
    _TYPED[key] = v = v.alias(col.field)
    return v


def _typed_columns(spec: FeedSpec, frame: pl.DataFrame, file_year: int | None) -> list[pl.Series]:
    """The typed columns other than IDs (``_normalise_ids``), each parsed once per
    distinct raw value when values repeat."""
    cols = [c for c in spec.columns if c.kind != "id"]
    # Text parses cheaply: not worth hashing a column of names to find repeats.
    columns = _Columns(
        frame,
        {f"__raw_{c.field}" for c in cols},
        {f"__raw_{c.field}" for c in cols if c.kind != "text"},
    )
    bools = [c.field for c in cols if c.kind == "bool"]
    ticks = columns.select(
        [nz.squeeze(pl.col(f"__raw_{f}")).is_in(list(nz.TICKS)).alias(f) for f in bools]
    )
    tick_columns = {s.name for s in ticks if s.any()}
    exprs = [_typed_expr(spec, c, frame, c.field in tick_columns, file_year) for c in cols]
    return columns.select(exprs)


def _latest_year() -> int:
    return today().year


def _normalise_ids(spec: FeedSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """``X``, ``X_raw`` and ``X_problem`` for every ID column.

    ``normalise_frame`` rather than ``normalise_expr``: the single expression
    re-spells every stage inside the next and is ~8x slower on 100k rows.
    """
    for col in spec.id_columns:
        raw = f"__raw_{col.field}"
        num = f"__num_{col.field}"
        problem = f"{col.field}_problem"
        certificate = None
        if col.certificate_when is not None:
            kind_field, kind = col.certificate_when
            certificate = "__certificate"
            kind_col = spec.column(kind_field)
            raw_kind = f"__raw_{kind_field}"
            is_kind = _parse(kind_col, pl.col(raw_kind), False, frame) == kind
            columns = _Columns(frame, {raw_kind}, {raw_kind})
            frame = frame.with_columns(
                columns.select([is_kind.fill_null(False).alias(certificate)])
            )

        ids = partial(
            normalise_frame,
            raw=raw,
            stored_as_number=num,
            id_number=col.field,
            problem=problem,
            certificate=certificate,
        )
        inputs = [raw, num] + ([certificate] if certificate else [])
        frame = frame.with_columns(
            _per_distinct(frame, inputs, ids, [problem, col.field]).get_columns()
        ).with_columns(pl.col(raw).alias(f"{col.field}_raw"))
        if certificate is not None:
            frame = frame.drop(certificate)
    return frame


def _parse(col: Column, r: pl.Expr, ticks: bool, frame: pl.DataFrame) -> pl.Expr:
    if col.kind == "int":
        return nz.parse_year(r) if col.parse == "year" else nz.parse_int(r)
    if col.kind == "money":
        wan = f"__wan_{col.field}"
        return nz.parse_money(r, pl.col(wan) if wan in frame.columns else None)
    if col.kind == "decimal":
        return nz.parse_decimal(r, col)
    if col.kind == "date":
        return nz.parse_date(r)
    if col.kind == "bool":
        inv = f"__inv_{col.field}"
        return nz.parse_bool(r, ticks, pl.col(inv) if inv in frame.columns else None)
    if col.kind == "enum":
        return nz.parse_enum(r, col)
    return nz.parse_text(r, compact=col.compact, fold=col.field in nz.PLACE_FIELDS)


def _value_reason(
    spec: FeedSpec, col: Column, required: bool, file_year: int | None
) -> tuple[pl.Expr, pl.Expr]:
    """(zh, en) for a value that is blank or unreadable, as expressions of the raw text."""
    key = (spec.name, col.field, required, file_year is None, _latest_year())
    cached = _REASONS.get(key)
    if cached is None:
        cached = _REASONS[key] = _build_value_reason(spec, col, required, file_year)
    return cached


_REASONS: dict[tuple, tuple[pl.Expr, pl.Expr]] = {}


def _build_value_reason(
    spec: FeedSpec, col: Column, required: bool, file_year: int | None
) -> tuple[pl.Expr, pl.Expr]:
    raw = pl.col(f"__raw_{col.field}")
    blank = nz.blank_to_null(raw).is_null()
    hint_zh = ""
    if col.kind == "enum":
        shown = "、".join(col.values[:8]) + ("等" if len(col.values) > 8 else "")
        hint_zh = f"（应为：{shown}）"
    kind_zh = _KIND_ZH.get(col.kind, "文本")
    if required:
        empty_zh, empty_en = (
            f"必填项“{col.header}”为空",
            f"required {col.field} ({col.header}) is empty",
        )
        if col.field == spec.year_from_file_name and file_year is None:
            empty_zh += "，文件名中也没有年份"
            empty_en += " and the file name holds no year"
        bad_zh = f"必填项“{col.header}”的值无法识别为{kind_zh}{hint_zh}"
        bad_en = f"required {col.field} ({col.header}) cannot be read as {col.kind}"
        if col.parse == "year":
            bad_zh = f"必填项“{col.header}”的值不是有效年份，或晚于今年（{_latest_year()}年）"
            bad_en = f"required {col.field} ({col.header}) is no year, or after this year"
    else:
        empty_zh = empty_en = ""
        bad_zh = f"“{col.header}”的值无法识别为{kind_zh}{hint_zh}，已置为空"
        bad_en = f"{col.field} ({col.header}) cannot be read as {col.kind}; set to NULL"
    zh = pl.when(blank).then(pl.lit(empty_zh)).otherwise(pl.lit(bad_zh))
    en = pl.when(blank).then(pl.lit(empty_en)).otherwise(pl.lit(bad_en))
    return zh, en


# --------------------------------------------------------------------------- file


def _mtime(path: Path) -> dt.datetime:
    try:
        return local_time(path.stat().st_mtime)  # office wall-clock time, not the server's
    except OSError:  # moved away after its bytes were read
        return office_now()


def _new_parsed(spec: FeedSpec, path: Path, inbox: Path, data: bytes) -> ParsedFile:
    source_file = source_name(path, inbox)
    checksum = file_checksum(data)
    return ParsedFile(
        feed=spec.name,
        path=path,
        source_file=source_file,
        checksum=checksum,
        size_bytes=len(data),
        modified_at=_mtime(path),
        load_id=make_load_id(spec.name, source_file, checksum),
    )


def unread_file(
    spec: FeedSpec,
    path: Path,
    inbox: Path,
    load_id: str,
    message_en: str,
    message_zh: str,
    *,
    checksum: str = "",
    status: str = "failed",
) -> ParsedFile:
    """The record of a file that is not parsed (over a limit, a symlink out of the
    inbox, a duplicate, changed while read): 0 rows, one file-level reject."""
    try:
        st = path.lstat()
        size, mtime = st.st_size, local_time(st.st_mtime)
    except OSError:
        size, mtime = 0, office_now()
    pf = ParsedFile(
        feed=spec.name,
        path=path,
        source_file=source_name(path, inbox),
        checksum=checksum,
        size_bytes=size,
        modified_at=mtime,
        load_id=load_id,
    )
    pf = _fail(pf, message_en, message_zh, rows=0, quiet=status != "failed")
    pf.status = status
    return pf


def parse_file(
    spec: FeedSpec,
    path: Path,
    inbox: Path,
    data: bytes | None = None,
    limits: Limits | None = None,
) -> ParsedFile:
    """Read, map, type and validate one file of ``spec``'s feed.

    Never raises for the file's content: an unexpected error while parsing (a
    bug, or a file stranger than any we have seen) fails this file only, with
    the traceback in the log, so the other files and feeds still load. Row and
    sheet-extent caps of ``limits`` are checked before rows are materialised.
    """
    data = path.read_bytes() if data is None else data
    try:
        return _parse_file(spec, path, inbox, data, limits or Limits())
    except Exception as exc:
        log.exception("%s: unexpected error while parsing %s", spec.name, path)
        pf = _new_parsed(spec, path, inbox, data)
        return _fail(
            pf,
            f"unexpected error while reading the file ({type(exc).__name__}: {exc}); see the log",
            f"读取文件时出现程序错误（{type(exc).__name__}），整个文件未导入，"
            "请将此文件转交系统维护人员",
            rows=0,
        )


def _parse_file(spec: FeedSpec, path: Path, inbox: Path, data: bytes, limits: Limits) -> ParsedFile:
    pf = _new_parsed(spec, path, inbox, data)
    source_file = pf.source_file
    try:
        if path.suffix.lower() == ".csv":
            sheet, pf.encoding = read_csv(data, limits)
            sheets = [sheet]
        else:
            sheets = read_xlsx(data, limits)
    except (ReadError, LimitExceeded) as exc:
        log.warning("%s: %s", source_file, exc.message_en)
        return _fail(pf, exc.message_en, exc.message_zh, rows=0)

    frames: list[pl.DataFrame] = []
    frame_matches: list[HeaderMatch] = []
    best_skipped: tuple[SheetInfo, int] | None = None
    for sheet in sheets:
        match = find_header(spec, sheet.head_text())
        if match.missing:
            rows = _count_rows_below(sheet, match)
            info = SheetInfo(sheet.name, "skipped", None, match.missing, rows)
            pf.sheets.append(info)
            key = (len(match.fields), -len(match.missing))
            if best_skipped is None or key > best_skipped[1:]:
                best_skipped = (info, *key)  # type: ignore[assignment]
            continue
        frame = _mark_copy(_sheet_frame(spec, sheet, match), frames)
        if sheet.hidden:
            frame = _mark_hidden_version(spec, frame, frames)
        if sheet.hidden_rows:
            pf.sheet_notes.append(
                (
                    sheet.name,
                    f"工作表“{sheet.name}”中有 {sheet.hidden_rows} 行在Excel中被隐藏（或被筛选隐藏），"
                    "这些行也已导入；如不应报送，请删除这些行后重新报送",
                    f"{sheet.hidden_rows} rows of sheet {sheet.name!r} are hidden in Excel; "
                    "loaded all the same",
                )
            )
        for c in match.conflicts:
            col = spec.column(c[0])
            zh, en = _conflict_text(spec, sheet.name, c)
            if col.kind == "id" or c[0] in _required(spec) or col.header_required:
                # Which column is right cannot be known: compare nothing on a guess.
                return _fail(
                    pf,
                    f"{en}; which one is right cannot be told: not loaded",
                    f"{zh}，无法判断以哪一列为准；整个文件未导入，请删除多余的一列后重新报送",
                    rows=sum(s.rows_read for s in pf.sheets) + frame.height,
                )
            pf.sheet_notes.append((sheet.name, zh + f"；使用第{get_column_letter(c[1] + 1)}列", en))
        pf.sheets.append(SheetInfo(sheet.name, "loaded", match.row + 1, [], frame.height))
        if pf.header_row is None:
            pf.header_row = match.row + 1
        for header, f in match.mapping.items():
            pf.header_mapping.setdefault(header, f)
        pf.inverted = sorted(set(pf.inverted) | match.inverted)
        if frame.height:
            frames.append(frame)
            frame_matches.append(match)

    loaded_sheets = [s for s in pf.sheets if s.status == "loaded"]
    if not loaded_sheets:
        info = best_skipped[0] if best_skipped else SheetInfo("", "skipped", None, [], 0)
        missing = info.missing_required or [spec.column(f).header for f in _required(spec)]
        pf.missing_required = missing
        rows = sum(s.rows_read for s in pf.sheets)
        # GB18030 decodes almost any bytes: if that is how the file was read, say so.
        hint_en = " (decoded as GB18030/GBK)" if pf.encoding == "gb18030" else ""
        hint_zh = "（本文件按GBK编码读取，如原文件是其他编码请另存为UTF-8）" if hint_en else ""
        return _fail(
            pf,
            f"missing required headers: {', '.join(missing)} (no sheet has them all within "
            f"the first 20 rows){hint_en}",
            f"文件缺少必需的表头：{'、'.join(missing)}（前20行内没有找到包含全部必需表头的行），"
            f"整个文件未导入，请核对表头后重新报送{hint_zh}",
            rows=rows,
        )

    source_year = year_from_path(source_file) if spec.year_from_file_name else None
    year_field = spec.year_from_file_name
    if year_field and year_field not in pf.header_mapping.values() and source_year is None:
        year_col = spec.column(year_field)
        pf.missing_required = [year_col.header]
        rows = sum(s.rows_read for s in loaded_sheets)
        return _fail(
            pf,
            f"no year: the file has no {year_col.header} column and its name holds no year",
            f"无法确定年度：文件中没有“{year_col.header}”列，文件名中也没有年份（如2024）",
            rows=rows,
        )

    for s in pf.sheets:
        if s.status == "skipped":
            log.info("%s: sheet %r skipped (missing %s)", source_file, s.name, s.missing_required)

    frames = _route_by_values(spec, pf, frames, frame_matches)
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else _empty_frame(spec)
    _finish(spec, pf, frame, source_year)
    return pf


def _route_by_values(
    spec: FeedSpec, pf: ParsedFile, frames: list[pl.DataFrame], matches: list[HeaderMatch]
) -> list[pl.DataFrame]:
    """Apply ``spec.value_routes``: a column read through a header that both fields
    share is moved to the alternative field when, over the whole file, more of its
    values are the alternative's (户类型 脱贫户/监测户 → household_kind)."""
    for field_a, field_b in spec.value_routes:
        shared = {normalise_header(h) for h in spec.column(field_b).all_headers}
        routable = [
            i
            for i, m in enumerate(matches)
            if field_b not in m.fields.values()
            and any(
                f == field_a and normalise_header(m.headers.get(j, "")) in shared
                for j, f in m.fields.items()
            )
        ]
        if not routable:
            continue
        values = pl.concat([frames[i].select(nz.squeeze(pl.col(field_a))) for i in routable])
        series = values.to_series().drop_nulls()
        votes_a = series.is_in(list(nz.enum_mapping(spec.column(field_a)))).sum()
        votes_b = series.is_in(list(nz.enum_mapping(spec.column(field_b)))).sum()
        if votes_b <= votes_a:
            continue
        log.info("%s: %s read as %s (its values)", pf.source_file, field_a, field_b)
        for i in routable:
            frames[i] = frames[i].rename({field_a: field_b})
            for j, f in list(matches[i].fields.items()):
                if f == field_a:
                    matches[i].fields[j] = field_b
                    pf.header_mapping[matches[i].headers.get(j, f"#{j}")] = field_b
    return frames


def _mark_copy(frame: pl.DataFrame, earlier: list[pl.DataFrame]) -> pl.DataFrame:
    """A sheet whose rows are exactly those of an earlier sheet (a backup copy,
    often hidden) gets ``__copy_of``: its rows are read and rejected, not loaded twice."""
    content = [c for c in frame.columns if c not in ("sheet", "row_number")]
    for other in earlier:
        if (
            other.height == frame.height
            and set(content) <= set(other.columns)
            and "__copy_of" not in other.columns
            and other.select(content).equals(frame.select(content))
        ):
            return frame.with_columns(pl.lit(other["sheet"][0]).alias("__copy_of"))
    return frame


HIDDEN_VERSION_SHARE = 0.5
"""A hidden sheet sharing this share of its persons with a loaded sheet is an older
version of that list, not more persons."""


def _mark_hidden_version(
    spec: FeedSpec, frame: pl.DataFrame, earlier: list[pl.DataFrame]
) -> pl.DataFrame:
    """A hidden sheet holding (a changed version of) the persons of a loaded sheet:
    its rows are read and rejected with a reason, not loaded a second time."""
    ids = [c.field for c in spec.id_columns if c.field in frame.columns]
    if not ids or "__copy_of" in frame.columns or frame.is_empty():
        return frame
    key = ids[0]
    mine = set(nz.squeeze(frame[key]).drop_nulls().to_list())
    for other in earlier:
        if key not in other.columns or "__copy_of" in other.columns or not mine:
            continue
        shared = len(mine & set(nz.squeeze(other[key]).drop_nulls().to_list()))
        if shared >= HIDDEN_VERSION_SHARE * len(mine):
            name = other["sheet"][0]
            return frame.with_columns(
                pl.lit(name).alias("__copy_of"),
                pl.lit(
                    f"本行所在的工作表是隐藏的，与工作表“{name}”有 {shared} 人相同（同一名单的"
                    "另一版本），未导入；如应以隐藏工作表为准，请取消隐藏并删除另一工作表"
                ).alias("__copy_zh"),
                pl.lit(
                    f"hidden sheet sharing {shared} persons with sheet {name} "
                    "(another version of that list); not loaded"
                ).alias("__copy_en"),
            )
    return frame


def _required(spec: FeedSpec) -> list[str]:
    return [c.field for c in spec.columns if c.header_required]


def _empty_frame(spec: FeedSpec) -> pl.DataFrame:
    schema = {"sheet": pl.String, "row_number": pl.Int32, "extra_columns": pl.String}
    schema |= {"__total_any": pl.Boolean, "__header_again": pl.Boolean}
    return pl.DataFrame(schema=schema)


def _fail(
    pf: ParsedFile, message_en: str, message_zh: str, rows: int, quiet: bool = False
) -> ParsedFile:
    pf.status = "failed"
    pf.error = f"{message_en} / {message_zh}"
    pf.rows_read = pf.rows_rejected = rows
    pf.rows_loaded = 0
    pf.rejects = pl.DataFrame(
        [
            {
                "load_id": pf.load_id,
                "feed": pf.feed,
                "source_file": pf.source_file,
                "sheet": None,
                "row_number": None,
                "column_name": None,
                "raw_value": None,
                "reason_zh": message_zh + (f"（共{rows}行未导入）" if rows else ""),
                "reason_en": message_en + (f" ({rows} rows not loaded)" if rows else ""),
            }
        ],
        schema=REJECT_SCHEMA,
    )
    if not quiet:
        log.warning("%s: load failed: %s", pf.source_file, message_en)
    return pf


def _finish(spec: FeedSpec, pf: ParsedFile, frame: pl.DataFrame, file_year: int | None) -> None:
    """Type, validate and split the rows of a readable file."""
    # Absent fields, ID flags and copy marks, flags without nulls: one pass.
    present = set(frame.columns)
    added: list[pl.Expr] = []
    for col in spec.columns:
        if col.field not in present:
            added.append(pl.lit(None, dtype=pl.String).alias(col.field))
        if col.kind == "id" and f"__num_{col.field}" not in present:
            added.append(pl.lit(False).alias(f"__num_{col.field}"))
    flags = [c for c in frame.columns if c.startswith(("__num_", "__inv_", "__wan_"))]
    copies = [c for c in ("__copy_of", "__copy_zh", "__copy_en") if c not in present]
    frame = frame.with_columns(
        *added,
        *[pl.col(c).fill_null(False) for c in flags],
        *[pl.lit(None, dtype=pl.String).alias(c) for c in copies],
    )

    # Summary rows: feed-specific rule, else any cell saying 合计/总计/小计.
    if spec.summary_row is not None:
        blank_or_total = {
            c.field: nz.blank_to_null(pl.col(c.field)).is_null() | nz.is_total_word(pl.col(c.field))
            for c in spec.columns
        }
        summary = spec.summary_row(blank_or_total)
    else:
        summary = pl.col("__total_any")
    frame = frame.with_columns(
        pl.when(pl.col("__copy_of").is_not_null())
        .then(pl.lit("copy"))
        .when(summary)
        .then(pl.lit("summary"))
        .when(pl.col("__header_again"))
        .then(pl.lit("header"))
        .otherwise(pl.lit("data"))
        .alias("__kind")
    )

    meta = {
        "load_id": pl.lit(pf.load_id),
        "source_file": pl.lit(pf.source_file),
    }
    raw_cols = [c for c, _ in spec.raw_columns()]
    pf.raw = frame.with_columns(**meta).select(raw_cols)

    # Raw text stays beside the typed values (``__raw_<field>``) for the reasons.
    frame = frame.rename({c.field: f"__raw_{c.field}" for c in spec.columns})
    typed = _normalise_ids(spec, frame).with_columns(_typed_columns(spec, frame, file_year))
    if spec.finish is not None:
        typed = spec.finish(typed)
    typed = typed.with_row_index("__idx")
    data = typed.filter(pl.col("__kind") == "data")

    # --- rejects: summary/header rows, then rows failing the pandera schema.
    special = typed.filter(pl.col("__kind") != "data").select(
        "__idx",
        "sheet",
        "row_number",
        pl.lit(None, dtype=pl.String).alias("column_name"),
        pl.lit(None, dtype=pl.String).alias("raw_value"),
        pl.when(pl.col("__kind") == "summary")
        .then(pl.lit(REASON_TOTAL[0]))
        .when(pl.col("__kind") == "copy")
        .then(
            pl.coalesce(
                "__copy_zh", pl.concat_str(pl.lit("与工作表“"), "__copy_of", pl.lit(COPY_SHEET_ZH))
            )
        )
        .otherwise(pl.lit(REASON_HEADER[0]))
        .alias("reason_zh"),
        pl.when(pl.col("__kind") == "summary")
        .then(pl.lit(REASON_TOTAL[1]))
        .when(pl.col("__kind") == "copy")
        .then(
            pl.coalesce(
                "__copy_en",
                pl.concat_str(pl.lit("same rows as sheet "), "__copy_of", pl.lit(COPY_SHEET_EN)),
            )
        )
        .otherwise(pl.lit(REASON_HEADER[1]))
        .alias("reason_en"),
    )
    failed = failures(spec, data)
    parts = [special]
    order = {c.field: i for i, c in enumerate(spec.columns)}
    for column in sorted(failed["column"].unique().to_list(), key=lambda c: order.get(c, 999)):
        positions = failed.filter(pl.col("column") == column)["index"]
        rows = data[positions]
        parts.append(rows.select(_reject_exprs(spec, column, file_year)))
    long = pl.concat(parts, how="vertical_relaxed")
    rejected_idx = long["__idx"].unique()
    rejects = (
        long.group_by("__idx", maintain_order=True)
        .agg(
            pl.col("sheet").first(),
            pl.col("row_number").first(),
            pl.col("column_name").drop_nulls().str.join(", "),
            pl.col("raw_value").fill_null("").str.join(" | "),
            pl.col("reason_zh").str.join("；"),
            pl.col("reason_en").str.join("; "),
        )
        .with_columns(
            pl.col("column_name").replace("", None), pl.col("raw_value").replace("", None)
        )
        .sort("__idx")
    )
    pf.rejects = rejects.with_columns(
        load_id=pl.lit(pf.load_id), feed=pl.lit(spec.name), source_file=pl.lit(pf.source_file)
    ).select(list(REJECT_SCHEMA))

    norm_cols = [c for c, _ in spec.normalised_columns()]
    # Only what the typed table and the warnings read is copied by the filter.
    wanted = [c for c in norm_cols if c not in meta]
    wanted += [f"__raw_{c.field}" for c in spec.columns if c.kind not in ("id", "text")]
    loaded = typed.select(wanted).filter(~typed["__idx"].is_in(rejected_idx.implode()))
    pf.typed = loaded.with_columns(**meta).select(norm_cols)
    pf.warnings = _warnings(spec, pf, loaded)

    pf.rows_read = frame.height
    pf.rows_rejected = rejects.height
    pf.rows_loaded = pf.typed.height
    assert pf.rows_read == pf.rows_loaded + pf.rows_rejected, pf.source_file


def _reject_exprs(spec: FeedSpec, column: str, file_year: int | None) -> list[pl.Expr]:
    """Select list for the rejects of one failing column."""
    if column.endswith("_problem") and column[: -len("_problem")] in {
        c.field for c in spec.id_columns
    }:
        f = column[: -len("_problem")]
        problem = pl.col(column)
        zh = problem.replace_strict(PROBLEMS_ZH, default="证件号码有误", return_dtype=pl.String)
        en = problem.replace_strict(
            PROBLEMS_EN, default="ID number problem", return_dtype=pl.String
        )
        raw = pl.col(f"{f}_raw")
    else:
        f = column
        zh, en = _value_reason(spec, spec.column(f), True, file_year)
        raw = pl.col(f"__raw_{f}")
    return [
        pl.col("__idx"),
        pl.col("sheet"),
        pl.col("row_number"),
        pl.lit(f).alias("column_name"),
        raw.alias("raw_value"),
        zh.alias("reason_zh"),
        en.alias("reason_en"),
    ]


def _warnings(spec: FeedSpec, pf: ParsedFile, loaded: pl.DataFrame) -> pl.DataFrame:
    """One row per optional value of a loaded row that was set to NULL."""
    # IDs: the register keeps problems in X_problem (rule id_invalid). Text cannot
    # fail to parse; a NULL there comes from ``finish`` (a village total's 合计
    # group), not from an unreadable value.
    cols = [c for c in spec.columns if c.kind not in ("id", "text")]
    # Candidates first, all columns in one pass of bitmaps: NULL typed, text present.
    maybe = loaded.select(
        (pl.col(c.field).is_null() & pl.col(f"__raw_{c.field}").is_not_null()).any().alias(c.field)
        for c in cols
    )
    parts = [pl.DataFrame(schema=_SHEET_WARNING_SCHEMA)] if cols else []
    for col in cols:
        if not maybe[col.field].item():
            continue
        raw = pl.col(f"__raw_{col.field}")
        bad = nz.blank_to_null(raw).is_not_null() & pl.col(col.field).is_null()
        zh, en = _value_reason(spec, col, False, None)
        rows = loaded.select("sheet", "row_number", f"__raw_{col.field}", col.field).filter(
            pl.col(col.field).is_null() & raw.is_not_null()
        )
        parts.append(
            rows.filter(bad).select(
                pl.col("sheet"),
                pl.col("row_number"),
                pl.lit(col.field).alias("column_name"),
                raw.alias("raw_value"),
                zh.alias("reason_zh"),
                en.alias("reason_en"),
            )
        )
    out = pl.concat(parts) if parts else pl.DataFrame()
    for s in pf.sheets:
        if s.status == "skipped":
            out = pl.concat(
                [
                    out,
                    pl.DataFrame(
                        {
                            "sheet": [s.name],
                            "row_number": [None],
                            "column_name": [None],
                            "raw_value": [None],
                            "reason_zh": [
                                f"工作表“{s.name}”中没有找到本数据的必需表头"
                                f"（缺少：{'、'.join(s.missing_required)}），该工作表已跳过"
                            ],
                            "reason_en": [
                                f"sheet {s.name!r} skipped: missing required headers "
                                f"{', '.join(s.missing_required)}"
                            ],
                        },
                        schema=_SHEET_WARNING_SCHEMA,
                    ),
                ],
                how="vertical_relaxed",
            )
    if pf.sheet_notes:
        notes = pl.DataFrame(
            {
                "sheet": [n[0] for n in pf.sheet_notes],
                "row_number": [None] * len(pf.sheet_notes),
                "column_name": [None] * len(pf.sheet_notes),
                "raw_value": [None] * len(pf.sheet_notes),
                "reason_zh": [n[1] for n in pf.sheet_notes],
                "reason_en": [n[2] for n in pf.sheet_notes],
            },
            schema=_SHEET_WARNING_SCHEMA,
        )
        out = pl.concat([out, notes], how="vertical_relaxed") if out.width else notes
    if out.is_empty():
        return pl.DataFrame(schema=REJECT_SCHEMA)
    return out.with_columns(
        load_id=pl.lit(pf.load_id), feed=pl.lit(spec.name), source_file=pl.lit(pf.source_file)
    ).select(list(REJECT_SCHEMA))
