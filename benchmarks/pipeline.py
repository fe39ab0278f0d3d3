"""The whole nightly graph on a generated county, step by step.

    .venv/bin/python benchmarks/pipeline.py [--households 20000] [--seed 0]

Generates the county once (cached under .local/bench/), runs the nightly job
through Dagster exactly as `bidui run` does (fresh warehouse and outbox), and
prints the duration of every step from Dagster's own step statistics.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# After the path insert: run as a script.
from demo import generate  # noqa: E402
from pipelines.cli import run_pipeline  # noqa: E402


def county(households: int, seed: int) -> Path:
    out = ROOT / ".local" / "bench" / f"county-{households}-{seed}"
    if not (out / "truth.csv").exists():
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        generate(out, households=households, seed=seed)
        print(f"(generated in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import dagster as dg

    src = county(args.households, args.seed)
    with tempfile.TemporaryDirectory(prefix="bidui-bench-") as tmp:
        tmp = Path(tmp)
        import os

        os.environ["DAGSTER_HOME"] = str(tmp / "dagster_home")
        (tmp / "dagster_home").mkdir()
        shutil.copyfile(ROOT / "dagster.yaml", tmp / "dagster_home" / "dagster.yaml")
        started = time.perf_counter()
        ok, run_id = run_pipeline(src / "inbox", tmp / "outbox", tmp / "w.duckdb", None)
        total = time.perf_counter() - started
        if not ok:
            print(f"run failed: {run_id}", file=sys.stderr)
            return 1
        with dg.DagsterInstance.get() as instance:
            stats = instance.get_run_step_stats(run_id)
        import duckdb

        with duckdb.connect(str(tmp / "w.duckdb"), read_only=True) as con:
            rows_read = con.execute("SELECT sum(rows_read) FROM loads").fetchone()[0]
            findings = con.execute("SELECT count(*) FROM findings").fetchone()[0]
    steps = sorted(
        ((s.step_key, (s.end_time or 0) - (s.start_time or 0)) for s in stats),
        key=lambda x: -x[1],
    )
    print(f"## Whole nightly run (`bidui run`), {args.households:,} households\n")
    print(
        f"{rows_read:,} input rows, {findings:,} findings; wall time {total:.1f} s "
        "(includes Dagster start-up and event storage).\n"
    )
    print("| step | seconds |\n|---|---:|")
    for key, secs in steps[:15]:
        print(f"| {key} | {secs:.1f} |")
    rest = steps[15:]
    if rest:
        print(f"| {len(rest)} other steps (asset checks) | {sum(x for _, x in rest):.1f} |")
    out = ROOT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(
        json.dumps(
            {"households": args.households, "total_s": total, "steps": dict(steps)}, indent=1
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
