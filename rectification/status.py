"""The rectification loop: township responses → finding statuses.

Statuses are derived, not accumulated, so running the same night twice gives the
same answer:

- ``waived``: the office accepted a waiver (``waivers`` table) for the problem id.
  A waiver candidate is a problem whose latest response is 不属实 with a non-empty
  整改说明; the office accepts it explicitly (``bidui waive accept``).
- ``reopened``: the rule engine's own "it disappeared and came back", or the
  latest response says 已整改 yet this run still finds the problem (including
  the run that first reads that response: the data did not change).
- otherwise what the engine said (``new`` / ``open``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

WAIVERS_DDL = """
CREATE TABLE IF NOT EXISTS waivers (
    problem_id VARCHAR PRIMARY KEY,
    accepted_by VARCHAR NOT NULL,
    accepted_on DATE NOT NULL,
    reason VARCHAR,
    response_note VARCHAR
)
"""

FEEDBACK_DDL = """
CREATE TABLE IF NOT EXISTS feedback_responses (
    problem_id VARCHAR, township VARCHAR, village VARCHAR, verification VARCHAR,
    rectification VARCHAR, note VARCHAR, verifier VARCHAR, verified_on DATE,
    source_file VARCHAR, sheet VARCHAR, row_number INTEGER, checksum VARCHAR,
    loaded_at TIMESTAMP
)
"""

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


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(WAIVERS_DDL)
    con.execute(FEEDBACK_DDL)


@dataclass(frozen=True)
class LifecycleResult:
    waived: int
    reopened_after_rectified: int
    pending_waivers: int


def pending_waivers(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Problems a township answered 不属实 with an explanation, not yet accepted."""
    ensure_tables(con)
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


def apply_lifecycle(con: duckdb.DuckDBPyConnection) -> LifecycleResult:
    """Set ``findings.status`` and ``finding_history.status`` from responses and waivers."""
    ensure_tables(con)
    con.execute(
        """
        UPDATE findings SET status = 'waived'
        WHERE problem_id IN (SELECT problem_id FROM waivers)
        """
    )
    reopened = con.execute(
        f"""
        UPDATE findings f SET status = 'reopened'
        FROM ({LATEST_RESPONSES_SQL}) r
        WHERE f.problem_id = r.problem_id AND f.status IN ('open', 'new')
          AND r.rectification = '已整改'
        """
    ).fetchone()[0]
    con.execute(
        """
        UPDATE finding_history h SET status = f.status
        FROM findings f WHERE h.problem_id = f.problem_id
        """
    )
    # A waived problem that is no longer found stays waived in history.
    con.execute(
        """
        UPDATE finding_history SET status = 'waived'
        WHERE problem_id IN (SELECT problem_id FROM waivers)
        """
    )
    waived = con.execute("SELECT count(*) FROM findings WHERE status = 'waived'").fetchone()[0]
    return LifecycleResult(
        waived=int(waived),
        reopened_after_rectified=int(reopened or 0),
        pending_waivers=len(pending_waivers(con)),
    )
