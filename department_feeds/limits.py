"""Size caps checked before a file is read into memory or parsed.

A small xlsx can expand to gigabytes of sheet XML (a "zip bomb"), and a huge
CSV is read whole: either would exhaust an office PC's memory and kill the
night. ``check_file`` looks only at ``stat`` and the zip central directory (no
decompression), so it is cheap and runs before anything else touches the
bytes. A corrupt zip is not a limit error: the parser fails it cleanly.

Configuration (environment, read by ``Limits.from_env``):

- ``BIDUI_MAX_FILE_MB`` (default 200): size of the file on disk;
- ``BIDUI_MAX_SHEET_MB`` (default 1024): uncompressed total of an xlsx's parts;
- ``BIDUI_MAX_ROWS`` (default 1,100,000): rows per file;
- ``BIDUI_MAX_COMPRESSION_RATIO`` (default 200): uncompressed / compressed size;
- ``BIDUI_MAX_CELLS`` (default 50,000,000): rows × columns of one sheet as the
  reader lays it out.

``check_xlsx_extent`` then streams the workbook's XML once (decompression bounded
by the sizes already checked) to find how far each sheet's cells reach: the xlsx
reader allocates rows × columns densely, so two cells, A1 and XFD1048576, in a
file of a few hundred bytes would ask for 512 GB and abort the process.
"""

from __future__ import annotations

import functools
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MB = 1024 * 1024

ZIP_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".zip", ".ods")

RATIO_MIN_BYTES = 10 * MB
"""The compression ratio is only judged above this uncompressed total: small
parts (styles, an almost empty sheet) legitimately compress very well."""

ADVICE_ZH = "请拆分后重新报送或联系区扶贫办调整上限"


class LimitExceeded(Exception):
    """A file over a configured cap; it is not read."""

    def __init__(self, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 200 * MB
    max_uncompressed_bytes: int = 1024 * MB
    max_rows: int = 1_100_000
    max_compression_ratio: float = 200.0
    max_zip_entries: int = 10_000
    """A workbook has a few dozen parts; 100,000 entries is hostile whatever their size."""
    max_cells: int = 50_000_000
    """Rows × columns of one sheet as the reader lays it out (dense). A stray cell in
    column XFD makes every row 16,384 cells wide."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Limits from ``BIDUI_MAX_*``; an invalid value raises ``ValueError`` naming it."""
        env = os.environ if env is None else env
        default = cls()
        return cls(
            max_file_bytes=int(_number(env, "BIDUI_MAX_FILE_MB", default.max_file_bytes / MB) * MB),
            max_uncompressed_bytes=int(
                _number(env, "BIDUI_MAX_SHEET_MB", default.max_uncompressed_bytes / MB) * MB
            ),
            max_rows=int(_number(env, "BIDUI_MAX_ROWS", default.max_rows, integer=True)),
            max_compression_ratio=_number(
                env, "BIDUI_MAX_COMPRESSION_RATIO", default.max_compression_ratio
            ),
            max_cells=int(_number(env, "BIDUI_MAX_CELLS", default.max_cells, integer=True)),
        )


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip().replace("_", "").replace(",", "")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{name}={raw!r} is not {kind}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


def human_size(n: float) -> str:
    """``1.8 GB``, ``250.0 MB``, ``12 kB``: for messages a person reads."""
    if n >= 1024 * MB:
        return f"{n / (1024 * MB):.1f} GB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{max(n / 1024, 0.1):.0f} kB" if n >= 1024 else f"{int(n)} B"


def check_file(path: Path, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` if the file is over a cap. Reads no content
    beyond the zip central directory; does not follow the caller's choice of
    reader, so it is safe to call on any file."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise LimitExceeded(
            f"file too large ({human_size(size)}, limit {human_size(limits.max_file_bytes)}); "
            "not read",
            f"文件过大（{human_size(size)}，上限 {human_size(limits.max_file_bytes)}），"
            f"未读取；{ADVICE_ZH}",
        )
    if path.suffix.lower() in ZIP_SUFFIXES:
        check_zip(path, size, limits)


def check_zip(path: Path, size: int, limits: Limits) -> None:
    """Uncompressed total, entry count and compression ratio from the central directory."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip / damaged: the parser fails it with its own reason
    if len(infos) > limits.max_zip_entries:
        raise LimitExceeded(
            f"workbook has {len(infos):,} parts (limit {limits.max_zip_entries:,}); not read",
            f"文件内部结构异常（含 {len(infos):,} 个部件，上限 {limits.max_zip_entries:,}），"
            f"未读取；请用Excel另存为后重新报送",
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise LimitExceeded(
            f"file too large (uncompressed {human_size(total)}, limit "
            f"{human_size(limits.max_uncompressed_bytes)}); not read",
            f"文件过大（解压后 {human_size(total)}，上限 "
            f"{human_size(limits.max_uncompressed_bytes)}），未读取；{ADVICE_ZH}",
        )
    ratio = total / max(packed, size, 1) if packed else 0.0
    if total >= RATIO_MIN_BYTES and ratio > limits.max_compression_ratio:
        raise LimitExceeded(
            f"abnormal compression ratio {ratio:.0f}:1 (uncompressed {human_size(total)} from "
            f"{human_size(size)}, limit {limits.max_compression_ratio:.0f}:1); not read",
            f"文件压缩比异常（{human_size(size)} 解压后 {human_size(total)}，压缩比 {ratio:.0f}:1，"
            f"上限 {limits.max_compression_ratio:.0f}:1），未读取；{ADVICE_ZH}",
        )


def check_rows(n: int, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` when a file has more rows than allowed."""
    if n > limits.max_rows:
        raise LimitExceeded(
            f"too many rows ({n:,}, limit {limits.max_rows:,}); not read",
            f"文件行数过多（{n:,} 行，上限 {limits.max_rows:,} 行），未读取；{ADVICE_ZH}",
        )


def check_cells(sheet: str, rows: int, columns: int, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` when a sheet laid out densely is too big."""
    if rows * columns > limits.max_cells:
        raise LimitExceeded(
            f"sheet {sheet!r} spans {rows:,} rows × {columns:,} columns "
            f"(limit {limits.max_cells:,} cells); not read",
            f"{f'工作表“{sheet}”的' if sheet else ''}数据区域过大（{rows:,} 行 × {columns:,} 列，"
            f"上限 {limits.max_cells:,} 个单元格），未读取；请删除多余的行列（如误填在远处的单元格）"
            "后重新报送",
        )


_SHEET_DATA = re.compile(rb"<(?:([^\s<>/:!?=\"']+):)?sheetData\b")
_CHUNK = 4 * 1024 * 1024
MAX_ROW_XML = 64 * 1024 * 1024
"""No real row is this long (16,384 cells of 4 kB); it bounds the scan's buffer."""

_HIDDEN_ROW = re.compile(
    rb'<(?:\w+:)?row\b[^>]*?\bhidden="(?:1|true)"[^>]*?(?<!/)>\s*<(?:\w+:)?c\b'
)
_HUGE = 10**12
"""Stands for a row or column number too long to convert (hostile): over any cap."""


def _column_index(letters: bytes) -> int:
    """``A`` → 1, ``XFD`` → 16384; lowercase too (the reader takes it)."""
    if len(letters) > 8:
        return _HUGE
    n = 0
    for ch in letters:
        n = n * 26 + (ch & 0x1F)
    return n


def _ref_number(digits: bytes) -> int:
    return int(digits) if len(digits) <= 12 else _HUGE


@dataclass(frozen=True)
class PartScan:
    """What one scan of a worksheet part found: how far its cells with a value
    reach (1-based; 0 for a part without ``sheetData``) and its hidden rows."""

    rows: int = 0
    columns: int = 0
    hidden_rows: int = 0


def part_extent(stream) -> tuple[int, int]:
    """(last row, last column), 1-based, of the cells holding a value in one
    worksheet XML stream; (0, 0) for a part without ``sheetData`` (not a sheet).

    Cells with a value end in ``</c>``; an empty formatted cell (``<c r="A9" s="1"/>``)
    does not count, as the reader ignores it. Rows and cells without an ``r``
    reference are counted by position. Elements may carry a namespace prefix
    (``<x:row>``, as the .NET OpenXML SDK writes them). See :func:`scan_part`.
    """
    scan = scan_part(stream)
    return scan.rows, scan.columns


def scan_part(stream) -> PartScan:
    """One streamed pass over a worksheet part: :func:`part_extent`'s extent and
    the rows Excel hides (``<row hidden="1">`` holding cells).

    The XML is cut into pieces at each ``</row>``. In a piece, the last ``<row`` is
    the row: its ``r``, else the previous row plus the ``<row`` tags in the piece.
    The piece has a value when a ``</c>`` follows that tag; its column is the ``r``
    of the last ``<c`` before that ``</c>`` (the row too, when the cell's ``r``
    names a later one), else the ``<c`` tags counted from the row's start. Rows
    straddling two chunks are joined; a part without ``</row>`` for more than
    :data:`MAX_ROW_XML` bytes is refused.
    """
    tail = b""
    while True:
        chunk = stream.read(_CHUNK)
        buf = tail + chunk
        m = _SHEET_DATA.search(buf)
        if m is not None:
            break
        if not chunk:
            return PartScan()
        # Keep an unfinished tag (a long prefix may straddle two chunks).
        lt = buf.rfind(b"<")
        tail = buf[lt:] if lt >= 0 and buf.find(b">", lt) < 0 else buf[-256:]
        if len(tail) > MAX_ROW_XML:
            raise _row_too_long()
    scanner = _SheetScanner(m.group(1) + b":" if m.group(1) else b"")
    if len(buf) > m.end():
        scanner.feed(buf[m.end() :])
    while chunk := stream.read(_CHUNK):
        scanner.feed(chunk)
    scan = scanner.finish()
    if scanner.plain:
        return scan
    # A form the fast pass cannot place (comment, other prefix, quoting, cells out of
    # order, mixed r): read the part again tag by tag, as the reader does.
    try:
        stream.seek(0)
    except (AttributeError, OSError, ValueError):
        raise _odd_part() from None
    rows, columns = _exact_extent(stream)
    return PartScan(rows, columns, scan.hidden_rows)


def _row_too_long() -> LimitExceeded:
    return LimitExceeded(
        f"a row of more than {human_size(MAX_ROW_XML)} of XML; not read",
        f"文件内部结构异常（单行数据超过 {human_size(MAX_ROW_XML)}），未读取；"
        "请用Excel另存为后重新报送",
    )


def _odd_part() -> LimitExceeded:
    return LimitExceeded(
        "worksheet XML the extent scan cannot follow; not read",
        "文件内部结构异常（工作表数据格式不规范），未读取；请用Excel另存为后重新报送",
    )


class _SheetScanner:
    """The state of :func:`scan_part` after ``sheetData``, fed chunk by chunk.

    Each chunk's whole rows are split at ``</row>`` in one C call and the pieces
    searched with ``bytes`` methods; rows cut by a chunk edge are joined first.
    """

    def __init__(self, prefix: bytes) -> None:
        (
            self.row_end,
            self.row_open,
            self.cell_end,
            self.cell_open,
            self.row_r,
            self.cell_r,
        ) = _tokens(prefix)
        self.prefix = prefix
        self.last_row = self.last_col = self.row = self.hidden = 0
        self.plain = True
        """False once a form the fast pass cannot place exactly is seen."""
        self.done = False  # past </sheetData>
        self.beyond: re.Pattern[bytes] | None = None
        self.beyond_at = (-1, -1)
        self.cells_r = 0  # cells with r first in the text last checked
        self.empty_rows = re.compile(b"(?:<" + re.escape(prefix) + rb"row\b[^<>]*/>\s*)*")
        self.carry: list[bytes] = []
        self.carry_len = 0
        self.tail = b""  # the carried bytes' last few, for a </row> split by a chunk edge
        self.seen_row_end = False

    def feed(self, chunk: bytes) -> None:
        end, n = self.row_end, len(self.row_end)
        first = -1  # where the first </row> starts, from the chunk's start
        found = False
        if self.tail:
            # One may straddle the carried bytes and this chunk.
            j = (self.tail + chunk[: n - 1]).find(end)
            if j >= 0:
                first, found = j - len(self.tail), True
        if not found:
            first = chunk.find(end)
            found = first >= 0
        if not found:
            self.carry.append(chunk)
            self.carry_len += len(chunk)
            self.tail = (self.tail + chunk)[-(n - 1) :] if len(chunk) < n else chunk[-(n - 1) :]
            if not self.seen_row_end and self.carry_len > MAX_ROW_XML:
                raise _row_too_long()
            return
        self.seen_row_end = True
        head = b"".join(self.carry)
        self._pieces([head[: len(head) + first] if first < 0 else head + chunk[:first]])
        start = first + n
        last = chunk.rfind(end, start)
        if last >= 0:
            self._region(chunk[start:last])
            start = last + n
        rest = chunk[start:]
        self.carry = [rest] if rest else []
        self.carry_len = len(rest)
        self.tail = rest[-(n - 1) :]

    def finish(self) -> PartScan:
        self._pieces([b"".join(self.carry)], final=True)
        self.carry = []
        return PartScan(self.last_row, self.last_col, self.hidden)

    def _region(self, region: bytes) -> None:
        self._pieces(region.split(self.row_end), region)

    def _pieces(self, pieces: list[bytes], region: bytes | None = None, final=False) -> None:
        """The pieces (texts between two ``</row>``) in order: the row is the last
        ``<row`` of a piece, etc. (see :func:`scan_part`)."""
        if self.done:
            return
        text = pieces[0] if region is None else region
        if final:
            # The reader stops at </sheetData>; what follows (<cfRule>, extLst) is not cells.
            end = text.find(b"</" + self.prefix + b"sheetData")
            if end >= 0:
                self.done = True
                text = pieces[0] = text[:end]
        if self.plain and not self._plain(text):
            self.plain = False
        if b"hidden=" in text:
            self.hidden += len(_HIDDEN_ROW.findall(text))
        row_open, cell_end, cell_open = self.row_open, self.cell_end, self.cell_open
        row_match, cell_match = self.row_r.match, self.cell_r.match
        row, last_row, last_col = self.row, self.last_row, self.last_col
        plain = self.plain
        for piece in pieces:
            start = piece.rfind(row_open)
            if start < 0:
                if plain and (not final or cell_open in piece):
                    plain = False  # a stray </row> counts a row on; cells outside rows
                continue
            if plain:
                first = piece.find(row_open)
                if piece.find(cell_open, 0, first) >= 0 or (
                    first != start and not self.empty_rows.fullmatch(piece, first, start)
                ):
                    plain = False  # cells outside a row, two rows before one </row>
            m = row_match(piece, start)
            row = _ref_number(m[1]) if m else row + piece.count(row_open)
            end = piece.rfind(cell_end)
            if end < start:
                continue  # no cell with a value
            if row > last_row:
                last_row = row
            m = cell_match(piece, piece.rfind(cell_open, start, end))  # -1: matched at 0
            if m is None:
                col = piece.count(cell_open, start, end)
            else:
                col = _column_index(m[1])
                last_row = max(last_row, _ref_number(m[2]))  # a cell naming a later row
            if col > last_col:
                last_col = col
        self.row, self.last_row, self.last_col = row, last_row, last_col
        self.plain = plain
        if plain and self.cells_r:  # cells without r are placed by position, in order
            self._beyond(text)

    def _plain(self, text: bytes) -> bool:
        """Whether the fast pass places every cell of ``text`` as the reader does:
        no comment/CDATA/PI, row and cell tags of one prefix written plainly (one
        space before ``r="``, no space in end tags), cells either all with ``r``
        first or none with ``r``. Rare bytes and long needles first: each full
        scan of a chunk costs a few ms, and this runs on every chunk."""
        p = self.prefix
        if _odd_bytes(text):
            return False  # a comment, CDATA, PI; r='…', </c\n>, <c\tr=…
        if b"r =" in text or b"r= " in text or b'" r="' in text:
            return False  # r spaced or not first: the exact pass reads it
        if b"</" + p + b"c " in text or b"</" + p + b"row " in text:
            return False  # the reader trims the space
        if p:
            if _other_prefix(p).search(text):
                return False
        elif (b":c" in text or b":row" in text) and _OTHER_PREFIX.search(text):
            return False
        cells_r = self.cells_r = text.count(b"<" + p + b'c r="')
        if cells_r:
            tags = text.count(b"<" + p + b"c ") + text.count(b"<" + p + b"c>")
            if tags + text.count(b"<" + p + b"c/") != cells_r:
                return False  # a cell without r carries the column of one with r
        return True

    def _beyond(self, text: bytes) -> None:
        """A cell with a value beyond the extent found so far (a far cell before a
        near one, a cell naming a later row): take every cell of ``text``."""
        if (self.last_row, self.last_col) != self.beyond_at:
            self.beyond_at = (self.last_row, self.last_col)
            self.beyond = _beyond_pattern(self.prefix, self.last_row, self.last_col)
        if self.beyond is None or not self.beyond.search(text):
            return
        for letters, digits, attrs in _value_cell(self.prefix).findall(text):
            if attrs.endswith(b"/"):
                continue
            self.last_col = max(self.last_col, _column_index(letters))
            self.last_row = max(self.last_row, _ref_number(digits))


_TOKEN = re.compile(
    rb"<(?:!--.*?--|!\[CDATA\[.*?\]\]|\?.*?\?|!(?!--|\[CDATA\[)[^>]*"
    rb"|(/?)([^\s/>!?][^\s/>]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*))>",
    re.S,
)
_ATTR = re.compile(rb"""([^\s=/]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_CELL_REF = re.compile(rb"([A-Za-z]+)([0-9]+)")


def _r_attr(attrs: bytes) -> bytes | None:
    """The ``r`` attribute's raw value (the reader does not unescape it); two: odd."""
    found = [a or b for key, a, b in _ATTR.findall(attrs) if key == b"r"]
    if len(found) > 1:
        raise _odd_part()
    return found[0] if found else None


def _exact_extent(stream) -> tuple[int, int]:
    """(last row, last column) of the cells with a value, tag by tag as the reader
    places them: the first ``sheetData`` of any prefix; a row's ``r`` sets the row,
    ``</row>`` moves to the next and back to column 1; a cell's own ``r`` wins, else
    it takes the row's current position; each cell moves the column on by one; a
    cell holds a value when it has a child element (``<v>``, ``<is>``; ``<f>`` alone
    not). Comments, CDATA and processing instructions are skipped. A reference the
    reader could not parse, or a value element nested in itself, is refused."""
    rows = columns = 0
    row = col = 0  # the reader's 0-based position
    started = in_cell = value = False
    skip: bytes | None = None  # inside <v>/<is>/<f>: until its end tag
    cell = (0, 0)
    buf = b""
    final = False
    while not final:
        chunk = stream.read(_CHUNK)
        final = not chunk
        buf += chunk
        pos = 0
        while True:
            i = buf.find(b"<", pos)
            if i < 0:
                pos = len(buf)
                break
            m = _TOKEN.match(buf, i)
            if m is None:
                if not final:
                    pos = i  # an unfinished tag: wait for the next chunk
                    break
                pos = i + 1
                continue
            pos = m.end()
            name = m[2]
            if name is None:
                continue  # comment, CDATA, PI, declaration
            end, attrs = m[1] == b"/", m[3]
            empty = attrs.endswith(b"/")
            local = name.partition(b":")[2] if b":" in name else name
            if skip is not None:
                if end and name == skip:
                    skip = None
                elif not end and name == skip and not empty:
                    raise _odd_part()
                continue
            if not started:
                if local == b"sheetData" and not end:
                    started = True
                    if empty:
                        return rows, columns
                continue
            if in_cell:
                if end:
                    if local == b"c":
                        in_cell = False
                        col += 1
                        if value:
                            rows, columns = max(rows, cell[0] + 1), max(columns, cell[1] + 1)
                    continue
                value = value or local != b"f"
                if not empty:
                    skip = name
                continue
            if end:
                if local == b"row":
                    row, col = row + 1, 0
                elif local == b"sheetData":
                    return rows, columns
                continue
            if local == b"row":
                r = _r_attr(attrs)
                if r is not None:
                    if not r.isdigit() or not r.strip(b"0"):
                        raise _odd_part()
                    row = _ref_number(r) - 1
                if empty:
                    row, col = row + 1, 0
            elif local == b"c":
                r = _r_attr(attrs)
                if r is not None:
                    ref = _CELL_REF.fullmatch(r)
                    if ref is None or not ref[2].strip(b"0"):
                        raise _odd_part()
                    col = _column_index(ref[1]) - 1
                    cell = (_ref_number(ref[2]) - 1, col)
                else:
                    cell = (row, col)
                if empty:
                    col += 1
                else:
                    in_cell, value = True, False
        buf = buf[pos:]
        if len(buf) > MAX_ROW_XML:
            raise _row_too_long()
    return rows, columns


def _odd_bytes(text: bytes) -> bool:
    """Markup starting ``<!`` or ``<?``, or a tab, newline or ``'`` inside a tag.
    Each of these bytes is rare, so it is looked at where it occurs (an ID written
    ``'5325…`` in a value is common and harmless)."""
    for ch in (b"!", b"?"):
        i = text.find(ch)
        while i >= 0:
            if i and text[i - 1] == 0x3C:  # "<"
                return True
            i = text.find(ch, i + 1)
    for ch in (b"\t", b"\n", b"\r", b"'"):
        i = text.find(ch)
        while i >= 0:
            lt, gt = text.rfind(b"<", 0, i), text.rfind(b">", 0, i)
            # Inside a tag, or after a ">" inside a quoted value of one.
            if lt > gt or (lt >= 0 and text.count(b'"', lt, gt) % 2):
                return True
            i = text.find(ch, i + 1)
    return False


_OTHER_PREFIX = re.compile(rb"</?[^\s<>/!?=]*:(?:row|c)[\s/>]")
_QUOTED = rb"""(?:[^>"']|"[^"]*"|'[^']*')"""


@functools.cache
def _other_prefix(prefix: bytes) -> re.Pattern[bytes]:
    p = re.escape(prefix)
    return re.compile(rb"</?(?!" + p + rb"(?:row|c)[\s/>])(?:[^\s<>/!?=:]*:)?(?:row|c)[\s/>]")


@functools.cache
def _attr_r(tag: bytes) -> re.Pattern[bytes]:
    """A ``tag`` start tag with an ``r`` attribute anywhere, in any quoting."""
    return re.compile(b"<" + re.escape(tag) + rb"\s" + _QUOTED + rb"*?(?<=\s)r\s*=")


@functools.cache
def _value_cell(prefix: bytes) -> re.Pattern[bytes]:
    return re.compile(b"<" + re.escape(prefix) + rb'c r="([A-Za-z]+)(\d+)"(' + _QUOTED + rb"*)>")


def _beyond_pattern(prefix: bytes, rows: int, columns: int) -> re.Pattern[bytes] | None:
    """Cells (``r`` first) whose column is past ``columns`` or row past ``rows``
    (a longer number, leading zeros included, counts as past: checked exactly)."""
    if rows >= _HUGE or columns >= _HUGE:
        return None  # over any cap already
    col = _greater_letters(_column_letters(columns)) if columns else rb"[A-Za-z]"
    digits = b"%d" % rows
    row_alts = [rb"\d{%d,}" % (len(digits) + 1)]
    for i, ch in enumerate(digits):
        if ch < ord("9"):
            rest = len(digits) - i - 1
            row_alts.append(
                re.escape(digits[:i]) + b"[%c-9]" % (ch + 1) + (rb"\d{%d}" % rest if rest else b"")
            )
    return re.compile(
        b"<"
        + re.escape(prefix)
        + rb'c r="(?:(?:'
        + col
        + rb")[A-Za-z]*\d|[A-Za-z]+(?:"
        + b"|".join(row_alts)
        + rb')")',
        re.IGNORECASE,
    )


def _column_letters(n: int) -> bytes:
    out = b""
    while n:
        n, rem = divmod(n - 1, 26)
        out = bytes([65 + rem]) + out
    return out


def _greater_letters(letters: bytes) -> bytes:
    """A pattern for the start of any column after ``letters`` (same or more letters)."""
    alts = [rb"[A-Z]{%d}" % (len(letters) + 1)]
    for i, ch in enumerate(letters):
        if ch < ord("Z"):
            rest = len(letters) - i - 1
            alts.append(
                letters[:i] + b"[%c-Z]" % (ch + 1) + (rb"[A-Z]{%d}" % rest if rest else b"")
            )
    return b"|".join(alts)


def _tokens(prefix: bytes) -> tuple:
    """Byte strings and patterns of one namespace prefix (``b""`` or ``b"x:"``)."""
    p = re.escape(prefix)
    return (
        b"</" + prefix + b"row>",
        b"<" + prefix + b"row",
        b"</" + prefix + b"c>",
        b"<" + prefix + b"c",
        re.compile(b"<" + p + rb'row\b[^>]*?\sr="(\d+)"'),
        re.compile(b"<" + p + rb'c\b[^>]*?\sr="([A-Za-z]+)(\d+)"'),
    )


def scan_xlsx(path: Path | BinaryIO, limits: Limits) -> dict[str, int]:
    """:func:`check_xlsx_extent`, returning the hidden rows found per worksheet part
    (zip member name → rows with cells that Excel hides) from the same pass."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return {}
    rows = cells = strings = 0
    hidden: dict[str, int] = {}
    with zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size == 0:
                continue
            with zf.open(info) as stream:
                if info.filename.lower().endswith("sharedstrings.xml"):
                    strings += count_shared_strings(stream)
                    continue
                scan = scan_part(stream)
            if scan.hidden_rows:
                hidden[info.filename] = scan.hidden_rows
            if not scan.rows:
                continue
            check_cells(Path(info.filename).stem, scan.rows, scan.columns, limits)
            rows += scan.rows
            cells += scan.rows * scan.columns
    check_rows(rows, limits)
    check_shared_strings(strings, cells)
    return hidden


def check_xlsx_extent(path: Path | BinaryIO, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` when a sheet reaches too far (rows × columns)
    or the workbook has more rows than allowed, before the reader allocates them.
    ``path`` may be a binary file object (bytes already read, a decrypted copy).

    Lets ``zipfile.BadZipFile`` (and zlib/EOF errors) through: sizes or checksums
    that lie about the content, the file is damaged. A file that is not a zip at
    all passes, and so does a zip without SpreadsheetML ``sheetData`` (an ODS or
    xlsb): callers must refuse those before handing them to the reader.
    """
    scan_xlsx(path, limits)


SHARED_STRINGS_SLACK = 10_000
"""Distinct strings allowed beyond the sheets' cells (stale entries some writers keep)."""

_SI = re.compile(rb"<(?:[^\s<>/:!?=\"']*:)?si[\s>/]")


def count_shared_strings(stream) -> int:
    """``<si>`` entries of a sharedStrings part, streamed (the declared count may lie)."""
    n, tail = 0, b""
    while chunk := stream.read(_CHUNK):
        buf = tail + chunk
        # Count tags starting before the cut; one straddling two chunks is in the tail.
        cut = max(0, len(buf) - 16)
        n += len(_SI.findall(buf)) - len(_SI.findall(buf, cut))
        tail = buf[cut:]
    return n + len(_SI.findall(tail))


def check_shared_strings(strings: int, cells: int) -> None:
    """A workbook holds no more distinct strings than cells: more is a file built to
    exhaust memory (the reader keeps every string, ~150 MB per million)."""
    if strings > cells + SHARED_STRINGS_SLACK:
        raise LimitExceeded(
            f"{strings} shared strings for {cells} cells; not read",
            f"文件内部结构异常（共享字符串 {strings} 条，而表格只有 {cells} 个单元格），未读取；"
            "请用Excel另存为后重新报送",
        )


__all__ = [
    "Limits",
    "LimitExceeded",
    "check_cells",
    "check_file",
    "check_rows",
    "check_shared_strings",
    "check_xlsx_extent",
    "count_shared_strings",
    "part_extent",
    "PartScan",
    "scan_part",
    "scan_xlsx",
    "check_zip",
    "human_size",
]
