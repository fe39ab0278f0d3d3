"""A hand-made warehouse for the run-report tests, and a parser for the page.

A real DuckDB file: three runs of rule_runs (one rule not run tonight, with a
reason that holds markup and an ID number), findings of every status, history with
rectified and reopened problems, township feedback, loads with a failed file and
rejects whose raw values are full IDs. ``warning_warehouse`` adds early warnings
(监测预警) with their 核实结论.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import duckdb

from checks.rules import ALL_RULES, RULES_BY_CODE
from core.idcard import check_digit
from warehouse.schema import columns, create_all, insert_sql

RUN0, RUN1, RUN2 = dt.date(2025, 11, 1), dt.date(2025, 11, 8), dt.date(2025, 11, 15)
NOT_RUN = "owns_car"
NOT_RUN_REASON = "机动车登记信息未收到 <script>alert(1)</script> 示例 530102199001011234"
# Columns named in every INSERT: other modules may add columns to their tables.
INSERT_FINDING = insert_sql("findings", columns("findings")[:22])
INSERT_HISTORY = insert_sql("finding_history")
RULE_RUNS_COLS = "run_date, rule_code, ran, reason, finding_count, duration_ms"
FEEDBACK_COLS = (
    "problem_id, township, village, verification, rectification, note, verifier, verified_on, "
    "source_file, sheet, row_number, checksum, loaded_at"
)
REJECTS_COLS = (
    "load_id, feed, source_file, sheet, row_number, column_name, raw_value, reason_zh, reason_en"
)
ID_RE = re.compile(r"(?<![0-9.])[0-9]{17}[0-9Xx](?![0-9])")


def make_id(n: int, birth: str = "19800101") -> str:
    body = f"530102{birth}{n:03d}"
    return body + check_digit(body)


# township, village, rule, status, first_seen, due_date
FINDINGS = [
    ("甲镇", "一村", "id_invalid", "new", RUN2, dt.date(2025, 12, 15)),
    ("甲镇", "一村", "income_unchanged", "new", RUN2, dt.date(2025, 12, 15)),
    ("甲镇", "二村", "medical_insurance_missing", "open", RUN0, dt.date(2025, 11, 10)),
    ("甲镇", "二村", "medical_insurance_missing", "reopened", RUN0, dt.date(2025, 11, 10)),
    ("乙乡", "三村", "exited_below_income_line", "open", RUN1, dt.date(2025, 12, 8)),
    ("乙乡", "三村", "public_employee", "new", RUN2, dt.date(2025, 12, 15)),
    ("乙乡", "四村", "business_owner", "waived", RUN0, dt.date(2025, 11, 10)),
    ("丙镇", "五村", "phone_invalid", "open", RUN0, dt.date(2025, 11, 10)),
    ("丙镇", "五村", "grade_stuck", "new", RUN2, dt.date(2025, 12, 15)),
    ("丙镇", "五村", "owns_urban_property", "reopened", RUN0, dt.date(2025, 11, 10)),
]
# Gone from the data: township, rule, first_seen, resolved_on, status
RESOLVED = [
    ("甲镇", "phone_invalid", RUN0, RUN2, "resolved"),
    ("甲镇", "income_unchanged", RUN0, RUN2, "resolved"),
    ("乙乡", "phone_invalid", RUN0, RUN2, "resolved"),
    ("丙镇", "grade_stuck", RUN0, RUN1, "resolved"),  # before the previous run
    ("乙乡", "owns_urban_property", RUN0, RUN2, "waived"),  # waived, then gone
]


def _pid(i: int) -> str:
    return f"TST-{i:010X}"


def report_warehouse(path: Path) -> Path:
    """The hand-made warehouse of the report tests, written to ``path``."""
    con = duckdb.connect(str(path))
    create_all(con)
    rows = []
    for i, (town, village, rule, status, first, due) in enumerate(FINDINGS):
        r = RULES_BY_CODE[rule]
        idn = make_id(i)
        rows.append(
            [
                _pid(i),
                rule,
                r.category,
                r.severity,
                2025,
                "云岭县",
                town,
                village,
                "一组",
                f"H{i:04d}",
                idn,
                f"张{i}",
                r.department,
                f"证件号码 {idn} 的问题描述",
                f"依据：{idn}",
                first,
                status,
                f"户主{i}",
                r.name_zh,
                r.requirement_zh,
                due,
                RUN2,
            ]
        )
    con.executemany(INSERT_FINDING, rows)
    hist = [
        [
            _pid(i),
            rule,
            town,
            village,
            f"H{i:04d}",
            make_id(i),
            first,
            RUN2,
            None,
            1 if status == "reopened" else 0,
            status,
        ]
        for i, (town, village, rule, status, first, _due) in enumerate(FINDINGS)
    ]
    hist += [
        [
            _pid(100 + j),
            rule,
            town,
            "六村",
            f"G{j:04d}",
            make_id(100 + j),
            first,
            resolved,
            resolved,
            0,
            status,
        ]
        for j, (town, rule, first, resolved, status) in enumerate(RESOLVED)
    ]
    con.executemany(INSERT_HISTORY, hist)

    this_run = Counter(f[2] for f in FINDINGS)
    runs = []
    for d, factor in ((RUN0, 3), (RUN1, 2)):
        runs += [[d, r.code, True, None, factor * this_run.get(r.code, 1), 5.0] for r in ALL_RULES]
    for r in ALL_RULES:
        if r.code == NOT_RUN:
            runs.append([RUN2, r.code, False, NOT_RUN_REASON, None, 0.0])
        else:
            runs.append([RUN2, r.code, True, None, this_run.get(r.code, 0), 4.0])
    con.executemany(f"INSERT INTO rule_runs ({RULE_RUNS_COLS}) VALUES (?, ?, ?, ?, ?, ?)", runs)

    t = dt.datetime(2025, 11, 15, 2, 0)
    fb = [
        # 甲镇: one answered 已整改 (still found → reopened), one 整改中; 乙乡: one answered
        [
            _pid(3),
            "甲镇",
            "二村",
            "属实",
            "已整改",
            "已参保",
            "李四",
            dt.date(2025, 11, 12),
            "feedback/甲镇.xlsx",
            "二村",
            3,
            "c1",
            t,
        ],
        [
            _pid(2),
            "甲镇",
            "二村",
            "属实",
            "整改中",
            "",
            "李四",
            dt.date(2025, 11, 12),
            "feedback/甲镇.xlsx",
            "二村",
            2,
            "c1",
            t,
        ],
        [
            _pid(4),
            "乙乡",
            "三村",
            "部分属实",
            None,
            "核实中",
            "王五",
            dt.date(2025, 11, 13),
            "feedback/乙乡.xlsx",
            "三村",
            2,
            "c2",
            t,
        ],
        # an older answer of the same problem: the latest one counts
        [
            _pid(3),
            "甲镇",
            "二村",
            "属实",
            "整改中",
            "",
            "李四",
            dt.date(2025, 11, 5),
            "feedback/甲镇_old.xlsx",
            "二村",
            3,
            "c0",
            t - dt.timedelta(days=7),
        ],
    ]
    con.executemany(
        f"INSERT INTO feedback_responses ({FEEDBACK_COLS}) VALUES ({', '.join('?' * 13)})", fb
    )

    loads = [
        [
            "L1",
            "register",
            "register/2025年建档立卡.xlsx",
            1000,
            500,
            10,
            0,
            "loaded",
            None,
            dt.datetime(2025, 11, 10, 9, 0),
        ],
        [
            "L2",
            "hukou",
            "hukou/户籍_甲镇.csv",
            800,
            790,
            10,
            0,
            "loaded",
            None,
            dt.datetime(2025, 9, 1, 9, 0),
        ],
        [
            "L3",
            "hukou",
            "hukou/户籍_乙乡.csv",
            0,
            0,
            0,
            0,
            "failed",
            "无法识别表头",
            dt.datetime(2025, 11, 14, 9, 0),
        ],
        [
            "L4",
            "tax",
            "tax/2025年个税.xlsx",
            300,
            300,
            0,
            0,
            "loaded",
            None,
            dt.datetime(2025, 11, 1, 9, 0),
        ],
    ]
    for load_id, feed, src, read, loaded, rej, _w, status, err, mtime in loads:
        con.execute(
            "INSERT INTO loads (load_id, feed, source_file, checksum, size_bytes, modified_at, "
            "loaded_at, rows_read, rows_loaded, rows_rejected, status, error) "
            "VALUES (?, ?, ?, 'x', 1, ?, ?, ?, ?, ?, ?, ?)",
            [load_id, feed, src, mtime, t, read, loaded, rej, status, err],
        )
    rejects = []
    for k in range(10):
        reason = "证件号码校验位错误" if k < 6 else ("证件号码位数不对" if k < 9 else "合计行")
        rejects.append(
            [
                "L2",
                "hukou",
                "hukou/户籍_甲镇.csv",
                "",
                k + 2,
                "id_number",
                make_id(200 + k),
                reason,
                "bad id",
            ]
        )
        rejects.append(
            [
                "L1",
                "register",
                "register/2025年建档立卡.xlsx",
                "Sheet1",
                k + 2,
                "name",
                make_id(300 + k),
                "姓名为空",
                "name missing",
            ]
        )
    con.executemany(f"INSERT INTO rejects ({REJECTS_COLS}) VALUES ({', '.join('?' * 9)})", rejects)
    con.close()
    return path


# Early-warning findings (监测预警核实清单) added by ``warning_warehouse`` on top of
# ``report_warehouse``: township, rule, status, due_date, latest 核实结论, its 说明, and an
# older conclusion of the same problem (the latest one counts). Run date RUN2.
WARN_DUE_PAST, WARN_DUE_LATER = dt.date(2025, 11, 10), dt.date(2025, 11, 30)
WARNINGS = [
    # 民政 · 兜底保障
    ("甲镇", "dibao_not_monitored", "open", WARN_DUE_PAST, None, None, None),  # overdue
    ("甲镇", "dibao_not_monitored", "open", WARN_DUE_PAST, "已纳入监测", "已申请", None),
    ("乙乡", "dibao_not_monitored", "open", WARN_DUE_PAST, "符合条件待纳入", "", None),  # overdue
    ("乙乡", "dibao_not_monitored", "open", WARN_DUE_PAST, "不符合纳入条件", "收入超标", None),
    ("乙乡", "dibao_not_monitored", "open", WARN_DUE_PAST, "不符合纳入条件", "", None),  # no 说明
    ("乙乡", "dibao_not_monitored", "waived", WARN_DUE_PAST, "不符合纳入条件", "已迁出", None),
    ("未能定位", "dibao_not_monitored", "new", WARN_DUE_LATER, None, None, None),
    # 医保 · 因病
    ("丙镇", "high_medical_cost", "included", WARN_DUE_PAST, "已是监测对象", "", None),
    ("丙镇", "high_medical_cost", "open", WARN_DUE_PAST, "已是监测对象", "", None),
    ("未能定位", "high_medical_cost", "new", WARN_DUE_LATER, None, None, None),
    ("丙镇", "high_medical_cost", "open", WARN_DUE_PAST, "符合条件待纳入", "", "已纳入监测"),
]
"""Expected per (预警来源部门·风险类型): warnings, answered, included, pending decision,
overdue, unplaced (waived left out; new_severe_disability ran and found nothing)."""
WARNING_EXPECTED = {
    "民政·兜底保障": (6, 4, 1, 1, 2, 1),
    "医保·因病": (4, 3, 1, 0, 1, 1),
    "残联·因残": (0, 0, 0, 0, 0, 0),
}


def _wid(i: int) -> str:
    return f"TSW-{i:010X}"


def warning_id(i: int) -> str:
    """The ID number of ``WARNINGS[i]`` (born 1990, apart from the other fixtures)."""
    return make_id(500 + i, "19900101")


def warning_warehouse(path: Path) -> Path:
    """``report_warehouse`` plus the early-warning findings of :data:`WARNINGS` and
    their responses (a 监测预警核实清单 answer: 核实结论 and 说明)."""
    report_warehouse(path)
    con = duckdb.connect(str(path))
    names = (*columns("findings")[:22], "standing")
    rows = []
    for i, (town, rule, status, due, *_answers) in enumerate(WARNINGS):
        r = RULES_BY_CODE[rule]
        idn = warning_id(i)
        placed = town != "未能定位"
        rows.append(
            [
                _wid(i),
                rule,
                r.category,
                r.severity,
                2025,
                "云岭县",
                town,
                "七村" if placed else None,
                None,
                f"W{i:04d}" if placed else None,
                idn,
                f"王{i}",
                r.department,
                f"{idn} 预警",
                f"民政/医保记录：{idn}",
                due - dt.timedelta(days=15),
                status,
                None,
                r.name_zh,
                r.requirement_zh,
                due,
                RUN2,
                "一般农户" if placed else "不在册",
            ]
        )
    con.executemany(insert_sql("findings", names), rows)
    con.executemany(
        INSERT_HISTORY,
        [
            [_wid(i), rule, town, None, None, warning_id(i), due - dt.timedelta(days=15)]
            + [RUN2, None, 0, status]
            for i, (town, rule, status, due, *_a) in enumerate(WARNINGS)
        ],
    )
    t = dt.datetime(2025, 11, 14, 20, 0)
    fb = []
    for i, (town, _rule, _st, _due, conclusion, note, older) in enumerate(WARNINGS):
        if conclusion is None and note is None:
            continue
        fb.append([_wid(i), town, "七村", note, "张核实", dt.date(2025, 11, 12), conclusion, t, i])
        if older:
            fb.append(
                [
                    _wid(i),
                    town,
                    "七村",
                    "",
                    "张核实",
                    dt.date(2025, 11, 2),
                    older,
                    t - dt.timedelta(days=7),
                    i,
                ]
            )
    for code, n in Counter(w[1] for w in WARNINGS).items():
        con.execute(
            "UPDATE rule_runs SET finding_count = ? WHERE run_date = ? AND rule_code = ?",
            [n, RUN2, code],
        )
    con.executemany(
        "INSERT INTO feedback_responses (problem_id, township, village, note, verifier, "
        "verified_on, conclusion, loaded_at, row_number, source_file, sheet, checksum) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'feedback/预警.xlsx', '七村', 'w1')",
        fb,
    )
    con.close()
    return path


class _Page(HTMLParser):
    """Headline numbers (data-kpi), table rows (data-*), links, text."""

    def __init__(self) -> None:
        super().__init__()
        self.kpis: dict[str, int] = {}
        self.rows: dict[tuple[str, str], list[str]] = {}
        self.hrefs: list[str] = []
        self.tags: Counter[str] = Counter()
        self.text: list[str] = []
        self._kpi: str | None = None
        self._in_value = False
        self._row: tuple[str, str] | None = None
        self._cell: list[str] | None = None
        self._table: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] += 1
        if tag == "table":
            self._table = a.get("id")
        if "data-kpi" in a:
            self._kpi = a["data-kpi"]
        if self._kpi and a.get("class") == "value":
            self._in_value = True
        if tag == "tr":
            for key in ("data-township", "data-rule", "data-feed", "data-warning"):
                if key in a:
                    self._row = (f"{self._table}:{key}", a[key])
                    self.rows[self._row] = []
        if tag in ("td", "th") and self._row:
            self._cell = []
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "div" and self._in_value:
            self._in_value = False
            self._kpi = None
        if tag in ("td", "th") and self._row and self._cell is not None:
            self.rows[self._row].append(" ".join(x.strip() for x in self._cell if x.strip()))
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in_value and self._kpi:
            self.kpis[self._kpi] = int(data.replace(",", ""))
        if self._cell is not None:
            self._cell.append(data)


def _num(cell: str) -> int:
    return int(re.match(r"[\d,]+", cell.strip()).group(0).replace(",", ""))
