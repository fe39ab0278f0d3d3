"""Finding statuses: the one place they are set.

The rule engine (:mod:`checks.engine`) records only facts of presence in
``finding_history`` (first/last seen, ``resolved_on``, ``times_reopened``);
townships' answers are in ``feedback_responses``, the office's accepted waivers
in ``waivers``. :func:`derive_statuses` turns these three into the status of
every problem, in ``finding_history`` and in ``findings``, with one SQL
derivation. It is derived, not accumulated: running it again, or running the
same night twice, gives the same answer. The engine calls it after each run,
the ``rectification`` asset again after reading the returned lists.

In order of precedence:

- ``waived``: the office accepted a waiver for the problem id (sticky, also once
  the problem is no longer found). A waiver candidate is a problem whose latest
  response is 不属实 with a non-empty 整改说明; the office accepts it explicitly
  (``bidui waive accept``).
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

from warehouse.schema import create_all

FOUND_STATUS_ZH: dict[str, str] = {
    "new": "新发现",
    "open": "持续未改",
    "reopened": "整改后复现",
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

# The derivation (module docstring): one row per problem of finding_history.
_DERIVED_SQL = f"""
SELECT h.problem_id,
       CASE WHEN w.problem_id IS NOT NULL THEN 'waived'
            WHEN h.resolved_on IS NOT NULL THEN 'resolved'
            WHEN h.times_reopened > 0 OR r.rectification = '已整改' THEN 'reopened'
            WHEN h.first_seen = h.last_seen THEN 'new'
            ELSE 'open' END AS status,
       -- reopened because of the answer alone (for the run's metadata)
       w.problem_id IS NULL AND h.resolved_on IS NULL AND h.times_reopened = 0
           AND r.rectification IS NOT DISTINCT FROM '已整改' AS after_rectified
FROM finding_history h
LEFT JOIN waivers w USING (problem_id)
LEFT JOIN ({LATEST_RESPONSES_SQL}) r USING (problem_id)
"""


@dataclass(frozen=True)
class LifecycleResult:
    """Counts over tonight's findings after :func:`derive_statuses`."""

    waived: int
    reopened_after_rectified: int
    pending_waivers: int


def pending_waivers(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Problems a township answered 不属实 with an explanation, not yet accepted."""
    create_all(con)
    cur = con.execute(
        f"""
        SELECT r.problem_id, h.rule_code, r.township, r.village, r.note, r.verifier,
               r.verified_on, r.source_file
        FROM ({LATEST_RESPONSES_SQL}) r
        JOIN finding_history h USING (problem_id)
        WHERE r.verification = '不属实' AND coalesce(trim(r.note), '') <> ''
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
    and explanation on record. Unknown or not-eligible ids raise ``ValueError``.
    The statuses follow at the next :func:`derive_statuses` (the next run).
    """
    pending = {p["problem_id"]: p for p in pending_waivers(con)}
    bad = [pid for pid in problem_ids if pid not in pending]
    if bad:
        raise ValueError(
            "not pending waiver candidates (need a 不属实 response with 整改说明, "
            f"and not already waived): {', '.join(bad)}"
        )
    con.executemany(
        "INSERT INTO waivers VALUES (?, ?, ?, ?, ?)",
        [[pid, accepted_by, accepted_on, reason, pending[pid]["note"]] for pid in problem_ids],
    )
    return problem_ids


def derive_statuses(con: duckdb.DuckDBPyConnection) -> LifecycleResult:
    """Set ``finding_history.status`` and ``findings.status`` from the history's
    facts, the latest responses and the waivers (module docstring); idempotent."""
    create_all(con)
    for table in ("finding_history", "findings"):
        con.execute(
            f"""
            UPDATE {table} t SET status = d.status FROM ({_DERIVED_SQL}) d
            WHERE t.problem_id = d.problem_id AND t.status IS DISTINCT FROM d.status
            """
        )
    waived, reopened = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE d.status = 'waived'),
               count(*) FILTER (WHERE d.status = 'reopened' AND d.after_rectified)
        FROM findings f JOIN ({_DERIVED_SQL}) d USING (problem_id)
        """
    ).fetchone()
    return LifecycleResult(
        waived=int(waived),
        reopened_after_rectified=int(reopened),
        pending_waivers=len(pending_waivers(con)),
    )
