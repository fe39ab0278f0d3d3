"""The rectification loop end to end, with the real rule engine and real workbooks.

Run 1 finds people without medical insurance → lists are published → townships
fill them in → feedback is read and the office accepts a waiver → run 2 (some
people insured meanwhile, one new case) → statuses, history, rejects and the
new lists must be exactly right. Run 2 again (same date) and run 3 check that
nothing is derived twice and that waived stays waived once the finding is gone.
"""

from __future__ import annotations

import csv
from datetime import date, datetime

import duckdb
import openpyxl
import pytest

from checks.engine import run_rules, write_problems_csv
from checks.rules import RULES_BY_CODE
from publishing.outbox import publish_run
from publishing.workbooks import REOPENED_PREFIX, SUMMARY_SHEET, write_township_workbooks
from rectification.feedback import load_feedback
from rectification.status import accept_waivers, derive_statuses, pending_waivers
from tests.helpers_problem_lists import (
    DUE_DAYS,
    fill_workbook,
    header_index,
    listed_ids,
    make_id,
    mark_lists,
)
from warehouse.schema import create_all

RUN1, RUN2, RUN3 = date(2024, 6, 10), date(2024, 6, 17), date(2024, 6, 24)
RULES = [RULES_BY_CODE["medical_insurance_missing"]]
TOWNSHIPS = ["东风镇", "红旗乡", "龙泉镇"]
SURNAMES = "赵钱孙"


def person(ti, vi, hi, mi):
    """Register row of member ``mi`` of household ``hi`` in village ``vi`` of township ``ti``."""
    township = TOWNSHIPS[ti]
    hh = f"5323{ti:02d}{vi:02d}{hi:04d}"
    seq = ti * 100 + vi * 20 + hi * 2 + mi + 1
    name = f"{SURNAMES[ti]}{'上下'[vi]}{'甲乙丙丁戊己'[hi]}{'一二'[mi]}"  # unique
    return {
        "year": 2024,
        "county": "云岭县",
        "township": township,
        "village": f"{township[:2]}{'上下'[vi]}村",
        "village_group": f"{hi % 2 + 1}组",
        "household_id": hh,
        "person_id": f"P{seq:05d}",
        "name": name,
        "id_number": make_id("532301", date(1960 + hi, 1 + mi, 1 + vi), seq),
        "relation": "户主" if mi == 0 else "子",
        # Heads are insured; every second member is not → one finding per household.
        "has_medical_insurance": mi == 0,
    }


def load_register(con, people):
    con.execute("DELETE FROM register")
    cols = list(people[0])
    con.executemany(
        f"INSERT INTO register ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [[p[c] for c in cols] for p in people],
    )


def night(con, run_date, outbox, inbox):
    """What the nightly job does, in its order (assets/findings.py, assets/rectification.py,
    assets/outputs.py)."""
    run_rules(con, run_date, rules=RULES)
    fb = load_feedback(
        con, inbox / "feedback", loaded_at=datetime.combine(run_date, datetime.min.time())
    )
    life = derive_statuses(con)
    with publish_run(outbox, run_date) as folder:
        infos = write_township_workbooks(con, run_date, folder, DUE_DAYS)
        mark_lists(con, infos, run_date)  # the signed township marker, if the writer did not
        write_problems_csv(con, folder / "problems.csv")
    final = outbox / run_date.isoformat()
    return {i.township: final / i.path.relative_to(folder) for i in infos}, fb, life


def statuses(con):
    return dict(con.execute("SELECT name, status FROM findings").fetchall())


def history(con):
    cur = con.execute(
        "SELECT f.name, h.* FROM finding_history h "
        "JOIN (SELECT DISTINCT problem_id, name FROM findings_names) f USING (problem_id)"
    )
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


@pytest.fixture
def county(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_all(con)  # as warehouse.connect does
    people = [
        person(ti, vi, hi, mi)
        for ti in range(len(TOWNSHIPS))
        for vi in range(2)
        for hi in range(4)
        for mi in range(2)
    ]
    load_register(con, people)
    # Names survive a finding's disappearance here (findings only holds tonight).
    con.execute("CREATE TABLE findings_names (problem_id VARCHAR, name VARCHAR)")
    yield con, people, tmp_path / "outbox", tmp_path / "inbox"
    con.close()


def remember_names(con):
    con.execute(
        "INSERT INTO findings_names SELECT problem_id, name FROM findings "
        "WHERE problem_id NOT IN (SELECT problem_id FROM findings_names)"
    )


def test_round_trip(county):
    con, people, outbox, inbox = county

    # ---------------------------------------------------------------- run 1
    lists1, fb1, _ = night(con, RUN1, outbox, inbox)
    remember_names(con)
    assert fb1.files_read == 0
    assert set(statuses(con).values()) == {"new"} and len(statuses(con)) == 24
    ids = dict(con.execute("SELECT name, problem_id FROM findings").fetchall())

    # The 东风镇 township answers its list (a copy, renamed, in its own folder).
    d = "赵上"  # 东风镇's first village
    ans = {"核实人": "王五", "核实日期": datetime(2024, 6, 14)}
    fill_workbook(
        lists1["东风镇"],
        inbox / "feedback" / "东风镇" / "东风镇反馈.xlsx",
        {
            ids[f"{d}甲二"]: {**ans, "核实结果": "属实", "整改情况": "整改中"},
            ids[f"{d}乙二"]: {**ans, "核实结果": "属实", "整改情况": "已整改"},  # not true
            ids[f"{d}丙二"]: {**ans, "核实结果": "属实", "整改情况": "已整改"},  # true
            ids[f"{d}丁二"]: {**ans, "核实结果": "不属实", "整改说明": "已在外地参保，见参保凭证"},
            # 不属实 without an explanation: not a waiver candidate.
            ids["赵下甲二"]: {**ans, "核实结果": "不属实"},
            ids["赵下乙二"]: {**ans, "核实结果": "对的"},  # not in the dropdown
        },
    )
    # 红旗乡 answers 不属实 with a reason, but the office does not accept it.
    fill_workbook(
        lists1["红旗乡"],
        inbox / "feedback" / "红旗乡.xlsx",
        {ids["钱上甲二"]: {**ans, "核实结果": "不属实", "整改说明": "本人在部队，军人保险"}},
        edit=_unknown_row,
    )
    fb = load_feedback(con, inbox / "feedback", loaded_at=datetime(2024, 6, 15, 9, 0))
    # 赵下乙二's 核实结果 is not taken, its 核实人 and 核实日期 are (a partial answer).
    assert (fb.files_read, fb.accepted, fb.rejected, fb.fields_rejected) == (2, 7, 1, 1)

    pending = {p["problem_id"] for p in pending_waivers(con)}
    assert pending == {ids[f"{d}丁二"], ids["钱上甲二"]}
    with pytest.raises(ValueError, match="not pending"):
        accept_waivers(con, [ids["赵下甲二"]], "区扶贫办李四", date(2024, 6, 16))
    assert accept_waivers(con, [ids[f"{d}丁二"]], "区扶贫办李四", date(2024, 6, 16)) == [
        ids[f"{d}丁二"]
    ]
    assert {p["problem_id"] for p in pending_waivers(con)} == {ids["钱上甲二"]}

    # ---------------------------------------------------------------- run 2
    # Between the runs: 赵丙二 really got insured; a new uninsured person appears.
    for p in people:
        if p["name"] == f"{d}丙二":
            p["has_medical_insurance"] = True
    newcomer = person(0, 0, 5, 1)
    assert newcomer["name"] == f"{d}己二"
    load_register(con, [*people, newcomer])
    lists2, fb2, life2 = night(con, RUN2, outbox, inbox)
    remember_names(con)
    assert (fb2.files_read, fb2.files_skipped) == (0, 2)  # nothing read twice
    assert (life2.waived, life2.reopened_after_rectified, life2.pending_waivers) == (1, 1, 1)

    st = statuses(con)
    assert st[f"{d}甲二"] == "open"
    assert st[f"{d}乙二"] == "reopened"  # said 已整改, still found
    assert f"{d}丙二" not in st  # rectified: gone from findings
    assert st[f"{d}丁二"] == "waived"  # kept in findings (dashboard counts)…
    assert st[f"{d}己二"] == "new"
    assert st["钱上甲二"] == "open"  # waiver not accepted
    assert st["赵下甲二"] == st["赵下乙二"] == "open"
    assert len(st) == 24 - 1 + 1  # −rectified +newcomer
    assert list(st.values()).count("open") == len(st) - 3  # all but reopened/waived/new

    h = history(con)
    assert (h[f"{d}丙二"]["status"], h[f"{d}丙二"]["resolved_on"]) == ("resolved", RUN2)
    assert (h[f"{d}丁二"]["status"], h[f"{d}丁二"]["resolved_on"]) == ("waived", None)
    assert h[f"{d}乙二"]["status"] == "reopened" and h[f"{d}乙二"]["first_seen"] == RUN1
    assert h[f"{d}己二"]["first_seen"] == RUN2

    # …but off the lists; the reopened one is marked; the rectified one counted.
    on2 = listed_ids(lists2["东风镇"])
    assert ids[f"{d}丁二"] not in on2 and ids[f"{d}丙二"] not in on2
    assert ids[f"{d}乙二"] in on2 and ids["钱上甲二"] in listed_ids(lists2["红旗乡"])
    wb = openpyxl.load_workbook(lists2["东风镇"])
    sheet, row = on2[ids[f"{d}乙二"]]
    desc = wb[sheet].cell(row, header_index(wb[sheet])["问题描述"]).value
    assert desc.startswith(REOPENED_PREFIX)
    marked = [
        c.value
        for ws in wb.worksheets[1:]
        for (c,) in ws.iter_rows(min_row=2, min_col=10, max_col=10)
        if str(c.value).startswith(REOPENED_PREFIX)
    ]
    assert len(marked) == 1
    summary = list(wb[SUMMARY_SHEET].iter_rows(values_only=True))
    head = next(r for r in summary if r[0] == "行政村")
    total = next(r for r in summary if r[0] == "合计")
    col = {h: i for i, h in enumerate(head)}
    assert total[col["上次清单以来已整改"]] == 1
    assert total[col["其中：重新出现"]] == 1 and total[col["其中：本次新增"]] == 1
    assert total[col["合计"]] == 8 - 2 + 1  # 8 households, −rectified −waived, +newcomer

    # problems.csv keeps the waived row with its status.
    with open(outbox / RUN2.isoformat() / "problems.csv", encoding="utf-8-sig") as fh:
        csv_status = {r["name"]: r["status"] for r in csv.DictReader(fh)}
    assert csv_status[f"{d}丁二"] == "waived" and csv_status[f"{d}乙二"] == "reopened"

    # Responses are history, rejects are exact.
    assert con.execute("SELECT count(*) FROM feedback_responses").fetchone() == (7,)
    rej = con.execute(
        "SELECT feed, source_file, column_name, raw_value, reason_zh FROM rejects ORDER BY 2"
    ).fetchall()
    assert [(f, s, c, v) for f, s, c, v, _ in rej] == [
        ("feedback", "feedback/东风镇/东风镇反馈.xlsx", "核实结果", "对的"),
        ("feedback", "feedback/红旗乡.xlsx", "问题编号", "XX-UNKNOWN01"),
    ]
    assert all(zh and not zh.isascii() for *_, zh in rej)

    # The first night's folder is untouched beside the second.
    assert sorted(p.name for p in outbox.iterdir()) == [RUN1.isoformat(), RUN2.isoformat()]

    # ------------------------------------------------ run 2 again: same answer
    before = (statuses(con), history(con))
    night(con, RUN2, outbox, inbox)
    assert (statuses(con), history(con)) == before

    # ---------------------------------------------------------------- run 3
    # The waived person gets insured after all: the waived finding disappears but
    # stays waived in the history, with the date it went.
    for p in people:
        if p["name"] == f"{d}丁二":
            p["has_medical_insurance"] = True
    load_register(con, [*people, newcomer])
    night(con, RUN3, outbox, inbox)
    h = history(con)
    assert (h[f"{d}丁二"]["status"], h[f"{d}丁二"]["resolved_on"]) == ("waived", RUN3)
    assert (h[f"{d}丙二"]["status"], h[f"{d}丙二"]["resolved_on"]) == ("resolved", RUN2)
    # Still answered 已整改 and still found: stays reopened until a new answer says otherwise.
    assert statuses(con)[f"{d}乙二"] == "reopened"


def _unknown_row(wb):
    """A row typed in below the list, with an id the pipeline never issued."""
    ws = wb.worksheets[1]
    cols = header_index(ws)
    row = ws.max_row + 1
    ws.cell(row, cols["问题编号"]).value = "XX-UNKNOWN01"
    ws.cell(row, cols["核实结果"]).value = "属实"
