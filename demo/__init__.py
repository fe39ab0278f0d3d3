"""The demo county generator: a realistic district with known, injected problems.

``generate(out_dir, households, seed, problems_per_rule, working_year, export_format,
mixed, run_date)`` writes
``out_dir/inbox/<feed>/…`` (the department files, as messy as the data contract
says they come), ``out_dir/truth.csv`` (one row per injected problem, at the
level its rule reports) and ``out_dir/near_misses.csv`` (records that look like
a problem but must not be flagged). Deterministic for a seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from demo.county import build, township_count
from demo.inject import Injector
from demo.model import Finding
from demo.render import render

log = logging.getLogger(__name__)

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


def _write_findings(path: Path, rows: list[Finding]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRUTH_COLUMNS)
        for r in rows:
            w.writerow([getattr(r, c) for c in TRUTH_COLUMNS])


EXPORT_FORMATS = ("today", "legacy")
"""``today``: the 防返贫监测 export (户类型 脱贫户/监测户, monitoring columns, 帮扶措施);
``legacy``: the 建档立卡 export (户类型 一般户/低保户/特困供养户, 户状态), where
rules D are not run."""


def generate(
    out_dir: str | Path,
    households: int = 2000,
    seed: int = 0,
    problems_per_rule: int = 3,
    working_year: int = 2025,
    export_format: str = "today",
    mixed: bool = False,
    run_date: dt.date | None = None,
) -> GenerateResult:
    """Generate a demo county into ``out_dir`` (its ``inbox/`` is replaced).

    ``export_format`` is one of :data:`EXPORT_FORMATS`. ``mixed`` adds households
    with several problems at once and near misses beside real problems (recall
    and precision on overlapping cases). ``run_date`` is the day the county will
    be checked on (default 20 January after the working year): the 30-day grace
    of the measure rules is planted relative to it.
    """
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {EXPORT_FORMATS}, not {export_format!r}")
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "inbox", ignore_errors=True)
    county, builder = build(households, seed, working_year)
    inj = Injector(county, builder, problems_per_rule, seed, export_format, mixed, run_date)
    inj.run()
    rd = render(county, out, seed, inj.village_overrides, export_format)
    truth = out / "truth.csv"
    near = out / "near_misses.csv"
    _write_findings(truth, inj.truth)
    _write_findings(near, inj.near)
    Y = working_year
    result = GenerateResult(
        out_dir=out,
        inbox=out / "inbox",
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


__all__ = ["EXPORT_FORMATS", "TRUTH_COLUMNS", "GenerateResult", "generate", "township_count"]
