"""The rectification loop through the real nightly job on a generated county:
lists go down, a township fills one in (re-sorted rows, a deleted row, an edited
locked cell, an invalid dropdown value), the office accepts a waiver, and the
next nights' statuses, lists, problems.csv and rejects.csv are exactly right."""

import csv
import shutil
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest

from pipelines.cli import main as bidui_main
from pipelines.cli import run_pipeline
from publishing.workbooks import REOPENED_PREFIX
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import fill_workbook, header_index, listed_ids

pytestmark = pytest.mark.slow

NIGHTS = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]


def problems(outbox: Path, night: date) -> dict[str, dict]:
    with open(outbox / night.isoformat() / "problems.csv", encoding="utf-8-sig") as fh:
        return {r["problem_id"]: r for r in csv.DictReader(fh)}


def workbook_of(outbox: Path, night: date, township: str) -> Path:
    (path,) = (outbox / night.isoformat() / township).glob("问题清单_*.xlsx")
    return path


def test_lists_feedback_waiver_reopen(small_county, tmp_path, dagster_home):
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    outbox, wh = tmp_path / "outbox", tmp_path / "warehouse.duckdb"

    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[0])
    assert ok, info
    night1 = problems(outbox, NIGHTS[0])
    # The township with the most findings answers its list.
    township = max(
        {p["township"] for p in night1.values()},
        key=lambda t: sum(p["township"] == t for p in night1.values()),
    )
    mine = sorted(pid for pid, p in night1.items() if p["township"] == township)
    assert len(mine) >= 4, mine
    waive, rectified, bad_value, deleted = mine[:4]
    listed = listed_ids(workbook_of(outbox, NIGHTS[0], township))
    assert set(listed) == set(mine)

    def mess_up(wb):
        sheet = wb[listed[deleted][0]]
        sheet.delete_rows(listed[deleted][1])
        for ws in wb.worksheets[1:]:
            cols = header_index(ws)
            rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
            for i, values in enumerate(reversed(rows), start=2):  # re-sorted
                for j, v in enumerate(values, start=1):
                    ws.cell(i, j).value = v
            if ws.title == listed[waive][0]:
                for r in range(2, ws.max_row + 1):  # an edited locked cell
                    if ws.cell(r, cols["问题编号"]).value == waive:
                        ws.cell(r, cols["姓名"]).value = "改过的名字"
        wb.create_sheet("乡镇自用")

    fill_workbook(
        workbook_of(outbox, NIGHTS[0], township),
        inbox / "feedback" / f"{township}_已核实_返回.xlsx",
        {
            waive: {
                "核实结果": "不属实",
                "整改说明": "经入户核实，该车辆已于2024年转让他人",
                "核实人": "李明",
                "核实日期": date(2026, 11, 20),
            },
            rectified: {
                "核实结果": "属实",
                "整改情况": "已整改",
                "整改说明": "已补办",
                "核实人": "李明",
                "核实日期": date(2026, 11, 20),
            },
            bad_value: {"核实结果": "情况属实", "核实人": "李明"},
        },
        edit=mess_up,
    )

    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[1])
    assert ok, info
    night2 = problems(outbox, NIGHTS[1])
    assert night2[rectified]["status"] == "reopened"
    assert night2[waive]["status"] == "open"  # not waived until the office accepts
    with duckdb.connect(str(wh), read_only=True) as con:
        responses = con.execute(
            "SELECT problem_id, verification, rectification FROM feedback_responses ORDER BY 1"
        ).fetchall()
        issues = con.execute("SELECT problem_id, column_name FROM feedback_issues").fetchall()
    assert (waive, "不属实", None) in responses
    assert (rectified, "属实", "已整改") in responses
    # A partial answer: 核实人 is kept, the invalid 核实结果 is not (and is listed).
    assert (bad_value, None, None) in responses
    assert (waive, "姓名") in issues
    with open(outbox / NIGHTS[1].isoformat() / "rejects.csv", encoding="utf-8-sig") as fh:
        fb_rejects = [r for r in csv.DictReader(fh) if r["feed"] == "feedback"]
    assert any(r["raw_value"] == "情况属实" and r["reason_zh"] for r in fb_rejects)
    # …and the township's next list says so in 上次报送处理情况.
    wb = openpyxl.load_workbook(workbook_of(outbox, NIGHTS[1], township), read_only=True)
    notes = {
        row[head.index("问题编号")]: row[head.index("上次报送处理情况")]
        for ws in wb.worksheets[1:]
        if ws.sheet_state == "visible"
        for head in [list(next(ws.iter_rows(max_row=1, values_only=True)))]
        if "问题编号" in head
        for row in ws.iter_rows(min_row=2, values_only=True)
    }
    assert notes[bad_value].startswith("上次报送：核实结果“情况属实”"), notes[bad_value]
    assert notes[rectified] in (None, "")

    # The office reviews and accepts the waiver (explicit approval).
    assert bidui_main(["waive", "list", "--warehouse", str(wh)]) == 0
    assert (
        bidui_main(["waive", "accept", waive, "--by", "区扶贫办王芳", "--warehouse", str(wh)]) == 0
    )

    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[2])
    assert ok, info
    night3 = problems(outbox, NIGHTS[2])
    assert night3[waive]["status"] == "waived"  # still counted, kept in history
    assert night3[rectified]["status"] == "reopened"
    listed3 = listed_ids(workbook_of(outbox, NIGHTS[2], township))
    assert waive not in listed3 and rectified in listed3
    wb = openpyxl.load_workbook(workbook_of(outbox, NIGHTS[2], township), read_only=True)
    texts = [
        str(v)
        for ws in wb.worksheets[1:]
        for row in ws.iter_rows(values_only=True)
        if rectified in row
        for v in row
        if v is not None
    ]
    assert any(REOPENED_PREFIX in t for t in texts), texts
    report = (outbox / NIGHTS[2].isoformat() / "report.html").read_text(encoding="utf-8")
    assert "已核销" in report or "waived" in report

    # The returned workbook leaves the inbox: answers stay (history), its rejects
    # leave the night's rejects.csv, statuses hold.
    shutil.rmtree(inbox / "feedback")
    ok, info = run_pipeline(inbox, outbox, wh, NIGHTS[3])
    assert ok, info
    night4 = problems(outbox, NIGHTS[3])
    assert night4[waive]["status"] == "waived"
    assert night4[rectified]["status"] == "reopened"
    with open(outbox / NIGHTS[3].isoformat() / "rejects.csv", encoding="utf-8-sig") as fh:
        assert not [r for r in csv.DictReader(fh) if r["feed"] == "feedback"]
