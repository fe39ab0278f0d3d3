"""A generated prefecture run as one night: every county in parallel, then the prefecture.

    .venv/bin/python benchmarks/prefecture.py [--households 20000] [--counties 10] [--jobs N]

Generates the prefecture once (cached under .local/bench/), then runs ``bidui run``
on it exactly as an office would (fresh warehouses, outbox and Dagster instance) and
prints: the whole night, each phase, each county's time and peak memory per phase
(from the CLI's own lines, which read the child's rusage), the largest process, and
a projection for a province of 50 counties from these figures.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo import generate_prefecture  # noqa: E402  (after the path insert: run as a script)

COUNTY_LINE = re.compile(
    r"^\[(?P<phase>\w+)\] (?P<county>\S+): (?P<state>ok|failed[^(]*)"
    r"(?: \((?P<s>\d+) s, peak (?P<mb>[\d,]+) MB\))?"
)
PHASE_LINE = re.compile(r"^\s*phase (?P<phase>\w+): (?P<s>[\d.]+) s")


def prefecture(counties: int, households: int, seed: int) -> tuple[Path, float | None]:
    out = ROOT / ".local" / "bench" / f"prefecture-{counties}x{households}-{seed}"
    took = None
    if not (out / "truth_cross_county.csv").exists():
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        generate_prefecture(out, counties=counties, households=households, seed=seed)
        took = time.perf_counter() - started
    return out, took


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=20000, help="per county")
    ap.add_argument("--counties", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    src, generated = prefecture(args.counties, args.households, args.seed)
    with tempfile.TemporaryDirectory(prefix="bidui-bench-pref-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "DAGSTER_HOME": str(tmp / "dagster_home")}
        (tmp / "dagster_home").mkdir()
        shutil.copyfile(ROOT / "dagster.yaml", tmp / "dagster_home" / "dagster.yaml")
        cmd = [
            str(ROOT / ".venv" / "bin" / "bidui"),
            "run",
            "--inbox",
            str(src / "inbox"),
            "--outbox",
            str(tmp / "outbox"),
            "--warehouse",
            str(tmp / "w" / "prefecture.duckdb"),
            "--jobs",
            str(args.jobs),
        ]
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        total = time.perf_counter() - started
        # The largest single process of the night (the CLI waits for its children).
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        warehouses = du_mb(tmp / "w")
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-3000:], file=sys.stderr)
        return 1

    runs: dict[str, dict[str, tuple[float, float]]] = {}
    phases: dict[str, float] = {}
    for line in done.stdout.splitlines():
        if m := COUNTY_LINE.match(line):
            if m["s"] is not None:
                runs.setdefault(m["county"], {})[m["phase"]] = (
                    float(m["s"]),
                    float(m["mb"].replace(",", "")),
                )
        elif m := PHASE_LINE.match(line):
            phases[m["phase"]] = float(m["s"])

    per_county = [sum(s for s, _ in r.values()) for r in runs.values()]
    mean = sum(per_county) / len(per_county)
    stage = phases.get("prefecture", 0.0)
    waves = -(-50 // args.jobs)
    projected = waves * mean + stage * 50 / args.counties
    rows = [
        f"| {c} | {r.get('ingest', (0, 0))[0]:.0f} | {r.get('ingest', (0, 0))[1]:,.0f} "
        f"| {r.get('night', (0, 0))[0]:.0f} | {r.get('night', (0, 0))[1]:,.0f} |"
        for c, r in runs.items()
    ]
    gen = f"generated in {generated:.0f} s; " if generated else ""
    print(
        f"## Prefecture: {args.counties} counties × {args.households:,} households\n\n"
        f"`benchmarks/prefecture.py`: `bidui run` on a generated prefecture ({gen}inbox "
        f"{du_mb(src / 'inbox'):,.0f} MB), {args.jobs} county runs at once, each in its own "
        f"process; load average before: {load}.\n\n"
        f"- **Whole night: {total:.0f} s** ({total / 60:.1f} min; goal < 10 min)\n"
        + "".join(f"- phase {p}: {s:.1f} s\n" for p, s in phases.items())
        + f"- largest process: {peak_mb:,.0f} MB peak resident memory (goal < 2 GB per "
        f"county run)\n- county warehouses and Parquet layer on disk: {warehouses:,.0f} MB\n\n"
        "| county | ingest s | ingest peak MB | night s | night peak MB |\n"
        "|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
        f"**Projection for a province of 50 counties** (same machine, {args.jobs} at once): "
        f"⌈50 / {args.jobs}⌉ = {waves} waves × {mean:.0f} s per county (ingest + night, the "
        f"mean above) + the prefecture stage scaled linearly ({stage:.0f} s × 50/"
        f"{args.counties}) ≈ **{projected / 60:.0f} min**. Assumptions: counties of this size "
        "(a real county has 5,000–60,000 households: time per county grows about linearly "
        "with its rows), the county runs are CPU-bound so N cores (or N Kubernetes pods, "
        "docs/deploy.md) divide the waves by N/2, the Parquet layer and the prefecture stage "
        "grow linearly with the counties, memory per county run stays as measured (it "
        "depends on the county, not the prefecture)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
