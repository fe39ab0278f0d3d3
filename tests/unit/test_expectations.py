"""The plan of the Great Expectations suites per feed (checks.expectations) uses every
kind of expectation; nothing is validated here (integration/test_expectations.py)."""

from __future__ import annotations

import datetime as dt
import re

from checks.expectations import plan_suite
from department_feeds import SPECS

RUN = dt.date(2025, 11, 15)


def test_plan_covers_every_kind_of_expectation():
    kinds = {p.kind for p in plan_suite(SPECS["register"], RUN)}
    assert {"not_null", "in_set", "id_format", "compound_unique", "between"} <= kinds
    vehicles = plan_suite(SPECS["vehicles"], RUN)
    assert any(p.kind == "unique" and p.kwargs["column"] == "plate" for p in vehicles)
    future = [p for p in vehicles if p.kwargs.get("column") == "first_registered_on"]
    assert future and future[0].kwargs["max_value"] == RUN
    # every expectation carries a Chinese description for dashboards
    assert all(re.search(r"[\u4e00-\u9fff]", p.description_zh) for p in vehicles)
