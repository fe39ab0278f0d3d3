"""The four early-warning feeds and rules E on a generated county (monitoring.md §2, §4).

    .venv/bin/python benchmarks/early_warning.py [--households 20000] [--seed 1]
        [--county DIR] [--run-date YYYY-MM-DD]

Generates a county with ``demo.generate`` (untimed; reused from ``--county`` when
that folder already holds an ``inbox/``), loads every feed into a fresh DuckDB file
with ``warehouse.load_feed`` (timed per feed; the table shows the four feeds
民政/医保/教育/残联), then runs the whole catalogue once (``checks.engine.run_rules``,
a first night) and reports each rule E — a rule reading one of the four feeds — from
``rule_runs.duration_ms``. The machine's load average is printed beside the figures
(the benchmark machine may be shared). Prints a markdown section; writes
``.local/bench/early_warning.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# After the path insert: run as a script.
from checks.engine import run_rules  # noqa: E402
from checks.rules import ALL_RULES  # noqa: E402
from demo import generate  # noqa: E402
from department_feeds import FEEDS  # noqa: E402
from warehouse import connect, load_feed  # noqa: E402

WARNING_FEEDS = ("civil_affairs", "medical", "education", "disability")
"""The feeds of monitoring.md §2; a rule reading any of them is a rule E."""


def load_average() -> str:
    """``uptime``'s three load averages (1, 5, 15 min)."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _truth(county: Path) -> Counter:
    path = county / "truth.csv"
    if not path.exists():
        return Counter()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return Counter(r["rule_code"] for r in csv.DictReader(fh))


def bench(county: Path, db: Path, households: int, seed: int, run_date: dt.date | None) -> dict:
    setup: dict[str, object] = {}
    if (county / "inbox").is_dir():
        setup["source"] = f"existing county {county}"
    else:
        t0 = time.perf_counter()
        res = generate(county, households=households, seed=seed, problems_per_rule=3)
        setup["source"] = f"generated county ({res}) in {time.perf_counter() - t0:.0f} s"
        run_date = run_date or res.run_date
    run_date = run_date or dt.date(2026, 1, 20)  # the generator's default run date
    load_before = load_average()

    con = connect(db)
    try:
        feeds = []
        for feed in FEEDS:
            r = load_feed(con, feed, county / "inbox")
            feeds.append(
                {
                    "feed": feed,
                    "files": len([f for f in r.files if f.status != "removed"]),
                    "rows_read": r.rows_read,
                    "rows_loaded": r.rows_loaded,
                    "rows_rejected": r.rows_rejected,
                    "seconds": round(r.seconds, 3),
                }
            )
        t0 = time.perf_counter()
        run = run_rules(con, run_date)
        rules_s = time.perf_counter() - t0
        e_codes = [r.code for r in ALL_RULES if set(r.feeds) & set(WARNING_FEEDS)]
        runs = {
            code: (ran, reason, count, ms)
            for code, ran, reason, count, ms in con.execute(
                "SELECT rule_code, ran, reason, finding_count, duration_ms FROM rule_runs "
                "WHERE run_date = ?",
                [run_date],
            ).fetchall()
        }
    finally:
        con.close()
    truth = _truth(county)
    by_code = {r.code: r for r in ALL_RULES}
    rules = []
    for code in e_codes:
        ran, reason, count, ms = runs.get(code, (False, "no rule_runs row", None, None))
        rules.append(
            {
                "code": code,
                "department": by_code[code].department,
                "warning_list": by_code[code].warning_list,
                "ran": bool(ran),
                "reason": reason,
                "findings": count,
                "injected": truth.get(code, 0),
                "ms": round(ms or 0.0, 1),
            }
        )
    return {
        "households": households,
        "seed": seed,
        "run_date": run_date.isoformat(),
        **setup,
        "when": dt.datetime.now().isoformat(timespec="minutes"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_before": load_before,
        "load_after": load_average(),
        "feeds": feeds,
        "run_rules_s": round(rules_s, 3),
        "findings": run.findings,
        "rules": rules,
    }


def markdown(r: dict) -> str:
    out = [
        f"## Early-warning feeds and rules E, {r['households']:,} households",
        "",
        f"{r['source']}; seed {r['seed']}, run date {r['run_date']}; measured "
        f"{r['when']} on {r['machine']['cpus']} CPUs, load average (1/5/15 min) "
        f"{r['load_before']} before, {r['load_after']} after.",
        "",
        "| feed | files | rows read | loaded | rejected | seconds | rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    four = [f for f in r["feeds"] if f["feed"] in WARNING_FEEDS]
    for f in four:
        rate = f["rows_read"] / f["seconds"] if f["seconds"] else 0
        out.append(
            f"| {f['feed']} | {f['files']} | {f['rows_read']:,} | {f['rows_loaded']:,} | "
            f"{f['rows_rejected']:,} | {f['seconds']:.2f} | {rate:,.0f} |"
        )
    rows = sum(f["rows_read"] for f in four)
    secs = sum(f["seconds"] for f in four)
    all_s = sum(f["seconds"] for f in r["feeds"])
    out.append(
        f"| **four feeds** | {sum(f['files'] for f in four)} | {rows:,} | "
        f"{sum(f['rows_loaded'] for f in four):,} | {sum(f['rows_rejected'] for f in four):,} | "
        f"{secs:.2f} | {rows / secs if secs else 0:,.0f} |"
    )
    out.append(f"| every feed (for comparison) | | | | | {all_s:.2f} | |")
    out += [
        "",
        "| rule E | department | list | findings | injected | ms (rule_runs.duration_ms) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for x in sorted(r["rules"], key=lambda x: -x["ms"]):
        found = f"{x['findings']:,}" if x["ran"] else f"not run: {x['reason']}"
        where = "预警核实清单" if x["warning_list"] else "问题清单"
        out.append(
            f"| `{x['code']}` | {x['department']} | {where} | {found} | {x['injected']} | "
            f"{x['ms']:.0f} |"
        )
    e_ms = sum(x["ms"] for x in r["rules"])
    out.append(f"| **all rules E** | | | | | {e_ms:.0f} |")
    out += [
        "",
        f"`run_rules` with the whole catalogue ({len(ALL_RULES)} rules): {r['run_rules_s']:.2f} s, "
        f"{r['findings']:,} findings.",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--households", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--county", type=Path, help="reuse/keep the county in this folder")
    ap.add_argument("--run-date", type=dt.date.fromisoformat, help="default: the generator's")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bidui-bench-early-warning-"))
    try:
        r = bench(
            args.county or work / "county",
            work / "warehouse.duckdb",
            args.households,
            args.seed,
            args.run_date,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    md = markdown(r)
    print(md)
    out = ROOT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "early_warning.json").write_text(
        json.dumps({**r, "markdown": md}, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
