"""Rule-engine time on a generated county.

    .venv/bin/python benchmarks/rules.py [--households 20000] [--seed 1] [--keep]

Generates a county (``demo.generate``) and ingests it into a DuckDB
file (``warehouse.load_all``) — both untimed here, see benchmarks/generate.py and
benchmarks/ingest.py — then times ``checks.engine.run_rules``: a first night
(empty history) and a second night (every finding already known), in total and
per rule. Prints a markdown table; writes ``.local/bench/rules.json``.

``--keep`` leaves the county and warehouse under ``/tmp/bidui-bench-rules-<n>-<seed>``
and reuses them on the next call (handy while tuning a rule).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# After the path insert: run as a script.
from checks.engine import run_rules  # noqa: E402
from demo import generate  # noqa: E402
from warehouse import connect, load_all  # noqa: E402


def _prepare(folder: Path, households: int, seed: int) -> tuple[Path, dict[str, float]]:
    """Generated county + ingested warehouse in ``folder`` (reused when present)."""

    base = folder / "base.duckdb"
    setup: dict[str, float] = {}
    if not base.exists():
        t0 = time.perf_counter()
        generate(folder / "county", households=households, seed=seed, problems_per_rule=3)
        setup["generate_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        con = connect(folder / "base.tmp.duckdb")
        load_all(con, folder / "county" / "inbox")
        con.close()
        (folder / "base.tmp.duckdb").rename(base)
        setup["ingest_s"] = round(time.perf_counter() - t0, 2)
    return base, setup


def _truth(folder: Path) -> Counter:
    path = folder / "county" / "truth.csv"
    if not path.exists():
        return Counter()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return Counter(r["rule_code"] for r in csv.DictReader(fh))


def bench(households: int, seed: int, keep: bool) -> dict:
    import duckdb

    folder = Path(tempfile.gettempdir()) / f"bidui-bench-rules-{households}-{seed}"
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        base, setup = _prepare(folder, households, seed)
        work = folder / "run.duckdb"
        shutil.copy(base, work)
        con = duckdb.connect(str(work))
        sizes = dict(
            con.execute(
                "SELECT 'register_rows', count(*) FROM register UNION ALL "
                "SELECT 'households', count(DISTINCT household_id) FROM register "
                "WHERE year = (SELECT max(year) FROM register) UNION ALL "
                "SELECT 'hukou_rows', count(*) FROM hukou"
            ).fetchall()
        )
        nights = []
        for night in (date(2025, 3, 1), date(2025, 3, 2)):
            t0 = time.perf_counter()
            run = run_rules(con, night)
            nights.append((time.perf_counter() - t0, run))
        con.close()
        truth = _truth(folder)
        first, second = nights
        return {
            "households": households,
            "seed": seed,
            **setup,
            **sizes,
            "first_night_s": round(first[0], 3),
            "second_night_s": round(second[0], 3),
            "findings": second[1].findings,
            "rules": [
                {
                    "code": r.code,
                    "ran": r.ran,
                    "reason": r.reason,
                    "findings": r.finding_count,
                    "injected": truth.get(r.code, 0),
                    "ms_first": round(r.duration_ms, 1),
                    "ms_second": round(second[1].result(r.code).duration_ms, 1),
                }
                for r in first[1].results
            ],
        }
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep and reuse the county/warehouse")
    args = ap.parse_args()
    r = bench(args.households, args.seed, args.keep)

    print(
        f"Rules on {r['households']:,} households ({r['register_rows']:,} register rows, "
        f"{r['hukou_rows']:,} hukou rows), seed {r['seed']}\n"
    )
    print("| run_rules | seconds | findings |")
    print("|---|---:|---:|")
    print(f"| first night (empty history) | {r['first_night_s']:.2f} | {r['findings']:,} |")
    print(f"| second night (history update) | {r['second_night_s']:.2f} | {r['findings']:,} |")
    print()
    print("| rule | findings | injected | ms (night 1) | ms (night 2) |")
    print("|---|---:|---:|---:|---:|")
    for x in sorted(r["rules"], key=lambda x: -x["ms_first"]):
        found = f"{x['findings']:,}" if x["ran"] else f"not run: {x['reason']}"
        print(
            f"| `{x['code']}` | {found} | {x['injected']} | {x['ms_first']:.0f} | "
            f"{x['ms_second']:.0f} |"
        )
    rule_ms = sum(x["ms_first"] for x in r["rules"])
    print(f"| **all rules** | | | {rule_ms:.0f} | {sum(x['ms_second'] for x in r['rules']):.0f} |")
    out = ROOT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules.json").write_text(json.dumps(r, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
