"""One demo county: build, inject, render, truth files (:func:`demo.generate` and
each county of :func:`demo.generate_prefecture`)."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from demo.county import Builder, County, Household, build
from demo.inject import Injector
from demo.model import Finding
from demo.render import render

log = logging.getLogger("demo")

TRUTH_COLUMNS = (
    "rule_code",
    "level",
    "township",
    "village",
    "village_group",
    "household_id",
    "id_number",
    "name",
    "note",
)


@dataclass
class GenerateResult:
    """What :func:`generate` wrote."""

    out_dir: Path
    inbox: Path
    truth_csv: Path
    near_misses_csv: Path
    households: int
    persons: int
    """Register members of the working year."""
    residents: int
    """Everyone in the hukou feed (register and background)."""
    townships: int
    villages: int
    truth_rows: int
    near_miss_rows: int
    seconds: float
    export_format: str = "today"
    mixed: bool = False
    run_date: dt.date | None = None
    """The day the truth holds for (the grace period of the measure rules)."""
    unplanned: list[tuple[str, str]] = field(default_factory=list)
    """(rule, household or ID number) findings of rules D or E on someone nothing was
    planted on, planted rules E the oracle does not find, or near misses it does: a
    generator bug if any (they are not in truth.csv)."""
    feed_rows: dict[str, int] = field(default_factory=dict)
    """Data rows written per feed (all its files)."""
    truth_by_rule: dict[str, int] = field(default_factory=dict)
    """truth.csv rows per rule code."""
    files: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.households} households, {self.persons} register members, "
            f"{self.residents} residents, {self.townships} townships, {self.villages} villages; "
            f"{self.truth_rows} injected problems, {self.near_miss_rows} near misses; "
            f"{'建档立卡 (legacy)' if self.export_format == 'legacy' else '防返贫监测'} export"
            f"{', mixed' if self.mixed else ''} ({self.seconds:.1f}s)"
        )


def write_findings(path: Path, rows: list[Finding]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRUTH_COLUMNS)
        for r in rows:
            w.writerow([getattr(r, c) for c in TRUTH_COLUMNS])


EXPORT_FORMATS = ("today", "legacy")
"""``today``: the 防返贫监测 export (户类型 脱贫户/监测户, monitoring columns, 帮扶措施);
``legacy``: the 建档立卡 export (户类型 一般户/低保户/特困供养户, 户状态), where
rules D are not run."""


def generate_county(
    out: Path,
    households: int,
    seed: int,
    problems_per_rule: int,
    working_year: int,
    export_format: str,
    mixed: bool,
    run_date: dt.date | None,
    *,
    inbox: Path | None = None,
    hukou_part: Path | None = None,
    reserved_ids: Iterable[str] = (),
    id_slot: tuple[int, int] | None = None,
    after_households: Callable[[Builder, list[Household]], None] | None = None,
    after_inject: Callable[[County, Builder, Injector], None] | None = None,
) -> GenerateResult:
    """Generate one county: files into ``inbox`` (default ``out/inbox``, which must
    not hold older files), ``truth.csv`` and ``near_misses.csv`` into ``out``.

    The keyword arguments are the prefecture's hooks (:mod:`demo.prefecture`):
    ``after_inject`` may add or drop department records once every problem is planted.
    """
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {EXPORT_FORMATS}, not {export_format!r}")
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    inbox = inbox if inbox is not None else out / "inbox"
    county, builder = build(households, seed, working_year, reserved_ids, id_slot, after_households)
    inj = Injector(county, builder, problems_per_rule, seed, export_format, mixed, run_date)
    inj.run()
    if after_inject is not None:
        after_inject(county, builder, inj)
    rd = render(county, out, seed, inj.village_overrides, export_format, inbox, hukou_part)
    truth = out / "truth.csv"
    near = out / "near_misses.csv"
    write_findings(truth, inj.truth)
    write_findings(near, inj.near)
    Y = working_year
    result = GenerateResult(
        out_dir=out,
        inbox=inbox,
        truth_csv=truth,
        near_misses_csv=near,
        households=len(county.households),
        persons=sum(len(hh.years[Y].members) for hh in county.households if Y in hh.years),
        residents=sum(1 for p in county.persons if p.in_hukou),
        townships=len(county.towns),
        villages=len(county.villages),
        truth_rows=len(inj.truth),
        near_miss_rows=len(inj.near),
        seconds=time.perf_counter() - t0,
        feed_rows=dict(rd.rows),
        truth_by_rule=dict(Counter(t.rule_code for t in inj.truth)),
        files=dict(rd.files),
        export_format=export_format,
        mixed=mixed,
        run_date=inj.run_date,
        unplanned=list(inj.unplanned),
    )
    log.info("generated %s", result)
    return result
