"""Hostile and careless returned workbooks (``<inbox>/feedback/``).

A township answers only for itself (signed township marker), a bad field rejects
that field and not the answer, and no file can flood the warehouse with rows.
Real warehouses, real workbooks written by ``publishing.workbooks`` and filled with
openpyxl as a township would.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msoffcrypto.format.ooxml
import openpyxl
import pytest

from publishing.workbooks import FILL_IN_HEADERS
from rectification import feedback
from rectification.authority import MARKER_SHEET, make_marker, read_marker, signing_key
from rectification.feedback import load_feedback
from rectification.status import pending_waivers
from tests.helpers_problem_lists import (
    ANSWER,
    COUNTY,
    LOADED,
    PREV_RUN,
    RUN_DATE,
    WAIVER,
    fill_workbook,
    header_index,
    ids_of,
    listed_ids,
    marked_lists,
    paste_rows,
    set_marker,
)

LATER = datetime(2024, 6, 27, 8, 0, 0)


@pytest.fixture
def wh(tmp_path):
    """Two townships' warehouse, their marked lists, and an empty feedback folder."""
    con, infos, folder = marked_lists(tmp_path)
    yield con, infos, folder
    con.close()


def counts(res):
    return (res.accepted, res.rejected, res.not_filled, res.fields_rejected)


def invariant(con):
    """rows_read = accepted + rejected + not_filled for every file read."""
    bad = con.execute(
        "SELECT source_file FROM feedback_files "
        "WHERE rows_read <> rows_accepted + rows_rejected + rows_not_filled"
    ).fetchall()
    assert bad == []


def fb_rejects(con):
    return con.execute(
        "SELECT source_file, sheet, row_number, column_name, raw_value, reason_zh, reason_en "
        "FROM rejects WHERE feed = 'feedback' ORDER BY source_file, sheet, row_number, column_name"
    ).fetchall()


def latest(con, pid):
    return con.execute(
        "SELECT verification, rectification, note, source_file FROM feedback_latest "
        "WHERE problem_id = ?",
        [pid],
    ).fetchone()


# ------------------------------------------------------------------ 1. township authority


def test_foreign_rows_are_rejected_and_never_override_the_real_answer(wh):
    con, infos, folder = wh
    dongfeng, hongqi = infos["东风镇"].path, infos["红旗乡"].path
    own = ids_of(hongqi, 1)[0]
    victim, other = ids_of(dongfeng, 2)
    person = con.execute(
        "SELECT coalesce(name, head_name) FROM findings WHERE problem_id = ?", [victim]
    ).fetchone()[0]

    # 东风镇 answers its own problem first.
    fill_workbook(dongfeng, folder / "东风镇.xlsx", {victim: ANSWER})
    assert counts(load_feedback(con, folder, loaded_at=LOADED))[:2] == (1, 0)

    # A week later 红旗乡 pastes two 东风镇 rows into its own list and "answers" them,
    # asking for a waiver of one.
    fill_workbook(
        hongqi,
        folder / "红旗乡.xlsx",
        {own: ANSWER, victim: WAIVER, other: {**ANSWER, "整改情况": "已整改"}},
        edit=paste_rows(dongfeng, {victim, other}),
    )
    res = load_feedback(con, folder, loaded_at=LATER)
    assert (res.accepted, res.rejected, res.fields_rejected) == (1, 2, 0)
    invariant(con)

    # Never applied: the real township's answer is still the latest, no waiver candidate.
    assert latest(con, victim) == ("属实", "整改中", None, "feedback/东风镇.xlsx")
    assert latest(con, other) is None
    assert victim not in {p["problem_id"] for p in pending_waivers(con)}
    assert con.execute(
        "SELECT count(*) FROM feedback_responses WHERE source_file = 'feedback/红旗乡.xlsx'"
    ).fetchone() == (1,)

    rej = [r for r in fb_rejects(con) if r[0] == "feedback/红旗乡.xlsx"]
    assert {(r[3], r[4]) for r in rej} == {("问题编号", victim), ("问题编号", other)}
    for *_, zh, en in rej:
        assert "不是本乡镇" in zh and ("“" + victim + "”" in zh or "“" + other + "”" in zh)
        # The other township's people and place are not named to this township.
        assert person not in zh and "东风镇" not in zh and en
    # No comparison of the foreign rows' locked cells (they would expose 东风镇's data).
    assert con.execute(
        "SELECT count(*) FROM feedback_issues WHERE problem_id IN (?, ?)", [victim, other]
    ).fetchone() == (0,)


def test_a_foreign_row_read_the_same_night_does_not_win_either(wh):
    con, infos, folder = wh
    dongfeng, hongqi = infos["东风镇"].path, infos["红旗乡"].path
    (victim,) = ids_of(dongfeng, 1)
    fill_workbook(dongfeng, folder / "a_东风镇.xlsx", {victim: ANSWER})
    # Later name, later 核实日期, later modification time: every tie-break favours it.
    fill_workbook(
        hongqi,
        folder / "z_红旗乡.xlsx",
        {victim: {**WAIVER, "核实日期": datetime(2024, 6, 19)}},
        edit=paste_rows(dongfeng, {victim}),
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (1, 1)
    assert latest(con, victim)[0] == "属实"


def test_county_in_the_marker_must_match_too(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    dst = folder / "x.xlsx"
    fill_workbook(src, dst, {a: ANSWER})
    set_marker(dst, make_marker(signing_key(con), "别的县", "东风镇", RUN_DATE))
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (0, 1)
    assert "不是本乡镇" in fb_rejects(con)[0][5]


def _scratch_workbook(src, dst):
    """A workbook typed from scratch with the list's headers and ids, no marker."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "自制"
    ws.append(["问题编号", *FILL_IN_HEADERS])
    for pid in ids_of(src, 2):
        ws.append([pid, "不属实", None, "无此事", "王五", "2024-06-15"])
    ws.append(["", None, None, None, None, None])
    wb.save(dst)


@pytest.mark.parametrize(
    "how",
    ["missing", "edited", "other_warehouse", "garbage", "visible_copy_of_edited", "scratch"],
)
def test_a_file_without_a_valid_marker_is_not_applied(wh, how):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b, c = ids_of(src, 3)
    dst = folder / f"{how}.xlsx"
    key = signing_key(con)
    if how == "scratch":
        _scratch_workbook(src, dst)
        filled = 2
    else:
        fill_workbook(src, dst, {a: WAIVER, b: ANSWER, c: {"核实人": "王五"}})
        filled = 3
        genuine = make_marker(key, COUNTY, "东风镇", RUN_DATE)
        assert read_marker(key, genuine) is not None
        other = make_marker(key, COUNTY, "红旗乡", RUN_DATE)
        # Payload of 红旗乡 with 东风镇's signature: a hand-edited marker.
        edited = other.rsplit(".", 1)[0] + "." + genuine.rsplit(".", 1)[1]
        text = {
            "missing": None,
            "edited": edited,
            "other_warehouse": make_marker(b"k" * 32, COUNTY, "东风镇", RUN_DATE),
            "garbage": "东风镇",
            "visible_copy_of_edited": edited,
        }[how]
        set_marker(dst, text)
        if how == "visible_copy_of_edited":
            wb = openpyxl.load_workbook(dst)
            wb[MARKER_SHEET].sheet_state = "visible"
            wb.save(dst)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected, res.fields_rejected) == (0, filled, 0)
    assert res.rows_read == res.accepted + res.rejected + res.not_filled
    invariant(con)
    assert con.execute("SELECT count(*) FROM feedback_responses").fetchone() == (0,)
    assert pending_waivers(con) == []
    rej = fb_rejects(con)
    assert len(rej) == filled
    assert all("来源标记" in r[5] and "未采用" in r[5] and r[6] for r in rej)
    assert all(r[2] is not None for r in rej)  # one line per answer row, with its row number
    status, township = con.execute("SELECT status, township FROM feedback_files").fetchone()
    assert (status, township) == ("unverified", None)


def test_marker_of_an_older_run_and_a_problem_gone_to_history_are_still_its_own(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = ids_of(src, 2)
    resolved = con.execute(
        "SELECT problem_id FROM finding_history WHERE township = '东风镇' AND status = 'resolved' "
        "ORDER BY 1 LIMIT 1"
    ).fetchone()[0]

    def retype(wb):  # the township answers a problem solved since (typed in by id)
        ws = wb.worksheets[1]
        cols = header_index(ws)
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, cols["问题编号"]).value == b:
                ws.cell(r, cols["问题编号"]).value = resolved

    dst = folder / "old.xlsx"
    fill_workbook(src, dst, {a: ANSWER, resolved: {**ANSWER, "整改情况": "已整改"}}, edit=retype)
    set_marker(dst, make_marker(signing_key(con), COUNTY, "东风镇", PREV_RUN))
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (2, 0)
    assert latest(con, resolved)[1] == "已整改"
    (run_date,) = con.execute("SELECT marker_run_date FROM feedback_files").fetchone()
    assert run_date == PREV_RUN


# ------------------------------------------------------------------ 2. partial answers kept


def test_a_bad_date_rejects_the_date_not_the_answer(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b, c = ids_of(src, 3)
    where = fill_workbook(
        src,
        folder / "f.xlsx",
        {
            a: {**WAIVER, "整改情况": "无需整改", "核实日期": "2099-01-01"},  # Excel allows it
            b: {**ANSWER, "核实结果": "基本属实", "核实日期": "下周一"},
            c: ANSWER,
        },
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected, res.fields_rejected) == (3, 0, 3)
    invariant(con)
    (files_fields,) = con.execute("SELECT fields_rejected FROM feedback_files").fetchone()
    assert files_fields == 3

    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT problem_id, verification, rectification, note, verifier, verified_on "
            "FROM feedback_responses"
        ).fetchall()
    }
    assert got[a] == ("不属实", "无需整改", "车辆系同名他人所有", "李四", None)
    assert got[b] == (None, "整改中", None, "张三", None)
    assert got[c][4] == date(2024, 6, 15)
    # The waiver request stands: 不属实 with an explanation.
    assert a in {p["problem_id"] for p in pending_waivers(con)}

    rej = {(r[1], r[2], r[3]): r for r in fb_rejects(con)}
    assert set(rej) == {
        (*where[a], "核实日期"),
        (*where[b], "核实结果"),
        (*where[b], "核实日期"),
    }
    raw, zh, en = rej[(*where[a], "核实日期")][4:]
    assert raw == "2099-01-01" and "晚于报送日期" in zh and "其余内容已采用" in zh and en

    notes = dict(con.execute("SELECT problem_id, note_zh FROM feedback_field_status").fetchall())
    assert notes[a] == "上次报送：核实日期“2099-01-01”晚于报送日期，未采用；其余内容已采用"
    assert notes[b].startswith("上次报送：核实结果“基本属实”") and "核实日期“下周一”" in notes[b]
    assert c not in notes

    # A corrected answer the next week: the note goes away.
    fill_workbook(src, folder / "g.xlsx", {a: {**WAIVER, "核实日期": "2024-06-22"}})
    load_feedback(con, folder, loaded_at=LATER)
    notes = dict(con.execute("SELECT problem_id, note_zh FROM feedback_field_status").fetchall())
    assert a not in notes and b in notes


def test_nothing_left_after_bad_fields_is_not_an_answer_and_keeps_the_previous_one(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    fill_workbook(src, folder / "1.xlsx", {a: ANSWER})
    load_feedback(con, folder, loaded_at=LOADED)
    fill_workbook(src, folder / "2.xlsx", {a: {"核实结果": "对的", "核实日期": "昨天"}})
    res = load_feedback(con, folder, loaded_at=LATER)
    assert (res.accepted, res.rejected, res.fields_rejected) == (0, 1, 2)
    invariant(con)
    assert latest(con, a)[:2] == ("属实", "整改中")  # not overwritten by an empty answer
    (note,) = con.execute(
        "SELECT note_zh FROM feedback_field_status WHERE problem_id = ?", [a]
    ).fetchone()
    assert "核实结果“对的”" in note and "核实日期“昨天”" in note and "未采用" in note


def test_today_is_the_office_day_not_the_machine_clock(wh, monkeypatch):
    """A date typed today in the office (UTC+14 here) is not 'in the future'."""
    con, infos, folder = wh
    monkeypatch.setenv("BIDUI_TIMEZONE", "Etc/GMT-14")
    today = datetime.now(ZoneInfo("Etc/GMT-14")).date()
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    fill_workbook(src, folder / "t.xlsx", {a: {**ANSWER, "核实日期": today.isoformat()}})
    res = load_feedback(con, folder)
    assert (res.accepted, res.fields_rejected) == (1, 0)
    (loaded_at,) = con.execute("SELECT loaded_at FROM feedback_files").fetchone()
    assert loaded_at.date() == today


# ------------------------------------------------------------------ 3. limits


def _many_rows(con, src, dst, n, *, pid, answer=ANSWER):
    """A marked workbook with ``n`` copies of one filled row (openpyxl, streaming)."""
    wb = openpyxl.load_workbook(src, read_only=True)
    sheet_name, row_number = listed_ids(src)[pid]
    ws = wb[sheet_name]
    rows = list(ws.iter_rows(values_only=True))
    head = list(rows[0])
    row = list(rows[row_number - 1])
    for h, v in answer.items():
        row[head.index(h)] = v
    row[head.index("姓名")] = "改过的名字"  # and a locked cell edited on every copy
    out = openpyxl.Workbook(write_only=True)
    sheet = out.create_sheet(ws.title)
    sheet.append(head)
    for _ in range(n):
        sheet.append(row)
    marker = out.create_sheet(MARKER_SHEET)
    marker.append([make_marker(signing_key(con), COUNTY, "东风镇", RUN_DATE)])
    marker.sheet_state = "veryHidden"
    out.save(dst)


def test_a_file_over_the_row_cap_is_rejected_whole_with_one_line(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    _many_rows(con, src, folder / "flood.xlsx", feedback.MAX_ROWS + 1, pid=a)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.accepted == 0 and res.files_read == 0
    assert con.execute("SELECT count(*) FROM feedback_responses").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM feedback_issues").fetchone() == (0,)
    ((zh, en),) = con.execute("SELECT reason_zh, reason_en FROM rejects").fetchall()
    assert "行数过多" in zh and f"{feedback.MAX_ROWS:,}" in zh and en
    assert "原文件" in zh and "拆分" not in zh  # not "split it": use the list we sent
    assert con.execute("SELECT status FROM feedback_files").fetchone() == ("too_many_rows",)


def test_repeated_rows_and_issues_do_not_multiply_permanent_rows(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    n = 3000
    _many_rows(con, src, folder / "dups.xlsx", n, pid=a)
    assert (folder / "dups.xlsx").stat().st_size < 300_000
    res = load_feedback(con, folder, loaded_at=LOADED)
    # Counts stay exact…
    assert (res.rows_read, res.accepted, res.rejected, res.edits_ignored) == (n, 1, n - 1, n)
    invariant(con)
    # …details do not: the first DETAIL_CAP, then one summary line per reason.
    cap = feedback.DETAIL_CAP
    (n_rej,) = con.execute("SELECT count(*) FROM rejects").fetchone()
    (n_iss,) = con.execute("SELECT count(*) FROM feedback_issues").fetchone()
    (n_warn,) = con.execute("SELECT count(*) FROM load_warnings").fetchone()
    assert n_rej == cap + 1 and n_iss == cap + 1 and n_warn == cap + 1
    (summary,) = con.execute("SELECT reason_zh FROM rejects WHERE row_number IS NULL").fetchone()
    assert f"另有{n - 1 - cap}行" in summary and "重复填报" in summary
    (isummary,) = con.execute(
        "SELECT reason_zh FROM feedback_issues WHERE row_number IS NULL"
    ).fetchone()
    assert f"另有{n - cap}处同类修改未逐条列出" in isummary


def test_oversized_and_zip_bomb_files_are_not_parsed(wh):
    con, _, folder = wh
    big = folder / "大文件.xlsx"
    with big.open("wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(21 * 1024 * 1024)  # 21 MB (sparse): over the 20 MB cap
    bomb = zipfile.ZipFile(folder / "炸弹.xlsx", "w", zipfile.ZIP_DEFLATED)
    with bomb, bomb.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
        for _ in range(210):  # 210 MB of sheet XML, ~200 kB on disk
            part.write(b"\0" * (1 << 20))
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.files_failed == 2 and res.rows_read == 0
    got = dict(con.execute("SELECT source_file, reason_zh FROM rejects").fetchall())
    assert "文件过大" in got["feedback/大文件.xlsx"]
    assert "解压后" in got["feedback/炸弹.xlsx"]
    assert {s for (s,) in con.execute("SELECT status FROM feedback_files").fetchall()} == {
        "too_large"
    }


# ------------------------------------------------------------------ 4. the next faults


def test_a_password_protected_file_is_rejected_with_a_clear_reason(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    plain = folder.parent / "plain.xlsx"
    fill_workbook(src, plain, {a: ANSWER})
    enc = io.BytesIO()
    with plain.open("rb") as fh:
        msoffcrypto.format.ooxml.OOXMLFile(fh).encrypt("村里的密码", enc)
    (folder / "加密.xlsx").write_bytes(enc.getvalue())
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.files_failed == 1 and res.accepted == 0
    ((zh, en),) = con.execute("SELECT reason_zh, reason_en FROM rejects").fetchall()
    assert "设置了打开密码" in zh and "取消密码" in zh and "password" in en
    assert con.execute("SELECT status FROM feedback_files").fetchone() == ("encrypted",)


def test_problem_ids_with_spaces_or_full_width_characters_match(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b, c = ids_of(src, 3)
    full = a.translate({i: i + 0xFEE0 for i in range(0x21, 0x7F)})  # ＷＴ１Ａ… as typed by IME

    dst = folder / "m.xlsx"
    fill_workbook(src, dst, {a: ANSWER, b: ANSWER, c: ANSWER})
    wb = openpyxl.load_workbook(dst)
    ws = wb.worksheets[1]
    col = header_index(ws)["问题编号"]
    for r in range(2, ws.max_row + 1):
        v = ws.cell(r, col).value
        ws.cell(r, col).value = {a: full, b: f"  {b}\u3000", c: c.lower()}.get(v, v)
    wb.save(dst)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (3, 0)
    got = {r[0] for r in con.execute("SELECT problem_id FROM feedback_responses").fetchall()}
    assert got == {a, b, c}


def test_two_files_of_one_township_in_one_night_later_modified_wins(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    # Names sort the other way round from modification times.
    old, new = folder / "z_初稿.xlsx", folder / "a_定稿.xlsx"
    fill_workbook(src, old, {a: {**ANSWER, "核实日期": datetime(2024, 6, 18)}})
    fill_workbook(src, new, {a: {**ANSWER, "整改情况": "已整改", "核实日期": datetime(2024, 6, 1)}})
    t = datetime(2024, 6, 19, 10, 0).timestamp()
    os.utime(old, (t, t))
    os.utime(new, (t + 3600, t + 3600))
    load_feedback(con, folder, loaded_at=LOADED)
    assert latest(con, a)[1:] == ("已整改", None, "feedback/a_定稿.xlsx")
    assert con.execute("SELECT count(*) FROM feedback_responses").fetchone() == (2,)  # history


def test_two_files_same_modification_time_later_name_wins(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    first, second = folder / "反馈1.xlsx", folder / "反馈2.xlsx"
    fill_workbook(src, second, {a: ANSWER})
    fill_workbook(src, first, {a: {**ANSWER, "整改情况": "已整改"}})
    t = datetime(2024, 6, 19, 10, 0).timestamp()
    for p in (first, second):
        os.utime(p, (t, t))
    load_feedback(con, folder, loaded_at=LOADED)
    assert latest(con, a)[3] == "feedback/反馈2.xlsx"


def test_copy_under_another_name_is_read_once(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    fill_workbook(src, folder / "one.xlsx", {a: ANSWER})
    shutil.copy(folder / "one.xlsx", folder / "one - 副本.xlsx")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_read, res.files_skipped, res.accepted) == (1, 1, 1)


def test_rows_read_invariant_with_everything_mixed(wh):
    con, infos, folder = wh
    dongfeng, hongqi = infos["东风镇"].path, infos["红旗乡"].path
    a, b, c = ids_of(hongqi, 3)
    (foreign,) = ids_of(dongfeng, 1)
    fill_workbook(
        hongqi,
        folder / "mix.xlsx",
        {
            a: {**ANSWER, "核实日期": (LOADED + timedelta(days=3)).date()},
            b: ANSWER,
            c: {"核实结果": "乱填"},
            foreign: ANSWER,
        },
        edit=paste_rows(dongfeng, {foreign}),
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.rows_read == res.accepted + res.rejected + res.not_filled
    assert (res.accepted, res.rejected, res.fields_rejected) == (2, 2, 2)
    invariant(con)


def test_one_far_away_cell_does_not_take_the_night_down(wh):
    """A marked list with one stray cell at XFD1048576: the reader would lay out
    17 billion cells (calamine aborts the whole process). Refused before parsing."""
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    dst = folder / "远处的格子.xlsx"
    fill_workbook(src, dst, {a: ANSWER}, edit=lambda wb: wb.worksheets[1].cell(1048576, 16384, "x"))
    fill_workbook(src, folder / "正常.xlsx", {a: ANSWER})  # the night goes on
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_failed, res.files_read, res.accepted) == (1, 1, 1)
    ((zh, status),) = con.execute(
        "SELECT r.reason_zh, f.status FROM rejects r JOIN feedback_files f USING (load_id)"
    ).fetchall()
    assert "数据区域过大" in zh and status == "too_large"


def _ods(path, rows: int, cols: int) -> None:
    """A tiny .ods whose one repeated cell spans ``rows`` × ``cols`` (a few hundred bytes)."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    cell = '<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>'
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}><office:body>'
        '<office:spreadsheet><table:table table:name="东风上村"><table:table-row>'
        + cell.format("问题编号")
        + cell.format("核实结果")
        + f'</table:table-row><table:table-row table:number-rows-repeated="{rows}">'
        f'<table:table-cell table:number-columns-repeated="{cols}" '
        'office:value-type="string"><text:p>属实</text:p></table:table-cell></table:table-row>'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", manifest)
        zf.writestr("content.xml", content)


def test_an_ods_of_repeated_cells_is_refused_before_the_reader_lays_it_out(wh):
    """90,000 rows × 1,000 columns in 1 kB: calamine takes > 4 GB and aborts."""
    con, _, folder = wh
    _ods(folder / "重复.ods", 90_000, 1_000)
    _ods(folder / "小.ods", 3, 2)  # an ordinary small one is still read
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.files_failed == 1 and res.files_read == 1
    got = dict(con.execute("SELECT source_file, status FROM feedback_files").fetchall())
    assert got == {"feedback/重复.ods": "too_large", "feedback/小.ods": "unverified"}
    (zh,) = con.execute(
        "SELECT reason_zh FROM rejects WHERE source_file = 'feedback/重复.ods'"
    ).fetchone()
    assert "数据区域过大" in zh


def test_merged_fill_in_cells_answer_every_row_they_cover(wh):
    """A village merges 核实结果/核实人 over its rows: every covered row is answered."""
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b, c = ids_of(src, 3)
    where = listed_ids(src)
    assert where[a][0] == where[c][0] and where[c][1] == where[a][1] + 2

    def merge(wb):
        ws = wb[where[a][0]]
        cols = header_index(ws)
        for h in ("核实结果", "核实人"):
            col = openpyxl.utils.get_column_letter(cols[h])
            ws.merge_cells(f"{col}{where[a][1]}:{col}{where[c][1]}")

    fill_workbook(
        src, folder / "合并.xlsx", {a: {"核实结果": "属实", "核实人": "张三"}}, edit=merge
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (3, 0)
    got = con.execute(
        "SELECT problem_id, verification, verifier FROM feedback_responses ORDER BY 1"
    ).fetchall()
    assert got == sorted((p, "属实", "张三") for p in (a, b, c))


def test_a_huge_bad_value_is_shortened_in_the_note_for_the_list(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    junk = "不" * 5000
    fill_workbook(src, folder / "长.xlsx", {a: {**ANSWER, "核实结果": junk}})
    load_feedback(con, folder, loaded_at=LOADED)
    (note,) = con.execute("SELECT note_zh FROM feedback_field_status").fetchone()
    assert len(note) < 120 and note.startswith("上次报送：核实结果“不不") and "…" in note
    # The reject line keeps the raw value whole for the office.
    (raw,) = con.execute("SELECT raw_value FROM rejects").fetchone()
    assert raw == junk


def test_a_sheet_whose_problem_id_column_was_deleted_is_reported_not_skipped(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = ids_of(src, 2)
    sheet = listed_ids(src)[a][0]

    def drop_id_column(wb):
        ws = wb[sheet]
        ws.delete_cols(header_index(ws)["问题编号"])

    dst = folder / "删列.xlsx"
    fill_workbook(src, dst, {b: ANSWER})  # another sheet answered properly? (b is on `sheet`)
    wb = openpyxl.load_workbook(dst)
    ws = wb[sheet]
    cols = header_index(ws)
    ws.cell(listed_ids(src)[a][1], cols["核实结果"]).value = "属实"
    drop_id_column(wb)
    wb.save(dst)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.accepted == 0
    rej = con.execute("SELECT sheet, column_name, reason_zh FROM rejects").fetchall()
    assert rej and all(s == sheet and c == "问题编号" for s, c, _ in rej)
    assert "缺少“问题编号”列" in rej[0][2] and "未采用" in rej[0][2]


def test_a_workbook_with_no_problem_list_at_all_is_reported(wh):
    con, infos, folder = wh
    wb = openpyxl.Workbook()
    wb.active.append(["村名", "情况"])
    wb.active.append(["东风上村", "都已整改"])
    wb.save(folder / "情况说明.xlsx")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.rows_read == 0
    ((zh,),) = con.execute("SELECT reason_zh FROM rejects").fetchall()
    assert "没有找到问题清单" in zh


def test_renamed_fill_in_headers_and_a_repeated_header_row(wh):
    """“核实结果（属实/不属实）” is still 核实结果; a header row pasted again is no row."""
    con, infos, folder = wh
    src = infos["东风镇"].path
    a, b = ids_of(src, 2)
    sheet = listed_ids(src)[a][0]

    def edit(wb):
        ws = wb[sheet]
        cols = header_index(ws)
        ws.cell(1, cols["核实结果"]).value = "核实结果（属实/不属实/部分属实）"
        ws.cell(1, cols["核实人"]).value = "核实人签字"
        ws.append([c.value for c in ws[1]])  # the header again at the bottom

    dst = folder / "改表头.xlsx"
    fill_workbook(src, dst, {}, edit=edit)
    wb = openpyxl.load_workbook(dst)
    ws = wb[sheet]
    heads = {c.value: c.column for c in ws[1]}
    for pid in (a, b):
        r = listed_ids(src)[pid][1]
        ws.cell(r, heads["核实结果（属实/不属实/部分属实）"]).value = "属实"
        ws.cell(r, heads["核实人签字"]).value = "张三"
    wb.save(dst)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.rejected) == (2, 0)
    got = con.execute("SELECT DISTINCT verification, verifier FROM feedback_responses").fetchall()
    assert got == [("属实", "张三")]
    assert res.rows_read == res.accepted + res.not_filled == infos["东风镇"].rows


def test_unsupported_files_are_reported_once(wh):
    con, _, folder = wh
    (folder / "扫描件.pdf").write_bytes(b"%PDF-1.4 scanned list")
    (folder / "东风镇.et").write_bytes(b"WPS spreadsheet")
    (folder / "Thumbs.db").write_bytes(b"windows")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.files_unsupported == ["feedback/东风镇.et", "feedback/扫描件.pdf"]
    got = dict(con.execute("SELECT source_file, reason_zh FROM rejects").fetchall())
    assert set(got) == {"feedback/东风镇.et", "feedback/扫描件.pdf"}
    assert all("格式" in zh and ".xlsx" in zh for zh in got.values())
    again = load_feedback(con, folder, loaded_at=LATER)
    assert again.files_skipped == 2
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (2,)


def test_repeated_rows_with_nothing_to_keep_do_not_multiply_field_rejects(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    n = 1000
    _many_rows(con, src, folder / "乱填.xlsx", n, pid=a, answer={"核实结果": "胡填"})
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.rows_read, res.accepted, res.rejected, res.fields_rejected) == (n, 0, n, 1)
    invariant(con)
    assert con.execute("SELECT count(*) FROM feedback_field_rejects").fetchone() == (1,)
    # 1 field line + DETAIL_CAP duplicate lines + 1 summary of the other duplicates
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (feedback.DETAIL_CAP + 2,)


def test_overlong_free_text_is_a_field_fault(wh):
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    essay = "经入户核实" * 500  # 2,500 characters
    fill_workbook(src, folder / "长文.xlsx", {a: {**WAIVER, "整改说明": essay}})
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.fields_rejected) == (1, 1)
    assert latest(con, a)[:3] == ("不属实", None, None)
    ((column, raw, zh),) = con.execute(
        "SELECT column_name, raw_value, reason_zh FROM rejects"
    ).fetchall()
    assert (column, raw) == ("整改说明", essay) and "2000" in zh


def test_a_warehouse_from_before_gets_the_new_columns_and_keeps_its_history(wh):
    """feedback_files as the previous release created it (no township, fields_rejected…)."""
    con, infos, folder = wh
    con.execute(
        """
        CREATE TABLE feedback_files (
            load_id VARCHAR PRIMARY KEY, source_file VARCHAR, checksum VARCHAR UNIQUE,
            size_bytes BIGINT, modified_at TIMESTAMP, loaded_at TIMESTAMP, sheets VARCHAR,
            rows_read INTEGER, rows_accepted INTEGER, rows_rejected INTEGER,
            rows_not_filled INTEGER, edits_ignored INTEGER, status VARCHAR, error VARCHAR
        )
        """
    )
    con.execute(
        "INSERT INTO feedback_files VALUES ('feedback-old', 'feedback/old.xlsx', 'abc', 1, "
        "NULL, ?, '[]', 0, 0, 0, 0, 0, 'loaded', NULL)",
        [LOADED - timedelta(days=30)],
    )
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    fill_workbook(src, folder / "new.xlsx", {a: {**ANSWER, "核实日期": "2099-01-01"}})
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.accepted, res.fields_rejected) == (1, 1)
    rows = con.execute(
        "SELECT load_id, township, fields_rejected FROM feedback_files ORDER BY loaded_at"
    ).fetchall()
    assert rows[0] == ("feedback-old", None, None)
    assert rows[1][1:] == ("东风镇", 1)
    assert con.execute("SELECT count(*) FROM feedback_field_status").fetchone() == (1,)


def _encrypted_copy(plain, dst, password):
    enc = io.BytesIO()
    with plain.open("rb") as fh:
        msoffcrypto.format.ooxml.OOXMLFile(fh).encrypt(password, enc)
    dst.write_bytes(enc.getvalue())


def test_a_list_saved_with_the_township_password_is_opened_with_it(wh, tmp_path, monkeypatch):
    """Lists go out encrypted (BIDUI_WORKBOOK_PASSWORDS) and Excel keeps the password
    when the township saves: the office knows it, so the answers are read."""
    con, infos, folder = wh
    passwords = tmp_path / "passwords.csv"
    passwords.write_text("乡镇,密码\n东风镇,Df-2024-xiaji\n红旗乡,Hq-2024-xiaji\n", "utf-8")
    passwords.chmod(0o600)
    monkeypatch.setenv("BIDUI_WORKBOOK_PASSWORDS", str(passwords))
    src = infos["红旗乡"].path
    (a,) = ids_of(src, 1)
    plain = tmp_path / "plain.xlsx"
    fill_workbook(src, plain, {a: WAIVER})
    _encrypted_copy(plain, folder / "反馈.xlsx", "Hq-2024-xiaji")
    _encrypted_copy(plain, folder / "别的密码.xlsx", "村里自己改的密码")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_read, res.files_failed, res.accepted) == (1, 1, 1)
    assert latest(con, a)[0] == "不属实"
    got = dict(con.execute("SELECT source_file, status FROM feedback_files").fetchall())
    assert got == {"feedback/反馈.xlsx": "loaded", "feedback/别的密码.xlsx": "encrypted"}
    ((zh,),) = con.execute("SELECT reason_zh FROM rejects").fetchall()
    assert "密码" in zh and "取消密码" in zh


def test_a_file_that_cannot_be_read_from_disk_does_not_stop_the_others(wh, monkeypatch):
    """Permission denied, or moved away while the night runs: logged, the rest is read.
    (Tests run as root here, so the OS error is injected.)"""
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    fill_workbook(src, folder / "好.xlsx", {a: ANSWER})
    fill_workbook(src, folder / "锁定.xlsx", {a: WAIVER})
    real = feedback._sha256

    def flaky(path):
        if path.name == "锁定.xlsx":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(feedback, "_sha256", flaky)
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_read, res.files_failed, res.accepted) == (1, 1, 1)
    # Not recorded as read: it is tried again next night.
    assert con.execute("SELECT source_file FROM feedback_files").fetchall() == [
        ("feedback/好.xlsx",)
    ]


def test_a_stray_cell_far_right_is_refused_with_a_clear_reason(wh):
    """Row 200 × column XFD is 3.3 million cells laid out for one stray value: far
    beyond any township list (a few thousand rows × 26 columns)."""
    con, infos, folder = wh
    src = infos["东风镇"].path
    (a,) = ids_of(src, 1)
    fill_workbook(
        src,
        folder / "x.xlsx",
        {a: ANSWER},
        edit=lambda wb: wb.worksheets[1].cell(200, 16384, "备注"),
    )
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert (res.files_failed, res.accepted) == (1, 0)
    ((zh,),) = con.execute("SELECT reason_zh FROM rejects").fetchall()
    assert "数据区域过大" in zh and "删除多余的行列" in zh


def test_an_xlsb_is_reported_not_parsed(wh):
    """The binary format cannot be checked before the reader lays its sheets out
    (one far cell aborts the process, as for xlsx): asked for again as .xlsx."""
    con, _, folder = wh
    (folder / "另存为二进制.xlsb").write_bytes(b"PK\x03\x04 binary workbook")
    res = load_feedback(con, folder, loaded_at=LOADED)
    assert res.files_unsupported == ["feedback/另存为二进制.xlsb"]
    ((zh,),) = con.execute("SELECT reason_zh FROM rejects").fetchall()
    assert "格式不支持（.xlsb）" in zh and ".xlsx" in zh
