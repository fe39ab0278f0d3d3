"""Township problem lists for a whole county: write them, read them back as feedback.

    .venv/bin/python benchmarks/workbooks.py [--households 20000] [--findings-per-household 0.5]
    .venv/bin/python benchmarks/workbooks.py --generated   # real county: generator → ingest → rules

By default the findings are synthesised straight into a fresh warehouse at the
scale a county of that size produces (0.5 findings per household ≈ 10,000 for
20,000 households; 12 townships of ~10 villages), with valid 18-digit ID numbers
and realistic Chinese descriptions. ``--generated`` uses ``demo`` and
the real ingest and rule engine instead (slower; the county is cached under
``.local/bench/`` like benchmarks/pipeline.py does).

Timed: ``write_township_workbooks`` (all workbooks), then ``load_feedback`` on
every workbook as if all townships returned them unchanged (each row parsed and
compared with the warehouse), then publishing (``publish_run``).
Prints a markdown table; writes ``.local/bench/workbooks.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks.engine import run_rules  # noqa: E402
from core.idcard import check_digit  # noqa: E402
from demo import generate  # noqa: E402
from publishing.outbox import publish_run  # noqa: E402
from publishing.workbooks import write_township_workbooks  # noqa: E402
from rectification.feedback import load_feedback  # noqa: E402
from warehouse import load_all  # noqa: E402
from warehouse.schema import create_all  # noqa: E402

RUN_DATE = date(2025, 6, 10)
DUE_DAYS = {"high": 15, "medium": 30, "low": 60}
# code, Chinese name, category, severity, department, person-level, requirement, evidence
RULES = [
    ("owns_car", "家庭成员名下有车辆", "疑似错评", "high", "公安", True,
     "核实车辆情况，不符合条件的按程序退出", "车管：云A·{n:05d} 小型轿车 2022-05-10 登记"),
    ("owns_urban_property", "家庭成员在城镇有商品房", "疑似错评", "high", "住建", True,
     "核实房产情况", "不动产：城区幸福路{n}号 住宅 98.5㎡ 2021-03-02 登记"),
    ("medical_insurance_missing", "未参加基本医疗保险", "保障缺失", "high", "本系统", True,
     "动员参保并更新系统", "登记：是否参加城乡居民基本医疗保险 否"),
    ("income_unchanged", "收入连续年度无变化", "需更新", "medium", "本系统", False,
     "入户核实收入并更新", "登记：2024年与2025年年人均纯收入均为 5,{n:03d} 元"),
    ("id_invalid", "证件号码错误", "信息不准", "high", "本系统", True,
     "核对身份证原件并更正", "登记：证件号码 校验位错误"),
    ("exited_below_income_line", "已脱贫户收入低于标准", "疑似错退", "high", "本系统", False,
     "核实收入，必要时纳入监测", "登记：户状态 已脱贫，年人均纯收入 6,{n:03d} 元"),
    ("phone_invalid", "联系电话错误或共用", "信息不准", "low", "本系统", False,
     "核实并更正联系电话", "登记：联系电话 1380000{n:04d} 共 7 户"),
    ("company_shareholder", "家庭成员为企业股东", "疑似错评", "medium", "市场监管", True,
     "核实经营情况", "市场监管：某某商贸有限公司 股东 认缴 50 万元"),
]  # fmt: skip
TOWNSHIPS = ["城关镇", "东风镇", "红旗乡", "龙泉镇", "白沙乡", "青山镇", "石门乡", "清水镇",
             "金川乡", "松林乡", "河口镇", "新华乡"]  # fmt: skip
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张"
GIVEN = "秀英桂兰建国志强玉梅永福德明春花海燕国庆丽华文斌"


def synthesise(con, households: int, per_household: float) -> None:
    """A fresh warehouse with ``findings`` and ``finding_history`` at county scale."""
    create_all(con)
    total = int(households * per_household)
    rows, hist = [], []
    prev = RUN_DATE - timedelta(days=7)
    for i in range(total):
        hh = int(i / per_household)  # household this finding belongs to
        ti = hh * len(TOWNSHIPS) // households
        vi = (hh // 7) % 10
        code, zh, cat, sev, dept, person, req, ev = RULES[i % len(RULES)]
        birth = date(1940, 1, 1) + timedelta(days=(i * 37) % 25000)
        body = f"5323{ti:02d}{birth:%Y%m%d}{i % 1000:03d}"
        idn = body + check_digit(body)
        head = SURNAMES[hh % len(SURNAMES)] + GIVEN[2 * (hh % 12) : 2 * (hh % 12) + 2]
        name = head if i % 3 == 0 else SURNAMES[hh % len(SURNAMES)] + GIVEN[(i % 12) * 2]
        status = ("new", "open", "open", "open", "reopened")[i % 5] if i % 40 else "waived"
        first = RUN_DATE if status == "new" else prev
        township = TOWNSHIPS[ti]
        village = f"{township[:2]}{'一二三四五六七八九十'[vi]}村"
        pid = f"{code[:3].upper()}-{i:010X}"
        rows.append((
            pid, code, cat, sev, 2025, "云岭县", township, village, f"{hh % 9 + 1}组",
            f"5323{ti:02d}{vi:02d}{hh:06d}", idn, name if person else None, dept,
            f"{zh}：{name}，{ev.format(n=i % 10000)}", ev.format(n=i % 10000), first, status,
            head, zh, req, None, RUN_DATE,
        ))  # fmt: skip
        hist.append((pid, code, township, village, rows[-1][9], idn, first, RUN_DATE, None,
                     int(status == "reopened"), status))  # fmt: skip
    # Through Arrow (polars): executemany of 10,000 rows takes DuckDB ~40 s.
    for table, data in (("findings", rows), ("finding_history", hist)):
        cols = [d[0] for d in con.execute(f"DESCRIBE {table}").fetchall()]
        frame = pl.DataFrame(data, schema=cols, orient="row", infer_schema_length=None)
        con.register("bench_frame", frame.to_arrow())
        con.execute(f"INSERT INTO {table} SELECT * FROM bench_frame")
        con.unregister("bench_frame")


def generated(con, households: int, seed: int) -> None:
    """The real thing: generated county, ingest, rule engine (cached county)."""
    src = ROOT / ".local" / "bench" / f"county-{households}-{seed}"
    if not (src / "truth.csv").exists():
        shutil.rmtree(src, ignore_errors=True)
        generate(src, households=households, seed=seed)
    load_all(con, src / "inbox")
    run_rules(con, RUN_DATE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--households", type=int, default=20000)
    ap.add_argument("--findings-per-household", type=float, default=0.5)
    ap.add_argument("--generated", action="store_true", help="generator + ingest + rules")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bidui-bench-wb-") as tmp:
        tmp = Path(tmp)
        con = duckdb.connect(str(tmp / "w.duckdb"))
        t0 = time.perf_counter()
        if args.generated:
            generated(con, args.households, args.seed)
            source = "generated county (generator → ingest → rules)"
        else:
            synthesise(con, args.households, args.findings_per_household)
            source = f"synthesised findings ({args.findings_per_household} per household)"
        prep = time.perf_counter() - t0
        findings, listed = con.execute(
            "SELECT count(*), count(*) FILTER (status <> 'waived') FROM findings"
        ).fetchone()

        t0 = time.perf_counter()
        infos = write_township_workbooks(con, RUN_DATE, tmp / "lists", DUE_DAYS)
        t_write = time.perf_counter() - t0
        size = sum(i.path.stat().st_size for i in infos)

        # Every township returns its list unchanged: read, parse, compare every row.
        inbox = tmp / "inbox" / "feedback"
        shutil.copytree(tmp / "lists", inbox)
        t0 = time.perf_counter()
        fb = load_feedback(con, inbox)
        t_read = time.perf_counter() - t0
        assert fb.rows_read == listed and fb.edits_ignored == 0, fb

        t0 = time.perf_counter()
        with publish_run(tmp / "outbox", RUN_DATE) as folder:
            write_township_workbooks(con, RUN_DATE, folder, DUE_DAYS)
        t_publish = time.perf_counter() - t0
        con.close()

    rows = [
        ("write all problem lists (`write_township_workbooks`)", t_write),
        ("read them all back (`load_feedback`, every row compared)", t_read),
        ("write + publish atomically (`publish_run`)", t_publish),
    ]
    print(f"## Problem lists, {args.households:,} households\n")
    print(
        f"{source}: {findings:,} findings, {listed:,} listed (waived left off), "
        f"{len(infos)} workbooks, {sum(len(i.sheets) for i in infos)} sheets, "
        f"{size / 1e6:.1f} MB; data prepared in {prep:.1f} s (not counted).\n"
    )
    print("| step | seconds | rows/s |\n|---|---:|---:|")
    for label, secs in rows:
        print(f"| {label} | {secs:.2f} | {listed / secs:,.0f} |")
    out = ROOT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "workbooks.json").write_text(
        json.dumps(
            {
                "households": args.households,
                "source": source,
                "findings": findings,
                "listed": listed,
                "workbooks": len(infos),
                "bytes": size,
                "write_s": round(t_write, 3),
                "feedback_read_s": round(t_read, 3),
                "publish_s": round(t_publish, 3),
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
