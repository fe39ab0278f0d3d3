"""One module per feed; each owns its header map (``SPEC``), schema and loader."""

from __future__ import annotations

from department_feeds import (
    business,
    house_safety,
    hukou,
    property,
    register,
    social_insurance,
    tax,
    vehicles,
    villages,
)
from department_feeds.spec import FeedSpec

SPECS: dict[str, FeedSpec] = {
    m.SPEC.name: m.SPEC
    for m in (
        register,
        villages,
        hukou,
        vehicles,
        tax,
        property,
        house_safety,
        business,
        social_insurance,
    )
}

FEEDS: tuple[str, ...] = tuple(SPECS)
"""Input feeds in load order; ``feedback`` is read by the rectification loop."""
