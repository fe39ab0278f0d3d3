"""A tiny hand-made warehouse for the problem-list and feedback tests.

Nine townships of one county, two or three villages each, with ``findings`` and
``finding_history`` created exactly as docs/warehouse.md describes. Every
township uses its own surname, area code and plate prefix, so a name, ID number
or household id seen in another township's workbook is a leak, never a
coincidence.

Also: reading a written list back, filling a returned list as a township would,
and the marked two-township lists of the feedback tests.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import openpyxl

from core.idcard import check_digit
from publishing.workbooks import (
    FILL_IN_HEADERS,
    HEADERS,
    SUMMARY_SHEET,
    TODO_HEADER,
    TODO_PREFIX,
    write_township_workbooks,
)
from rectification.authority import MARKER_SHEET, ensure_signing_key, make_marker, signing_key
from warehouse.schema import columns, insert_sql

RUN_DATE = date(2024, 6, 10)
PREV_RUN = date(2024, 6, 3)
OLDER_RUN = date(2024, 5, 27)
DUE_DAYS = {"high": 15, "medium": 30, "low": 60}
COUNTY = "云岭县"

TOWNSHIPS = [
    "东风镇",
    "红旗乡",
    "龙泉镇",
    "白沙乡",
    "青山镇",
    "石门乡",
    "清水镇",
    "金川乡",
    "松林乡",
]
SURNAMES = "赵钱孙李周吴郑王冯"
GIVEN = [
    "秀英",
    "桂兰",
    "建国",
    "志强",
    "玉梅",
    "永福",
    "德明",
    "春花",
    "海燕",
    "国庆",
    "丽华",
    "文斌",
]
GROUPS = ["1组", "2组", "10组"]

# code, Chinese name, category, severity, department, person-level?, requirement
RULES = [
    (
        "owns_car",
        "家庭成员名下有车辆",
        "疑似错评",
        "high",
        "公安",
        True,
        "核实车辆情况，不符合条件的按程序退出",
    ),
    (
        "owns_urban_property",
        "家庭成员在城镇有商品房",
        "疑似错评",
        "high",
        "住建",
        True,
        "核实房产情况",
    ),
    (
        "medical_insurance_missing",
        "未参加基本医疗保险",
        "保障缺失",
        "high",
        "本系统",
        True,
        "动员参保并更新系统",
    ),
    (
        "income_unchanged",
        "收入连续年度无变化",
        "需更新",
        "medium",
        "本系统",
        False,
        "入户核实收入并更新",
    ),
    ("id_invalid", "证件号码错误", "信息不准", "high", "本系统", True, "核对身份证原件并更正"),
    (
        "exited_below_income_line",
        "已脱贫户收入低于标准",
        "疑似错退",
        "high",
        "本系统",
        False,
        "核实收入，必要时纳入监测",
    ),
    (
        "phone_invalid",
        "联系电话错误或共用",
        "信息不准",
        "low",
        "本系统",
        False,
        "核实并更正联系电话",
    ),
]

FINDINGS_DDL = """
CREATE TABLE findings (
    problem_id VARCHAR, rule_code VARCHAR, category VARCHAR, severity VARCHAR,
    year INTEGER, county VARCHAR, township VARCHAR, village VARCHAR,
    village_group VARCHAR, household_id VARCHAR, id_number VARCHAR, name VARCHAR,
    department VARCHAR, description VARCHAR, evidence VARCHAR, first_seen DATE,
    status VARCHAR, head_name VARCHAR, rule_name_zh VARCHAR, requirement_zh VARCHAR,
    due_date DATE, run_date DATE, standing VARCHAR
)
"""
HISTORY_DDL = """
CREATE TABLE finding_history (
    problem_id VARCHAR, rule_code VARCHAR, township VARCHAR, village VARCHAR,
    household_id VARCHAR, id_number VARCHAR, first_seen DATE, last_seen DATE,
    resolved_on DATE, times_reopened INTEGER, status VARCHAR
)
"""


@dataclass
class Person:
    township: str
    village: str
    group: str
    household_id: str
    name: str
    id_number: str
    head_name: str


def make_id(area: str, birth: date, seq: int) -> str:
    """A valid 18-digit number for area code, birth date and sequence."""
    body = f"{area}{birth:%Y%m%d}{seq:03d}"
    return body + check_digit(body)


def problem_id(*parts: object) -> str:
    """Stable-looking problem id, as the rule engine would make one."""
    return "WT" + hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:10].upper()


def build_people(ti: int, township: str) -> list[Person]:
    surname = SURNAMES[ti]
    area = f"5323{ti + 10:02d}"
    people = []
    k = 0
    villages = [f"{township[:2]}{x}村" for x in ("上", "中", "下")[: 2 + ti % 2]]
    for vi, village in enumerate(villages):
        for hi in range(3):
            household = f"5323{ti + 10:02d}{vi:02d}{hi + 1:04d}"
            head = surname + GIVEN[(vi * 3 + hi) % len(GIVEN)]
            group = GROUPS[(hi + vi) % len(GROUPS)]
            for mi in range(2):
                name = (
                    head if mi == 0 else surname + GIVEN[(vi * 3 + hi + 5 + mi) % len(GIVEN)] + "儿"
                )
                birth = date(1950, 1, 1) + timedelta(days=k * 397 + ti)
                people.append(
                    Person(
                        township, village, group, household, name, make_id(area, birth, k + 1), head
                    )
                )
                k += 1
    return people


def build_warehouse(path: Path, townships: list[str] | None = None) -> duckdb.DuckDBPyConnection:
    """Create the warehouse at ``path`` and return an open connection."""
    con = duckdb.connect(str(path))
    ensure_signing_key(con)  # as warehouse.connect does: workbooks carry a signed marker
    con.execute(FINDINGS_DDL)
    con.execute(HISTORY_DDL)
    findings, history = [], []
    for ti, township in enumerate(townships or TOWNSHIPS):
        people = build_people(ti, township)
        statuses = ["new", "open", "reopened", "open", "new", "waived"]
        for pi, p in enumerate(people):
            # Each person gets one or two findings; rotate rules and statuses.
            for ri in [pi % len(RULES)] + ([(pi + 3) % len(RULES)] if pi % 3 == 0 else []):
                code, zh, cat, sev, dept, person_level, req = RULES[ri]
                if not person_level and p.name != p.head_name:
                    continue
                status = statuses[(pi + ri) % len(statuses)]
                pid = problem_id(
                    township, p.household_id, p.id_number if person_level else "", code
                )
                first = {
                    "new": RUN_DATE,
                    "open": PREV_RUN,
                    "reopened": OLDER_RUN,
                    "waived": OLDER_RUN,
                }[status]
                evidence = (
                    f"车管：云{chr(65 + ti)}·{ti}{pi:04d} 小型轿车 2022-05-10 登记"
                    if code == "owns_car"
                    else f"系统记录：{p.household_id}"
                )
                findings.append(
                    (
                        pid,
                        code,
                        cat,
                        sev,
                        2024,
                        COUNTY,
                        township,
                        p.village,
                        p.group,
                        p.household_id,
                        p.id_number,
                        p.name if person_level else None,
                        dept,
                        f"{zh}：年人均纯收入 2023年与2024年均为 5,{230 + pi} 元"
                        if code == "income_unchanged"
                        else f"{zh}（{p.name}）",
                        evidence,
                        first,
                        status,
                        p.head_name,
                        zh,
                        req,
                        RUN_DATE + timedelta(days=99),
                        RUN_DATE,
                    )
                )
                history.append(
                    (
                        pid,
                        code,
                        township,
                        p.village,
                        p.household_id,
                        p.id_number,
                        first,
                        RUN_DATE,
                        None,
                        1 if status == "reopened" else 0,
                        status,
                    )
                )
        # Resolved findings: one per village resolved tonight (counts as 已整改 since
        # last list), one resolved at the previous run (must not count).
        villages = sorted({p.village for p in people})
        for vi, village in enumerate(villages):
            p = next(x for x in people if x.village == village)
            for n, resolved in enumerate([RUN_DATE] * (vi + 1) + [PREV_RUN]):
                history.append(
                    (
                        problem_id(township, village, "resolved", n),
                        "owns_car",
                        township,
                        village,
                        p.household_id,
                        p.id_number,
                        OLDER_RUN,
                        PREV_RUN if resolved == RUN_DATE else OLDER_RUN,
                        resolved,
                        0,
                        "resolved",
                    )
                )
    con.executemany(insert_sql("findings", columns("findings")[:22]), findings)
    con.executemany(f"INSERT INTO finding_history VALUES ({', '.join('?' * 11)})", history)
    return con


# ------------------------------------------------------------- early warnings (预警)

# The three early-warning rules (monitoring.md §4, interface decision 1):
# code, Chinese name, department, 风险类型, severity, requirement.
WARNING_RULES = [
    ("dibao_not_monitored", "低保特困对象未纳入监测", "民政", "兜底保障", "medium", "入户核实"),
    ("high_medical_cost", "大额医疗自付费用预警", "医保", "因病", "high", "入户核实"),
    ("new_severe_disability", "新增重度残疾预警", "残联", "因残", "medium", "入户核实"),
]
VISIT_DAYS = 15
LATE_SEEN = date(2024, 5, 20)  # first seen then: 核实时限 2024-06-04 is past on RUN_DATE
WARNING_ONLY_TOWNSHIP = "和平乡"  # warnings, no problems: only a 监测预警核实清单
# Surname and area code of the people outside the register in the township
# with warnings only and on the 未能定位 list (no township of TOWNSHIPS uses them).
OUTSIDERS = {WARNING_ONLY_TOWNSHIP: ("褚", "532340"), "未能定位": ("卫", "532341")}


def use_warning_rules(monkeypatch) -> None:
    """Make the three codes early-warning rules of the catalogue if they are not yet
    (before rules E land): ``checks.rules.WARNING_RULE_CODES``, ``RULES_BY_CODE``
    and ``ALL_RULES`` as ``publishing.workbooks`` reads them."""
    from types import SimpleNamespace

    import checks.rules as catalogue

    missing = [r for r in WARNING_RULES if r[0] not in catalogue.WARNING_RULE_CODES]
    if not missing:
        return
    fakes = [
        SimpleNamespace(code=code, name_zh=zh, warning_list=True, risk_type_zh=risk)
        for code, zh, _, risk, _, _ in missing
    ]
    monkeypatch.setattr(
        catalogue, "WARNING_RULE_CODES", catalogue.WARNING_RULE_CODES | {f.code for f in fakes}
    )
    monkeypatch.setattr(catalogue, "ALL_RULES", [*catalogue.ALL_RULES, *fakes])
    for f in fakes:
        monkeypatch.setitem(catalogue.RULES_BY_CODE, f.code, f)


def _warning_row(pid, rule, status, first, township, village, hh, idn, name, head, standing):
    code, zh, dept, _risk, sev, req = rule
    return {
        "problem_id": pid,
        "rule_code": code,
        "category": "疑似漏评",
        "severity": sev,
        "year": 2024,
        "county": COUNTY,
        "township": township,
        "village": village,
        "village_group": None,
        "household_id": hh,
        "id_number": idn,
        "name": name,
        "department": dept,
        "description": f"{zh}（{name}）",
        "evidence": f"{dept}：{name} 2024-03-01 登记",
        "first_seen": first,
        "status": status,
        "head_name": head,
        "rule_name_zh": zh,
        "requirement_zh": req,
        "due_date": first + timedelta(days=VISIT_DAYS),
        "run_date": RUN_DATE,
        "standing": standing,
    }


def add_warnings(
    con: duckdb.DuckDBPyConnection, townships: list[str], *, extra: bool = True
) -> list[dict]:
    """Add early-warning findings (and their history) to a :func:`build_warehouse`
    warehouse built with ``townships`` (same order), and return them.

    Per township: three register persons (一般农户, 脱贫户, 监测对象(已消除)) and two
    people outside the register placed there (one in a village, one with a blank
    village), statuses new / open past 核实时限 / waived / included / new. With
    ``extra``: :data:`WARNING_ONLY_TOWNSHIP` (warnings only) and two unplaced people
    (township ``未能定位``, village NULL). Every outsider has the surname and area
    code of the township holding them, so a leak is never a coincidence.
    """
    rows = []
    standings = ["一般农户", "脱贫户", "监测对象(已消除)"]
    statuses = [("new", RUN_DATE), ("open", LATE_SEEN), ("waived", LATE_SEEN)]
    for ti, township in enumerate(townships):
        people = build_people(ti, township)
        for k, p in enumerate(people[0:6:2]):
            status, first = statuses[k]
            rule = WARNING_RULES[k]
            pid = problem_id(township, "warning", p.id_number, rule[0])
            rows.append(
                _warning_row(
                    pid,
                    rule,
                    status,
                    first,
                    township,
                    p.village,
                    p.household_id,
                    p.id_number,
                    p.name,
                    p.head_name,
                    standings[k],
                )
            )
        area = f"5323{ti + 10:02d}"
        villages = [people[0].village, None]
        for k, (status, first) in enumerate([("included", LATE_SEEN), ("new", RUN_DATE)]):
            rows.append(_outsider(township, area, SURNAMES[ti], villages[k], k, status, first))
        rows.append(
            _outsider(township, area, SURNAMES[ti], people[-1].village, 2, "open", LATE_SEEN)
        )
    if extra:
        for township, (surname, area) in OUTSIDERS.items():
            village = "和平村" if township == WARNING_ONLY_TOWNSHIP else None
            for k, (status, first) in enumerate([("new", RUN_DATE), ("open", LATE_SEEN)]):
                rows.append(_outsider(township, area, surname, village, k, status, first))
    names = tuple(rows[0])
    con.executemany(insert_sql("findings", names), [tuple(r.values()) for r in rows])
    con.executemany(
        f"INSERT INTO finding_history VALUES ({', '.join('?' * 11)})",
        [
            (
                r["problem_id"],
                r["rule_code"],
                r["township"],
                r["village"],
                r["household_id"],
                r["id_number"],
                r["first_seen"],
                RUN_DATE,
                None,
                0,
                r["status"],
            )
            for r in rows
        ],
    )
    return rows


def _outsider(township, area, surname, village, k, status, first) -> dict:
    """A person outside the register (no household, no head), placed in ``township``."""
    idn = make_id(area, date(1980 + k, 3, 1 + k), 800 + k)
    name = surname + GIVEN[(k + 7) % len(GIVEN)] + "外"
    rule = WARNING_RULES[k % len(WARNING_RULES)]
    pid = problem_id(township, "outsider", idn, rule[0])
    return _warning_row(
        pid, rule, status, first, township, village, None, idn, name, None, "不在册"
    )


def add_bulk_findings(con: duckdb.DuckDBPyConnection, total: int, townships: int = 10) -> None:
    """Replace findings with ``total`` synthetic rows over ``townships`` (timing runs)."""
    con.execute("DELETE FROM findings")
    rows = []
    for i in range(total):
        ti = i % townships
        code, zh, cat, sev, dept, person_level, req = RULES[i % len(RULES)]
        birth = date(1950, 1, 1) + timedelta(days=i % 20000)
        idn = make_id(f"5324{ti:02d}", birth, i % 1000)
        rows.append(
            (
                f"BULK{i:06d}",
                code,
                cat,
                sev,
                2024,
                COUNTY,
                f"乡镇{ti:02d}",
                f"村{(i // townships) % 12:02d}",
                f"{i % 9 + 1}组",
                f"H{ti:02d}{i % 400:05d}",
                idn,
                f"姓名{i}",
                dept,
                f"{zh}：年人均纯收入 2023年与2024年均为 5,{i % 1000:03d} 元，连续两年无变化",
                "车管：云A·12345 小型轿车 2022-05-10 登记",
                PREV_RUN,
                "open",
                f"户主{i}",
                zh,
                req,
                None,
                RUN_DATE,
            )
        )
    con.executemany(insert_sql("findings", columns("findings")[:22]), rows)


# ------------------------------------------------------------------ a township's hand


def header_index(ws) -> dict[str, int]:
    """Header -> 1-based column of a village sheet (row 1)."""
    return {c.value: c.column for c in ws[1] if c.value is not None}


def fill_workbook(
    src: Path,
    dst: Path,
    answers: dict[str, dict[str, object]],
    edit=None,
) -> dict[str, tuple[str, int]]:
    """Fill ``src`` as a township would and save it as ``dst`` (openpyxl, like Excel).

    ``answers``: 问题编号 -> {header: value} for the fill-in columns. ``edit(wb)``
    may mess with the workbook first (re-sort, delete rows, add sheets…).
    Returns 问题编号 -> (sheet, row) where each answer was written.
    """
    wb = openpyxl.load_workbook(src)
    if edit is not None:
        edit(wb)
    where: dict[str, tuple[str, int]] = {}
    for ws in wb.worksheets:
        cols = header_index(ws)
        if "问题编号" not in cols:
            continue
        for row in range(2, ws.max_row + 1):
            pid = ws.cell(row, cols["问题编号"]).value
            if pid in answers:
                for header, value in answers[pid].items():
                    ws.cell(row, cols[header]).value = value
                where[pid] = (ws.title, row)
    missing = set(answers) - set(where)
    assert not missing, f"problem ids not in {src.name}: {missing}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dst)
    return where


def listed_ids(path: Path) -> dict[str, tuple[str, int]]:
    """问题编号 -> (sheet, row) of every row of a problem-list workbook."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    out = {}
    for ws in wb.worksheets[1:]:
        if ws.title == MARKER_SHEET:
            continue
        rows = list(ws.iter_rows(values_only=True))
        col = rows[0].index("问题编号")
        for i, r in enumerate(rows[1:], start=2):
            out[r[col]] = (ws.title, i)
    return out


# ------------------------------------------------------------------ township marker


def set_marker(path: Path, text: object | None) -> None:
    """Write ``text`` to A1 of the very-hidden marker sheet of ``path`` (None: remove it)."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    if MARKER_SHEET in wb.sheetnames:
        del wb[MARKER_SHEET]
    if text is not None:
        ws = wb.create_sheet(MARKER_SHEET)
        ws["A1"] = text
        ws.sheet_state = "veryHidden"
    wb.save(path)


def has_marker(path: Path) -> bool:
    import openpyxl

    return MARKER_SHEET in openpyxl.load_workbook(path, read_only=True).sheetnames


def mark_lists(con: duckdb.DuckDBPyConnection, infos, run_date: date) -> None:
    """Give every written list its signed township marker if the writer did not.

    ``publishing.workbooks`` writes the marker itself (H2); until it does, this adds the
    same marker the way it would, so legitimate test workbooks are verifiable.
    """
    key = signing_key(con)
    for info in infos:
        if not has_marker(info.path):
            set_marker(info.path, make_marker(key, info.county, info.township, run_date))


def formula_parts(path: Path) -> list[str]:
    """XML parts of an xlsx package holding an ``<f>`` (formula) element."""
    with zipfile.ZipFile(path) as z:
        return [
            n
            for n in z.namelist()
            if n.endswith(".xml") and re.search(rb"<(\w+:)?f[ >]", z.read(n))
        ]


# ------------------------------------------------------------------ reading a list back


def list_rows(path: Path) -> dict[str, dict]:
    """问题编号 -> {header: value, "_locked": {header: locked?}, "_fill": {header: rgb}}."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        if ws.sheet_state != "visible" or "问题编号" not in header:
            continue
        assert header == list(HEADERS)
        for row in ws.iter_rows(min_row=2):
            rec = {h: c.value for h, c in zip(HEADERS, row, strict=True)}
            rec["_locked"] = {h: c.protection.locked for h, c in zip(HEADERS, row, strict=True)}
            rec["_fill"] = {
                h: (c.fill.fgColor.rgb if c.fill.fill_type == "solid" else None)
                for h, c in zip(HEADERS, row, strict=True)
            }
            out[rec["问题编号"]] = rec
    return out


def summary_todo_line(path: Path) -> str:
    ws = openpyxl.load_workbook(path)[SUMMARY_SHEET]
    (line,) = [
        c.value for c in ws["A"] if isinstance(c.value, str) and c.value.startswith("待填报")
    ]
    return line


def answer_of(rec: dict) -> dict:
    values = {h: rec[h] for h in FILL_IN_HEADERS}
    if isinstance(values["核实日期"], datetime):
        values["核实日期"] = values["核实日期"].date()
    return values


def needs_answer(rec: dict) -> bool:
    return rec[TODO_HEADER].startswith(TODO_PREFIX)


# ------------------------------------------------------------ returned lists (feedback)

LOADED = datetime(2024, 6, 20, 8, 0, 0)
ANSWER = {
    "核实结果": "属实",
    "整改情况": "整改中",
    "核实人": "张三",
    "核实日期": datetime(2024, 6, 15),
}
WAIVER = {"核实结果": "不属实", "整改说明": "车辆系同名他人所有", "核实人": "李四"}


def marked_lists(tmp_path: Path):
    """Two townships' warehouse, their lists with the signed township marker
    (rectification.authority), and an empty feedback folder: (con, {township: info}, folder)."""
    con = build_warehouse(tmp_path / "w.duckdb", townships=["东风镇", "红旗乡"])
    written = write_township_workbooks(con, RUN_DATE, tmp_path / "out", DUE_DAYS)
    mark_lists(con, written, RUN_DATE)
    folder = tmp_path / "inbox" / "feedback"
    folder.mkdir(parents=True)
    return con, {i.township: i for i in written}, folder


def ids_of(path, n=None):
    """问题编号 of a list in workbook order (the first ones are on the first village sheet)."""
    order = openpyxl.load_workbook(path, read_only=True).sheetnames
    got = sorted(listed_ids(path).items(), key=lambda x: (order.index(x[1][0]), x[1][1]))
    return [pid for pid, _ in got][:n]


def paste_rows(src_path, pids):
    """``edit`` for fill_workbook: copy the rows of ``pids`` from another township's list
    to the bottom of the first village sheet (what a careless or hostile cadre does)."""
    other = openpyxl.load_workbook(src_path)
    rows = []
    for ws in other.worksheets[1:]:
        cols = header_index(ws)
        if "问题编号" not in cols:
            continue
        rows += [
            [c.value for c in r]
            for r in ws.iter_rows(min_row=2)
            if r[cols["问题编号"] - 1].value in pids
        ]
    assert len(rows) == len(pids)

    def edit(wb):
        ws = wb.worksheets[1]
        for values in rows:
            ws.append(values)

    return edit


def first_ids(path, n, sheet_index=1):
    """The first ``n`` 问题编号 of a village sheet, in sheet order."""
    ids = listed_ids(path)
    sheet = openpyxl.load_workbook(path, read_only=True).sheetnames[sheet_index]
    return [pid for pid, (s, _) in sorted(ids.items(), key=lambda x: x[1][1]) if s == sheet][:n]


# Cell texts a spreadsheet would run as a formula (the hostile-workbook tests).
FORMULAS = [
    '=HYPERLINK("http://evil.example/x","点我")',
    "=cmd|' /C calc'!A0",
    "+1+2",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",  # full-width equals: Japanese/Chinese Excel turn it into a formula on edit
    "_x003D_1+1",  # Excel decodes _xHHHH_: this would display as "=1+1"
]
