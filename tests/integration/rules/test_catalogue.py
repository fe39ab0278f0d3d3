"""Every rule's SQL binds only configured names and returns the engine's columns, on an
in-memory warehouse holding every table (the catalogue as data: unit/test_catalogue.py)."""

from __future__ import annotations

import duckdb
import pytest

from checks import ALL_RULES
from checks.prelude import prepare
from checks.rules.base import OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS
from checks.thresholds import load_thresholds
from warehouse.schema import create_all


@pytest.fixture(scope="module")
def prepared():
    con = duckdb.connect()
    create_all(con)
    prepare(con, 2024)
    yield con
    con.close()


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_sql_returns_the_engine_columns(prepared, rule):
    params = load_thresholds().sql_params(2024)
    bound = {n: params[n] for n in rule.param_names}
    cols = [r[0] for r in prepared.execute(f"DESCRIBE {rule.sql}", bound).fetchall()]
    # category/severity: rules where they depend on the record; standing: 是否在册
    # of an early-warning rule's rows (and of no other rule).
    extra = set(OPTIONAL_OUTPUT_COLUMNS)
    assert set(OUTPUT_COLUMNS) <= set(cols) and set(cols) <= set(OUTPUT_COLUMNS) | extra, cols
    assert ("standing" in cols) is rule.warning_list, cols
