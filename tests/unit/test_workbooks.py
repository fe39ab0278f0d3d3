"""Township problem lists: the sheet title rules (31 characters, characters Excel forbids, clashes)."""

from __future__ import annotations

from publishing.workbooks import sheet_title

# ------------------------------------------------------------------------------- naming


def test_sheet_title_rules():
    used = {"汇总"}
    assert sheet_title("新华村", used) == "新华村"
    assert sheet_title("新华村", used) == "新华村(2)"
    assert sheet_title("汇总", used) == "汇总(2)"
    assert sheet_title("a[b]:c*d?e/f\\g", used) == "a_b__c_d_e_f_g"
    long = "很" * 40
    first, second = sheet_title(long, used), sheet_title(long, used)
    assert len(first) == len(second) == 31 and first != second
    assert sheet_title(None, used) == "未填行政村"
    assert sheet_title("History", used) == "History_"
    assert sheet_title("'引号村'", used) == "引号村"
