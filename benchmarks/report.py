"""Great Expectations per feed and the run report on a generated county.

    .venv/bin/python benchmarks/report.py [--households 2000] [--seed 0]

Generates the county once (cached under .local/bench/, as benchmarks/pipeline.py
does), loads it into a fresh warehouse and runs the rules, then times
``validate_feed`` for each feed into one Data Docs folder (as the per-feed asset
checks call it: validation plus an incremental Data Docs rebuild) and
``render_report``. Prints a markdown table; writes ``.local/bench/report.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUN_DATE = date(2025, 11, 20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from benchmarks.pipeline import county

    src = county(args.households, args.seed)
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401  (import cost reported separately)

    gx_import = time.perf_counter() - t0

    # Imported after GX so its import cost above is measured alone.
    from checks.engine import run_rules
    from checks.expectations import validate_feed
    from department_feeds import SPECS
    from publishing.report import render_report
    from warehouse import connect
    from warehouse.ingest import load_all

    rows = []
    with tempfile.TemporaryDirectory(prefix="bidui-bench-report-") as tmp:
        tmp = Path(tmp)
        con = connect(tmp / "w.duckdb")
        load_all(con, src / "inbox")
        run_rules(con, RUN_DATE)
        docs = tmp / "out" / "data_docs"
        for feed in SPECS:
            t = time.perf_counter()
            v = validate_feed(con, feed, RUN_DATE, docs)
            wall = time.perf_counter() - t
            rows.append(
                {
                    "feed": feed,
                    "rows": v.rows,
                    "expectations": len(v.results),
                    "failed": len(v.failed),
                    "validate_s": round(v.duration_ms / 1000, 3),
                    "with_docs_s": round(wall, 3),
                }
            )
        t = time.perf_counter()
        summary = render_report(
            con, RUN_DATE, tmp / "out" / "report.html", {"数据质量报告": "data_docs/index.html"}
        )
        report_s = time.perf_counter() - t
        size = (tmp / "out" / "report.html").stat().st_size
        con.close()

    print(f"## GX per feed and report ({args.households:,} households)\n")
    print("| feed | rows | expectations | failed | validate (s) | with Data Docs (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['feed']} | {r['rows']:,} | {r['expectations']} | {r['failed']} | "
            f"{r['validate_s']:.2f} | {r['with_docs_s']:.2f} |"
        )
    total = sum(r["with_docs_s"] for r in rows)
    print(f"| **all feeds** | | | | | **{total:.2f}** |")
    print(f"\nGX import: {gx_import:.2f} s (once per process)")
    print(f"render_report: {report_s:.2f} s, {size / 1024:.0f} KiB, {summary.findings} findings")
    out = ROOT / ".local" / "bench" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "households": args.households,
                "gx_import_s": round(gx_import, 3),
                "feeds": rows,
                "all_feeds_s": round(total, 3),
                "report_s": round(report_s, 3),
                "report_kib": round(size / 1024, 1),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
