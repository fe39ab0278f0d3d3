"""Finding statuses: the one place they are set.

The rule engine (:mod:`checks.engine`) records only facts of presence in
``finding_history`` (first/last seen, ``resolved_on``, ``times_reopened``);
townships' answers are in ``feedback_responses``, the office's accepted waivers
in ``waivers``, the households in monitoring in the latest year of ``register``.
:func:`derive_statuses` turns these into the status of every problem, in
``finding_history`` and in ``findings``, with one SQL derivation. It is derived,
not accumulated: running it again, or running the same night twice, gives the
same answer. The engine calls it after each run, the ``rectification`` asset
again after reading the returned lists.

In order of precedence:

- ``waived``: the office accepted a waiver for the problem id (sticky, also once
  the problem is no longer found). A waiver candidate (:func:`pending_waivers`) is
  a problem whose latest response is 不属实 with a non-empty 整改说明 (问题清单),
  or an early warning whose latest 核实结论 is one of ``DECISION_CONCLUSIONS``
  (不符合纳入条件, 信息有误) with a non-empty 说明 (监测预警核实清单: it waits for
  the office's decision like a waiver); the office accepts it explicitly
  (``bidui waive accept``).
- ``included`` (已纳入监测): an early warning closed by the register: its latest
  核实结论 is one of ``INCLUDED_CONCLUSIONS`` (已纳入监测, 已是监测对象) and its ID
  number is on a row of the latest register year whose household is monitored
  (监测对象类别 filled, 户类型 监测户, or in the older export a 户状态 of
  ``MONITORED_STATUSES``). Before the register shows it, the answer alone changes
  nothing; a later answer that is no longer such a conclusion undoes it.
- ``resolved``: gone from the data (``resolved_on``): a rule that ran no longer
  finds it.
- ``reopened``: it disappeared and came back (``times_reopened`` > 0, and stays
  so while present), or the latest response says 已整改 yet it is still found
  (including the run that first reads that response: the data did not change).
- ``new``: first seen by the last run of its rule (``first_seen = last_seen``).
- ``open``: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from department_feeds.register import MONITORED_STATUSES
from rectification.form import DECISION_CONCLUSIONS, INCLUDED_CONCLUSIONS
from warehouse.schema import create_all

FOUND_STATUS_ZH: dict[str, str] = {
    "new": "新发现",
    "open": "持续未改",
    "reopened": "整改后复现",
    "included": "已纳入监测",
    "waived": "已核销",
}
"""Statuses a finding of tonight's run can have (``findings.status``), with their
Chinese labels, in the order the report lists them."""
STATUS_ZH: dict[str, str] = {**FOUND_STATUS_ZH, "resolved": "已整改"}
"""Every status of ``finding_history.status``, with its Chinese label."""

# Which response counts when a problem has several: the latest load. Files read in
# one night get loaded_at + n µs in order of modification time, then name
# (rectification.feedback), so the later-modified file wins; 核实日期, file and
# row only break ties left within one file.
LATEST_ORDER = "loaded_at DESC, verified_on DESC NULLS LAST, source_file DESC, row_number DESC"
LATEST_RESPONSES_SQL = f"""
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY problem_id ORDER BY {LATEST_ORDER}) AS rn
    FROM feedback_responses
) WHERE rn = 1
"""


def _sql_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


# ID numbers on a row of the latest register year whose household is monitored
# (today's export: 监测对象类别 / 户类型; the 建档立卡 years: 户状态), as checks.prelude reads it.
_MONITORED = f"""(monitoring_category IS NOT NULL
    OR coalesce(household_kind = '监测户', false)
    OR coalesce(household_status IN {_sql_list(MONITORED_STATUSES)}, false))"""
_MONITORED_IDS_SQL = f"""
WITH latest AS (SELECT * FROM register WHERE year = (SELECT max(year) FROM register)),
households AS (
    SELECT DISTINCT township, household_id FROM latest
    WHERE household_id IS NOT NULL AND {_MONITORED}
)
SELECT DISTINCT l.id_number FROM latest l
LEFT JOIN households m
  ON m.household_id = l.household_id AND m.township IS NOT DISTINCT FROM l.township
WHERE l.id_number IS NOT NULL AND (m.household_id IS NOT NULL OR {_MONITORED})
"""

# The derivation (module docstring): one row per problem of finding_history.
_DERIVED_SQL = f"""
SELECT problem_id,
       CASE WHEN waived THEN 'waived'
            WHEN included THEN 'included'
            WHEN resolved_on IS NOT NULL THEN 'resolved'
            WHEN times_reopened > 0 OR rectified THEN 'reopened'
            WHEN first_seen = last_seen THEN 'new'
            ELSE 'open' END AS status,
       -- reopened because of the answer alone (for the run's metadata)
       NOT waived AND NOT included AND resolved_on IS NULL AND times_reopened = 0
           AND rectified AS after_rectified
FROM (
    SELECT h.problem_id, h.resolved_on, h.times_reopened, h.first_seen, h.last_seen,
           w.problem_id IS NOT NULL AS waived,
           coalesce(r.conclusion IN {_sql_list(INCLUDED_CONCLUSIONS)}
                    AND h.id_number IN ({_MONITORED_IDS_SQL}), false) AS included,
           coalesce(r.rectification = '已整改', false) AS rectified
    FROM finding_history h
    LEFT JOIN waivers w USING (problem_id)
    LEFT JOIN ({LATEST_RESPONSES_SQL}) r USING (problem_id)
)
"""


@dataclass(frozen=True)
class LifecycleResult:
    """Counts over tonight's findings after :func:`derive_statuses`."""

    waived: int
    reopened_after_rectified: int
    pending_waivers: int
    included: int = 0


def pending_waivers(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Problems a township answered 不属实, and early warnings it answered 不符合纳入条件
    or 信息有误, with an explanation, not yet accepted. ``conclusion`` is the warning's
    核实结论 (None for a 问题清单 answer)."""
    create_all(con)
    cur = con.execute(
        f"""
        SELECT r.problem_id, h.rule_code, r.township, r.village, r.note, r.verifier,
               r.verified_on, r.source_file, r.conclusion
        FROM ({LATEST_RESPONSES_SQL}) r
        JOIN finding_history h USING (problem_id)
        WHERE (r.verification = '不属实' OR r.conclusion IN {_sql_list(DECISION_CONCLUSIONS)})
          AND coalesce(trim(r.note), '') <> ''
          AND r.problem_id NOT IN (SELECT problem_id FROM waivers)
        ORDER BY r.township, r.village, r.problem_id
        """
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def accept_waivers(
    con: duckdb.DuckDBPyConnection,
    problem_ids: list[str],
    accepted_by: str,
    accepted_on: date,
    reason: str = "",
) -> list[str]:
    """Record the office's acceptance; returns the ids accepted.

    Only pending candidates can be accepted: a waiver needs the township's 不属实
    (or, for an early warning, 不符合纳入条件 / 信息有误) and explanation on record. Unknown or not-eligible ids raise ``ValueError``.
    The statuses follow at the next :func:`derive_statuses` (the next run).
    """
    pending = {p["problem_id"]: p for p in pending_waivers(con)}
    bad = [pid for pid in problem_ids if pid not in pending]
    if bad:
        raise ValueError(
            "not pending waiver candidates (need a 不属实 response with 整改说明, or a "
            "warning answered 不符合纳入条件/信息有误 with 说明, and not already waived): "
            f"{', '.join(bad)}"
        )
    con.executemany(
        "INSERT INTO waivers VALUES (?, ?, ?, ?, ?)",
        [[pid, accepted_by, accepted_on, reason, pending[pid]["note"]] for pid in problem_ids],
    )
    return problem_ids


def derive_statuses(con: duckdb.DuckDBPyConnection) -> LifecycleResult:
    """Set ``finding_history.status`` and ``findings.status`` from the history's
    facts, the latest responses, the waivers and the latest register year (module
    docstring); idempotent."""
    create_all(con)
    for table in ("finding_history", "findings"):
        con.execute(
            f"""
            UPDATE {table} t SET status = d.status FROM ({_DERIVED_SQL}) d
            WHERE t.problem_id = d.problem_id AND t.status IS DISTINCT FROM d.status
            """
        )
    waived, reopened, included = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE d.status = 'waived'),
               count(*) FILTER (WHERE d.status = 'reopened' AND d.after_rectified),
               count(*) FILTER (WHERE d.status = 'included')
        FROM findings f JOIN ({_DERIVED_SQL}) d USING (problem_id)
        """
    ).fetchone()
    return LifecycleResult(
        waived=int(waived),
        reopened_after_rectified=int(reopened),
        pending_waivers=len(pending_waivers(con)),
        included=int(included),
    )
