"""The demo county generator: a realistic district with known, injected problems.

``generate(out_dir, households, seed, problems_per_rule, working_year, export_format,
mixed, run_date)`` writes
``out_dir/inbox/<feed>/…`` (the department files, as messy as the data contract
says they come), ``out_dir/truth.csv`` (one row per injected problem, at the
level its rule reports) and ``out_dir/near_misses.csv`` (records that look like
a problem but must not be flagged). Deterministic for a seed.

``generate_prefecture(out_dir, counties, households, seed, …)`` writes several such
counties of one prefecture side by side (``out_dir/inbox/<county>/<feed>/…``) with
cross-county cases and their own truth file (:mod:`demo.prefecture`).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from demo.county import township_count
from demo.prefecture import COUNTY_LIMIT, CROSS_COUNTY_CODES, PrefectureResult, generate_prefecture
from demo.single import EXPORT_FORMATS, TRUTH_COLUMNS, GenerateResult, generate_county


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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "inbox", ignore_errors=True)
    return generate_county(
        out, households, seed, problems_per_rule, working_year, export_format, mixed, run_date
    )


__all__ = [
    "COUNTY_LIMIT",
    "CROSS_COUNTY_CODES",
    "EXPORT_FORMATS",
    "TRUTH_COLUMNS",
    "GenerateResult",
    "PrefectureResult",
    "generate",
    "generate_prefecture",
    "township_count",
]
