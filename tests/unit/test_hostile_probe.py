"""A second hostile probe of the nightly inputs (issue 9), without a warehouse: a
million shared strings behind a tiny sheet are refused before they are read."""

from __future__ import annotations

import pytest

from department_feeds.limits import LimitExceeded, Limits, check_xlsx_extent
from tests.feeds_fixtures import REGISTER_HEADER, register_row, write_xlsx

# ------------------------------------------------------------- shared strings


def test_a_million_shared_strings_behind_a_tiny_sheet_are_refused(tmp_path):
    """Strings a sheet cannot use: 1 M entries behind 4 rows took 420 MB (4 M: 850 MB)
    and pass the size and ratio caps; a workbook cannot hold more distinct strings than
    cells, so more is refused before the reader builds them."""
    import zipfile

    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "xl/worksheets/sheet1.xml",
            "<worksheet><sheetData>"
            + "".join(f'<row r="{i}"><c r="A{i}" t="s"><v>{i}</v></c></row>' for i in range(1, 5))
            + "</sheetData></worksheet>",
        )
        with z.open("xl/sharedStrings.xml", "w") as fh:
            fh.write(b"<sst>")
            for i in range(200_000):
                fh.write(f"<si><t>{i:08x}</t></si>".encode())
            fh.write(b"</sst>")
    with pytest.raises(LimitExceeded) as err:
        check_xlsx_extent(path, Limits())
    assert "200000" in err.value.message_zh or "200,000" in err.value.message_zh

    # A normal workbook: as many strings as cells, or fewer.
    ok = tmp_path / "ok.xlsx"
    write_xlsx(ok, [REGISTER_HEADER, *[register_row(i) for i in range(50)]])
    check_xlsx_extent(ok, Limits())
