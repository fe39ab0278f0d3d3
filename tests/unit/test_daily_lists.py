"""Issue 13 item 1: the 填报状态 column of the next list (publishing.workbooks.todo_status).
The lists themselves: integration/test_daily_lists.py and e2e/test_daily_lists.py."""

from datetime import date, timedelta

from publishing.workbooks import todo_status

# ------------------------------------------------------------------------ 填报状态 rule


def test_todo_status_rule():
    run = date(2024, 6, 10)
    past, ahead = run - timedelta(days=1), run + timedelta(days=1)
    waiver = {"核实结果": "不属实", "整改情况": None, "整改说明": "已迁出", "核实人": "李明"}
    doing = {"核实结果": "属实", "整改情况": "整改中", "整改说明": None, "核实人": "李明"}
    assert todo_status("new", None, ahead, run) == "待填报"
    assert todo_status("open", {"核实结果": None, "核实人": "李明"}, ahead, run) == "待填报"
    assert todo_status("open", waiver, past, run) == "已报送：不属实，待区扶贫办审核"
    assert todo_status("open", {**waiver, "整改说明": "  "}, ahead, run).startswith("待补充")
    assert todo_status("open", {**doing, "整改情况": None}, ahead, run).startswith("待补充")
    assert todo_status("open", doing, ahead, run) == "已报送：整改中"
    assert todo_status("open", doing, run, run) == "已报送：整改中"  # due today: not yet late
    assert todo_status("open", doing, past, run).startswith("待更新：整改中，已过整改时限")
    assert todo_status("open", {**doing, "整改情况": "无需整改"}, past, run) == "已报送：无需整改"
    rectified = {**doing, "整改情况": "已整改"}
    assert todo_status("reopened", rectified, ahead, run).startswith("待重新核实")
    assert todo_status("reopened", None, ahead, run).startswith("待重新核实")
