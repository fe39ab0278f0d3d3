"""Sheets whose cells the extent scan could place nearer than the reader does.

Each form puts one value at XFD1048576 and one at A1: the reader would lay out
~17 billion cells and abort the process (exit 134). The workbook must be refused
with ``LimitExceeded`` instead; the scan is checked alone first, so a regression
fails the test rather than killing the worker. The same forms with a
small far cell (Z2000) check that the scan never reports less than calamine.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from python_calamine import CalamineWorkbook

from department_feeds.limits import LimitExceeded, Limits, check_xlsx_extent, part_extent
from department_feeds.reading import read_xlsx
from tests.unit.test_xlsx_scan import _zip

NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
Y = b' xmlns:y="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
NEAR = b'<row r="1"><c r="A1"><v>1</v></c></row>'


def _forms(col: bytes, row: int, col_index: int) -> dict[str, bytes]:
    """Sheet XML per form, the far cell at ``col`` ``row`` (``col_index`` 1-based)."""
    far = b"%s%d" % (col, row)
    before = b"%s%d" % (b"".join(_letters(col_index - 1)), row)
    r = b"%d" % row
    return {
        "far cell before a near one in the same row": b'<row r="1"><c r="'
        + far
        + b'"><v>1</v></c><c r="A1"><v>1</v></c></row>',
        "row and cell with another prefix": NEAR
        + b'<y:row r="'
        + r
        + b'"><y:c r="'
        + far
        + b'"><y:v>1</y:v></y:c></y:row>',
        "row and cell with an empty prefix": NEAR
        + b'<:row r="'
        + r
        + b'"><:c r="'
        + far
        + b'"><:v>1</:v></:c></:row>',
        "single quotes": NEAR + b"<row r='" + r + b"'><c r='" + far + b"'><v>1</v></c></row>",
        "spaces around =": NEAR + b'<row r = "' + r + b'"><c r = "' + far + b'"><v>1</v></c></row>',
        "end tag with a space": NEAR
        + b'<row r="'
        + r
        + b'"><c r="'
        + far
        + b'"><v>1</v></c ></row>',
        "row end in a comment": NEAR
        + b'<row r="'
        + r
        + b'">'
        + b"<c/>" * (col_index // 2)
        + b'<!-- </row><row r="1"> -->'
        + b"<c/>" * (col_index - 1 - col_index // 2)
        + b"<c><v>1</v></c></row>",
        "cell without r after one with r": NEAR
        + b'<row r="'
        + r
        + b'"><c r="'
        + before
        + b'"/><c><v>1</v></c></row>',
        "r not first, single-quoted, with > in a value": NEAR
        + b'<row r="'
        + r
        + b'"><c s=">" r=\''
        + far
        + b"'><v>1</v></c></row>",
        "row without r after an unclosed row": NEAR
        + b'<row r="'
        + r
        + b'"><c r="'
        + before
        + b'"/><row><c><v>1</v></c></row>',
    }


def _letters(n: int) -> list[bytes]:
    out = []
    while n:
        n, rem = divmod(n - 1, 26)
        out.insert(0, bytes([65 + rem]))
    return out


def _book(sheet: bytes) -> bytes:
    # The minimal workbook of the scan tests, with this file's namespaces.
    return _zip(
        b"<worksheet " + NS + Y + b"><sheetData>" + sheet + b"</sheetData></worksheet>"
    ).getvalue()


BOMBS = _forms(b"XFD", 1048576, 16384)
SMALL = _forms(b"Z", 2000, 26)


@pytest.mark.parametrize("form", sorted(BOMBS))
def test_a_far_cell_in_any_form_is_refused_not_an_abort(form):
    data = _book(BOMBS[form])
    # The scan alone first: if it let the file through, read_xlsx would abort the
    # worker (unit tests may not start a process), so fail here instead.
    with pytest.raises(LimitExceeded) as scanned:
        check_xlsx_extent(io.BytesIO(data), Limits())
    assert "数据区域过大" in scanned.value.message_zh or "结构异常" in scanned.value.message_zh
    with pytest.raises(LimitExceeded):
        read_xlsx(data)


def _calamine_extent(data: bytes) -> tuple[int, int]:
    end = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).end
    return (end[0] + 1, end[1] + 1) if end else (0, 0)


@pytest.mark.parametrize("form", sorted(SMALL))
def test_the_scan_never_reports_less_than_calamine(form):
    data = _book(SMALL[form])
    with zipfile.ZipFile(io.BytesIO(data)) as z, z.open("xl/worksheets/sheet1.xml") as s:
        rows, columns = part_extent(s)
    cal_rows, cal_columns = _calamine_extent(data)
    assert (cal_rows, cal_columns) == (2000, 26)  # the form is what calamine reads
    assert rows >= cal_rows and columns >= cal_columns
