"""Township lists: the sheet title rules (31 characters, characters Excel forbids,
clashes); the 填报状态 of the 监测预警核实清单."""

from __future__ import annotations

from datetime import date

from publishing.workbooks import sheet_title, warning_overdue, warning_todo_status

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


# ------------------------------------------------------------- 监测预警核实清单 填报状态


def test_warning_todo_texts_and_overdue():
    """Interface decisions 6 and 9: overdue is past 核实时限 with no 核实结论 or
    still 符合条件待纳入; every text needing the township starts with 待."""
    run, due, later = date(2024, 6, 10), date(2024, 6, 4), date(2024, 6, 25)

    def todo(answer, d=later, status="open"):
        return warning_todo_status(status, answer, d, run)

    assert todo(None) == "待走访核实"
    assert todo(None, due) == "待走访核实：已超过核实时限（2024-06-04）"
    assert todo({"核实结论": None, "说明": "x"}, due).startswith("待走访核实：已超过")
    assert todo({"核实结论": "符合条件待纳入"}) == (
        "待纳入：符合条件待纳入，请完成纳入程序后改为已纳入监测"
    )
    assert todo({"核实结论": "符合条件待纳入"}, due) == (
        "待纳入：符合条件待纳入，已超过核实时限（2024-06-04），请完成纳入程序后改为已纳入监测"
    )
    assert todo({"核实结论": "不符合纳入条件", "说明": " "}, due) == (
        "待补充：核实结论为不符合纳入条件，请在说明中写明理由"
    )
    assert todo({"核实结论": "不符合纳入条件", "说明": "已在外县纳入"}, due) == (
        "已报送：不符合纳入条件，待区扶贫办审核"
    )
    assert todo({"核实结论": "信息有误", "说明": None}) == (
        "待补充：核实结论为信息有误，请在说明中写明理由"
    )
    assert todo({"核实结论": "已纳入监测"}, due) == "已报送：已纳入监测，待登记数据核验"
    assert todo({"核实结论": "已是监测对象"}) == "已报送：已是监测对象，待登记数据核验"
    assert todo({"核实结论": "已纳入监测"}, status="reopened").startswith("待重新核实")
    assert todo(None, due, "reopened").endswith("已超过核实时限（2024-06-04）")
    # Overdue exactly as decision 6 says (the due day itself is not past).
    assert warning_overdue(None, due, run) and warning_overdue(
        {"核实结论": "符合条件待纳入"}, due, run
    )
    assert not warning_overdue(None, run, run) and not warning_overdue(None, None, run)
    for conclusion in ("已纳入监测", "已是监测对象", "不符合纳入条件", "信息有误"):
        assert not warning_overdue({"核实结论": conclusion}, due, run)
