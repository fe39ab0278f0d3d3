"""Township workbooks stay correct and safe whatever the findings hold (issue 9).

Colliding and over-long township names, formula payloads, control characters,
the signed township marker, the 上次报送处理情况 column, and the next faults
(sheet-name clashes, huge cells, empty names, bidi overrides, many villages).
Every test builds a real warehouse, writes real workbooks and reads them back
with openpyxl and calamine (what the feedback reader uses).
"""

from __future__ import annotations

import logging
import os
import re
import resource
import unicodedata
from pathlib import Path

import duckdb
import openpyxl
import pytest
import python_calamine

from publishing import workbooks
from publishing.workbooks import (
    EXCEL_CELL_MAX,
    FILL_IN_HEADERS,
    HEADERS,
    STATUS_HEADER,
    SUMMARY_SHEET,
    natural_key,
    write_township_workbooks,
)
from rectification.authority import (
    MARKER_SHEET,
    Marker,
    ensure_signing_key,
    read_marker,
    signing_key,
)
from rectification.feedback import load_feedback
from tests.helpers_problem_lists import (
    COUNTY,
    DUE_DAYS,
    FORMULAS,
    RUN_DATE,
    TOWNSHIPS,
    build_warehouse,
    fill_workbook,
    formula_parts,
)

SPEC_COLUMNS = (  # outputs.md §1, in this order
    "序号 问题编号 自然村(组) 户编号 户主姓名 姓名 证件号码 问题类别 问题代码 问题描述 "
    "比对部门 比对依据 整改要求 整改时限 首次发现日期 核实结果 整改情况 整改说明 核实人 核实日期"
).split()


# ------------------------------------------------------------------------------ helpers


def rename(con, old: str, township: str | None, county: str | None = COUNTY) -> None:
    """Give township ``old`` of the test warehouse another (county, township)."""
    con.execute(
        "UPDATE findings SET township = ?, county = ? WHERE township = ?", [township, county, old]
    )
    con.execute("UPDATE finding_history SET township = ? WHERE township = ?", [township, old])


def expected(con) -> dict[tuple, set[str]]:
    """(county, township) -> problem ids that must be on its list."""
    out: dict[tuple, set[str]] = {}
    for county, township, pid in con.execute(
        "SELECT county, township, problem_id FROM findings WHERE status IS DISTINCT FROM 'waived'"
    ).fetchall():
        out.setdefault((county, township), set()).add(pid)
    return out


def calamine_sheets(path: Path) -> dict[str, list[list]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {n: book.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in book.sheet_names}


def listed(path: Path) -> list[str]:
    """Every 问题编号 of a workbook, read with calamine (as the feedback reader does)."""
    ids = []
    for rows in calamine_sheets(path).values():
        if rows and "问题编号" in rows[0]:
            j = rows[0].index("问题编号")
            ids += [str(r[j]) for r in rows[1:] if r[j] not in ("", None)]
    return ids


def fold(name: str) -> str:
    """What Windows/macOS file systems consider the same name."""
    return unicodedata.normalize("NFKC", name).casefold()


def assert_lists_complete_and_separate(con, infos, out: Path) -> None:
    want = expected(con)
    assert len(infos) == len(want)
    folders = [fold(i.path.parent.name) for i in infos]
    files = [fold(i.path.name) for i in infos]
    assert len(set(folders)) == len(folders), folders  # one folder per township
    assert len(set(files)) == len(files), files
    on_disk = sorted(out.rglob("*.xlsx"))
    assert len(on_disk) == len(infos)
    key = signing_key(con)
    for info in infos:
        assert info.path.parent.parent == out
        ids = listed(info.path)
        assert len(ids) == len(set(ids))
        assert set(ids) == want[(info.county, info.township)], info.township
        # calamine, as the feedback reader: it decodes _xHHHH_ escapes as Excel does
        marker = read_marker(key, calamine_sheets(info.path)[MARKER_SHEET][0][0])
        assert marker == Marker(info.county or "", info.township or "", RUN_DATE)


# ------------------------------------------------------------------- 1. name collisions


def test_townships_whose_names_clean_to_the_same_path_each_keep_their_list(tmp_path, caplog):
    con = build_warehouse(tmp_path / "w.duckdb")
    names = [
        "东风镇",  # the plain name keeps its plain folder
        "东风镇.",  # trailing dot: cleaned away
        "石门/乡",
        "石门_乡",  # "/" is cleaned to "_"
        "Abc乡",
        "ABC乡",  # case: one folder on Windows and macOS
        "Cafe\u0301乡",  # NFD
        "Caf\u00e9乡",  # NFC: one name on macOS
        "ＡＢＣ乡",  # full width: NFKC-equal to ABC乡
    ]
    for old, new in zip(TOWNSHIPS, names, strict=True):
        rename(con, old, new)
    with caplog.at_level(logging.WARNING, logger="publishing.workbooks"):
        infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    by_name = {i.township: i for i in infos}
    assert by_name["东风镇"].path == (
        tmp_path / "out" / "东风镇" / f"问题清单_{COUNTY}_东风镇_20240610.xlsx"
    )
    assert "collid" in caplog.text
    # Deterministic: the same names give the same paths, whatever the order.
    again = write_township_workbooks(con, RUN_DATE, tmp_path / "again", DUE_DAYS)
    assert sorted(i.path.relative_to(tmp_path / "again") for i in again) == sorted(
        i.path.relative_to(tmp_path / "out") for i in infos
    )
    con.close()


def test_empty_null_dotted_and_counties_that_clean_alike(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:7])
    rename(con, TOWNSHIPS[0], None)
    rename(con, TOWNSHIPS[1], "")
    rename(con, TOWNSHIPS[2], ". . .")  # only dots and spaces
    rename(con, TOWNSHIPS[3], "未填乡镇")  # the default name itself
    rename(con, TOWNSHIPS[4], "东风镇", county=COUNTY)
    rename(con, TOWNSHIPS[5], "东风镇", county=COUNTY + ".")  # another county, cleans alike
    rename(con, TOWNSHIPS[6], "红旗乡", county=None)
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    con.close()


def test_no_path_is_ever_written_twice(tmp_path, monkeypatch):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    monkeypatch.setattr(
        workbooks,
        "township_paths",
        lambda pairs, run_date: dict.fromkeys(pairs, ("同名", "问题清单_同名.xlsx")),
    )
    with pytest.raises(RuntimeError, match="twice"):
        write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    con.close()


def test_a_failed_workbook_leaves_no_personal_data_in_temp_files(tmp_path, monkeypatch):
    """openpyxl streams each sheet through a temp file; a failure must not leave them."""
    import tempfile

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    real = workbooks._write_village
    calls = []

    def failing(wb, make, title, rows):
        calls.append(title)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(wb, make, title, rows)

    monkeypatch.setattr(workbooks, "_write_village", failing)
    with pytest.raises(OSError, match="disk full"):
        write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert list(temp.iterdir()) == []
    con.close()


# --------------------------------------------------------------- 2. formula injection


def test_formula_payloads_stay_text_everywhere(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    rename(con, TOWNSHIPS[0], "=1+2乡", county="@县")
    payload = {
        "name": FORMULAS[0],
        "head_name": FORMULAS[1],
        "description": FORMULAS[2],
        "evidence": FORMULAS[3],
        "village_group": FORMULAS[4],
        "requirement_zh": FORMULAS[5],
        "rule_name_zh": FORMULAS[6],
        "household_id": FORMULAS[7],
        "department": FORMULAS[8],
    }
    for column, value in payload.items():
        con.execute(f"UPDATE findings SET {column} = ? WHERE township = '=1+2乡'", [value])
    # Villages: one per payload kind, so the summary's links are built from them too.
    villages = con.execute(
        "SELECT DISTINCT village FROM findings WHERE township = '=1+2乡' ORDER BY 1"
    ).fetchall()
    new_villages = [FORMULAS[0], "=cmd|' /C calc'!A0 '村'", "-1村"]
    for (old,), new in zip(villages, new_villages, strict=False):
        con.execute("UPDATE findings SET village = ? WHERE village = ?", [new, old])
        con.execute("UPDATE finding_history SET village = ? WHERE village = ?", [new, old])
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    (info,) = [i for i in infos if i.township == "=1+2乡"]

    assert formula_parts(info.path) == []
    wb = openpyxl.load_workbook(info.path)
    every = {FORMULAS[0], FORMULAS[1], *payload.values(), *new_villages[: len(villages)]}
    found_openpyxl = {c.value for ws in wb for row in ws.iter_rows() for c in row}
    found_calamine = {v for rows in calamine_sheets(info.path).values() for r in rows for v in r}
    for value in every:
        assert value in found_calamine, value  # exact text, as Excel and the reader see it
        # openpyxl does not decode the _xHHHH_ escapes (_x000D_ keeps a CR: XML
        # readers turn a raw CR into LF); Excel and calamine do.
        if not value.startswith("_x") and "\r" not in value:
            assert value in found_openpyxl, value
    for ws in wb:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.lstrip()[:1] in "=+-@＝＋－＠":
                    assert c.data_type == "s" and c.quotePrefix, (ws.title, c.coordinate)
    # The summary's links point at sheets that exist, by their (cleaned) titles.
    links = [c.hyperlink for c in wb[SUMMARY_SHEET]["A"] if c.hyperlink is not None]
    assert len(links) == len(villages)
    for link in links:
        title = re.fullmatch(r"'(.*)'!A1", link.location).group(1).replace("''", "'")
        assert title in wb.sheetnames
        assert not link.target
    con.close()


def test_filled_in_workbook_with_payloads_is_still_read(tmp_path):
    """A township fills in a list full of payloads: the answer is still read."""

    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    con.execute("UPDATE findings SET name = ?, evidence = ?", [FORMULAS[0], FORMULAS[1]])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    pid = listed(info.path)[0]
    inbox = tmp_path / "inbox"
    fill_workbook(info.path, inbox / "x.xlsx", {pid: {"核实结果": "属实", "核实人": "张三"}})
    res = load_feedback(con, inbox)
    assert res.accepted == 1 and res.edits_ignored == 0, res
    con.close()


def test_cleaned_and_cut_cells_returned_unchanged_are_not_edits(tmp_path):
    """What the writer had to change (U+FFFD, cut text, _xHHHH_, CR) is not a township edit."""

    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    con.execute(
        "UPDATE findings SET name = ?, description = ?, evidence = ?",
        ["张\x07三", "描" * 40_000, "_x0041_ \r=1+1"],
    )
    assert con.execute("SELECT count(*) FROM findings WHERE status = 'reopened'").fetchone()[0]
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    pid = sorted(listed(info.path))[0]
    inbox = tmp_path / "inbox"
    fill_workbook(info.path, inbox / "x.xlsx", {pid: {"核实结果": "属实"}})
    res = load_feedback(con, inbox)
    assert res.accepted == 1 and res.edits_ignored == 0, res
    con.close()


# ------------------------------------------------ 3. control characters, long names


def test_control_characters_never_stop_the_night(tmp_path, caplog):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    town = "镇\x0b乡\x00"
    rename(con, TOWNSHIPS[0], town, county="云\x1b岭县")
    con.execute(
        "UPDATE findings SET name = ?, description = ?, evidence = ?, village = ?, "
        "rule_name_zh = ? WHERE township = ?",
        ["张\x00三", "a\x07b\x1bc", "x\ufffey\uffff", "新华\x08村", "规则\x01", town],
    )
    with caplog.at_level(logging.WARNING, logger="publishing.workbooks"):
        infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    (info,) = [i for i in infos if i.township == town]
    wb = openpyxl.load_workbook(info.path)
    values = {c.value for ws in wb for row in ws.iter_rows() for c in row}
    assert {"张\ufffd三", "a\ufffdb\ufffdc", "x\ufffdy\ufffd"} <= values
    assert "新华\ufffd村" in wb.sheetnames
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", info.path.as_posix())
    assert "replaced" in caplog.text
    con.close()


@pytest.mark.parametrize("length", [120, 300])
def test_very_long_township_names_fit_the_file_system(tmp_path, length):
    long = "长" * length
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:3])
    rename(con, TOWNSHIPS[0], long, county="县" * length)
    rename(con, TOWNSHIPS[1], long + "乡")  # same first 100+ characters: must not collide
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    for info in infos:
        for part in (info.path.parent.name, info.path.name):
            assert len(part.encode()) <= 150, part
        assert re.fullmatch(r"问题清单_.+_.+_20240610\.xlsx", info.path.name)
    assert len(str(infos[0].path.relative_to(tmp_path))) < 200
    con.close()


# ---------------------------------------------------------------- 4. signed marker


def test_every_workbook_carries_a_very_hidden_signed_marker(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:3])
    ensure_signing_key(con)
    con.close()
    # The nightly job writes through a read-only connection.
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    key = signing_key(con)
    for info in infos:
        wb = openpyxl.load_workbook(info.path)
        assert wb.sheetnames[0] == SUMMARY_SHEET and wb.active.title == SUMMARY_SHEET
        assert wb.sheetnames[-1] == MARKER_SHEET and MARKER_SHEET not in info.sheets
        ws = wb[MARKER_SHEET]
        assert ws.sheet_state == "veryHidden"
        text = calamine_sheets(info.path)[MARKER_SHEET][0][0]
        marker = read_marker(key, text)
        assert marker == Marker(COUNTY, info.township, RUN_DATE)
        assert read_marker(b"another warehouse's key", text) is None
        assert listed(info.path)  # the marker sheet is not taken for a village sheet
    con.close()


def test_read_only_warehouse_without_key_fails_clearly(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    con.execute("DROP TABLE IF EXISTS bidui_secrets")  # a warehouse from before the key
    con.close()
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    with pytest.raises(LookupError, match="signing key"):
        write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    con.close()
    # Read-write, the key is created as warehouse.connect would, and the lists written.
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    marker = read_marker(signing_key(con), calamine_sheets(info.path)[MARKER_SHEET][0][0])
    assert marker == Marker(COUNTY, TOWNSHIPS[0], RUN_DATE)
    con.close()


# ------------------------------------------------------- 5. what of the last answer was kept


def status_column(path: Path) -> dict[str, tuple]:
    """问题编号 -> (上次报送处理情况 value, locked?) over the village sheets."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        if "问题编号" not in header:
            continue
        assert header == list(HEADERS)
        for row in ws.iter_rows(min_row=2):
            cell = row[HEADERS.index(STATUS_HEADER)]
            out[row[1].value] = (cell.value, cell.protection.locked)
    return out


def test_status_column_follows_the_fill_in_columns_and_is_empty_without_the_view(tmp_path):
    assert HEADERS[: len(SPEC_COLUMNS)] == tuple(SPEC_COLUMNS)
    # …then 填报状态 (issue 13: does a row still need an answer), the last column.
    assert HEADERS[len(SPEC_COLUMNS)] == STATUS_HEADER == HEADERS[-2]
    assert HEADERS[-1] == "填报状态"
    assert tuple(SPEC_COLUMNS[-5:]) == FILL_IN_HEADERS
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    col = status_column(info.path)
    assert col and all(v == (None, True) for v in col.values())
    con.close()


def test_status_column_shows_the_view_note_for_its_own_problem(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    ids = sorted(expected(con)[(COUNTY, TOWNSHIPS[0])])
    note = "上次报送：核实日期“2099-01-01”晚于报送日期，未采用；其余内容已采用"
    con.execute("CREATE TABLE fs (problem_id VARCHAR, note_zh VARCHAR)")
    con.execute("INSERT INTO fs VALUES (?, ?), (?, ?)", [ids[0], note, ids[1], "=1+1 \x07"])
    con.execute("CREATE VIEW feedback_field_status AS SELECT * FROM fs")
    infos = {
        i.township: i for i in write_township_workbooks(con, RUN_DATE, tmp_path / "o", DUE_DAYS)
    }
    col = status_column(infos[TOWNSHIPS[0]].path)
    assert col[ids[0]] == (note, True)
    assert col[ids[1]] == ("=1+1 \ufffd", True)
    assert all(v == (None, True) for k, v in col.items() if k not in ids[:2])
    assert all(v == (None, True) for v in status_column(infos[TOWNSHIPS[1]].path).values())
    assert formula_parts(infos[TOWNSHIPS[0]].path) == []
    con.close()


def test_next_list_shows_what_of_the_returned_answer_was_not_taken(tmp_path):
    """Through the real feedback reader (its feedback_field_status view)."""
    from datetime import datetime

    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:2])
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    pid = sorted(listed(infos[0].path))[0]
    answer = {"核实结果": "属实", "核实人": "张三", "核实日期": "2099-01-01"}
    fill_workbook(infos[0].path, tmp_path / "inbox" / "x.xlsx", {pid: answer})
    load_feedback(con, tmp_path / "inbox", loaded_at=datetime(2024, 6, 12, 8))
    again = write_township_workbooks(con, RUN_DATE, tmp_path / "again", DUE_DAYS)
    col = status_column(again[0].path)
    note, locked = col.pop(pid)
    assert locked and "核实日期" in note and "2099-01-01" in note and "未采用" in note
    assert all(v == (None, True) for v in col.values())
    assert all(v == (None, True) for v in status_column(again[1].path).values())
    con.close()


def test_broken_status_view_costs_only_the_column(tmp_path, caplog):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    con.execute("CREATE TABLE fs (problem_id VARCHAR, note_zh VARCHAR)")
    con.execute("CREATE VIEW feedback_field_status AS SELECT * FROM fs")
    con.execute("DROP TABLE fs")
    with caplog.at_level(logging.WARNING, logger="publishing.workbooks"):
        (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert "feedback_field_status" in caplog.text
    col = status_column(info.path)
    assert col and all(v == (None, True) for v in col.values())
    con.close()


# ------------------------------------------------------------------ 6. the next faults


def test_villages_named_like_the_summary_or_marker_sheet(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    villages = con.execute("SELECT DISTINCT village FROM findings ORDER BY 1").fetchall()
    for (old,), new in zip(villages, [SUMMARY_SHEET, MARKER_SHEET.upper()], strict=False):
        con.execute("UPDATE findings SET village = ? WHERE village = ?", [new, old])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    wb = openpyxl.load_workbook(info.path)
    assert wb.sheetnames.count(MARKER_SHEET) == 1 and wb[MARKER_SHEET].sheet_state == "veryHidden"
    folded = [s.casefold() for s in wb.sheetnames]
    assert len(set(folded)) == len(folded)
    assert all(wb[s].sheet_state == "visible" for s in info.sheets)
    assert set(listed(info.path)) == expected(con)[(COUNTY, TOWNSHIPS[0])]
    con.close()


def test_villages_named_like_column_headers_do_not_make_the_summary_an_answer_sheet(tmp_path):
    """Table 2 of 汇总 has a column per village: villages named 问题编号 and 核实结果
    made its header row look like a list's, and its count rows like answers."""
    from datetime import datetime

    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    villages = con.execute("SELECT DISTINCT village FROM findings ORDER BY 1").fetchall()
    for (old,), new in zip(villages, ["问题编号", " 核实 结果 "], strict=False):
        con.execute("UPDATE findings SET village = ? WHERE village = ?", [new, old])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    pid = sorted(listed(info.path))[0]
    fill_workbook(info.path, tmp_path / "inbox" / "x.xlsx", {pid: {"核实结果": "属实"}})
    res = load_feedback(con, tmp_path / "inbox", loaded_at=datetime(2024, 6, 12, 8))
    assert (res.accepted, res.rejected) == (1, 0), res
    assert res.rows_read == len(listed(info.path))
    con.close()


def test_bidi_overrides_and_reserved_names_leave_paths(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:3])
    rename(con, TOWNSHIPS[0], "东风\u202exslx.exe\u202c镇")
    rename(con, TOWNSHIPS[1], "CON")
    rename(con, TOWNSHIPS[2], "\u200b\u2066红旗乡\u2069\ufeff")
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    for info in infos:
        rel = info.path.relative_to(tmp_path / "out").as_posix()
        assert not re.search("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u061c]", rel)
        assert info.path.parent.name.split(".")[0].upper() != "CON"
    con.close()


def test_odd_digits_in_groups_and_household_ids_sort_without_crashing(tmp_path):
    """Sorting by 自然村(组)/户编号: ① and ² are digits to str.isdigit but not to int();
    a 5,000-digit number exceeds Python's int conversion limit."""
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    ids = sorted(expected(con)[(COUNTY, TOWNSHIPS[0])])
    for pid, group, household in [
        (ids[0], "①", "²"),
        (ids[1], "2组", "9" * 5000),
        (ids[2], "１０组", "٣"),  # full-width and Arabic-Indic digits
        (ids[3], "10组", None),
    ]:
        con.execute(
            "UPDATE findings SET village_group = ?, household_id = ? WHERE problem_id = ?",
            [group, household, pid],
        )
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert set(listed(info.path)) == set(ids)
    assert natural_key("2组") < natural_key("10组") == natural_key("１０组")
    assert natural_key("9" * 5000) > natural_key("9" * 4999) > natural_key("０" + "9" * 10)
    con.close()


def test_township_named_like_the_nights_other_outputs(tmp_path):
    """A township called problems.csv or data_docs must not take their place."""
    reserved = ["problems.csv", "Rejects.CSV", "report.html", "data_docs"]
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[: len(reserved)])
    for old, new in zip(TOWNSHIPS, reserved, strict=False):
        rename(con, old, new)
    infos = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    assert_lists_complete_and_separate(con, infos, tmp_path / "out")
    taken = {n.casefold() for n in reserved}
    assert not {i.path.parent.name.casefold() for i in infos} & taken
    con.close()


def test_over_long_description_is_cut_with_a_visible_note(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    pid = sorted(expected(con)[(COUNTY, TOWNSHIPS[0])])[0]
    con.execute("UPDATE findings SET description = ? WHERE problem_id = ?", ["描" * 40_000, pid])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    for rows in calamine_sheets(info.path).values():
        for r in rows:
            for v in r:
                assert len(str(v)) <= EXCEL_CELL_MAX
    wb = openpyxl.load_workbook(info.path)
    descs = [
        c.value
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("描" * 100)
    ]
    assert len(descs) == 1 and "已截断" in descs[0]
    # Excel's row height limit is 409 points; a taller row is a "repair" prompt.
    for ws in wb.worksheets:
        assert all(d.height is None or d.height <= 409 for d in ws.row_dimensions.values())
    con.close()


def test_rare_characters_keep_sheet_names_within_excel_limit(tmp_path):
    """Excel counts sheet-name length in UTF-16 units: 𠀀 (CJK Ext. B) counts two."""
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    villages = con.execute("SELECT DISTINCT village FROM findings ORDER BY 1").fetchall()
    for (old,), new in zip(villages, ["𠀀" * 40, "𠀀" * 40 + "乙"], strict=False):
        con.execute("UPDATE findings SET village = ? WHERE village = ?", [new, old])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    for title in info.sheets:
        assert len(title.encode("utf-16-le")) // 2 <= 31, title
    assert len(set(info.sheets)) == len(info.sheets)
    assert set(listed(info.path)) == expected(con)[(COUNTY, TOWNSHIPS[0])]
    con.close()


def test_more_villages_than_columns_keeps_rule_totals(tmp_path, monkeypatch):
    monkeypatch.setattr(workbooks, "MAX_TABLE2_VILLAGES", 1)  # Excel: 16,384 columns
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    rows = list(openpyxl.load_workbook(info.path)[SUMMARY_SHEET].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "问题名称")
    assert "超过表格列数上限" in rows[start - 1][0]
    assert rows[start][:4] == ("问题名称", "问题类别", "合计", "问题代码")
    assert sum(r[2] for r in rows[start + 1 :]) == info.rows
    con.close()


def test_a_thousand_villages_in_one_township_within_64_open_files(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNSHIPS[:1])
    rows = con.execute("SELECT problem_id FROM findings ORDER BY problem_id").fetchall()
    con.execute("CREATE TABLE src AS SELECT * FROM findings")
    con.execute("DELETE FROM findings")
    con.execute(
        "INSERT INTO findings SELECT src.* REPLACE (problem_id || '-' || n AS problem_id, "
        "'村' || n AS village) FROM src, range(1000) t(n) WHERE problem_id = ?",
        [rows[0][0]],
    )
    # openpyxl's write-only sheets each hold a temporary file open until saved: with
    # the usual limit of 1,024 open files, a thousand villages failed the night.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else 32
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(in_use + 64, hard), hard))
    try:
        (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(info.sheets) == 1001
    wb = openpyxl.load_workbook(info.path, read_only=True)
    assert len(wb.sheetnames) == 1002 and wb.sheetnames[-1] == MARKER_SHEET
    assert len(listed(info.path)) == 1000
    con.close()
