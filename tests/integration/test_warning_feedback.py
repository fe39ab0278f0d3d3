"""The 监测预警核实清单 comes back (issue 12, item 3): a township answers its early
warnings in the real workbook, and the next nights show the right statuses.

The real engine, the real writers (``publishing.workbooks``) and the real reader. A
test-local early-warning rule stands in for the three of monitoring.md §4 (it reads
the register only, so the lifecycle is tested apart from the department feeds):
everyone enjoying 低保 is a warning, 是否在册 from the register. The catalogue is
extended with it for the test (the writers read it at call time), and
``medical_insurance_missing`` gives the townships a 问题清单 too.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime

import duckdb
import openpyxl
import pytest

from checks import rules as catalogue
from checks.engine import run_rules
from checks.rules import RULES_BY_CODE, Rule
from checks.rules.base import person_cols
from publishing.outbox import publish_run
from publishing.workbooks import write_township_workbooks, write_warning_workbooks
from rectification.feedback import load_feedback
from rectification.form import PROBLEM_FORM, TODO_HEADER, WARNING_FORM
from rectification.status import accept_waivers, derive_statuses, pending_waivers
from tests.helpers_problem_lists import DUE_DAYS, header_index, make_id, mark_lists
from warehouse.schema import create_all

RUN1, RUN2, RUN3 = date(2025, 6, 10), date(2025, 6, 17), date(2025, 6, 24)
VISITED = datetime(2025, 6, 13)
TOWNSHIPS = ["东风镇", "红旗乡"]

WARNING_RULE = Rule(
    code="test_dibao_warning",
    name_zh="低保对象疑似未纳入监测（测试）",
    category="疑似漏评",
    severity="high",
    department="民政",
    feeds=("register",),
    level="person",
    prefix="TDW",
    sql=f"""
SELECT {person_cols("p")},
       '享受低保，请走访核实是否符合监测对象认定条件' AS description,
       '民政：' || p.name || ' 享受低保' AS evidence,
       CASE WHEN p.is_monitored THEN '监测对象' ELSE '一般农户' END AS standing
FROM bd_reg p
WHERE p.enjoys_dibao
""",
    description_zh="享受低保（测试规则）",
    requirement_zh="入户走访核实，符合条件的按程序纳入监测。",
    warning_list=True,
    risk_type_zh="兜底保障",
)
RULES = [RULES_BY_CODE["medical_insurance_missing"], WARNING_RULE]

# 东风镇's people, by letter: what the register says on night 1 (all enjoy 低保, none
# monitored) and what happens before night 2.
#   a  answered 已纳入监测; the register then shows the household monitored
#   b  answered 已是监测对象; monitored, and its 低保 ended (no longer found)
#   c  answered 不符合纳入条件 with a reason: waits for the office
#   d  answered 已纳入监测, but the register does not show it yet
#   e  answered with a 核实结论 off the dropdown: that field is rejected
#   f  not answered
#   m  no 低保, without medical insurance: a finding of the 问题清单
LETTERS = "abcdef"


def person(ti: int, letter: str, *, dibao=True, monitored=False) -> dict:
    township = TOWNSHIPS[ti]
    k = "abcdefm".index(letter)
    return {
        "year": 2025,
        "county": "云岭县",
        "township": township,
        "village": f"{township[:2]}村",
        "village_group": "1组",
        "household_id": f"5323{ti:02d}00{k:04d}",
        "person_id": f"P{ti}{k:03d}",
        "name": f"{'赵钱'[ti]}{letter}",
        "id_number": make_id("532301", date(1970 + k, 1 + ti, 1), ti * 10 + k),
        "relation": "户主",
        "has_medical_insurance": letter != "m",
        "has_critical_illness_insurance": True,
        "dibao_status": "享受" if dibao and letter != "m" else "未享受",
        "household_kind": "监测户" if monitored else "一般农户",
        "monitoring_category": "突发严重困难户" if monitored else None,
    }


def load_register(con, people: list[dict]) -> None:
    con.execute("DELETE FROM register")
    cols = list(people[0])
    con.executemany(
        f"INSERT INTO register ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [[p[c] for c in cols] for p in people],
    )


@pytest.fixture
def county(tmp_path, monkeypatch):
    monkeypatch.setattr(
        catalogue, "WARNING_RULE_CODES", catalogue.WARNING_RULE_CODES | {WARNING_RULE.code}
    )
    monkeypatch.setattr(
        catalogue, "RULES_BY_CODE", {**catalogue.RULES_BY_CODE, WARNING_RULE.code: WARNING_RULE}
    )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_all(con)  # as warehouse.connect does
    load_register(con, [person(ti, x) for ti in range(2) for x in "abcdefm"])
    yield con, tmp_path / "outbox", tmp_path / "inbox"
    con.close()


def night(con, run_date, outbox, inbox):
    """The nightly order (assets/findings.py, assets/rectification.py, assets/outputs.py),
    the early-warning rule codes passed to the reader as the pipeline passes them."""
    run_rules(con, run_date, rules=RULES)
    fb = load_feedback(
        con,
        inbox / "feedback",
        loaded_at=datetime.combine(run_date, datetime.min.time()),
        warning_rules=catalogue.WARNING_RULE_CODES,
    )
    life = derive_statuses(con)
    with publish_run(outbox, run_date) as folder:
        infos = write_township_workbooks(con, run_date, folder, DUE_DAYS)
        infos += write_warning_workbooks(con, run_date, folder)
        mark_lists(con, infos, run_date)  # the signed marker, if a writer did not
    final = outbox / run_date.isoformat()
    return {(i.township, i.form): final / i.path.relative_to(folder) for i in infos}, fb, life


def pid_of(con, name: str) -> str:
    (pid,) = con.execute(
        "SELECT DISTINCT problem_id FROM finding_history h JOIN register r USING (id_number) "
        "WHERE r.name = ?",
        [name],
    ).fetchone()
    return pid


def sheet_rows(path) -> dict[str, dict]:
    """问题编号 -> {header: value} of every village sheet of a list."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        cols = header_index(ws)
        if ws.sheet_state != "visible" or "问题编号" not in cols:
            continue
        for row in range(2, ws.max_row + 1):
            rec = {h: ws.cell(row, j).value for h, j in cols.items()}
            out[rec["问题编号"]] = rec
    return out


def answer(src, dst, answers: dict[str, dict], extra_rows: list[dict] = ()) -> None:
    """Fill ``src`` as a township does, append ``extra_rows`` (header -> value) to the
    first village sheet, and save it as ``dst``."""
    wb = openpyxl.load_workbook(src)
    seen = set()
    first = None
    for ws in wb.worksheets:
        cols = header_index(ws)
        if ws.sheet_state != "visible" or "问题编号" not in cols:
            continue
        first = first or ws
        for row in range(2, ws.max_row + 1):
            pid = ws.cell(row, cols["问题编号"]).value
            for header, value in answers.get(pid, {}).items():
                ws.cell(row, cols[header]).value = value
                seen.add(pid)
    assert seen == set(answers), set(answers) - seen
    cols = header_index(first)
    for extra in extra_rows:
        row = first.max_row + 1
        for header, value in extra.items():
            first.cell(row, cols[header]).value = value
    dst.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dst)


def rejects(con) -> list[tuple]:
    return con.execute(
        "SELECT source_file, column_name, raw_value, reason_zh, reason_en FROM rejects "
        "WHERE feed = 'feedback' ORDER BY source_file, row_number, column_name"
    ).fetchall()


def test_a_township_answers_its_warnings_and_the_next_nights_show_the_statuses(county):
    con, outbox, inbox = county

    # ---------------------------------------------------------------- night 1
    lists, fb, _ = night(con, RUN1, outbox, inbox)
    assert fb.files_read == 0
    ids = {
        f"{'赵钱'[ti]}{x}": pid_of(con, f"{'赵钱'[ti]}{x}") for ti in range(2) for x in "abcdefm"
    }
    warning_list = lists[("东风镇", WARNING_FORM.kind)]
    problem_list = lists[("东风镇", PROBLEM_FORM.kind)]
    assert warning_list.name == f"监测预警核实清单_云岭县_东风镇_{RUN1:%Y%m%d}.xlsx"
    listed = sheet_rows(warning_list)
    assert set(listed) == {ids[f"赵{x}"] for x in LETTERS}
    assert set(sheet_rows(problem_list)) == {ids["赵m"]}
    assert all(r[TODO_HEADER] == "待走访核实" for r in listed.values())
    assert {r["是否在册"] for r in listed.values()} == {"一般农户"}

    # The township answers: on its 预警 list one row of 红旗乡 pasted in, and one row
    # for its 问题清单 problem; on its 问题清单 a row for one of its warnings.
    foreign_row = sheet_rows(lists[("红旗乡", WARNING_FORM.kind)])[ids["钱a"]]
    reason = "家庭年人均纯收入2.6万元，高于监测范围，经村民代表会议评议不符合纳入条件"
    visit = {"走访日期": VISITED, "核实人": "王五"}
    fed = inbox / "feedback" / "东风镇"
    answer(
        warning_list,
        fed / "预警核实（东风镇）.xlsx",
        {
            ids["赵a"]: {**visit, "核实结论": "已纳入监测"},
            ids["赵b"]: {**visit, "核实结论": "已是监测对象"},
            ids["赵c"]: {**visit, "核实结论": "不符合纳入条件", "说明": reason},
            ids["赵d"]: {**visit, "核实结论": "已纳入监测"},
            ids["赵e"]: {**visit, "核实结论": "已纳入"},  # off the dropdown
        },
        extra_rows=[
            {**foreign_row, "走访日期": VISITED, "核实结论": "不符合纳入条件", "说明": "无"},
            {"问题编号": ids["赵m"], "核实结论": "信息有误", "说明": "已参保"},
        ],
    )
    answer(
        problem_list,
        fed / "问题清单（东风镇）.xlsx",
        {ids["赵m"]: {"核实结果": "属实", "整改情况": "整改中", "核实人": "王五"}},
        extra_rows=[{"问题编号": ids["赵f"], "核实结果": "不属实", "整改说明": "不是问题"}],
    )

    # Before night 2: a's and b's households are in monitoring (b's 低保 ended), d's not yet.
    load_register(
        con,
        [
            person(ti, x, monitored=ti == 0 and x in "ab", dibao=not (ti == 0 and x == "b"))
            for ti in range(2)
            for x in "abcdefm"
        ],
    )

    # ---------------------------------------------------------------- night 2
    lists, fb, life = night(con, RUN2, outbox, inbox)
    assert (fb.files_read, fb.files_unverified) == (2, 0)
    # accepted: a b c d e on the 预警 list, m on the 问题清单; rejected: the 红旗乡 row,
    # m on the 预警 list, f on the 问题清单.
    assert (fb.accepted, fb.rejected, fb.fields_rejected) == (6, 3, 1)
    assert fb.rows_read == fb.accepted + fb.rejected + fb.not_filled

    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT problem_id, conclusion, note, verifier, verified_on, verification "
            "FROM feedback_latest"
        ).fetchall()
    }
    assert got == {
        ids["赵a"]: ("已纳入监测", None, "王五", VISITED.date(), None),
        ids["赵b"]: ("已是监测对象", None, "王五", VISITED.date(), None),
        ids["赵c"]: ("不符合纳入条件", reason, "王五", VISITED.date(), None),
        ids["赵d"]: ("已纳入监测", None, "王五", VISITED.date(), None),
        ids["赵e"]: (None, None, "王五", VISITED.date(), None),  # the rest of the row kept
        ids["赵m"]: (None, None, "王五", None, "属实"),
    }
    bad = rejects(con)
    assert len(bad) == 4
    by_column = {}
    for source, column, raw, zh, en in bad:
        by_column.setdefault((source.rsplit("/", 1)[-1], column, raw), (zh, en))
    zh, en = by_column[("预警核实（东风镇）.xlsx", "核实结论", "已纳入")]
    assert zh.startswith("核实结论只能填写：已纳入监测、符合条件待纳入、不符合纳入条件")
    assert "其余内容已采用" in zh and en.startswith("conclusion must be one of")
    zh, _ = by_column[("预警核实（东风镇）.xlsx", "问题编号", ids["钱a"])]
    assert "不是本乡镇（东风镇）监测预警核实清单中的问题" in zh
    assert "钱a" not in zh  # names the problem id, not the other township's person
    zh, en = by_column[("预警核实（东风镇）.xlsx", "问题编号", ids["赵m"])]
    assert "不是部门筛查预警线索，应在问题清单中填报" in zh and "not an early warning" in en
    zh, en = by_column[("问题清单（东风镇）.xlsx", "问题编号", ids["赵f"])]
    assert "是部门筛查预警线索，应在监测预警核实清单中填报" in zh and "is an early warning" in en
    # Locked cells are compared by the form's fields: a's 是否在册 changed since the list
    # went out. The 红旗乡 row's were not compared, nor those of rows on the wrong form.
    issues = con.execute(
        "SELECT problem_id, column_name, raw_value, expected_value FROM feedback_issues"
    ).fetchall()
    assert issues == [(ids["赵a"], "是否在册", "一般农户", "监测对象")]

    history = dict(con.execute("SELECT problem_id, status FROM finding_history").fetchall())
    found = dict(con.execute("SELECT problem_id, status FROM findings").fetchall())
    assert {x: history[ids[f"赵{x}"]] for x in LETTERS} == {
        "a": "included",  # answered and the register shows it
        "b": "included",  # no longer found, but included beats resolved
        "c": "open",  # waits for the office
        "d": "open",  # the register does not show it yet
        "e": "open",
        "f": "open",
    }
    assert found[ids["赵a"]] == "included" and ids["赵b"] not in found
    assert history[ids["钱a"]] == "open"  # the pasted row changed nothing
    assert life.included == 1 and life.pending_waivers == 1
    (pending,) = pending_waivers(con)
    assert (pending["problem_id"], pending["conclusion"], pending["note"]) == (
        ids["赵c"],
        "不符合纳入条件",
        reason,
    )

    # The lists of night 2: included warnings leave; the answers come back with their state.
    listed = sheet_rows(lists[("东风镇", WARNING_FORM.kind)])
    assert set(listed) == {ids[f"赵{x}"] for x in "cdef"}
    assert listed[ids["赵c"]][TODO_HEADER] == "已报送：不符合纳入条件，待区扶贫办审核"
    assert listed[ids["赵d"]][TODO_HEADER] == "已报送：已纳入监测，待登记数据核验"
    assert listed[ids["赵e"]][TODO_HEADER] == "待走访核实"
    assert listed[ids["赵e"]]["核实人"] == "王五"  # what was taken is carried forward
    assert "核实结论“已纳入”" in (listed[ids["赵e"]]["上次报送处理情况"] or "")

    # The township returns the night-2 list untouched: the carried answers are not new.
    shutil.copy(lists[("东风镇", WARNING_FORM.kind)], fed / "预警核实（原样退回）.xlsx")

    # The office accepts c's decision; d's household is registered meanwhile.
    accept_waivers(con, [ids["赵c"]], "区扶贫办", RUN2, "同意不纳入")
    load_register(
        con,
        [
            person(ti, x, monitored=ti == 0 and x in "abd", dibao=not (ti == 0 and x == "b"))
            for ti in range(2)
            for x in "abcdefm"
        ],
    )

    # ---------------------------------------------------------------- night 3
    lists, fb, life = night(con, RUN3, outbox, inbox)
    assert fb.files_skipped == 2  # read once, never again
    assert (fb.files_read, fb.accepted, fb.rejected, fb.unchanged) == (1, 0, 0, 3)  # c d e
    history = dict(con.execute("SELECT problem_id, status FROM finding_history").fetchall())
    assert {x: history[ids[f"赵{x}"]] for x in LETTERS} == {
        "a": "included",
        "b": "included",
        "c": "waived",
        "d": "included",
        "e": "open",
        "f": "open",
    }
    assert life.pending_waivers == 0
    listed = sheet_rows(lists[("东风镇", WARNING_FORM.kind)])
    assert set(listed) == {ids["赵e"], ids["赵f"]}
    # Deriving again changes nothing.
    assert derive_statuses(con) == life


def test_the_reader_tells_warnings_apart_by_default_from_the_findings(county):
    """Without warning_rules the early-warning rules are those whose findings carry
    是否在册 (findings.standing): the same answers, the same rejects."""
    con, outbox, inbox = county
    lists, _, _ = night(con, RUN1, outbox, inbox)
    ids = {f"赵{x}": pid_of(con, f"赵{x}") for x in "am"}
    fed = inbox / "feedback"
    answer(
        lists[("东风镇", WARNING_FORM.kind)],
        fed / "a.xlsx",
        {ids["赵a"]: {"核实结论": "已纳入监测"}},
        extra_rows=[{"问题编号": ids["赵m"], "核实结论": "信息有误", "说明": "已参保"}],
    )
    answer(
        lists[("东风镇", PROBLEM_FORM.kind)],
        fed / "b.xlsx",
        {ids["赵m"]: {"核实结果": "属实"}},
        extra_rows=[{"问题编号": ids["赵a"], "核实结果": "不属实", "整改说明": "不是问题"}],
    )
    res = load_feedback(con, fed, loaded_at=datetime(2025, 6, 12))
    assert (res.accepted, res.rejected) == (2, 2)
    got = dict(con.execute("SELECT problem_id, conclusion FROM feedback_latest").fetchall())
    assert got == {ids["赵a"]: "已纳入监测", ids["赵m"]: None}
    kinds = {r[2]: r[3] for r in rejects(con)}
    assert "应在问题清单中填报" in kinds[ids["赵m"]]
    assert "应在监测预警核实清单中填报" in kinds[ids["赵a"]]


def test_a_sheet_is_read_as_the_form_its_headers_name(county):
    """A 预警 sheet keeps being one with only 问题编号 and 核实结论 left, or its fill-in
    headers lengthened; a 问题清单 sheet with only 核实人 (in both forms) stays a 问题清单."""
    con, outbox, inbox = county
    lists, _, _ = night(con, RUN1, outbox, inbox)
    a, m = pid_of(con, "赵a"), pid_of(con, "赵m")
    key_lists = lists[("东风镇", WARNING_FORM.kind)], lists[("东风镇", PROBLEM_FORM.kind)]

    def strip(path, dst, keep: set[str], rename: dict[str, str], pid: str, values: dict):
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            cols = header_index(ws)
            if ws.sheet_state != "visible" or "问题编号" not in cols:
                continue
            for row in range(2, ws.max_row + 1):
                if ws.cell(row, cols["问题编号"]).value == pid:
                    for h, v in values.items():
                        ws.cell(row, cols[h]).value = v
            ws.protection.sheet = False
            for h, j in sorted(cols.items(), key=lambda x: -x[1]):
                if h not in keep:
                    ws.delete_cols(j)
            for cell in ws[1]:
                cell.value = rename.get(cell.value, cell.value)
        dst.parent.mkdir(parents=True, exist_ok=True)
        wb.save(dst)

    fed = inbox / "feedback"
    strip(
        key_lists[0],
        fed / "w.xlsx",
        {"问题编号", "核实结论", "说明"},
        {"核实结论": "核实结论（下拉选择）"},
        a,
        {"核实结论": "已纳入监测", "说明": "已于6月12日纳入"},
    )
    strip(key_lists[1], fed / "p.xlsx", {"问题编号", "核实人"}, {}, m, {"核实人": "王五"})
    res = load_feedback(con, fed, loaded_at=datetime(2025, 6, 12))
    assert (res.accepted, res.rejected) == (2, 0)
    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT problem_id, conclusion, note, verifier FROM feedback_latest"
        ).fetchall()
    }
    assert got == {a: ("已纳入监测", "已于6月12日纳入", None), m: (None, None, "王五")}
