"""Ingest benchmark: time ``warehouse.load_feed`` per feed on a generated county.

    .venv/bin/python benchmarks/ingest.py [--households 20000] [--seed 0]
        [--county DIR] [--synthetic] [--keep]

Generates a county with ``demo.generate`` (not timed; reused from
``--county`` when that folder already holds an ``inbox/``), loads every feed into
a fresh DuckDB file, then loads again (unchanged files: the idempotent no-op
path). ``--synthetic`` builds a plain
register + hukou inbox of the same size instead. Prints a markdown table and
writes ``.local/bench/ingest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.idcard import check_digit  # noqa: E402
from demo import generate  # noqa: E402
from department_feeds import FEEDS  # noqa: E402
from warehouse import connect, load_feed  # noqa: E402


def generate_county(out: Path, households: int, seed: int) -> tuple[Path, str]:
    """``out/inbox`` from the project generator; ``(inbox, description)``."""
    t0 = time.perf_counter()
    result = generate(out, households=households, seed=seed, problems_per_rule=3)
    return result.inbox, f"generated county: {result} in {time.perf_counter() - t0:.0f}s"


def synthetic_county(out: Path, households: int, seed: int) -> tuple[Path, str]:
    """A register (≈3.4 members per household) and a hukou 6× its size, as xlsx."""
    import openpyxl

    rng = random.Random(seed)
    inbox = out / "inbox"
    people = int(households * 3.4)

    def new_id() -> str:
        body = f"530102{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body += f"{rng.randint(0, 999):03d}"
        return body + check_digit(body)

    def write(path: Path, header: list[str], rows) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("Sheet1")
        ws.append([f"{path.stem}（合成数据）"])
        ws.append(header)
        for r in rows:
            ws.append(r)
        wb.save(path)

    reg_header = ["年度", "县", "乡镇", "行政村", "组", "户编号", "姓名", "证件号码", "性别"]
    reg_header += ["与户主关系", "在校生状况", "是否参加医保", "参加养老保险", "户类型", "户状态"]
    reg_header += ["家庭人口数", "家庭年纯收入", "年人均纯收入"]
    write(
        inbox / "register" / "2024年建档立卡.xlsx",
        reg_header,
        (
            ["2024", "安宁县", f"镇{i % 8}", f"村{i % 40}", "一组", f"H{i // 3}", "张三", new_id()]
            + ["男", "户主", "非在校生", "是", "否", "一般户", "已脱贫", 3, "36,000", "12,000"]
            for i in range(people)
        ),
    )
    hk_header = ["公民身份号码", "姓名", "性别", "出生日期", "户号", "住址", "人员状态", "注销日期"]
    per_file = 6 * people // 8 + 1
    for t in range(8):
        write(
            inbox / "hukou" / f"镇{t}户籍人口.xlsx",
            hk_header,
            (
                [new_id(), "李四", "女", "1980-01-02", f"A{i}", "某村", "正常", None]
                for i in range(per_file)
            ),
        )
    return inbox, f"synthetic county: {people} register rows, {8 * per_file} hukou rows"


def run(inbox: Path, db: Path) -> tuple[list[dict], float]:
    con = connect(db)
    rows = []
    try:
        for feed in FEEDS:
            result = load_feed(con, feed, inbox)
            files = [f for f in result.files if f.status != "removed"]
            rows.append(
                {
                    "feed": feed,
                    "files": len(files),
                    "failed": len(result.failed),
                    "rows_read": result.rows_read,
                    "rows_loaded": result.rows_loaded,
                    "rows_rejected": result.rows_rejected,
                    "seconds": round(result.seconds, 3),
                }
            )
        t0 = time.perf_counter()
        for feed in FEEDS:
            load_feed(con, feed, inbox)
        rerun = time.perf_counter() - t0
    finally:
        con.close()
    return rows, rerun


def table(rows: list[dict], rerun: float) -> str:
    out = [
        "| feed | files | rows read | loaded | rejected | seconds | rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate = r["rows_read"] / r["seconds"] if r["seconds"] else 0
        out.append(
            f"| {r['feed']} | {r['files']} | {r['rows_read']:,} | {r['rows_loaded']:,} | "
            f"{r['rows_rejected']:,} | {r['seconds']:.2f} | {rate:,.0f} |"
        )
    total_rows = sum(r["rows_read"] for r in rows)
    total_s = sum(r["seconds"] for r in rows)
    out.append(
        f"| **total** | {sum(r['files'] for r in rows)} | {total_rows:,} | "
        f"{sum(r['rows_loaded'] for r in rows):,} | {sum(r['rows_rejected'] for r in rows):,} | "
        f"{total_s:.2f} | {total_rows / total_s if total_s else 0:,.0f} |"
    )
    out.append(f"| re-run (unchanged files) | | | | | {rerun:.2f} | |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--households", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--county", type=Path, help="reuse/keep the county in this folder")
    ap.add_argument("--synthetic", action="store_true", help="skip the project generator")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bidui-bench-ingest-"))
    county = args.county or work / "county"
    try:
        if (county / "inbox").is_dir():
            inbox, source = county / "inbox", f"existing county {county}"
        elif args.synthetic:
            inbox, source = synthetic_county(county, args.households, args.seed)
        else:
            inbox, source = generate_county(county, args.households, args.seed)
        rows, rerun = run(inbox, work / "warehouse.duckdb")
        md = table(rows, rerun)
        print(f"ingest, {args.households} households ({source}); {os.cpu_count()} CPUs\n")
        print(md)
        bench = ROOT / ".local" / "bench"
        bench.mkdir(parents=True, exist_ok=True)
        (bench / "ingest.json").write_text(
            json.dumps(
                {
                    "benchmark": "ingest",
                    "households": args.households,
                    "source": source,
                    "when": dt.datetime.now().isoformat(timespec="seconds"),
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "feeds": rows,
                    "total_rows": sum(r["rows_read"] for r in rows),
                    "total_seconds": round(sum(r["seconds"] for r in rows), 3),
                    "rerun_seconds": round(rerun, 3),
                    "markdown": md,
                },
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    finally:
        if args.keep or args.county:
            print(f"\nkept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
