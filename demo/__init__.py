"""The demo county generator: a realistic district with known, injected problems.

``generate(out_dir, households, seed, problems_per_rule, working_year)`` writes
``out_dir/inbox/<feed>/…`` (the department files, as messy as the data contract
says they come), ``out_dir/truth.csv`` (one row per injected problem, at the
level its rule reports) and ``out_dir/near_misses.csv`` (records that look like
a problem but must not be flagged). Deterministic for a seed.
"""

from __future__ import annotations

import csv
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
    feed_rows: dict[str, int] = field(default_factory=dict)
    """Data rows written per feed (all its files)."""
    truth_by_rule: dict[str, int] = field(default_factory=dict)
    """truth.csv rows per rule code."""
    files: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.households} households, {self.persons} register members, "
            f"{self.residents} residents, {self.townships} townships, {self.villages} villages; "
            f"{self.truth_rows} injected problems, {self.near_miss_rows} near misses "
            f"({self.seconds:.1f}s)"
        )


def _write_findings(path: Path, rows: list[Finding]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRUTH_COLUMNS)
        for r in rows:
            w.writerow([getattr(r, c) for c in TRUTH_COLUMNS])


def generate(
    out_dir: str | Path,
    households: int = 2000,
    seed: int = 0,
    problems_per_rule: int = 3,
    working_year: int = 2025,
) -> GenerateResult:
    """Generate a demo county into ``out_dir`` (its ``inbox/`` is replaced)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "inbox", ignore_errors=True)
    county, builder = build(households, seed, working_year)
    inj = Injector(county, builder, problems_per_rule, seed)
    inj.run()
    rd = render(county, out, seed, inj.village_overrides)
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
    )
    log.info("generated %s", result)
    return result


__all__ = ["TRUTH_COLUMNS", "GenerateResult", "generate", "township_count"]
