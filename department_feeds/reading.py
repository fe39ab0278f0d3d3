"""Read feed files as they come: every sheet of an xlsx workbook, or a CSV file.

This is the only place with per-cell Python: python-calamine's ``to_python``
and the transposition of its rows into columns. Everything after this step is
Polars. Calamine keeps cell types, which matters: an 18-digit ID number stored
as an Excel number has already lost its last digits, and the ID normaliser
must be told the cell was numeric (``stored_as_number``) to flag it.

Text conventions (the ``raw_<feed>`` tables store exactly this text):

- Excel dates → ``YYYY-MM-DD``; datetimes → ``YYYY-MM-DD HH:MM:SS`` (or just the
  date at midnight); integral numbers → integer text (``3.0`` → ``3``, an ID
  number stored as a number → the digits the float holds); other numbers →
  shortest round-trip text (``1234.5``); booleans → ``TRUE``/``FALSE``.
- Empty cells → null.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import html
import io
import re
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter

import polars as pl
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from department_feeds.limits import (
    LimitExceeded,
    Limits,
    check_cells,
    check_rows,
    scan_part,
    scan_xlsx,
)

HEAD_ROWS = 20
"""The header row is looked for within this many rows from the top of a sheet."""


class ReadError(Exception):
    """A file that cannot be read at all (corrupt workbook, unknown encoding)."""

    def __init__(self, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh


def cell_text(value: object) -> str | None:
    """Text of one calamine cell value (see the module docstring)."""
    if value is None or value == "":
        return None
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is float:
        f: float = value  # type: ignore[assignment]
        if f.is_integer():
            return str(int(f))
        return repr(f)
    if t is bool:
        return "TRUE" if value else "FALSE"
    if t is int:
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


_NUMBER_TYPES = {float, int}


def _numbers_text(f: pl.Series) -> pl.Series:
    """Float cells as text, vectorised, the same text as :func:`cell_text`."""
    # Integral values (ID numbers, counts) as digits; the rest as float text.
    integral = (f.round(0) == f) & (f.abs() < 9.2e18)
    as_int = f.cast(pl.Int64, strict=False).cast(pl.String)
    return pl.select(
        pl.when(pl.lit(integral)).then(pl.lit(as_int)).otherwise(pl.lit(f).cast(pl.String))
    ).to_series()


def _column_series(name: str, values: Sequence[object]) -> pl.Series:
    """One column of calamine cells as a String series (``""`` is nulled later).

    Text and number cells (the usual mix: numbers plus a ``合计`` or a number
    typed as text) are converted column-wise; only a column holding dates,
    booleans or errors goes cell by cell through :func:`cell_text`.
    """
    try:
        # The common case, text only: Polars checks the types while it copies.
        text = pl.Series(name, values, dtype=pl.String, strict=True)
        if not text.null_count():
            return text
    except (TypeError, pl.exceptions.PolarsError):
        pass
    types = set(map(type, values))
    if types <= _NUMBER_TYPES:
        return _numbers_text(pl.Series(values, dtype=pl.Float64, strict=False)).rename(name)
    if types <= _NUMBER_TYPES | {str}:
        numbers = pl.Series(
            [None if type(v) is str else v for v in values], dtype=pl.Float64, strict=False
        )
        text = pl.Series([v if type(v) is str else None for v in values], dtype=pl.String)
        return text.zip_with(numbers.is_null(), _numbers_text(numbers)).rename(name)
    return pl.Series(name, [cell_text(v) for v in values], dtype=pl.String)


def _cell_text_expr(c: pl.Expr) -> pl.Expr:
    """Polars' row-builder text of a cell → the text :func:`cell_text` gives.

    The builder already writes integral floats as digits (``3``,
    ``530102199001011200``) and other floats in shortest form; only empty cells
    and booleans (``true``) differ. A text cell spelled ``true`` is folded too,
    which changes nothing a parser reads. (tests/unit/test_ingest_parsing.py pins this.)
    """
    return c.replace({"": None, "true": "TRUE", "false": "FALSE"})


def _rows_frame(body: list[list[object]], width: int) -> pl.DataFrame | None:
    """Calamine rows as a text frame, built by Polars without per-cell Python.

    None when Polars cannot take the rows (the caller then goes column by column).
    """
    schema = {f"c{j}": pl.String for j in range(width)}
    try:
        frame = pl.DataFrame(body, orient="row", schema=schema, strict=False)
    except Exception:  # ragged rows, exotic cell objects
        return None
    return frame.with_columns(_cell_text_expr(pl.col(c)).alias(c) for c in frame.columns)


def _numeric_flags(name: str, values: Iterable[object]) -> pl.Series:
    """Which cells the workbook stored as numbers (only asked for ID columns)."""
    flags = list(map(_NUMBER_TYPES.__contains__, map(type, values)))
    return pl.Series(name, flags, dtype=pl.Boolean)


_GC_GUARD = threading.Lock()
_gc_holds = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Cyclic garbage collection off while a sheet becomes millions of Python
    objects (lists of cells, none of them in a cycle): each collection would walk
    them all again. Counted across threads; the last one out restores it."""
    global _gc_holds, _gc_was_enabled
    with _GC_GUARD:
        if _gc_holds == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holds += 1
    try:
        yield
    finally:
        with _GC_GUARD:
            _gc_holds -= 1
            if _gc_holds == 0 and _gc_was_enabled:
                gc.enable()


@dataclass
class RawSheet:
    """One sheet (or a CSV file) before its header is known."""

    name: str
    rows: list[list[object]] | None = None
    """xlsx: the cells as calamine returns them, row 0 = Excel row 1."""
    frame: pl.DataFrame | None = None
    """CSV: every field as text, one column per position."""
    hidden: bool = False
    """xlsx: the sheet is hidden (or very hidden) in Excel."""
    hidden_rows: int = 0
    """xlsx: rows with cells that Excel hides (by hand or an autofilter)."""

    @property
    def width(self) -> int:
        if self.frame is not None:
            return self.frame.width
        return max((len(r) for r in self.rows or ()), default=0)

    @property
    def height(self) -> int:
        if self.frame is not None:
            return self.frame.height
        return len(self.rows or ())

    def head_text(self, n: int = HEAD_ROWS) -> list[list[str | None]]:
        """The first ``n`` rows as text, for header detection."""
        if self.frame is not None:
            return [list(r) for r in self.frame.head(n).rows()]
        return [[cell_text(v) for v in row] for row in (self.rows or [])[:n]]

    def columns(
        self, start: int, numeric: set[int]
    ) -> tuple[list[pl.Series], dict[int, pl.Series]]:
        """Columns of the rows from ``start`` (0-based) on, as String series named
        ``c0, c1, …``, and the numeric-cell flags of the columns in ``numeric``."""
        width = self.width
        if self.frame is not None:
            part = self.frame.slice(start)
            cols = [part.to_series(j).rename(f"c{j}") for j in range(width)]
            flags = {j: pl.Series(f"n{j}", [False] * part.height) for j in numeric}
            return cols, flags
        body = (self.rows or [])[start:]
        if not body:
            empty = [pl.Series(f"c{j}", [], dtype=pl.String) for j in range(width)]
            return empty, {j: pl.Series(f"n{j}", [], dtype=pl.Boolean) for j in numeric}
        with _gc_paused():
            return self._body_columns(body, width, numeric)

    @staticmethod
    def _body_columns(
        body: list[list[object]], width: int, numeric: set[int]
    ) -> tuple[list[pl.Series], dict[int, pl.Series]]:
        fast = _rows_frame(body, width)
        if fast is not None:
            narrowest = min(map(len, body))
            flags = {
                j: _numeric_flags(f"n{j}", map(itemgetter(j), body))
                if j < narrowest
                else pl.Series(
                    f"n{j}",
                    [j < len(r) and type(r[j]) in _NUMBER_TYPES for r in body],
                    dtype=pl.Boolean,
                )
                for j in numeric
                if j < width
            }
            cols = fast.get_columns()
            for j, flag in flags.items():
                # Above 2**53 the builder writes the float's shortest digits
                # (…970); cell_text writes its exact value (…968). Same float:
                # take the exact value, for number cells only (text IDs untouched).
                big = flag & cols[j].str.contains(r"^-?\d{16,}$").fill_null(False)
                exact = cols[j].cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
                cols[j] = cols[j].zip_with(~big, exact.cast(pl.String))
            return cols, flags
        transposed = list(zip(*body, strict=False))
        cols = [_column_series(f"c{j}", transposed[j]) for j in range(len(transposed))]
        flags = {j: _numeric_flags(f"n{j}", transposed[j]) for j in numeric if j < len(transposed)}
        return cols, flags


CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""Compound File Binary: Excel 97-2003 ``.xls``, or an xlsx encrypted with a password."""
ZIP_MAGIC = b"PK\x03\x04"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")

EMPTY = ReadError(
    "the file is empty (0 bytes)", "文件为空（0字节），没有任何内容；请重新导出后报送"
)


def sniff_workbook(data: bytes) -> None:
    """Raise :class:`ReadError` with a precise reason when the bytes of an ``.xlsx``
    are not a workbook: empty, password-protected, an old ``.xls``, or a web page
    saved with an Excel name (common for exports from government web systems)."""
    if not data:
        raise EMPTY
    if data.startswith(CFB_MAGIC):
        if _ENCRYPTION_INFO in data[:4_000_000] or b"EncryptedPackage" in data[:4_000_000]:
            raise ReadError(
                "the workbook is encrypted with a password",
                "文件设置了打开密码，无法读取；请在Excel中取消打开密码（文件→信息→保护工作簿→"
                "用密码进行加密，清空密码）后重新报送",
            )
        raise ReadError(
            "the file is an Excel 97-2003 (.xls) or other binary Office file named .xlsx",
            "文件实际是旧版Excel 97-2003（.xls）等格式，只是扩展名为.xlsx；"
            "请用Excel打开后另存为“Excel工作簿（*.xlsx）”再报送",
        )
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") or b"<html" in head or b"<table" in head:
        raise ReadError(
            "the file is a web page (HTML/XML) named .xlsx, not a workbook",
            "文件实际是网页（HTML/XML）格式，不是真正的Excel文件（常见于从网站导出的表格）；"
            "请用Excel打开后另存为“Excel工作簿（*.xlsx）”再报送",
        )
    if not data.startswith(ZIP_MAGIC):
        raise ReadError(
            "the file is not an xlsx workbook (no zip signature)",
            "文件不是有效的Excel（xlsx）文件，可能已损坏或只是改了扩展名；请重新导出后报送",
        )


def read_xlsx(data: bytes, limits: Limits | None = None) -> list[RawSheet]:
    """Every worksheet of a workbook, cells with their types.

    How far each sheet's cells reach is checked against ``limits`` before the
    reader lays the sheet out (densely) in memory.
    """
    limits = limits or Limits()
    sniff_workbook(data)
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        names = {n.lower() for n in book.namelist()}
        if "xl/workbook.xml" not in names:
            # An .ods or .xlsb (or any zip) named .xlsx: the reader would take it by
            # its content, past the extent scan, which knows SpreadsheetML only.
            kind = "ODS" if "content.xml" in names else "xlsb" if "xl/workbook.bin" in names else ""
            raise ReadError(
                f"the file is a zip but not an xlsx workbook {kind}".strip(),
                f"文件不是xlsx格式（{kind or '其他压缩文件'}，只是扩展名为.xlsx）；"
                "请用Excel另存为“Excel工作簿（*.xlsx）”再报送",
            )
        # One pass over the sheet XML: the extent caps and the hidden rows.
        hidden_parts = scan_xlsx(io.BytesIO(data), limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # Damaged data, a lying directory, zip-level encryption, an unknown method.
        raise ReadError(
            f"cannot read the workbook: {exc}",
            f"无法打开该Excel文件（文件已损坏或使用了不支持的压缩方式）：{exc}",
        ) from exc
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        hidden = {m.name for m in wb.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
        hidden_rows = _by_sheet_name(book, hidden_parts)
        sheets = []
        rows = 0
        for name in wb.sheet_names:
            sheet = wb.get_sheet_by_name(name)
            # Materialised from row 1 (skip_empty_area=False): check that layout.
            if sheet.end is not None:
                height, width = sheet.end[0] + 1, sheet.end[1] + 1
                check_cells(name, height, width, limits)
                rows += height
                check_rows(rows, limits)
            # skip_empty_area=False: row 0 is Excel row 1, so row numbers are exact.
            with _gc_paused():
                rows_ = sheet.to_python(skip_empty_area=False)
            sheets.append(
                RawSheet(
                    name=name,
                    rows=rows_,
                    hidden=name in hidden,
                    hidden_rows=hidden_rows.get(name, 0),
                )
            )
        return sheets
    except LimitExceeded:
        raise
    except Exception as exc:  # calamine raises several types for damaged files
        raise ReadError(
            f"cannot read the workbook: {exc}",
            f"无法打开该Excel文件（文件可能已损坏或不是xlsx格式）：{exc}",
        ) from exc


_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')
_REL_TAG = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")


def count_hidden_rows(data: bytes) -> dict[str, int]:
    """Sheet name → rows with cells that Excel hides, from the sheet XML (streamed;
    its size is already bounded by the limits). Best effort: {} when unsure.
    (:func:`read_xlsx` takes them from its extent scan instead.)"""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        parts = {}
        for part, _ in _sheet_parts(z):
            with z.open(part) as fh:
                parts[part] = scan_part(fh).hidden_rows
        return _by_sheet_name(z, parts)
    except (KeyError, zipfile.BadZipFile, zlib.error, OSError, ValueError, LimitExceeded):
        return {}


def _sheet_parts(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(zip member, sheet name) of each sheet in ``workbook.xml``, in its order."""
    targets = {}
    for tag in _REL_TAG.findall(z.read("xl/_rels/workbook.xml.rels")):
        a = dict(_ATTR.findall(tag))
        target = a.get(b"Target", b"").decode("utf-8", "replace").lstrip("/")
        targets[a.get(b"Id")] = target if target.startswith("xl/") else f"xl/{target}"
    members = set(z.namelist())
    out = []
    for tag in _SHEET_TAG.findall(z.read("xl/workbook.xml")):
        a = {k.split(b":")[-1]: v for k, v in _ATTR.findall(tag)}
        part = targets.get(a.get(b"id"))
        if part is not None and part in members:
            name = html.unescape(a.get(b"name", b"").decode("utf-8", "replace"))
            out.append((part, name))
    return out


def _by_sheet_name(z: zipfile.ZipFile, hidden_parts: dict[str, int]) -> dict[str, int]:
    """Hidden rows per zip member → per sheet name. Best effort: {} when unsure."""
    if not hidden_parts:
        return {}
    try:
        return {
            name: hidden_parts[part] for part, name in _sheet_parts(z) if hidden_parts.get(part)
        }
    except (KeyError, zipfile.BadZipFile, zlib.error, OSError, ValueError):
        return {}


def decode(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-8 with or without BOM, UTF-16 with BOM, else GB18030.

    Every decode is strict: a file none of them decodes fails to load rather
    than being read with replacement characters.
    """
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ReadError(
                f"file starts with a UTF-8 byte-order mark but is not valid UTF-8: {exc}",
                "文件标明为UTF-8编码，但内容不是有效的UTF-8，请重新导出",
            ) from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ReadError(
                f"file has a UTF-16 byte-order mark but is not valid UTF-16: {exc}",
                "文件标明为UTF-16编码，但内容无效，请重新导出",
            ) from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _has_utf8_lines(data):
        raise ReadError(
            "CSV file mixes UTF-8 and GBK/GB18030 lines; re-export it in one encoding",
            "CSV文件中混有UTF-8和GBK两种编码的内容（可能由多个文件拼接而成），无法可靠读取；"
            "请统一另存为UTF-8编码后重新报送",
        )
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ReadError(
            "CSV file is neither UTF-8 nor GB18030/GBK; re-export it as UTF-8 or GBK",
            "CSV文件编码无法识别（既不是UTF-8也不是GBK/GB18030），请另存为UTF-8或GBK编码后重新报送",
        ) from exc


def _unify_line_endings(text: str) -> str:
    """CR-only line endings as ``\\n``: the CSV parser splits on ``\\n`` alone, and a
    CR-only file would be one header line holding every row (loaded with 0 rows)."""
    bare_cr = text.count("\r") - text.count("\r\n")
    if bare_cr > text.count("\n"):
        return re.sub(r"\r(?!\n)", "\n", text)
    return text


def _has_utf8_lines(data: bytes) -> bool:
    """Whether some line with Chinese text is valid UTF-8 although the whole file is
    not: the file is a splice of UTF-8 and GBK. (A GBK line of a few Chinese
    characters practically never happens to be valid UTF-8.)"""
    # One pattern pass yields only the lines that are wholly valid UTF-8 with at
    # least one multi-byte character (no per-line decode attempt).
    # Three or more Chinese characters: 9 bytes above 0x7f.
    return any(len(_NON_ASCII.findall(m[0])) >= 9 for m in _UTF8_LINE.finditer(data))


_NON_ASCII = re.compile(rb"[\x80-\xff]")
_UTF8_CHAR = (  # a multi-byte UTF-8 character as the strict decoder accepts it (RFC 3629)
    rb"(?:[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2})"
)
_LINE_ASCII = rb"[\x00-\x09\x0b-\x7f]"
_UTF8_LINE = re.compile(
    rb"(?m)^"
    + _LINE_ASCII
    + rb"*+"
    + _UTF8_CHAR
    + rb"(?:"
    + _LINE_ASCII
    + rb"|"
    + _UTF8_CHAR
    + rb")*+$"
)


def _sniff(text: str) -> tuple[str, int]:
    """Delimiter (comma, tab or semicolon) and the widest row in the first lines.

    Polars takes the column count from the first line; a title line above the
    header would otherwise cut every row down to one field.
    """
    lines = text[:200_000].splitlines()[:200]
    sample = "\n".join(lines)
    delimiter = max((",", "\t", ";"), key=sample.count)
    width = max((len(r) for r in csv.reader(io.StringIO(sample), delimiter=delimiter)), default=1)
    return delimiter, max(width, 1)


def read_csv(data: bytes, limits: Limits | None = None) -> tuple[RawSheet, str]:
    """A CSV file as one text-only sheet, and the encoding it was decoded with.

    Lines are counted against ``limits.max_rows`` before parsing (a quoted field
    spanning lines counts each line). NUL characters, which no text field holds
    and which later writers refuse, are removed.
    """
    limits = limits or Limits()
    if not data:
        raise EMPTY
    if data.startswith(ZIP_MAGIC):
        raise ReadError(
            "the file is an xlsx workbook (zip) named .csv",
            "文件实际是Excel（xlsx）格式，但扩展名是.csv；请把扩展名改为.xlsx后重新报送",
        )
    if data.startswith(CFB_MAGIC):
        raise ReadError(
            "the file is a binary Office file (.xls or password-protected) named .csv",
            "文件实际是旧版Excel（.xls）或加密的Office文件，但扩展名是.csv；"
            "请另存为CSV或xlsx后重新报送",
        )
    # CR-only line endings (old Mac exports) count too, or the cap is passed as one line.
    n_lf, n_cr = data.count(b"\n"), data.count(b"\r")
    lines = max(n_lf, n_cr) + (not data.endswith((b"\n", b"\r")))
    check_rows(lines, limits)
    nul = data.count(b"\x00")
    if nul * 20 > len(data) and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # UTF-16 text has its NULs on one side of each byte pair; binary has them anywhere.
        if max(data[1::2].count(b"\x00"), data[0::2].count(b"\x00")) > 0.9 * nul:
            raise ReadError(
                "CSV looks like UTF-16 without a byte-order mark (neither UTF-8 nor "
                "GB18030/GBK); re-export it as UTF-8",
                "CSV文件似乎是不带标记（BOM）的UTF-16编码，无法可靠识别；请另存为UTF-8编码后重新报送",
            )
        raise ReadError(
            "the file is binary, not a text CSV",
            "文件含有大量二进制内容，不是文本格式的CSV；请重新导出后报送",
        )
    text, encoding = decode(data)
    changed = False
    if nul and "\x00" in text:
        text, changed = text.replace("\x00", ""), True
    # Outside UTF-16 each CR/LF character is one such byte: fewer CRs than LFs
    # leaves nothing to unify (the counts are the bytes' above).
    if encoding == "utf-16" or n_cr > n_lf:
        unified = _unify_line_endings(text)
        changed = changed or unified is not text
        text = unified
    if not text or text.isspace():
        return RawSheet(name="", frame=pl.DataFrame()), encoding
    delimiter, width = _sniff(text)
    check_cells("", lines, width, limits)  # every line is padded to the widest sampled one
    # Polars takes the column count from the first line; a synthetic header line
    # as wide as the widest sampled row keeps title lines from narrowing the frame.
    names = [f"column_{j}" for j in range(width)]
    synthetic = delimiter.join(names) + "\n"
    if encoding.startswith("utf-8") and not changed:
        # The bytes already are this text in UTF-8: no second encoding.
        body = data[len(codecs.BOM_UTF8) :] if encoding == "utf-8-sig" else data
        payload = synthetic.encode("utf-8") + body
    else:
        payload = (synthetic + text).encode("utf-8")
    try:
        frame = pl.read_csv(
            io.BytesIO(payload),
            has_header=True,
            infer_schema=False,
            separator=delimiter,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as exc:
        raise ReadError(
            f"cannot parse the CSV file: {exc}", f"CSV文件格式有误，无法读取：{exc}"
        ) from exc
    return RawSheet(name="", frame=frame), encoding
