"""Issue 13 items 1 and 8: the next list carries the township's answers forward and
marks the rows that still need one; the list reads well on screen and on paper.

Item 1 is judged through the real nightly job over four nights (night 1 list →
answers → night 2 list carries them → night 2 list returned with one change →
nights 3 and 4), the rest on the hand-made warehouse of the list tests.
"""

import csv
import os
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import openpyxl
import pytest

from pipelines.cli import main as bidui_main
from pipelines.cli import run_pipeline
from publishing.workbooks import (
    FILL_IN_HEADERS,
    HEADERS,
    SUMMARY_SHEET,
    TODO_HEADER,
    TODO_PREFIX,
    todo_status,
    write_township_workbooks,
)
from rectification.feedback import load_feedback
from rectification.status import pending_waivers
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import (
    DUE_DAYS,
    RUN_DATE,
    TOWNSHIPS,
    build_warehouse,
    fill_workbook,
    listed_ids,
)
from tests.office import soffice_convert, soffice_or_skip

# ------------------------------------------------------------------ reading a list back


def list_rows(path: Path) -> dict[str, dict]:
    """问题编号 -> {header: value, "_locked": {header: locked?}, "_fill": {header: rgb}}."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        if ws.sheet_state != "visible" or "问题编号" not in header:
            continue
        assert header == list(HEADERS)
        for row in ws.iter_rows(min_row=2):
            rec = {h: c.value for h, c in zip(HEADERS, row, strict=True)}
            rec["_locked"] = {h: c.protection.locked for h, c in zip(HEADERS, row, strict=True)}
            rec["_fill"] = {
                h: (c.fill.fgColor.rgb if c.fill.fill_type == "solid" else None)
                for h, c in zip(HEADERS, row, strict=True)
            }
            out[rec["问题编号"]] = rec
    return out


def summary_todo_line(path: Path) -> str:
    ws = openpyxl.load_workbook(path)[SUMMARY_SHEET]
    (line,) = [
        c.value for c in ws["A"] if isinstance(c.value, str) and c.value.startswith("待填报")
    ]
    return line


def answer_of(rec: dict) -> dict:
    values = {h: rec[h] for h in FILL_IN_HEADERS}
    if isinstance(values["核实日期"], datetime):
        values["核实日期"] = values["核实日期"].date()
    return values


def needs_answer(rec: dict) -> bool:
    return rec[TODO_HEADER].startswith(TODO_PREFIX)


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


# ------------------------------------------------------------ four nights, the real job

NIGHTS = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]


def problems(outbox: Path, night: date) -> dict[str, dict]:
    with open(outbox / night.isoformat() / "problems.csv", encoding="utf-8-sig") as fh:
        return {r["problem_id"]: r for r in csv.DictReader(fh)}


def workbook_of(outbox: Path, night: date, township: str) -> Path:
    (path,) = (outbox / night.isoformat() / township).glob("问题清单_*.xlsx")
    return path


def stored(wh: Path) -> list[tuple]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.execute(
            "SELECT problem_id, verification, rectification, note, verifier, verified_on, "
            "loaded_at FROM feedback_responses ORDER BY problem_id, loaded_at"
        ).fetchall()


def check_marks(path: Path, run_date: date) -> dict[str, dict]:
    """Every row's 填报状态 agrees with its carried answer, and 汇总 counts them."""
    rows = list_rows(path)
    for pid, r in rows.items():
        due = r["整改时限"].date() if r["整改时限"] else None
        status = "reopened" if r["问题描述"].startswith("【重新出现】") else "open"
        answer = answer_of(r) if any(r[h] is not None for h in FILL_IN_HEADERS) else None
        assert r[TODO_HEADER] == todo_status(status, answer, due, run_date), pid
    todo = sum(needs_answer(r) for r in rows.values())
    assert summary_todo_line(path).startswith(f"待填报 {todo} 条")
    return rows


@pytest.mark.slow
def test_four_nights_answers_carried_marked_and_not_duplicated(
    small_county, tmp_path, dagster_home
):
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "warehouse.duckdb"

    # Night 1: the list goes down empty; the township answers some rows.
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[0])
    assert ok, info
    night1 = problems(outbox, NIGHTS[0])
    township = max(
        {p["township"] for p in night1.values()},
        key=lambda t: sum(p["township"] == t for p in night1.values()),
    )
    mine = sorted(pid for pid, p in night1.items() if p["township"] == township)
    assert len(mine) >= 7, mine
    waive, no_reason, doing, doing2, rectified, *untouched = mine
    rows1 = list_rows(workbook_of(outbox, NIGHTS[0], township))
    assert all(r[TODO_HEADER] == "待填报" for r in rows1.values())
    d1 = NIGHTS[0]
    answers1 = {
        waive: {
            "核实结果": "不属实",
            "整改说明": "经入户核实，车辆已于2024年转让他人",
            "核实人": "李明",
            "核实日期": d1,
        },
        no_reason: {"核实结果": "不属实", "核实人": "李明", "核实日期": d1},
        doing: {
            "核实结果": "属实",
            "整改情况": "整改中",
            "整改说明": "已联系医保站",
            "核实人": "王芳",
            "核实日期": d1,
        },
        doing2: {"核实结果": "部分属实", "整改情况": "整改中", "核实人": "王芳", "核实日期": d1},
        rectified: {
            "核实结果": "属实",
            "整改情况": "已整改",
            "整改说明": "已补办",
            "核实人": "王芳",
            "核实日期": d1,
        },
    }
    fill_workbook(
        workbook_of(outbox, NIGHTS[0], township),
        inbox / "feedback" / f"{township}_第1次返回.xlsx",
        answers1,
    )

    # Night 2: the answers are carried forward, the rows needing one are marked.
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[1])
    assert ok, info
    night2 = problems(outbox, NIGHTS[1])
    assert night2[rectified]["status"] == "reopened"  # 已整改, yet still found
    assert night2[waive]["status"] == night2[doing]["status"] == "open"
    first_answers = stored(wh)
    assert len(first_answers) == 5
    list2 = workbook_of(outbox, NIGHTS[1], township)
    rows2 = check_marks(list2, NIGHTS[1])
    for pid, answer in answers1.items():
        expected = {h: answer.get(h) for h in FILL_IN_HEADERS}
        assert answer_of(rows2[pid]) == expected, pid
        assert not any(rows2[pid]["_locked"][h] for h in FILL_IN_HEADERS)
    assert rows2[waive][TODO_HEADER] == "已报送：不属实，待区扶贫办审核"
    assert rows2[no_reason][TODO_HEADER].startswith("待补充")
    assert rows2[doing][TODO_HEADER] == rows2[doing2][TODO_HEADER] == "已报送：整改中"
    assert rows2[rectified][TODO_HEADER].startswith("待重新核实")
    assert all(rows2[pid][TODO_HEADER] == "待填报" for pid in untouched if pid in rows2)
    assert summary_todo_line(list2).startswith(f"待填报 {len(rows2) - 3} 条")

    # The township returns night 2's list, changing one answer (the missing reason
    # for 不属实) and leaving every carried answer as it was.
    fill_workbook(
        list2,
        inbox / "feedback" / f"{township}_第2次返回.xlsx",
        {no_reason: {"整改说明": "户主已于2023年迁出本村"}},
    )

    # Night 3: one new response; the carried ones were not appended or re-dated.
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[2])
    assert ok, info
    night3 = problems(outbox, NIGHTS[2])
    responses3 = stored(wh)
    assert len(responses3) == 6
    assert sorted(r[0] for r in responses3) == sorted([*answers1, no_reason])
    assert [r for r in responses3 if r[0] != no_reason] == [
        r for r in first_answers if r[0] != no_reason
    ]
    with duckdb.connect(str(wh), read_only=True) as con:
        (accepted, unchanged, not_filled, read) = con.execute(
            "SELECT rows_accepted, rows_unchanged, rows_not_filled, rows_read FROM feedback_files "
            "WHERE source_file LIKE '%第2次返回%'"
        ).fetchone()
    assert (accepted, unchanged) == (1, 4)
    assert read == accepted + not_filled
    assert night3[rectified]["status"] == "reopened"
    assert (
        night3[waive]["status"] == night3[no_reason]["status"] == night3[doing]["status"] == "open"
    )
    rows3 = check_marks(workbook_of(outbox, NIGHTS[2], township), NIGHTS[2])
    assert rows3[no_reason]["整改说明"] == "户主已于2023年迁出本村"
    assert rows3[no_reason][TODO_HEADER] == "已报送：不属实，待区扶贫办审核"
    assert rows3[rectified][TODO_HEADER].startswith("待重新核实")
    # Both waiver requests wait for the office, each dated when it was first given.
    with duckdb.connect(str(wh)) as con:  # pending_waivers makes sure its tables exist
        pending = {p["problem_id"] for p in pending_waivers(con)}
    assert {waive, no_reason} <= pending

    # The office accepts one waiver; the township returns night 3's list untouched.
    assert (
        bidui_main(["waive", "accept", waive, "--by", "区扶贫办王芳", "--warehouse", str(wh)]) == 0
    )
    fill_workbook(
        workbook_of(outbox, NIGHTS[2], township),
        inbox / "feedback" / f"{township}_第3次返回.xlsx",
        {},
    )

    # Night 4: the waiver holds, nothing reset, no response added.
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[3])
    assert ok, info
    night4 = problems(outbox, NIGHTS[3])
    assert stored(wh) == responses3
    with duckdb.connect(str(wh), read_only=True) as con:
        (accepted, unchanged) = con.execute(
            "SELECT rows_accepted, rows_unchanged FROM feedback_files "
            "WHERE source_file LIKE '%第3次返回%'"
        ).fetchone()
        waivers = con.execute("SELECT problem_id FROM waivers").fetchall()
    assert (accepted, unchanged) == (0, 5)
    assert waivers == [(waive,)]
    assert night4[waive]["status"] == "waived"
    assert night4[rectified]["status"] == "reopened"
    assert night4[no_reason]["status"] == night4[doing]["status"] == "open"
    rows4 = check_marks(workbook_of(outbox, NIGHTS[3], township), NIGHTS[3])
    assert waive not in rows4
    assert answer_of(rows4[doing]) == {h: answers1[doing].get(h) for h in FILL_IN_HEADERS}
    with open(outbox / NIGHTS[3].isoformat() / "rejects.csv", encoding="utf-8-sig") as fh:
        assert not [r for r in csv.DictReader(fh) if r["feed"] == "feedback"]


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


@pytest.mark.libreoffice
def test_list_prints_landscape_on_few_pages(tmp_path):
    soffice = soffice_or_skip()
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    con.close()
    out = tmp_path / "pdf"
    soffice_convert(soffice, [info.path], "pdf", out, tmp_path / "profile", timeout=180)
    (pdf,) = out.glob("*.pdf")
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        pytest.skip("pdfinfo (poppler-utils) not installed: PDF written, pages not counted")
    text = subprocess.run([pdfinfo, "-f", "1", "-l", "1", str(pdf)], capture_output=True, text=True)
    fields = dict(line.split(":", 1) for line in text.stdout.splitlines() if ":" in line)
    pages = int(fields["Pages"])
    # 汇总 plus one page per village sheet: every row fits, one page wide each.
    assert pages <= len(info.sheets) + 1, pages
    size = fields.get("Page    1 size") or fields["Page size"]
    width, height = (float(x) for x in size.split("pts")[0].split("x"))
    assert width > height  # landscape
    assert 1180 <= width <= 1200 and 835 <= height <= 850  # A3: 1190.55 x 841.89 pt
