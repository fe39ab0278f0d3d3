"""The demo county's people are born before they appear or leave (issue 13 item 6).

The generator put children born during the three register years into the years
before their birth (ages −1/−2 in the register), and gave background residents
deregistration dates before their birth (注销日期 before 出生日期 in hukou)."""

from __future__ import annotations

import pytest

from demo.county import build
from demo.inject import Injector


@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_generated_people_are_born_before_they_appear_or_leave(seed):
    county, builder = build(300, seed, 2025)
    Injector(county, builder, 3, seed).run()
    early = [
        (hh.hid, year, m.person.birth)
        for hh in county.households
        for year, hy in hh.years.items()
        for m in hy.members
        if m.person.birth.year > year
    ]
    assert early == []
    dereg_before_birth = [
        (p.pid, p.birth, p.dereg) for p in county.persons if p.dereg and p.dereg < p.birth
    ]
    assert dereg_before_birth == []
