"""Hostile and careless returned workbooks (``<inbox>/feedback/``).

A township answers only for itself (signed township marker), a bad field rejects
that field and not the answer, and no file can flood the warehouse with rows.
Real warehouses, real workbooks written by ``publishing.workbooks`` and filled with
openpyxl as a township would.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date

import openpyxl
import pytest

from pipelines.cli import run_pipeline
from rectification.feedback import load_feedback
from rectification.status import pending_waivers
from tests.conftest import copy_inbox
from tests.helpers_problem_lists import (
    ANSWER,
    LOADED,
    WAIVER,
    fill_workbook,
    ids_of,
    marked_lists,
    paste_rows,
    set_marker,
)
from tests.office import soffice_convert, soffice_or_skip


@pytest.fixture
def wh(tmp_path):
    """Two townships' warehouse, their marked lists, and an empty feedback folder."""
    con, infos, folder = marked_lists(tmp_path)
    yield con, infos, folder
    con.close()


@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt", ["ods", "xls"])
def test_the_marker_survives_a_libreoffice_round_trip(wh, tmp_path, fmt):
    soffice = soffice_or_skip()
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = ids_of(src, 2)
    filled = tmp_path / "filled" / "lo.xlsx"
    fill_workbook(src, filled, {a: ANSWER, b: WAIVER})
    out = tmp_path / fmt
    soffice_convert(soffice, [filled], fmt, out, tmp_path / "profile", timeout=180)
    shutil.copy(out / f"lo.{fmt}", folder / f"另存为.{fmt}")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_read, res.accepted, res.rejected) == (1, 2, 0)
    assert con.execute("SELECT township FROM feedback_files").fetchone() == ("东风镇",)


# ------------------------------------------------------------------ through the real job


def _problems_csv(outbox, night):
    with open(outbox / night.isoformat() / "problems.csv", encoding="utf-8-sig") as fh:
        return {r["problem_id"]: r for r in csv.DictReader(fh)}


@pytest.mark.slow
def test_hostile_returns_through_the_nightly_job(small_county, tmp_path, dagster_home):
    """Night 1 sends the lists; a township returns its own list with another
    township's rows pasted in (one 已整改, one waiver request), a copy with the
    marker sheet deleted, and a bad date; night 2 applies only what is its own."""
    import duckdb

    nights = [date(2026, 11, 20), date(2026, 11, 21)]
    inbox = copy_inbox(small_county, tmp_path / "inbox")
    outbox, whp = tmp_path / "outbox", tmp_path / "warehouse.duckdb"
    ok, info = run_pipeline(inbox, outbox, whp, nights[0])
    assert ok, info
    night1 = _problems_csv(outbox, nights[0])
    by_township: dict[str, list[str]] = {}
    for pid, p in sorted(night1.items()):
        by_township.setdefault(p["township"], []).append(pid)
    mine, theirs = sorted(by_township, key=lambda t: -len(by_township[t]))[:2]
    own, bad_date = by_township[mine][:2]
    f_fixed, f_waive = by_township[theirs][:2]

    def workbook(township):
        (path,) = (outbox / nights[0].isoformat() / township).glob("问题清单_*.xlsx")
        return path

    ans = {"核实人": "李明", "核实日期": date(2026, 11, 20)}
    returned = inbox / "feedback" / f"{mine}_返回.xlsx"
    fill_workbook(
        workbook(mine),
        returned,
        {
            own: {**ans, "核实结果": "属实", "整改情况": "整改中"},
            bad_date: {**ans, "核实结果": "属实", "整改情况": "整改中", "核实日期": "2099-01-01"},
            f_fixed: {**ans, "核实结果": "属实", "整改情况": "已整改"},
            f_waive: {**ans, "核实结果": "不属实", "整改说明": "系误报"},
        },
        edit=paste_rows(workbook(theirs), {f_fixed, f_waive}),
    )
    unmarked = inbox / "feedback" / "无标记.xlsx"
    shutil.copy(returned, unmarked)
    set_marker(unmarked, None)

    ok, info = run_pipeline(inbox, outbox, whp, nights[1])
    assert ok, info
    night2 = _problems_csv(outbox, nights[1])
    assert night2[f_fixed]["status"] == "open"  # not 'reopened': the 已整改 was not applied
    with duckdb.connect(str(whp)) as con:  # pending_waivers creates its tables if missing
        answered = {
            r[0] for r in con.execute("SELECT problem_id FROM feedback_responses").fetchall()
        }
        files = dict(con.execute("SELECT source_file, status FROM feedback_files").fetchall())
        pending = {p["problem_id"] for p in pending_waivers(con)}
    assert answered == {own, bad_date}
    assert f_waive not in pending
    assert files == {f"feedback/{mine}_返回.xlsx": "loaded", "feedback/无标记.xlsx": "unverified"}
    with open(outbox / nights[1].isoformat() / "rejects.csv", encoding="utf-8-sig") as fh:
        fb = [r for r in csv.DictReader(fh) if r["feed"] == "feedback"]
    foreign = [r for r in fb if "不是本乡镇" in r["reason_zh"]]
    assert {r["raw_value"] for r in foreign} == {f_fixed, f_waive}
    assert sum("来源标记" in r["reason_zh"] for r in fb) == 4  # every filled row of the copy
    assert any(r["column_name"] == "核实日期" and r["raw_value"] == "2099-01-01" for r in fb)

    # The township's next list tells it what of its answer was not taken.
    wb = openpyxl.load_workbook(
        next((outbox / nights[1].isoformat() / mine).glob("问题清单_*.xlsx")), read_only=True
    )
    notes = {}
    for ws in wb.worksheets[1:]:
        rows = list(ws.iter_rows(values_only=True))
        if ws.sheet_state == "visible" and rows and "问题编号" in rows[0]:
            head = list(rows[0])
            for r in rows[1:]:
                notes[r[head.index("问题编号")]] = r[head.index("上次报送处理情况")]
    assert notes[bad_date] == "上次报送：核实日期“2099-01-01”晚于报送日期，未采用；其余内容已采用"
    assert not notes[own]
