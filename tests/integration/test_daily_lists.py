"""Issue 13 items 1 and 8: the next list carries the township's answers forward and
marks the rows that still need one; the list reads well on screen and on paper.

Here on the hand-made warehouse of the list tests; the four nights through the real
nightly job, and the list in LibreOffice, are in e2e/test_daily_lists.py."""

import os
from datetime import datetime, timedelta

import openpyxl

from publishing.workbooks import (
    FILL_IN_HEADERS,
    HEADERS,
    SUMMARY_SHEET,
    TODO_HEADER,
    write_township_workbooks,
)
from rectification.feedback import load_feedback
from tests.helpers_problem_lists import (
    DUE_DAYS,
    RUN_DATE,
    TOWNSHIPS,
    answer_of,
    build_warehouse,
    fill_workbook,
    list_rows,
    listed_ids,
    needs_answer,
    summary_todo_line,
)

# ------------------------------------------------------- carried on the hand-made warehouse


def test_next_list_carries_the_latest_answer_unlocked_and_marks_what_is_left(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    first = {
        i.township: i for i in write_township_workbooks(con, RUN_DATE, tmp_path / "1", DUE_DAYS)
    }
    rows = list_rows(first[TOWNSHIPS[0]].path)
    assert all(r[h] is None for r in rows.values() for h in FILL_IN_HEADERS)
    assert all(needs_answer(r) for r in rows.values())  # nothing answered yet
    ids = sorted(pid for pid, r in rows.items() if not r["问题描述"].startswith("【重新出现】"))
    a, b, c = ids[:3]
    draft = {"核实结果": "属实", "整改情况": "整改中", "核实人": "草稿", "核实日期": RUN_DATE}
    final = {
        "核实结果": "属实",
        "整改情况": "整改中",
        "整改说明": "-已联系车管所",  # formula-like text is carried as text
        "核实人": "李明",
        "核实日期": RUN_DATE,
    }
    waiver = {
        "核实结果": "不属实",
        "整改说明": "车辆已转让",
        "核实人": "李明",
        "核实日期": RUN_DATE,
    }
    inbox = tmp_path / "inbox"
    fill_workbook(first[TOWNSHIPS[0]].path, inbox / "草稿.xlsx", {a: draft})
    fill_workbook(first[TOWNSHIPS[0]].path, inbox / "定稿.xlsx", {a: final, b: waiver})
    # The later-modified file is the later answer (LATEST_ORDER), whatever the name.
    old = datetime(2024, 6, 11, 8).timestamp()
    os.utime(inbox / "草稿.xlsx", (old, old))
    res = load_feedback(con, inbox, loaded_at=datetime(2024, 6, 12, 8))
    assert (res.accepted, res.rejected, res.unchanged) == (3, 0, 0)

    second = {
        i.township: i for i in write_township_workbooks(con, RUN_DATE, tmp_path / "2", DUE_DAYS)
    }
    info = second[TOWNSHIPS[0]]
    rows = list_rows(info.path)
    assert answer_of(rows[a]) == {**final}
    assert answer_of(rows[b]) == {**waiver, "整改情况": None}
    assert all(rows[c][h] is None for h in FILL_IN_HEADERS)
    for pid in (a, b, c):  # locked exactly as before: only the five fill-in cells open
        assert {h for h, locked in rows[pid]["_locked"].items() if not locked} == set(
            FILL_IN_HEADERS
        )
    assert rows[a][TODO_HEADER] == "已报送：整改中"
    assert rows[b][TODO_HEADER] == "已报送：不属实，待区扶贫办审核"
    assert rows[c][TODO_HEADER] == "待填报"
    for pid, rec in rows.items():
        marked = {h for h, rgb in rec["_fill"].items() if rgb and rgb.endswith("FFC7CE")}
        if needs_answer(rec):
            assert marked == {"序号", *FILL_IN_HEADERS, TODO_HEADER}, pid
        else:
            assert not marked, pid
    todo = sum(needs_answer(r) for r in rows.values())
    assert todo == info.todo == len(rows) - 2 and info.carried == 2
    assert summary_todo_line(info.path).startswith(f"待填报 {todo} 条")

    # Months later, past every 整改时限: 整改中 needs an update, 不属实 still waits.
    late = RUN_DATE + timedelta(days=90)
    (info_late,) = (
        i
        for i in write_township_workbooks(con, late, tmp_path / "late", DUE_DAYS)
        if i.township == TOWNSHIPS[0]
    )
    rows_late = list_rows(info_late.path)
    assert rows_late[a]["整改时限"].date() < late
    assert rows_late[a][TODO_HEADER].startswith("待更新：整改中，已过整改时限")
    assert rows_late[a]["_fill"]["序号"].endswith("FFC7CE")
    assert answer_of(rows_late[a]) == final  # still carried, to be updated
    assert rows_late[b][TODO_HEADER] == "已报送：不属实，待区扶贫办审核"
    assert info_late.todo == len(rows_late) - 1

    # Returned untouched, the carried answers (a formula-like note among them) read
    # back exactly: nothing new.
    fill_workbook(info.path, tmp_path / "inbox2" / "原样.xlsx", {})
    res = load_feedback(con, tmp_path / "inbox2", loaded_at=datetime(2024, 6, 13, 8))
    assert (res.accepted, res.rejected, res.unchanged) == (0, 0, 2)

    # The other township's list carries nothing of this one's answers.
    other = list_rows(second[TOWNSHIPS[1]].path)
    assert all(r[h] is None for r in other.values() for h in FILL_IN_HEADERS)
    # An answer given by another township (the problem has moved since) is not carried.
    con.execute("UPDATE feedback_responses SET township = '别的乡' WHERE problem_id = ?", [b])
    third = write_township_workbooks(con, RUN_DATE, tmp_path / "3", DUE_DAYS)
    rows = list_rows(next(i for i in third if i.township == TOWNSHIPS[0]).path)
    assert all(rows[b][h] is None for h in FILL_IN_HEADERS) and rows[b][TODO_HEADER] == "待填报"
    con.close()


def test_a_carried_answer_returned_unchanged_is_not_a_new_response(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "1", DUE_DAYS)
    a, b, c = sorted(listed_ids(info.path))[:3]
    answers = {
        a: {
            "核实结果": "属实",
            "整改情况": "整改中",
            "整改说明": " 联系中 ",
            "核实人": "李明",
            "核实日期": RUN_DATE,
        },
        b: {"核实结果": "不属实", "整改说明": "车辆已转让", "核实人": "李明", "核实日期": RUN_DATE},
        # 核实结果 not a dropdown value: the field is dropped, 核实人 kept (partial answer).
        c: {"核实结果": "情况属实", "核实人": "王芳"},
    }
    fill_workbook(info.path, tmp_path / "in1" / "r.xlsx", answers)
    first_load = datetime(2024, 6, 11, 8)
    res = load_feedback(con, tmp_path / "in1", loaded_at=first_load)
    assert (res.accepted, res.fields_rejected) == (3, 1)
    before = con.execute("SELECT * FROM feedback_responses ORDER BY problem_id").fetchall()

    # Night 2's list, returned untouched (re-saved, as Excel does): nothing new.
    (info2,) = write_township_workbooks(con, RUN_DATE, tmp_path / "2", DUE_DAYS)
    fill_workbook(info2.path, tmp_path / "in2" / "r.xlsx", {})
    res = load_feedback(con, tmp_path / "in2", loaded_at=datetime(2024, 6, 12, 8))
    assert (res.accepted, res.rejected, res.unchanged) == (0, 0, 3)
    assert res.not_filled == res.rows_read  # unchanged rows count as not filled
    after = con.execute("SELECT * FROM feedback_responses ORDER BY problem_id").fetchall()
    assert after == before  # not appended again, not re-dated
    (unchanged,) = con.execute(
        "SELECT rows_unchanged FROM feedback_files WHERE source_file = 'in2/r.xlsx'"
    ).fetchone()
    assert unchanged == 3
    # The note on the partial answer still stands (it is still the latest attempt).
    notes = dict(con.execute("SELECT problem_id, note_zh FROM feedback_field_status").fetchall())
    assert "情况属实" in notes[c]

    # Night 3's list, one answer changed (整改情况 → 已整改), the rest left: one new row.
    (info3,) = write_township_workbooks(con, RUN_DATE, tmp_path / "3", DUE_DAYS)
    fill_workbook(info3.path, tmp_path / "in3" / "r.xlsx", {a: {"整改情况": "已整改"}})
    res = load_feedback(con, tmp_path / "in3", loaded_at=datetime(2024, 6, 13, 8))
    assert (res.accepted, res.unchanged) == (1, 2)
    got = con.execute(
        "SELECT problem_id, rectification, note, verified_on, loaded_at FROM feedback_latest "
        "ORDER BY problem_id"
    ).fetchall()
    assert got[0] == (a, "已整改", "联系中", RUN_DATE, datetime(2024, 6, 13, 8))
    assert [g[4] for g in got[1:]] == [first_load, first_load]
    assert con.execute("SELECT count(*) FROM feedback_responses").fetchone()[0] == 4
    con.close()


# ------------------------------------------------------------------ item 8: screen, paper


def test_village_sheets_freeze_names_and_fit_the_page_width(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    wb = openpyxl.load_workbook(info.path)
    for ws in wb.worksheets[1:-1]:
        header = [c.value for c in ws[1]]
        assert header == list(HEADERS)  # order unchanged (outputs.md §1)
        # Frozen right of 姓名 and below the header.
        assert header.index("姓名") == 5 and ws.freeze_panes == "G2"
        ps = ws.page_setup
        assert (ps.orientation, ps.paperSize, ps.fitToWidth, ps.fitToHeight) == (
            "landscape",
            8,
            1,
            0,
        )
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert ws.print_title_rows == "$1:$1"
        for h in ("问题描述", "比对依据", "整改要求", "整改说明", TODO_HEADER):
            letter = openpyxl.utils.get_column_letter(HEADERS.index(h) + 1)
            assert 16 <= ws.column_dimensions[letter].width <= 40, h
            assert all(c.alignment.wrap_text for (c,) in ws[f"{letter}2:{letter}{ws.max_row}"])
        frozen = sum(
            ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i in range(1, 7)
        )
        assert frozen <= 100  # 序号 … 姓名 leave room for the fill-in columns on screen
    summary = wb[SUMMARY_SHEET]
    assert summary.page_setup.fitToWidth == 1 and summary.sheet_properties.pageSetUpPr.fitToPage
    con.close()
