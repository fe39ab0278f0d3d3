"""The rule engine's one staleness rule (checks.engine.max_age_days / is_stale), which
the report and the feed checks share. (The engine on a warehouse: integration/test_engine.py.)"""

from __future__ import annotations

from checks.engine import is_stale, max_age_days
from checks.thresholds import load_thresholds


def test_one_staleness_rule():
    q = load_thresholds().feed_quality  # vehicles: 40 days (thresholds.toml)
    assert max_age_days("vehicles", q) == 40
    assert not is_stale("vehicles", 40, q) and is_stale("vehicles", 41, q)
    assert max_age_days("no_such_feed", q) == q.default_max_age_days
    assert not is_stale("vehicles", None, q) and not is_stale("vehicles", 999, None)
