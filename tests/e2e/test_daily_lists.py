"""Issue 13 items 1 and 8 end to end: the next list carries the township's answers
forward and marks the rows that still need one, judged through the real nightly job
over four nights (night 1 list → answers → night 2 list carries them → night 2 list
returned with one change → nights 3 and 4); the list printed through LibreOffice."""

import csv
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main as bidui_main
from pipelines.cli import run_pipeline
from publishing.workbooks import FILL_IN_HEADERS, TODO_HEADER, todo_status, write_township_workbooks
from rectification.status import pending_waivers
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import (
    DUE_DAYS,
    RUN_DATE,
    TOWNSHIPS,
    answer_of,
    build_warehouse,
    fill_workbook,
    list_rows,
    needs_answer,
    summary_todo_line,
)
from tests.office import soffice_convert, soffice_or_skip

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
