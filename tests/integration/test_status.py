"""Finding statuses come from one derivation (rectification.status.derive_statuses):
history facts + the latest answers + waivers, in a fixed order of precedence."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from rectification.status import FOUND_STATUS_ZH, STATUS_ZH, derive_statuses
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
    assert set(EXPECTED.values()) == set(STATUS_ZH)
    assert set(FOUND_STATUS_ZH) == set(STATUS_ZH) - {"resolved"}
    assert all(label and not label.isascii() for label in STATUS_ZH.values())
    assert len(set(STATUS_ZH.values())) == len(STATUS_ZH)
