"""Cell text written to township workbooks is valid XML and within Excel's limits (issue 9)."""

from __future__ import annotations

from publishing.workbooks import EXCEL_CELL_MAX, cell_text


def test_cell_text_is_valid_xml_and_within_excel_limits():
    assert cell_text("a\x00b\x07c\x1b\ud800\udfff\ufffe\uffff") == "a\ufffdb\ufffdc" + "\ufffd" * 5
    assert cell_text("tab\tnewline\ncr\r") == "tab\tnewline\ncr\r"  # allowed in XML
    long = "很" * 40_000
    cut = cell_text(long)
    assert len(cut) <= EXCEL_CELL_MAX and cut.startswith("很" * 30_000)
    assert "已截断" in cut and "40000" in cut
