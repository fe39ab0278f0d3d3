"""The column lists used elsewhere come from warehouse.schema's declarations, and no
table is declared outside it (a scan of the production sources)."""

from __future__ import annotations

import re

from assets.outputs import REJECTS_CSV_COLUMNS
from checks.engine import PROBLEMS_CSV_COLUMNS
from department_feeds.loader import REJECT_SCHEMA
from tests.conftest import PROJECT_ROOT
from warehouse.schema import FINDINGS, PROBLEMS_CSV, columns, insert_sql

ROOT = PROJECT_ROOT
PRODUCTION = (
    *("core", "department_feeds", "warehouse", "rectification", "checks", "publishing"),
    *("assets", "pipelines", "demo"),
)
# Declares its own table still; the lead moves it to warehouse.schema.FEED_RUNS.
PENDING = {"assets/feed_quality.py"}


def test_derived_column_lists():
    assert columns("rejects") == columns("load_warnings") == tuple(REJECT_SCHEMA)
    assert columns("rejects")[1:] == REJECTS_CSV_COLUMNS
    assert FINDINGS[: len(PROBLEMS_CSV)] == PROBLEMS_CSV
    assert tuple(c for c, _ in PROBLEMS_CSV) == PROBLEMS_CSV_COLUMNS
    assert columns("finding_history_before") == ("before_run", *columns("finding_history"))
    assert insert_sql("waivers") == (
        "INSERT INTO waivers (problem_id, accepted_by, accepted_on, reason, response_note) "
        "VALUES (?, ?, ?, ?, ?)"
    )


def test_no_table_is_declared_outside_the_schema():
    create = re.compile(r"CREATE\s+(OR\s+REPLACE\s+)?TABLE", re.IGNORECASE)
    offenders = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "warehouse/schema.py" or rel in PENDING:
                continue
            # (Temporary tables of one run, CREATE TEMP TABLE, are not warehouse tables.)
            if create.search(path.read_text(encoding="utf-8")):
                offenders.append(rel)
    assert offenders == []
