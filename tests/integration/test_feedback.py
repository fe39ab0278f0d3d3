"""Returned problem lists (``<inbox>/feedback/``): real workbooks, filled as townships do."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, datetime

import openpyxl
import pytest

from rectification.authority import MARKER_SHEET
from rectification.feedback import load_feedback
from tests.helpers_problem_lists import (
    ANSWER,
    LOADED,
    build_warehouse,
    fill_workbook,
    first_ids,
    header_index,
    marked_lists,
)

LATER = datetime(2024, 6, 27, 8, 0, 0)


@pytest.fixture
def wh(tmp_path):
    """Two townships' warehouse, their marked lists, and an empty feedback folder."""
    con, infos, folder = marked_lists(tmp_path)
    yield con, infos, folder
    con.close()


def responses(con):
    cur = con.execute("SELECT * FROM feedback_responses ORDER BY problem_id, loaded_at")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def rejects(con):
    return con.execute(
        "SELECT feed, source_file, sheet, row_number, column_name, raw_value, reason_zh, reason_en "
        "FROM rejects ORDER BY sheet, row_number, column_name"
    ).fetchall()


def test_renamed_file_with_answers_is_read_with_who_and_when(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b, c = first_ids(src, 3)
    dst = folder / "东风镇" / "东风镇反馈（最终版）.xlsx"  # renamed, in a township subfolder
    where = fill_workbook(
        src,
        dst,
        {
            a: ANSWER,
            b: {**ANSWER, "整改情况": "已整改", "整改说明": "已办理车辆转移登记"},
            c: {
                "核实结果": "不属实",
                "整改说明": "车辆系同名他人所有",
                "核实日期": "2024年6月16日",
            },
        },
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_read, res.accepted, res.rejected, res.edits_ignored) == (1, 3, 0, 0)
    assert res.rows_read == res.accepted + res.rejected + res.not_filled == infos["东风镇"].rows

    got = {r["problem_id"]: r for r in responses(con)}
    assert set(got) == {a, b, c}
    checksum = hashlib.sha256(dst.read_bytes()).hexdigest()
    for pid, r in got.items():
        assert r["source_file"] == "feedback/东风镇/东风镇反馈（最终版）.xlsx"
        assert (r["sheet"], r["row_number"]) == where[pid]
        assert r["checksum"] == checksum and r["loaded_at"] == LOADED
        # Township and village come from the warehouse, not from the file.
        f = con.execute(
            "SELECT township, village FROM findings WHERE problem_id = ?", [pid]
        ).fetchone()
        assert (r["township"], r["village"]) == f
    assert (got[a]["verification"], got[a]["rectification"]) == ("属实", "整改中")
    assert got[a]["verifier"] == "张三" and got[a]["verified_on"] == date(2024, 6, 15)
    assert got[b]["note"] == "已办理车辆转移登记" and got[b]["rectification"] == "已整改"
    assert got[c]["verified_on"] == date(2024, 6, 16) and got[c]["verifier"] is None
    assert rejects(con) == []
    (status,) = con.execute("SELECT status FROM feedback_files").fetchone()
    assert status == "loaded"


def test_resorted_rows_and_deleted_row_still_match_by_problem_id(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    ids = first_ids(src, 4)
    deleted = ids[0]

    def resort_and_delete(wb):
        ws = wb.worksheets[1]
        rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
        rows.reverse()  # sorted the other way round by the township
        for i, values in enumerate(rows, start=2):
            for j, v in enumerate(values, start=1):
                ws.cell(i, j).value = v
        col = header_index(ws)["问题编号"]
        row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, col).value == deleted)
        ws.delete_rows(row)

    where = fill_workbook(
        src, folder / "a.xlsx", {pid: ANSWER for pid in ids[1:]}, edit=resort_and_delete
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (3, 0)
    got = {r["problem_id"]: (r["sheet"], r["row_number"]) for r in responses(con)}
    assert got == where  # the new positions, matched by id
    assert deleted not in got
    # Re-numbered 序号 is not an edit; nothing else changed either.
    assert res.edits_ignored == 0


def test_edited_locked_cells_are_ignored_and_reported(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = first_ids(src, 2)
    truth = dict(
        zip(
            ("name", "id_number"),
            con.execute(
                "SELECT name, id_number FROM findings WHERE problem_id = ?", [a]
            ).fetchone(),
            strict=True,
        )
    )

    def tamper(wb):
        ws = wb.worksheets[1]
        cols = header_index(ws)
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, cols["问题编号"]).value == a:
                ws.cell(r, cols["姓名"]).value = "改过的名字"
                ws.cell(r, cols["证件号码"]).value = "530101199001011234"
            if ws.cell(r, cols["问题编号"]).value == b:
                ws.cell(r, cols["问题描述"]).value = "村里认为没有问题"  # row left unanswered

    fill_workbook(src, folder / "t.xlsx", {a: ANSWER}, edit=tamper)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected, res.edits_ignored) == (1, 0, 3)
    issues = con.execute(
        "SELECT problem_id, column_name, raw_value, expected_value, reason_zh FROM feedback_issues "
        "ORDER BY problem_id, column_name"
    ).fetchall()
    (desc_b,) = con.execute("SELECT description FROM findings WHERE problem_id = ?", [b]).fetchone()
    assert {(p, c, raw, exp) for p, c, raw, exp, _ in issues} == {
        (a, "姓名", "改过的名字", truth["name"]),
        (a, "证件号码", "530101199001011234", truth["id_number"]),
        (b, "问题描述", "村里认为没有问题", desc_b),
    }
    assert all("只读列" in zh and "已忽略" in zh for *_, zh in issues)
    # Reported as warnings of feed 'feedback' too; the warehouse is unchanged.
    (n,) = con.execute("SELECT count(*) FROM load_warnings WHERE feed = 'feedback'").fetchone()
    assert n == 3
    assert con.execute(
        "SELECT name, id_number FROM findings WHERE problem_id = ?", [a]
    ).fetchone() == (
        truth["name"],
        truth["id_number"],
    )
    assert [r["problem_id"] for r in responses(con)] == [a]
    assert rejects(con) == []


def test_invalid_dropdown_values_unknown_ids_and_bad_dates_are_rejected(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b, c, d, e = first_ids(src, 5)

    def change_id(wb):
        ws = wb.worksheets[1]
        col = header_index(ws)["问题编号"]
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, col).value == e:
                ws.cell(r, col).value = "XX-0000000000"

    where = fill_workbook(
        src,
        folder / "bad.xlsx",
        {
            a: {**ANSWER, "核实结果": "基本属实"},  # not in the dropdown
            b: {**ANSWER, "整改情况": "已完成"},
            c: {**ANSWER, "核实日期": "下周一"},
            d: {**ANSWER, "核实日期": datetime(2030, 1, 1)},  # after the file came in
            "XX-0000000000": ANSWER,
        },
        edit=change_id,
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    # A bad field rejects the field, not the answer; an unknown id rejects the row.
    assert (res.accepted, res.rejected, res.fields_rejected) == (4, 1, 4)
    got_answers = {
        r["problem_id"]: (r["verification"], r["rectification"], r["verified_on"])
        for r in responses(con)
    }
    assert got_answers == {
        a: (None, "整改中", date(2024, 6, 15)),
        b: ("属实", None, date(2024, 6, 15)),
        c: ("属实", "整改中", None),
        d: ("属实", "整改中", None),
    }
    got = {(r[2], r[3], r[4]): r for r in rejects(con)}
    expected = {
        (*where[a], "核实结果"): ("基本属实", "核实结果只能填写：属实、不属实、部分属实"),
        (*where[b], "整改情况"): ("已完成", "整改情况只能填写：已整改、整改中、无需整改"),
        (*where[c], "核实日期"): ("下周一", "核实日期无法识别"),
        (*where[d], "核实日期"): ("2030-01-01", "核实日期不合理"),
        (*where["XX-0000000000"], "问题编号"): ("XX-0000000000", "问题编号在系统中不存在"),
    }
    assert set(got) == set(expected)
    for key, (raw, zh) in expected.items():
        feed, source_file, *_, raw_value, reason_zh, reason_en = got[key]
        assert (feed, source_file, raw_value) == ("feedback", "feedback/bad.xlsx", raw)
        assert reason_zh.startswith(zh) and reason_en


def test_extra_sheets_title_rows_and_summary_are_skipped(wh):
    con, infos, folder = wh
    src = infos["红旗乡"].path
    (a,) = first_ids(src, 1)

    def extras(wb):
        notes = wb.create_sheet("填报说明")
        notes["A1"] = "本表由村委会填写，问题编号不要改"
        notes["A2"] = "核实结果"
        other = wb.create_sheet("统计")
        other.append(["村", "户数"])
        other.append(["红旗上村", 12])

    fill_workbook(src, folder / "x.xlsx", {a: ANSWER}, edit=extras)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected, res.edits_ignored) == (1, 0, 0)
    (sheets,) = con.execute("SELECT sheets FROM feedback_files").fetchone()
    village_sheets = [
        s for s in openpyxl.load_workbook(src, read_only=True).sheetnames[1:] if s != MARKER_SHEET
    ]
    assert sheets == "[" + ", ".join(f'"{s}"' for s in village_sheets) + "]"


def test_identical_file_twice_or_renamed_copy_adds_nothing(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = first_ids(src, 2)
    fill_workbook(src, folder / "one.xlsx", {a: ANSWER, b: {**ANSWER, "核实结果": "胡填"}})
    first = load_feedback(con, folder, loaded_at=LOADED)
    assert (first.accepted, first.rejected, first.fields_rejected) == (2, 0, 1)
    tables = (
        "feedback_responses",
        "rejects",
        "feedback_files",
        "feedback_issues",
        "feedback_field_rejects",
    )
    before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    again = load_feedback(con, folder, loaded_at=LATER)
    shutil.copy(folder / "one.xlsx", folder / "one - 副本.xlsx")
    copy = load_feedback(con, folder, loaded_at=LATER)
    assert (again.files_read, again.files_skipped) == (0, 1)
    assert (copy.files_read, copy.files_skipped) == (0, 2)
    assert {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables} == before


def test_a_later_answer_adds_history_and_becomes_the_latest(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = first_ids(src, 1)
    fill_workbook(src, folder / "june.xlsx", {a: ANSWER})
    load_feedback(con, folder, loaded_at=LOADED)
    fill_workbook(
        src,
        folder / "july.xlsx",
        {a: {**ANSWER, "整改情况": "已整改", "核实日期": datetime(2024, 6, 25)}},
    )
    res = load_feedback(con, folder, loaded_at=LATER)
    assert (res.files_read, res.files_skipped, res.accepted) == (1, 1, 1)
    history = responses(con)
    assert [(r["rectification"], r["loaded_at"]) for r in history] == [
        ("整改中", LOADED),
        ("已整改", LATER),
    ]
    latest = con.execute(
        "SELECT rectification, source_file FROM feedback_latest WHERE problem_id = ?", [a]
    ).fetchall()
    assert latest == [("已整改", "feedback/july.xlsx")]


def test_same_problem_twice_in_one_file_keeps_the_first(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = first_ids(src, 2)

    def duplicate_row(wb):
        ws = wb.worksheets[1]
        col = header_index(ws)["问题编号"]
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, col).value == b:
                ws.cell(r, col).value = a  # pasted over by mistake

    fill_workbook(src, folder / "d.xlsx", {a: ANSWER}, edit=duplicate_row)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (1, 1)
    ((reason,),) = con.execute("SELECT reason_zh FROM rejects").fetchall()
    assert "重复填报" in reason


def test_unreadable_and_unsupported_files(wh):
    con, _, folder = wh
    (folder / "坏文件.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (folder / "说明.docx").write_bytes(b"whatever")
    (folder / "~$lock.xlsx").write_bytes(b"lock")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_read, res.files_failed) == (0, 1)
    assert res.files_unsupported == ["feedback/说明.docx"]
    # The unsupported file is reported too (once), not only logged.
    got = {
        source_file: (feed, reason)
        for feed, source_file, reason in con.execute(
            "SELECT feed, source_file, reason_zh FROM rejects"
        ).fetchall()
    }
    assert set(got) == {"feedback/坏文件.xlsx", "feedback/说明.docx"}
    assert (
        got["feedback/坏文件.xlsx"][0] == "feedback"
        and "无法打开" in got["feedback/坏文件.xlsx"][1]
    )
    assert "格式不支持" in got["feedback/说明.docx"][1]
    assert dict(con.execute("SELECT source_file, status FROM feedback_files").fetchall()) == {
        "feedback/坏文件.xlsx": "failed",
        "feedback/说明.docx": "unsupported",
    }


def test_missing_folder_is_not_an_error(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=["东风镇"])
    res = load_feedback(con, tmp_path / "nothing" / "feedback")
    assert (res.files_read, res.rows_read) == (0, 0)
    con.close()
