"""Hand-built xlsx files for the hostile-input tests: sheet XML streamed into a valid
workbook (hundreds of MB without holding them), zip bombs, workbooks from raw parts."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from demo.xlsx import _CONTENT_TYPES, _RELS, _STYLES, _WB_RELS, _workbook
from tests.feeds_fixtures import REGISTER_HEADER, register_row

# --------------------------------------------------------------------------- helpers


def row_xml(values: list[object], r: int | None = None) -> str:
    cells = "".join(
        "<c/>" if v is None else f'<c t="inlineStr"><is><t>{escape(str(v))}</t></is></c>'
        for v in values
    )
    return (f'<row r="{r}">' if r else "<row>") + cells + "</row>"


def write_sheet_xml(path: Path, chunks, *, level: int = 9) -> Path:
    """A valid one-sheet xlsx whose sheet XML is streamed from ``chunks`` (bytes),
    so a test can write hundreds of MB of XML without holding them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", _workbook("Sheet1")),
            ("xl/_rels/workbook.xml.rels", _WB_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            for chunk in chunks:
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")
    return path


def write_bomb(path: Path, rows: int) -> Path:
    """A register workbook of ``rows`` identical rows (743 bytes of XML each):
    2.4 M rows are 1.8 GB of sheet XML in a ~9 MB file (ratio ~205:1)."""
    block = (row_xml(register_row(0)) * 1000).encode()
    chunks = [row_xml(REGISTER_HEADER).encode(), *([block] * (rows // 1000))]
    return write_sheet_xml(path, chunks)


def write_parts(path: Path, sheet: bytes, extra: dict[str, bytes] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", _workbook("Sheet1")),
            ("xl/_rels/workbook.xml.rels", _WB_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            z.writestr(name, text)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path
