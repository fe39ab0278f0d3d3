"""Township problem lists: layout, isolation, summary counts."""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest

from publishing.workbooks import (
    CATEGORIES,
    FILL_IN_HEADERS,
    HEADERS,
    REOPENED_PREFIX,
    STATUS_HEADER,
    SUMMARY_SHEET,
    natural_key,
    write_township_workbooks,
)
from rectification.authority import MARKER_SHEET
from tests.helpers_problem_lists import COUNTY, DUE_DAYS, RUN_DATE, TOWNSHIPS, build_warehouse

ID_COLUMNS = ("问题编号", "户编号", "证件号码")


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """The nine-township warehouse and its workbooks, written once for the module."""
    root = tmp_path_factory.mktemp("lists")
    con = build_warehouse(root / "w.duckdb")
    infos = write_township_workbooks(con, RUN_DATE, root / "out", DUE_DAYS)
    yield con, infos, root / "out"
    con.close()


def findings_of(con, township):
    cur = con.execute(
        "SELECT * FROM findings WHERE township = ? AND status <> 'waived'", [township]
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def data_rows(ws):
    """Village-sheet rows as dicts keyed by header."""
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == HEADERS
    return [dict(zip(HEADERS, r, strict=True)) for r in rows[1:]]


def village_sheets(wb):
    """The village sheets: all but 汇总 (first) and the very-hidden marker (last)."""
    assert wb.sheetnames[-1] == MARKER_SHEET and wb[MARKER_SHEET].sheet_state == "veryHidden"
    return wb.worksheets[1:-1]


def summary_table(ws):
    """Table 1 of 汇总: {village: {header: value}} plus the 合计 row."""
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "行政村")
    header = [h for h in rows[start] if h is not None]
    table = {}
    for r in rows[start + 1 :]:
        if r[0] is None:
            break
        table[r[0]] = dict(zip(header[1:], r[1 : len(header)], strict=True))
    return table


# ------------------------------------------------------------------------------- layout


def test_one_workbook_per_township_at_the_spec_path(lists):
    con, infos, out = lists
    assert sorted(i.township for i in infos) == sorted(TOWNSHIPS)
    for info in infos:
        assert info.path == out / info.township / f"问题清单_{COUNTY}_{info.township}_20240610.xlsx"
        assert info.path.is_file()
        assert info.rows == len(findings_of(con, info.township))
    assert sorted(p.name for p in out.iterdir()) == sorted(TOWNSHIPS)


def test_sheet_order_summary_first_then_villages_in_order(lists):
    con, infos, _ = lists
    for info in infos:
        wb = openpyxl.load_workbook(info.path)
        villages = sorted({f["village"] for f in findings_of(con, info.township)}, key=natural_key)
        assert wb.sheetnames == [SUMMARY_SHEET, *villages, MARKER_SHEET]
        assert info.sheets == [SUMMARY_SHEET, *villages]


def test_village_sheet_layout(lists):
    _, infos, _ = lists
    for info in infos:
        wb = openpyxl.load_workbook(info.path)
        for ws in village_sheets(wb):
            n = ws.max_row
            assert [c.value for c in ws[1]] == list(HEADERS)
            assert ws.freeze_panes == "G2"  # header and 序号 … 姓名 (issue 13, item 8)
            # 20 columns of §1 + 上次报送处理情况 + 填报状态
            assert ws.auto_filter.ref == f"A1:V{n}"
            assert ws.print_title_rows == "$1:$1"
            ps = ws.page_setup
            assert ps.orientation == "landscape" and ps.paperSize == 8  # A3
            assert ps.fitToWidth == 1 and ps.fitToHeight == 0
            assert ws.sheet_properties.pageSetUpPr.fitToPage

            # Protection without password; sorting, filtering, resizing allowed.
            p = ws.protection
            assert p.sheet is True and not p.password
            assert p.sort is False and p.autoFilter is False
            assert p.formatColumns is False and p.formatRows is False

            dvs = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
            assert set(dvs) == {f"P2:P{n}", f"Q2:Q{n}", f"T2:T{n}"}
            assert dvs[f"P2:P{n}"].type == "list"
            assert dvs[f"P2:P{n}"].formula1 == '"属实,不属实,部分属实"'
            assert dvs[f"Q2:Q{n}"].formula1 == '"已整改,整改中,无需整改"'
            assert dvs[f"T2:T{n}"].type == "date"
            assert all(dv.showErrorMessage for dv in dvs.values())

            for idx, header in enumerate(HEADERS, 1):
                letter = openpyxl.utils.get_column_letter(idx)
                assert ws.column_dimensions[letter].width >= 6, header
                for (cell,) in ws.iter_rows(min_row=2, min_col=idx, max_col=idx):
                    assert cell.protection.locked is (header not in FILL_IN_HEADERS), header
                    if header in ID_COLUMNS:
                        assert isinstance(cell.value, str) and cell.number_format == "@"
                    if header in ("问题描述", "比对依据"):
                        assert cell.alignment.wrap_text
                    if header in ("整改时限", "首次发现日期", "核实日期"):
                        assert cell.number_format == "yyyy-mm-dd"
            assert ws.column_dimensions["G"].width >= 20  # 18-digit ID readable


def test_rows_sorted_complete_and_dated(lists):
    con, infos, _ = lists
    for info in infos:
        expected = {f["problem_id"]: f for f in findings_of(con, info.township)}
        wb = openpyxl.load_workbook(info.path)
        seen = set()
        for ws in village_sheets(wb):
            rows = data_rows(ws)
            assert [r["序号"] for r in rows] == list(range(1, len(rows) + 1))
            keys = [
                (natural_key(r["自然村(组)"]), natural_key(r["户编号"]), r["问题代码"])
                for r in rows
            ]
            assert keys == sorted(keys)
            for r in rows:
                f = expected[r["问题编号"]]
                assert f["village"] == ws.title
                assert r["证件号码"] == f["id_number"] and r["姓名"] == f["name"]
                due = f["first_seen"] + timedelta(days=DUE_DAYS[f["severity"]])
                assert r["整改时限"].date() == due  # fixed from first seen, never slips
                assert r["首次发现日期"].date() == f["first_seen"]
                if f["status"] == "reopened":
                    assert r["问题描述"] == REOPENED_PREFIX + f["description"]
                else:
                    assert r["问题描述"] == f["description"]
                assert all(r[h] is None for h in (*FILL_IN_HEADERS, STATUS_HEADER))
                seen.add(r["问题编号"])
        assert seen == set(expected)  # every non-waived finding, nothing else


def test_reopened_rows_are_marked(lists):
    _, infos, _ = lists
    marked = 0
    for info in infos:
        for ws in village_sheets(openpyxl.load_workbook(info.path)):
            for (cell,) in ws.iter_rows(min_row=2, min_col=10, max_col=10):
                if str(cell.value).startswith(REOPENED_PREFIX):
                    assert cell.fill.fgColor.rgb.endswith("FCE4D6")
                    marked += 1
    assert marked == sum(i.reopened for i in infos) > 0


# ---------------------------------------------------------------------------- isolation


def all_cell_text(path: Path) -> set[str]:
    wb = openpyxl.load_workbook(path)
    return {str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None}


def test_isolation_no_other_townships_data(lists):
    con, infos, _ = lists
    everything = con.execute(
        "SELECT township, village, name, id_number, household_id, head_name, problem_id, status "
        "FROM findings"
    ).fetchall()
    history = con.execute(
        "SELECT township, village, id_number, household_id, problem_id FROM finding_history"
    ).fetchall()
    for info in infos:
        cells = all_cell_text(info.path)
        text = "\n".join(cells)
        with zipfile.ZipFile(info.path) as z:  # every XML part, not only cell values
            raw = "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        foreign = set()
        for township, village, name, idn, hh, head, pid, _ in everything:
            if township != info.township:
                foreign |= {township, village, name, idn, hh, head, pid}
        for township, village, idn, hh, pid in history:
            if township != info.township:
                foreign |= {township, village, idn, hh, pid}
        foreign.discard(None)
        assert foreign
        for value in foreign:
            assert value not in text, (info.township, value)
            assert value not in raw, (info.township, value)
        # Waived findings of the township itself are left off too.
        for township, *_, pid, status in everything:
            if township == info.township and status == "waived":
                assert pid not in cells


# ------------------------------------------------------------------------------ summary


def test_summary_counts_equal_village_sheets(lists):
    con, infos, _ = lists
    for info in infos:
        wb = openpyxl.load_workbook(info.path)
        table = summary_table(wb[SUMMARY_SHEET])
        total = table.pop("合计")
        assert set(table) == set(info.sheets[1:])
        for village, counts in table.items():
            rows = data_rows(wb[village])
            cats = Counter(r["问题类别"] for r in rows)
            assert [counts[c] for c in CATEGORIES] == [cats.get(c, 0) for c in CATEGORIES]
            assert counts["合计"] == len(rows)
            statuses = con.execute(
                "SELECT status FROM findings WHERE township = ? AND village = ?",
                [info.township, village],
            ).fetchall()
            assert counts["其中：本次新增"] == sum(s == ("new",) for s in statuses)
            assert counts["其中：重新出现"] == sum(
                r["问题描述"].startswith(REOPENED_PREFIX) for r in rows
            )
            # Resolved at this run (after the previous run 2024-06-03); those
            # resolved at the previous run itself do not count.
            (resolved,) = con.execute(
                "SELECT count(*) FROM finding_history WHERE township = ? AND village = ? "
                "AND resolved_on = ?",
                [info.township, village, RUN_DATE],
            ).fetchone()
            assert counts["上次清单以来已整改"] == resolved > 0
        for key in total:
            assert total[key] == sum(c[key] for c in table.values())
        assert total["合计"] == info.rows


def test_summary_rule_table_adds_up(lists):
    _, infos, _ = lists
    for info in infos:
        wb = openpyxl.load_workbook(info.path)
        rows = list(wb[SUMMARY_SHEET].iter_rows(values_only=True))
        start = next(i for i, r in enumerate(rows) if r[0] == "问题名称")
        header = rows[start]
        villages = header[2 : header.index("合计")]
        assert list(villages) == info.sheets[1:]
        total = 0
        for r in rows[start + 1 :]:
            counts = r[2 : 2 + len(villages)]
            assert r[2 + len(villages)] == sum(counts)
            total += sum(counts)
            assert re.fullmatch(r"[a-z_]+", r[3 + len(villages)])  # rule code last
        assert total == info.rows


def test_summary_links_to_village_sheets(lists):
    _, infos, _ = lists
    wb = openpyxl.load_workbook(infos[0].path)
    ws = wb[SUMMARY_SHEET]
    links = {c.value: c.hyperlink.location for c in ws["A"] if c.hyperlink is not None}
    assert links == {name: f"'{name}'!A1" for name in infos[0].sheets[1:]}


def test_awkward_village_names_and_first_run(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=["东风镇"])
    con.execute("DELETE FROM finding_history")  # first run ever: nothing to compare with
    villages = con.execute("SELECT DISTINCT village FROM findings ORDER BY 1").fetchall()
    renames = ["新华村:一社/二社[试点]", "很长很长的行政村名称" * 4]
    for (old,), new in zip(villages, renames, strict=False):
        con.execute("UPDATE findings SET village = ? WHERE village = ?", [new, old])
    con.execute("UPDATE findings SET village = NULL WHERE rule_code = 'phone_invalid'")
    con.execute("UPDATE findings SET severity = 'unknown' WHERE rule_code = 'owns_car'")
    (info,) = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    wb = openpyxl.load_workbook(info.path)
    assert wb.sheetnames[0] == SUMMARY_SHEET
    for name in wb.sheetnames:
        assert len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name)
    assert "新华村_一社_二社_试点_" in wb.sheetnames and "未填行政村" in wb.sheetnames
    table = summary_table(wb[SUMMARY_SHEET])
    assert all(row["上次清单以来已整改"] == 0 for row in table.values())
    assert "首次下发" in str(wb[SUMMARY_SHEET]["A2"].value)
    # A severity without due_days falls back to findings.due_date.
    for ws in village_sheets(wb):
        for r in data_rows(ws):
            if r["问题代码"] == "owns_car":
                assert r["整改时限"].date() == RUN_DATE + timedelta(days=99)
    con.close()


def test_no_findings_no_workbooks(tmp_path):
    con = build_warehouse(tmp_path / "w.duckdb", townships=["东风镇"])
    con.execute("DELETE FROM findings")
    assert write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS) == []
    con.close()


def test_township_names_are_bound_not_pasted(tmp_path):
    """A township name full of SQL and path syntax is just a value."""
    odd = "石门'; DROP TABLE findings; --乡/..\\"
    con = build_warehouse(tmp_path / "w.duckdb", townships=["东风镇", odd])
    infos = {
        i.township: i for i in write_township_workbooks(con, RUN_DATE, tmp_path / "o", DUE_DAYS)
    }
    assert set(infos) == {"东风镇", odd}
    path = infos[odd].path
    assert path.parent.parent == tmp_path / "o"  # no path escape
    assert "/" not in path.parent.name and "\\" not in path.parent.name
    (n,) = con.execute("SELECT count(*) FROM findings WHERE township = ?", [odd]).fetchone()
    assert (
        infos[odd].rows
        == n
        - con.execute(
            "SELECT count(*) FROM findings WHERE township = ? AND status = 'waived'", [odd]
        ).fetchone()[0]
    )
    assert "东风镇" not in "\n".join(all_cell_text(path))
    con.close()
