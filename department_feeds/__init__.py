"""One module per feed, each declaring its :class:`FeedSpec` (``SPEC``): headers,
aliases, types, keys and bounds; the pandera schema (``validation.loadable_schema``),
the warehouse tables and the GX suite derive from it.

The registry below is the one list of feeds: everything else that lists feeds,
departments or a feed's ID column derives from :data:`SPECS`.
"""

from __future__ import annotations

from department_feeds import (
    business,
    civil_affairs,
    disability,
    education,
    house_safety,
    hukou,
    medical,
    property,
    register,
    social_insurance,
    tax,
    vehicles,
    villages,
)
from department_feeds.spec import OWN_DEPARTMENT, FeedSpec

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
        civil_affairs,
        medical,
        education,
        disability,
    )
}

FEEDS: tuple[str, ...] = tuple(SPECS)
"""Input feeds in load order; ``feedback`` is read by the rectification loop."""

DEPARTMENT_FEEDS: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.is_department_feed)
"""Feeds of other departments, each joined to the register on its ID column."""

DEPARTMENTS: tuple[str, ...] = (
    *dict.fromkeys(SPECS[n].department_zh for n in DEPARTMENT_FEEDS),
    OWN_DEPARTMENT,
)
"""比对部门 a rule can name: the feeds' departments, then the office's own system."""
