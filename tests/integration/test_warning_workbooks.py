"""The township 监测预警核实清单 (monitoring.md §5) beside the 问题清单: columns,
dropdowns, locks, marker, isolation of both workbooks, carried answers with a
核实结论, 填报状态 and overdue, the 未能定位 list, encryption. Real xlsx files
written from a hand-made warehouse (tests/helpers_problem_lists.py)."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from assets.outputs import workbook_links
from core import office_crypto as oc
from publishing.workbooks import (
    SUMMARY_SHEET,
    TODO_HEADER,
    TODO_PREFIX,
    write_township_workbooks,
    write_warning_workbooks,
)
from rectification.authority import MARKER_SHEET, read_marker, signing_key
from rectification.form import CONCLUSION_VALUES, UNPLACED_TOWNSHIP, WARNING_FORM
from tests.helpers_problem_lists import (
    COUNTY,
    DUE_DAYS,
    FORMULAS,
    LATE_SEEN,
    RUN_DATE,
    WARNING_ONLY_TOWNSHIP,
    WARNING_RULES,
    add_warnings,
    build_warehouse,
    formula_parts,
    use_warning_rules,
)
from warehouse.schema import create_table, insert_sql

TOWNS = ["东风镇", "红旗乡", "龙泉镇"]
HEADERS = WARNING_FORM.headers
WARNING_CODES = {r[0] for r in WARNING_RULES}
RISK = {r[0]: r[3] for r in WARNING_RULES}


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """Three townships with problems and warnings, a township with warnings only,
    and the 未能定位 list: (con, warning findings)."""
    use_warning_rules(monkeypatch)
    con = build_warehouse(tmp_path / "w.duckdb", townships=TOWNS)
    warnings = add_warnings(con, TOWNS)
    yield con, warnings
    con.close()


def write_both(con, out: Path):
    problems = write_township_workbooks(con, RUN_DATE, out, DUE_DAYS)
    warnings = write_warning_workbooks(con, RUN_DATE, out)
    return {i.township: i for i in problems}, {i.township: i for i in warnings}


def sheet_rows(path: Path) -> dict[str, dict]:
    """问题编号 -> row (header -> value, plus _sheet, _locked) of the village sheets."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        if ws.sheet_state != "visible" or "问题编号" not in header:
            continue
        for row in ws.iter_rows(min_row=2):
            rec = {h: c.value for h, c in zip(header, row, strict=True)}
            rec["_sheet"] = ws.title
            rec["_locked"] = {h: c.protection.locked for h, c in zip(header, row, strict=True)}
            out[rec["问题编号"]] = rec
    return out


def listed(warnings: list[dict], township: str) -> dict[str, dict]:
    return {
        w["problem_id"]: w
        for w in warnings
        if w["township"] == township and w["status"] not in ("waived", "included")
    }


# ------------------------------------------------------------------------------- layout


def test_warning_workbook_columns_dropdowns_locks_and_marker(warehouse, tmp_path):
    con, warnings = warehouse
    _, infos = write_both(con, tmp_path / "out")
    assert set(infos) == {*TOWNS, WARNING_ONLY_TOWNSHIP, UNPLACED_TOWNSHIP}
    key = signing_key(con)
    for township, info in infos.items():
        assert info.form == "warnings"
        assert info.path == (
            tmp_path / "out" / township / f"监测预警核实清单_{COUNTY}_{township}_20240610.xlsx"
        )
        wb = openpyxl.load_workbook(info.path)
        assert wb.sheetnames[0] == SUMMARY_SHEET and wb.sheetnames[-1] == MARKER_SHEET
        assert wb[MARKER_SHEET].sheet_state == "veryHidden"
        marker = read_marker(key, wb[MARKER_SHEET]["A1"].value)
        assert (marker.county, marker.township, marker.run_date) == (COUNTY, township, RUN_DATE)
        expected = listed(warnings, township)
        rows = sheet_rows(info.path)
        assert set(rows) == set(expected) and info.rows == len(expected)
        for ws in wb.worksheets[1:-1]:
            n = ws.max_row
            assert tuple(c.value for c in ws[1]) == HEADERS
            assert ws.freeze_panes == "J2"  # 序号 … 姓名 stay in view
            assert ws.auto_filter.ref == f"A1:T{n}"
            assert ws.protection.sheet is True and not ws.protection.password
            dvs = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
            visit, conclusion = (f"{c}2:{c}{n}" if n > 2 else f"{c}2" for c in "OP")
            assert set(dvs) == {visit, conclusion}  # 走访日期, 核实结论
            assert dvs[visit].type == "date"
            assert dvs[conclusion].type == "list"
            assert dvs[conclusion].formula1 == '"' + ",".join(CONCLUSION_VALUES) + '"'
            for row in ws.iter_rows(min_row=2):
                for header, cell in zip(HEADERS, row, strict=True):
                    fill_in = header in WARNING_FORM.fill_in_headers
                    assert cell.protection.locked is not fill_in, header
                    if header in ("问题编号", "户编号", "证件号码") and cell.value is not None:
                        assert isinstance(cell.value, str) and cell.number_format == "@"
                    if header in ("首次预警日期", "核实时限", "走访日期"):
                        assert cell.number_format == "yyyy-mm-dd"
        for pid, w in expected.items():
            r = rows[pid]
            assert r["预警来源部门"] == w["department"]
            assert r["预警规则"] == w["rule_name_zh"]
            assert r["风险类型"] == RISK[w["rule_code"]]
            assert r["乡(镇)"] == township and r["行政村"] == w["village"]
            assert r["户编号"] == w["household_id"] and r["证件号码"] == w["id_number"]
            assert r["姓名"] == w["name"] and r["是否在册"] == w["standing"]
            assert r["预警依据"] == w["evidence"]
            assert r["首次预警日期"].date() == w["first_seen"]
            assert r["核实时限"].date() == w["due_date"]  # first seen + visit_days
            assert all(r[h] is None for h in WARNING_FORM.fill_in_headers)


def test_rows_sorted_register_first_and_summary_adds_up(warehouse, tmp_path):
    con, _ = warehouse
    _, infos = write_both(con, tmp_path / "out")
    info = infos["东风镇"]
    wb = openpyxl.load_workbook(info.path)
    for ws in wb.worksheets[1:-1]:
        rows = list(ws.iter_rows(min_row=2, values_only=True))
        hh = [r[HEADERS.index("户编号")] for r in rows]
        assert hh == sorted(hh, key=lambda h: (h is None, h or ""))  # outsiders last
    lines = [c.value for c in wb[SUMMARY_SHEET]["A"] if isinstance(c.value, str)]
    assert lines[0] == f"{COUNTY}东风镇 监测预警核实清单汇总"
    assert any(
        x.startswith(f"待填报 {info.todo} 条（其中已超过核实时限 {info.overdue} 条）")
        for x in lines
    )
    table = list(wb[SUMMARY_SHEET].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(table) if r[0] == "行政村")
    header = [h for h in table[start] if h is not None]
    assert header[1:4] == ["兜底保障", "因病", "因残"]
    assert header[4:] == [
        "合计",
        "其中：本次新增",
        "待走访核实",
        "已超过核实时限",
        "已报送",
        "上次清单以来已解除",
    ]
    body = {}
    for r in table[start + 1 :]:
        if r[0] is None:
            break
        body[r[0]] = dict(zip(header[1:], r[1 : len(header)], strict=True))
    total = body.pop("合计")
    assert total["合计"] == info.rows == sum(total[t] for t in ("兜底保障", "因病", "因残"))
    assert total["已超过核实时限"] == info.overdue == 2  # open since LATE_SEEN, unanswered
    assert total["待走访核实"] == info.rows  # nothing answered yet
    assert "（未填行政村）" in body  # the outsider placed with a blank village
    rules = next(i for i, r in enumerate(table) if r[0] == "预警规则")
    assert table[rules][1] == "风险类型"


# ----------------------------------------------------------------- which list holds what


def test_problem_lists_leave_out_warnings_and_included(warehouse, tmp_path):
    con, warnings = warehouse
    # An included finding of a problem rule is left off as well (decision 5).
    con.execute("UPDATE findings SET status = 'included' WHERE rule_code = 'phone_invalid'")
    problems, infos = write_both(con, tmp_path / "out")
    assert set(problems) == set(TOWNS)  # no 问题清单 for a township with warnings only
    for township, info in problems.items():
        rows = sheet_rows(info.path)
        codes = {r["问题代码"] for r in rows.values()}
        assert codes and not codes & WARNING_CODES and "phone_invalid" not in codes
        (n,) = con.execute(
            "SELECT count(*) FROM findings WHERE township = ? "
            "AND status NOT IN ('waived', 'included') AND rule_code NOT IN ?",
            [township, tuple(WARNING_CODES)],
        ).fetchone()
        assert info.rows == len(rows) == n
        # The township's two lists share its folder.
        assert infos[township].path.parent == info.path.parent
    for info in infos.values():
        assert {r["风险类型"] for r in sheet_rows(info.path).values()} <= set(RISK.values())
    # A township with problems and no warnings gets only its 问题清单.
    con.execute(
        "DELETE FROM findings WHERE township = '龙泉镇' AND rule_code IN ?", [tuple(WARNING_CODES)]
    )
    problems, infos = write_both(con, tmp_path / "again")
    assert "龙泉镇" in problems and "龙泉镇" not in infos
    assert [p.name for p in (tmp_path / "again" / "龙泉镇").iterdir()] == [
        problems["龙泉镇"].path.name
    ]


def test_isolation_of_both_workbooks(warehouse, tmp_path):
    """A township's two workbooks hold its own rows only (outsiders placed there
    included); 未能定位 rows are only on the 未能定位 list."""
    con, warnings = warehouse
    problems, infos = write_both(con, tmp_path / "out")
    everything = con.execute(
        "SELECT township, village, name, id_number, household_id, head_name, problem_id "
        "FROM findings"
    ).fetchall()
    workbooks = [*problems.values(), *infos.values()]
    assert len(workbooks) == 2 * len(TOWNS) + 2
    for info in workbooks:
        with zipfile.ZipFile(info.path) as z:  # every XML part, not only cell values
            raw = "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        foreign = set()
        for township, *values in everything:
            if township != info.township:
                foreign |= {township, *values}
        foreign.discard(None)
        foreign -= {info.township}
        assert foreign
        for value in foreign:
            assert value not in raw, (info.path.name, value)
    unplaced = [w for w in warnings if w["township"] == UNPLACED_TOWNSHIP]
    assert unplaced and all(w["village"] is None for w in unplaced)
    info = infos[UNPLACED_TOWNSHIP]
    assert info.path.relative_to(tmp_path / "out").as_posix() == (
        f"未能定位/监测预警核实清单_{COUNTY}_未能定位_20240610.xlsx"
    )
    assert set(sheet_rows(info.path)) == set(listed(warnings, UNPLACED_TOWNSHIP))
    wb = openpyxl.load_workbook(info.path)
    assert wb.sheetnames[1] == UNPLACED_TOWNSHIP
    summary = [v for row in wb[SUMMARY_SHEET].iter_rows(values_only=True) for v in row]
    assert "（未能定位）" in summary and "（未填行政村）" not in summary
    # Outsiders placed in a township are on its list, nowhere else.
    for township in TOWNS:
        outsiders = {
            pid for pid, w in listed(warnings, township).items() if w["household_id"] is None
        }
        assert outsiders and outsiders <= set(sheet_rows(infos[township].path))


# ------------------------------------------------------------------- answers and 填报状态


def answer(pid, township, **fields) -> dict:
    row = {
        "problem_id": pid,
        "township": township,
        "source_file": "returned.xlsx",
        "sheet": "x",
        "row_number": 2,
        "checksum": "c",
        "loaded_at": datetime(2024, 6, 8, 8, 0),
    }
    return row | fields


def test_carried_answers_with_a_conclusion_and_todo_texts(warehouse, tmp_path):
    con, warnings = warehouse
    create_table(con, "feedback_responses")
    mine = listed(warnings, "东风镇")
    late = sorted(pid for pid, w in mine.items() if w["first_seen"] == LATE_SEEN)
    fresh = sorted(pid for pid, w in mine.items() if w["first_seen"] == RUN_DATE)
    assert len(late) == 2 and len(fresh) == 2
    visit = date(2024, 6, 6)
    given = [
        answer(late[0], "东风镇", conclusion="符合条件待纳入", verified_on=visit, verifier="张三"),
        answer(late[1], "东风镇", conclusion="不符合纳入条件", note="", verifier="李四"),
        answer(
            fresh[0], "东风镇", conclusion="不符合纳入条件", note="已在外地参保", verified_on=visit
        ),
        # Another township's answer is never carried onto this list.
        answer(fresh[1], "红旗乡", conclusion="已纳入监测"),
    ]
    names = tuple(given[0]) + ("conclusion", "note", "verified_on", "verifier")
    names = tuple(dict.fromkeys(names))
    con.executemany(
        insert_sql("feedback_responses", names), [[g.get(n) for n in names] for g in given]
    )
    _, infos = write_both(con, tmp_path / "out")
    info = infos["东风镇"]
    rows = sheet_rows(info.path)
    due = {pid: mine[pid]["due_date"] for pid in mine}

    r = rows[late[0]]
    assert r["核实结论"] == "符合条件待纳入" and r["核实人"] == "张三"
    assert r["走访日期"].date() == visit and r["说明"] is None
    assert r[TODO_HEADER] == (
        f"待纳入：符合条件待纳入，已超过核实时限（{due[late[0]]:%Y-%m-%d}），"
        "请完成纳入程序后改为已纳入监测"
    )
    assert rows[late[1]][TODO_HEADER] == "待补充：核实结论为不符合纳入条件，请在说明中写明理由"
    r = rows[fresh[0]]
    assert r["说明"] == "已在外地参保"
    assert r[TODO_HEADER] == "已报送：不符合纳入条件，待区扶贫办审核"
    r = rows[fresh[1]]
    assert r["核实结论"] is None and r[TODO_HEADER] == "待走访核实"
    assert info.carried == 3
    assert info.overdue == 1  # 符合条件待纳入 past 核实时限; 不符合纳入条件 is not overdue
    assert info.todo == sum(x[TODO_HEADER].startswith(TODO_PREFIX) for x in rows.values())
    # Unanswered and past 核实时限 elsewhere.
    other = infos["红旗乡"]
    texts = {x[TODO_HEADER] for x in sheet_rows(other.path).values()}
    late_due = LATE_SEEN.toordinal() + 15
    assert f"待走访核实：已超过核实时限（{date.fromordinal(late_due):%Y-%m-%d}）" in texts
    # The fill-in cells stay editable, the rest locked.
    assert not rows[late[0]]["_locked"]["核实结论"] and rows[late[0]]["_locked"][TODO_HEADER]


# ------------------------------------------------------------------------- hostile data


def test_hostile_texts_in_warnings_are_never_formulas(warehouse, tmp_path):
    con, _ = warehouse
    pids = [
        p
        for (p,) in con.execute(
            "SELECT problem_id FROM findings WHERE rule_code IN ? "
            "AND status NOT IN ('waived', 'included') ORDER BY 1",
            [tuple(WARNING_CODES)],
        ).fetchall()
    ]
    for pid, text in zip(pids, FORMULAS, strict=False):
        con.execute(
            "UPDATE findings SET evidence = ?, name = ? WHERE problem_id = ?",
            [text + "\x07\ufffe", text, pid],
        )
    con.execute(
        "UPDATE findings SET evidence = repeat('很', 40000) WHERE problem_id = ?", [pids[-1]]
    )
    _, infos = write_both(con, tmp_path / "out")
    for info in infos.values():
        assert formula_parts(info.path) == []
        openpyxl.load_workbook(info.path)  # still a valid package
    cells = [
        c.value
        for info in infos.values()
        for ws in openpyxl.load_workbook(info.path).worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str)
    ]
    assert any("内容过长，已截断" in c for c in cells)
    assert not any("\x07" in c or "\ufffe" in c for c in cells)


# --------------------------------------------------------------------------- encryption


def test_warning_lists_are_encrypted_with_the_township_password(warehouse, tmp_path):
    con, _ = warehouse
    _, infos = write_both(con, tmp_path / "out")
    passwords = {t: f"pw-{i:02d}-2026-{t}" for i, t in enumerate(infos)}
    plain = {t: set(sheet_rows(i.path)) for t, i in infos.items()}
    done = oc.encrypt_workbooks(infos.values(), passwords)
    assert sorted(done) == sorted(i.path for i in infos.values())
    for township, info in infos.items():
        assert oc.is_encrypted(info.path) and not zipfile.is_zipfile(info.path)
        copy = tmp_path / f"{township}.xlsx"
        copy.write_bytes(oc.decrypt(info.path, passwords[township]))
        assert set(sheet_rows(copy)) == plain[township]
    with pytest.raises(oc.WrongPasswordError):
        oc.decrypt(infos["东风镇"].path, passwords[UNPLACED_TOWNSHIP])


def test_unplaced_list_needs_its_own_password(warehouse, tmp_path):
    con, _ = warehouse
    _, infos = write_both(con, tmp_path / "out")
    passwords = {t: f"pw-{i:02d}-2026-{t}" for i, t in enumerate(infos)}
    del passwords[UNPLACED_TOWNSHIP]
    with pytest.raises(oc.PasswordsError, match=UNPLACED_TOWNSHIP):
        oc.encrypt_workbooks(infos.values(), passwords)
    assert not any(i.path.exists() for i in infos.values())  # none left as plaintext


def test_report_links_both_workbooks(warehouse, tmp_path):
    """The report asset's links: 问题清单 under the township, the 监测预警核实清单
    beside it, the 未能定位 list (and a warnings-only township's) under its own name."""
    con, _ = warehouse
    problems, infos = write_both(con, tmp_path / "out")
    links = workbook_links(tmp_path / "out")
    rel = {k: (tmp_path / "out" / v) for k, v in links.items()}
    for township in TOWNS:
        assert rel[township] == problems[township].path
        assert rel[f"{township} 监测预警核实清单"] == infos[township].path
    assert rel[UNPLACED_TOWNSHIP] == infos[UNPLACED_TOWNSHIP].path
    assert rel[WARNING_ONLY_TOWNSHIP] == infos[WARNING_ONLY_TOWNSHIP].path
    assert len(links) == len(problems) + len(infos)
