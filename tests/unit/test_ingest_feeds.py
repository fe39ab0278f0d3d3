"""Every feed has a sample row in tests/feeds_fixtures.py (the loaders on hand-made
files: integration/test_ingest_feeds.py)."""

from __future__ import annotations

from department_feeds import SPECS
from tests.feeds_fixtures import FEED_SAMPLES

# Every feed but the register (its own header and row builder below), from the registry:
# a new feed without a sample in FEED_SAMPLES fails here rather than going untested.
SAMPLED_FEEDS = [f for f in SPECS if f != "register"]


# --------------------------------------------------------------------------- every feed


def test_every_feed_has_a_sample_row():
    assert set(FEED_SAMPLES) == set(SAMPLED_FEEDS)
