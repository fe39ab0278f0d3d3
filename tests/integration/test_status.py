"""Finding statuses come from one derivation (rectification.status.derive_statuses):
history facts + the latest answers + waivers + the latest register year, in a fixed
order of precedence (waived > included > resolved > reopened > new > open)."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from rectification.status import FOUND_STATUS_ZH, STATUS_ZH, derive_statuses, pending_waivers
from warehouse.schema import create_all, insert_sql

D0, D1 = date(2025, 3, 1), date(2025, 3, 8)

# problem id: (first_seen, last_seen, resolved_on, times_reopened, in findings tonight)
FACTS = {
    "P-NEW": (D1, D1, None, 0, True),
    "P-OPEN": (D0, D1, None, 0, True),
    "P-GONE": (D0, D0, D1, 0, False),
    "P-BACK": (D0, D1, None, 1, True),
    "P-SAID-FIXED": (D0, D1, None, 0, True),
    "P-SAID-FIXED-THEN-NOT": (D0, D1, None, 0, True),
    "P-WAIVED-GONE": (D0, D0, D1, 0, False),
    "P-WAIVED": (D0, D1, None, 1, True),
    "P-FIXED-AND-GONE": (D0, D0, D1, 0, False),
    "P-NEW-SAID-FIXED": (D1, D1, None, 0, True),
}
# problem id: [(rectification, loaded_at)], the later load counts
ANSWERS = {
    "P-SAID-FIXED": [("整改中", datetime(2025, 3, 2)), ("已整改", datetime(2025, 3, 5))],
    "P-SAID-FIXED-THEN-NOT": [("已整改", datetime(2025, 3, 2)), ("整改中", datetime(2025, 3, 5))],
    "P-FIXED-AND-GONE": [("已整改", datetime(2025, 3, 2))],
    "P-WAIVED": [("已整改", datetime(2025, 3, 2))],
    "P-NEW-SAID-FIXED": [("已整改", datetime(2025, 3, 2))],
}
WAIVED = ["P-WAIVED-GONE", "P-WAIVED"]
EXPECTED = {
    "P-NEW": "new",
    "P-OPEN": "open",
    "P-GONE": "resolved",
    "P-BACK": "reopened",
    "P-SAID-FIXED": "reopened",
    "P-SAID-FIXED-THEN-NOT": "open",
    "P-WAIVED-GONE": "waived",
    "P-WAIVED": "waived",
    "P-FIXED-AND-GONE": "resolved",
    "P-NEW-SAID-FIXED": "reopened",
}


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    create_all(c)
    for pid, (first, last, resolved, times, found) in FACTS.items():
        c.execute(
            insert_sql("finding_history"),
            [pid, "r", "甲镇", "一村", "H1", None, first, last, resolved, times, "stale"],
        )
        if found:
            c.execute(
                "INSERT INTO findings (problem_id, township, status, run_date) VALUES (?, ?, ?, ?)",
                [pid, "甲镇", "stale", D1],
            )
    for pid, answers in ANSWERS.items():
        for i, (rect, loaded) in enumerate(answers):
            c.execute(
                "INSERT INTO feedback_responses (problem_id, township, rectification, row_number, "
                "loaded_at) VALUES (?, '甲镇', ?, ?, ?)",
                [pid, rect, i + 2, loaded],
            )
    c.execute(
        "INSERT INTO feedback_responses (problem_id, township, verification, note, loaded_at) "
        "VALUES ('P-OPEN', '甲镇', '不属实', '已在外地参保', ?)",
        [datetime(2025, 3, 3)],
    )
    for pid in WAIVED:
        c.execute("INSERT INTO waivers VALUES (?, '区扶贫办', ?, NULL, NULL)", [pid, D1])
    yield c
    c.close()


# Early warnings (监测预警核实清单): problem id -> (facts as above, id number,
# [(核实结论, 说明, loaded_at)], waived?, expected status).
W = date(2025, 3, 4)
WARNINGS = {
    # the register shows the household monitored: closed by the answer + register
    "W-INCLUDED": ((D0, D1, None, 0, True), "ID-A", [("已纳入监测", None, W)], False, "included"),
    # already in monitoring, and the rule no longer finds it: included beats resolved
    "W-ALREADY-GONE": (
        (D0, D0, D1, 0, False),
        "ID-B",
        [("已是监测对象", None, W)],
        False,
        "included",
    ),
    # monitored by the older export's 户状态
    "W-OLD-EXPORT": ((D0, D1, None, 0, True), "ID-C", [("已纳入监测", None, W)], False, "included"),
    # answered 已纳入监测 but the latest register does not show it (only last year's did)
    "W-NOT-YET": ((D0, D1, None, 0, True), "ID-D", [("已纳入监测", None, W)], False, "open"),
    # monitored, but the latest answer is only 符合条件待纳入
    "W-TAKEN-BACK": (
        (D0, D1, None, 0, True),
        "ID-A2",
        [("已纳入监测", None, datetime(2025, 3, 2)), ("符合条件待纳入", None, W)],
        False,
        "open",
    ),
    # not eligible, with a reason: a waiver candidate, open until the office decides
    "W-NOT-ELIGIBLE": (
        (D1, D1, None, 0, True),
        "ID-E",
        [("不符合纳入条件", "家庭年人均纯收入2.8万元，高于监测范围", W)],
        False,
        "new",
    ),
    "W-WRONG-INFO-NO-NOTE": (
        (D0, D1, None, 0, True),
        "ID-F",
        [("信息有误", " ", W)],
        False,
        "open",
    ),
    # the office accepted: waived beats included
    "W-WAIVED": ((D0, D1, None, 0, True), "ID-A3", [("已是监测对象", None, W)], True, "waived"),
}
# Latest register year 2025; ID-D was monitored in 2024 only.
REGISTER = [
    # year, township, household, id number, 监测对象类别, 户类型, 户状态
    (2025, "甲镇", "H-A", "ID-A", "突发严重困难户", "监测户", None),
    (2025, "甲镇", "H-A", "ID-A2", "突发严重困难户", "监测户", None),
    (2025, "甲镇", "H-A", "ID-A3", "突发严重困难户", "监测户", None),
    # the household's head carries 户类型 监测户; ID-B's own row leaves it blank
    (2025, "甲镇", "H-B", "ID-B0", None, "监测户", None),
    (2025, "甲镇", "H-B", "ID-B", None, None, None),
    (2025, "甲镇", "H-C", "ID-C", None, None, "边缘易致贫户"),
    (2025, "甲镇", "H-D", "ID-D", None, "一般农户", None),
    (2024, "甲镇", "H-D", "ID-D", "边缘易致贫户", "监测户", None),
    # the same household id in another township is another household
    (2025, "乙镇", "H-F", "ID-X", "脱贫不稳定户", "监测户", None),
    (2025, "甲镇", "H-F", "ID-F", None, "一般农户", None),
]


@pytest.fixture
def warned(con):
    """The problems above plus early warnings, their answers and the register."""
    for pid, ((first, last, resolved, times, found), idn, answers, waived, _) in WARNINGS.items():
        con.execute(
            insert_sql("finding_history"),
            [pid, "w", "甲镇", "一村", None, idn, first, last, resolved, times, "stale"],
        )
        if found:
            con.execute(
                "INSERT INTO findings (problem_id, township, id_number, status, run_date, "
                "standing) VALUES (?, '甲镇', ?, 'stale', ?, '不在册')",
                [pid, idn, D1],
            )
        for i, (conclusion, note, loaded) in enumerate(answers):
            con.execute(
                "INSERT INTO feedback_responses (problem_id, township, conclusion, note, "
                "row_number, loaded_at) VALUES (?, '甲镇', ?, ?, ?, ?)",
                [pid, conclusion, note, i + 2, loaded],
            )
        if waived:
            con.execute("INSERT INTO waivers VALUES (?, '区扶贫办', ?, NULL, NULL)", [pid, D1])
    con.executemany(
        "INSERT INTO register (year, township, household_id, id_number, monitoring_category, "
        "household_kind, household_status) VALUES (?, ?, ?, ?, ?, ?, ?)",
        REGISTER,
    )
    return con


def test_warnings_included_by_the_register_and_decisions_wait_for_the_office(warned):
    result = derive_statuses(warned)
    got = statuses(warned, "finding_history")
    assert {pid: got[pid] for pid in WARNINGS} == {pid: w[4] for pid, w in WARNINGS.items()}
    # The problems of the 问题清单 are untouched by the register.
    assert {pid: got[pid] for pid in EXPECTED} == EXPECTED
    found = statuses(warned, "findings")
    assert {pid: found[pid] for pid in WARNINGS if WARNINGS[pid][0][4]} == {
        pid: w[4] for pid, w in WARNINGS.items() if w[0][4]
    }
    assert result.included == 2  # found tonight: W-INCLUDED, W-OLD-EXPORT
    pending = {p["problem_id"]: p for p in pending_waivers(warned)}
    assert set(pending) == {"P-OPEN", "W-NOT-ELIGIBLE"}
    assert pending["W-NOT-ELIGIBLE"]["conclusion"] == "不符合纳入条件"
    assert pending["P-OPEN"]["conclusion"] is None
    assert result.pending_waivers == 2
    # Idempotent, and a new register year without the household undoes 已纳入监测.
    assert derive_statuses(warned) == result
    warned.execute(
        "INSERT INTO register (year, township, household_id, id_number, household_kind) "
        "VALUES (2026, '甲镇', 'H-A', 'ID-A', '一般农户')"
    )
    derive_statuses(warned)
    assert statuses(warned, "findings")["W-INCLUDED"] == "open"
    assert statuses(warned, "finding_history")["W-ALREADY-GONE"] == "resolved"


def statuses(con, table):
    return dict(con.execute(f"SELECT problem_id, status FROM {table}").fetchall())


def test_precedence_waived_resolved_reopened_new_open(con):
    result = derive_statuses(con)
    assert statuses(con, "finding_history") == EXPECTED
    found = {pid for pid, facts in FACTS.items() if facts[4]}
    assert statuses(con, "findings") == {pid: EXPECTED[pid] for pid in found}
    # waived: found tonight and waived; reopened only for the answer 已整改.
    assert result.waived == 1
    assert result.reopened_after_rectified == 2  # P-SAID-FIXED, P-NEW-SAID-FIXED
    assert result.pending_waivers == 1  # P-OPEN: 不属实 with an explanation


def test_derivation_is_idempotent_and_overrides_whatever_was_there(con):
    first = derive_statuses(con)
    before = (statuses(con, "finding_history"), statuses(con, "findings"))
    con.execute("UPDATE finding_history SET status = 'waived'")
    con.execute("UPDATE findings SET status = 'new'")
    assert derive_statuses(con) == first
    assert (statuses(con, "finding_history"), statuses(con, "findings")) == before


def test_a_new_answer_changes_the_status_back(con):
    derive_statuses(con)
    con.execute(
        "INSERT INTO feedback_responses (problem_id, township, rectification, loaded_at) "
        "VALUES ('P-SAID-FIXED', '甲镇', '整改中', ?)",
        [datetime(2025, 3, 9)],
    )
    derive_statuses(con)
    assert statuses(con, "findings")["P-SAID-FIXED"] == "open"


def test_every_derived_status_has_one_chinese_label():
    assert set(EXPECTED.values()) | {w[4] for w in WARNINGS.values()} == set(STATUS_ZH)
    assert set(FOUND_STATUS_ZH) == set(STATUS_ZH) - {"resolved"}
    assert all(label and not label.isascii() for label in STATUS_ZH.values())
    assert len(set(STATUS_ZH.values())) == len(STATUS_ZH)
