"""The one-pass sheet scan (``limits.scan_part``): the extent of the cells with a
value and the hidden rows, streamed chunk by chunk.

The oracle is the scan as it was before it was merged with the hidden-row count
(``_old_part_extent`` below, verbatim but for the chunk size): for any sheet XML
and any chunk size the new scan gives the same extent, and the same hidden-row
count as the old separate regex over the part, except where the old scan placed
cells nearer than the reader (then calamine itself is the oracle).
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from department_feeds import limits
from department_feeds.limits import LimitExceeded, Limits, part_extent, scan_part, scan_xlsx
from department_feeds.reading import count_hidden_rows, read_xlsx

FAST = settings(max_examples=150, deadline=None)

# ----------------------------------------------------------------- the oracle

_OLD_SHEET_DATA = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData\b")
_OLD_HIDDEN_ROW = re.compile(
    rb'<(?:\w+:)?row\b[^>]*?\bhidden="(?:1|true)"[^>]*?(?<!/)>\s*<(?:\w+:)?c\b'
)


def _old_tokens(prefix: bytes) -> tuple:
    p = re.escape(prefix)
    return (
        b"</" + prefix + b"row>",
        b"<" + prefix + b"row",
        b"</" + prefix + b"c>",
        b"<" + prefix + b"c",
        re.compile(b"<" + p + rb'row\b[^>]*?\sr="(\d+)"'),
        re.compile(b"<" + p + rb'c\b[^>]*?\sr="([A-Z]{1,4})(\d+)"'),
    )


def _old_column_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _old_part_extent(stream, chunk_size: int) -> tuple[int, int]:
    """``limits.part_extent`` before the one-pass scan (the chunk size a parameter)."""
    last_row = last_col = row = 0
    tail = b""
    tokens = None
    while True:
        chunk = stream.read(chunk_size)
        buf = tail + chunk
        if tokens is None:
            m = _OLD_SHEET_DATA.search(buf)
            if m is None:
                if not chunk:
                    return 0, 0
                tail = buf[-256:]
                continue
            prefix = m.group(1) + b":" if m.group(1) else b""
            tokens = _old_tokens(prefix)
            buf = buf[m.end() :]
        row_end, row_open, cell_end, cell_open, row_r, cell_r = tokens
        cut = buf.rfind(row_end) if chunk else len(buf)
        if cut < 0:
            tail = buf
            continue
        tail = buf[cut:] if chunk else b""
        for piece in buf[:cut].split(row_end):
            start = piece.rfind(row_open)
            if start < 0:
                continue
            m = row_r.match(piece, start)
            row = int(m.group(1)) if m else row + piece.count(row_open)
            end = piece.rfind(cell_end)
            if end < start:
                continue
            last_row = max(last_row, row)
            c = piece.rfind(cell_open, start, end)
            m = cell_r.match(piece, c)
            col = _old_column_index(m.group(1)) if m else piece.count(cell_open, start, end)
            last_col = max(last_col, col)
        if not chunk:
            return last_row, last_col


def _scan(xml: bytes, chunk: int) -> limits.PartScan:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(limits, "_CHUNK", chunk)
        return scan_part(io.BytesIO(xml))


# ----------------------------------------------------------------- generated sheets

_LETTERS = st.sampled_from(["A", "B", "C", "H", "Z", "AA", "AZ", "BS", "XFD"])


@st.composite
def _cell(draw, prefix: str) -> str:
    ref = f' r="{draw(_LETTERS)}1"' if draw(st.booleans()) else ""  # row 1: never later
    style = ' s="1"' if draw(st.booleans()) else ""
    kind = draw(st.sampled_from(["empty", "number", "inline", "shared", "open-empty"]))
    c = prefix + "c"
    if kind == "empty":
        return f"<{c}{ref}{style}/>"
    if kind == "open-empty":
        return f"<{c}{ref}{style}></{c}>"
    if kind == "number":
        return f"<{c}{ref}{style}><{prefix}v>{draw(st.integers(0, 99))}</{prefix}v></{c}>"
    if kind == "shared":
        return f'<{c}{ref} t="s"><{prefix}v>0</{prefix}v></{c}>'
    text = draw(st.sampled_from(["x", "云岭县", "a b", "行&amp;列"]))
    return f'<{c}{ref} t="inlineStr"><{prefix}is><{prefix}t>{text}</{prefix}t></{prefix}is></{c}>'


@st.composite
def _sheet(draw) -> bytes:
    prefix = draw(st.sampled_from(["", "x:"]))
    rows = []
    number = 0
    for _ in range(draw(st.integers(0, 12))):
        number = draw(st.sampled_from([number + 1, number + 1, number + 7, max(1, number - 3)]))
        ref = f' r="{number}"' if draw(st.booleans()) or not rows else ""
        hidden = ' hidden="1"' if draw(st.integers(0, 4)) == 0 else ""
        attrs = draw(st.sampled_from(["", ' spans="1:3"', ' ht="20" customHeight="1"']))
        cells = "".join(draw(st.lists(_cell(prefix), max_size=6)))
        r = prefix + "row"
        if not cells and draw(st.booleans()):
            rows.append(f"<{r}{ref}{hidden}{attrs}/>")
        else:
            rows.append(f"<{r}{ref}{attrs}{hidden}>{cells}</{r}>")
    sep = draw(st.sampled_from(["", "\n", "\r\n  "]))
    sd = prefix + "sheetData"
    ns = 'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    ws = prefix + "worksheet"
    after = draw(st.sampled_from(["", '<rowBreaks count="1"><brk id="5"/></rowBreaks>']))
    xml = (
        f'<?xml version="1.0"?><{ws} {ns}><{prefix}dimension ref="A1"/>'
        f"<{sd}>{sep.join(rows)}</{sd}>{after}</{ws}>"
    )
    return xml.encode()


@FAST
@given(_sheet(), st.sampled_from([1, 2, 3, 5, 8, 13, 64, 500, 1 << 20]))
def test_scan_matches_the_old_scan_at_any_chunk_size(xml, chunk):
    """Where the fast pass applies it gives the old scan's extent; where it does not
    (a cell without ``r`` after one with ``r`` carries that cell's column on) the part
    is read again tag by tag and gives calamine's own extent. Never less than calamine."""
    old = _old_part_extent(io.BytesIO(xml), chunk)
    exact_calls = []
    real_exact = limits._exact_extent
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(limits, "_exact_extent", lambda s: exact_calls.append(1) or real_exact(s))
        new = _scan(xml, chunk)
    reader = _calamine_extent(xml)
    if exact_calls:
        assert (new.rows, new.columns) == reader
    else:  # the old scan's extent, or further where it missed an earlier, farther cell
        assert new.rows >= old[0] and new.columns >= old[1]
        if old[0] >= reader[0] and old[1] >= reader[1]:
            assert (new.rows, new.columns) == old or _farther_cell_first(xml)
    assert new.rows >= reader[0] and new.columns >= reader[1]
    start = xml.find(b"sheetData")
    assert new.hidden_rows == len(_OLD_HIDDEN_ROW.findall(xml[start:]))


def _farther_cell_first(xml: bytes) -> bool:
    """A row with a cell (``r``, not self-closed) farther right than its last one."""
    for row in re.findall(rb"<(?:x:)?row\b[^>]*?(?<!/)>(.*?)</(?:x:)?row>", xml):
        cols = [
            limits._column_index(m)
            for m in re.findall(rb'<(?:x:)?c r="([A-Z]+)\d+"[^>]*?(?<!/)>', row)
        ]
        if cols and max(cols) != cols[-1]:
            return True
    return False


def _calamine_extent(xml: bytes) -> tuple[int, int]:
    """(last row, last column) of the sheet as calamine lays it out."""
    xml = xml.replace(b' t="s"', b"")  # no shared strings part: a number in its place
    sheet = CalamineWorkbook.from_filelike(_zip(xml)).get_sheet_by_index(0)
    return (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)


def test_every_chunk_edge_inside_a_tag_gives_the_same_scan():
    """Chunk edges in ``</row>``, ``<row r=``, ``</c>``, ``<x:sheetData`` ... at every
    byte: the rows are joined before they are read."""
    ns = b'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    body = (
        b'<x:row r="1" hidden="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c>'
        b'<x:c r="D1"><x:v>1</x:v></x:c></x:row><x:row r="2"><x:c/><x:c><x:v>2</x:v></x:c>'
        b'<x:c/></x:row><x:row r="5" hidden="true"><x:c><x:v>3</x:v></x:c></x:row>'
        b'<x:row r="9"><x:c r="B9" s="1"/></x:row>'
    )
    xml = b"<x:worksheet " + ns + b"><x:sheetData>" + body + b"</x:sheetData></x:worksheet>"
    whole = _scan(xml, 1 << 20)
    assert (whole.rows, whole.columns, whole.hidden_rows) == (5, 4, 2)
    for chunk in range(1, len(xml) + 1):
        assert _scan(xml, chunk) == whole, chunk
        assert _old_part_extent(io.BytesIO(xml), chunk) == (5, 4)


def test_rows_out_of_order_and_rows_without_r():
    xml = (
        b"<worksheet><sheetData>"
        b'<row r="40"><c r="C40"><v>1</v></c></row>'
        b'<row r="3"><c r="A3"><v>1</v></c></row>'
        b"<row><c/><c/><c/><c/><c><v>1</v></c></row>"  # row 4 by position, column E
        b'<row r="7"/><row><c r="B8"><v>1</v></c></row>'  # after a self-closed row 7: 8
        b"</sheetData></worksheet>"
    )
    for chunk in (7, 1 << 20):
        assert (_scan(xml, chunk).rows, _scan(xml, chunk).columns) == (
            40,
            5,
        )
        assert _old_part_extent(io.BytesIO(xml), chunk) == (40, 5)


def test_empty_formatted_cells_do_not_count():
    xml = (
        b'<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c><c r="XFD1" s="1"/></row>'
        b'<row r="1048576"><c r="A1048576" s="2"/></row></sheetData></worksheet>'
    )
    scan = _scan(xml, 1 << 20)
    assert (scan.rows, scan.columns) == (1, 1)


def test_a_part_without_sheet_data_is_not_a_sheet():
    assert _scan(b"<chartsheet><row r='5'/></chartsheet>", 4) == limits.PartScan()
    assert part_extent(io.BytesIO(b"")) == (0, 0)


# ----------------------------------------------------------------- hardening


def test_a_cell_naming_a_later_row_than_its_row_counts():
    """``<row r="1"><c r="XFD1048576">``: the reader places a cell by its own ``r``;
    the old scan took the row's number and let 17 G cells through (the process aborted)."""
    xml = (
        b'<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c>'
        b'<c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>'
    )
    scan = _scan(xml, 1 << 20)
    assert (scan.rows, scan.columns) == (1_048_576, 16_384)
    with pytest.raises(LimitExceeded):
        scan_xlsx(_zip(xml), Limits())


def test_lowercase_and_long_column_letters_are_read_as_the_reader_does():
    xml = b'<worksheet><sheetData><row r="2"><c r="z2"><v>1</v></c></row></sheetData></worksheet>'
    assert _scan(xml, 1 << 20).columns == 26
    xml = xml.replace(b"z2", b"AAAAAAAAAAAA2")
    assert _scan(xml, 1 << 20).columns >= 10**12


def test_numbers_too_long_to_convert_are_refused_not_crashed():
    digits = b"9" * 5000  # int() refuses more than 4,300 digits
    xml = b'<worksheet><sheetData><row r="' + digits + b'"><c><v>1</v></c></row>'
    xml += b"</sheetData></worksheet>"
    assert _scan(xml, 1 << 20).rows >= 10**12
    with pytest.raises(LimitExceeded):
        scan_xlsx(_zip(xml), Limits())


def test_a_non_ascii_or_long_prefix_is_still_found():
    """The reader takes any prefix; the old scan knew ASCII ones, and lost a long one cut
    by a chunk edge (the sheet then passed unscanned)."""
    for prefix in ("数据".encode(), b"p" * 400):
        ns = b"xmlns:" + prefix + b'="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        body = b"<R r='1'><C r='XFD5'><V>1</V></C></R>"
        body = body.replace(b"<R", b"<" + prefix + b":row").replace(
            b"</R", b"</" + prefix + b":row"
        )
        body = body.replace(b"<C", b"<" + prefix + b":c").replace(b"</C", b"</" + prefix + b":c")
        body = body.replace(b"<V", b"<" + prefix + b":v").replace(b"</V", b"</" + prefix + b":v")
        body = body.replace(b"'", b'"')
        sd = prefix + b":sheetData"
        xml = b"<" + prefix + b":worksheet " + ns + b"><" + sd + b">" + body + b"</" + sd + b">"
        for chunk in range(300, 600, 7):
            scan = _scan(xml, chunk)
            assert (scan.rows, scan.columns) == (5, 16_384), (prefix[:4], chunk)


def test_a_row_without_end_longer_than_the_bound_is_refused(monkeypatch):
    monkeypatch.setattr(limits, "MAX_ROW_XML", 1000)
    xml = b'<worksheet><sheetData><row r="1">' + b"<c><v>1</v></c>" * 200
    with pytest.raises(LimitExceeded):
        _scan(xml, 64)
    # After a first row the old scan never applied the bound; nor does this one.
    xml = b'<worksheet><sheetData><row r="1"></row><row r="2">' + b"<c><v>1</v></c>" * 200
    assert _scan(xml, 64).columns == 200


def test_a_long_tail_after_the_last_row_is_read_in_linear_time():
    """The old scan copied its whole tail for every chunk after the last ``</row>``."""
    xml = b'<worksheet><sheetData><row r="1"><c><v>1</v></c></row></sheetData>'
    xml += b"<hyperlinks>" + b'<hyperlink ref="A1" r:id="rId1"/>' * 200_000 + b"</hyperlinks>"
    scan = _scan(xml + b"</worksheet>", 256)
    assert (scan.rows, scan.columns) == (1, 1)


# ----------------------------------------------------------------- workbook level


def _zip(sheet: bytes, *, hidden_sheet: bool = False) -> io.BytesIO:
    b = io.BytesIO()
    state = ' state="hidden"' if hidden_sheet else ""
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
            'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
            'org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="名单&amp;1" sheetId="1" r:id="rId1"{state}/></sheets>'
            "</workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
            'org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    b.seek(0)
    return b


def test_hidden_rows_come_from_the_extent_scan_per_sheet():
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rows = b"".join(
        b'<row r="%d"%s><c r="A%d" t="inlineStr"><is><t>v</t></is></c></row>'
        % (i, b' hidden="1"' if i in (2, 4) else b"", i)
        for i in range(1, 6)
    )
    rows += b'<row r="9" hidden="1"/>'  # hidden but empty: not counted
    book = _zip(b"<worksheet " + ns + b"><sheetData>" + rows + b"</sheetData></worksheet>")
    assert scan_xlsx(book, Limits()) == {"xl/worksheets/sheet1.xml": 2}
    data = book.getvalue()
    assert count_hidden_rows(data) == {"名单&1": 2}
    (sheet,) = read_xlsx(data)
    assert (sheet.name, sheet.hidden_rows, sheet.height) == ("名单&1", 2, 5)
