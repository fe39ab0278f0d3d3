"""Workbook writers for the demo county.

Small feeds go through openpyxl (write-only mode). The big ones (the register,
hukou-sized department feeds at 20,000 households: millions of cells) go through
:func:`write_fast`, a minimal SpreadsheetML writer: inline strings, numbers,
dates as serial numbers with a date style, a merged title row. openpyxl needs
~14 µs a cell on the benchmark machine; this needs ~1.5 µs.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

_EPOCH = dt.date(1899, 12, 30)


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WB_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


def _workbook(sheet: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


class Xml(str):
    """Cells already rendered (:func:`cells`): written as they are."""


def cells(values: Iterable[object]) -> Xml:
    """A run of cells rendered once, to be repeated on many rows (a household's
    columns on each member's row)."""
    return Xml("".join(map(_cell, values)))


def _cell(v: object) -> str:
    """One cell; positional (no ``r`` reference: optional in SpreadsheetML)."""
    t = type(v)
    if t is Xml:
        return v  # type: ignore[return-value]
    if t is str:
        if not v:
            return "<c/>"
        if "&" in v or "<" in v or ">" in v:  # type: ignore[operator]
            v = escape(v)  # type: ignore[arg-type]
        return '<c t="inlineStr"><is><t xml:space="preserve">' + v + "</t></is></c>"  # type: ignore[operator]
    if v is None:
        return "<c/>"
    if t is int or t is float:
        return f"<c><v>{v}</v></c>"
    if t is dt.date:
        return f'<c s="1"><v>{(v - _EPOCH).days}</v></c>'  # type: ignore[operator]
    if t is bool:
        return f'<c t="b"><v>{int(v)}</v></c>'  # type: ignore[call-overload]
    return _cell(str(v))


def write_fast(
    path: Path,
    rows: Iterable[Sequence[object]],
    sheet: str = "Sheet1",
    merge_first_row: int = 0,
) -> None:
    """Write one sheet; ``None`` cells are left empty. ``merge_first_row``: merge
    A1 across that many columns (a title row)."""
    letters = [get_column_letter(j + 1) for j in range(200)]
    parts: list[str] = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    ]
    for i, row in enumerate(rows, start=1):
        parts.append(f'<row r="{i}">' + "".join(map(_cell, row)) + "</row>")
    parts.append("</sheetData>")
    if merge_first_row > 1:
        parts.append(
            f'<mergeCells count="1"><mergeCell ref="A1:{letters[merge_first_row - 1]}1"/></mergeCells>'
        )
    parts.append("</worksheet>")
    path.parent.mkdir(parents=True, exist_ok=True)
    members = (
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _RELS),
        ("xl/workbook.xml", _workbook(sheet)),
        ("xl/_rels/workbook.xml.rels", _WB_RELS),
        ("xl/styles.xml", _STYLES),
        ("xl/worksheets/sheet1.xml", "".join(parts)),
    )
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members:
            # a fixed timestamp: the same county gives byte-identical files
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text, compresslevel=1)


def write_openpyxl(
    path: Path,
    rows: Iterable[Sequence[object]],
    sheet: str = "Sheet1",
    merge_first_row: int = 0,
) -> None:
    """The same through openpyxl's write-only mode (small files)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    if merge_first_row > 1:
        ws.merged_cells.ranges.add(f"A1:{get_column_letter(merge_first_row)}1")  # type: ignore[attr-defined]
    for i, row in enumerate(rows):
        if i == 0 and merge_first_row:
            out = []
            for v in row:
                c = WriteOnlyCell(ws, value=v)
                c.font = Font(bold=True, size=14)
                out.append(c)
            ws.append(out)
        else:
            ws.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
