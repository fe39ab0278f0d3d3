"""Fixed time of a run: `bidui run` end to end in a fresh process, split by step.

    .venv/bin/python benchmarks/speed.py [--households 2400] [--repeat 3] [--county DIR]

Runs ``bidui run`` as a subprocess (a fresh warehouse, outbox and Dagster instance
each time, as on a county's first night) and reads the run's step statistics back
from the instance. Prints wall time, time inside steps grouped (feeds, Great
Expectations, asset checks, findings, outputs) and the time outside any step
(process start, imports, instance, event storage), each as wall seconds and as CPU
seconds of the run's process. The load average is printed with every repetition:
the machine is shared, so compare wall figures of one load only; CPU figures vary
less with the load. A step's CPU is the process's between its start and end events
(steps run one at a time; a thread the step started, or GX's import started before
the steps, counts where it runs).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIDUI = ROOT / ".venv" / "bin" / "bidui"

# The child: `bidui run`, noting the process's CPU time at each step's start and end.
CHILD = """
import atexit, json, os, sys, time
from dagster import DagsterInstance
marks = []
handle = DagsterInstance.handle_new_event
def noting(self, event, **kwargs):
    handle(self, event, **kwargs)
    kind = event.dagster_event.event_type_value if event.dagster_event else ""
    if kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
        marks.append((event.step_key, kind, time.process_time()))
DagsterInstance.handle_new_event = noting
def dump():
    with open(os.environ["BIDUI_SPEED_CPU"], "w") as f:
        json.dump({"marks": marks, "cpu": time.process_time()}, f)
atexit.register(dump)
from pipelines.cli import main
sys.exit(main())
"""


def county(households: int, seed: int, where: Path | None) -> Path:
    """The generated county (cached under .local/bench/ unless ``where`` is given)."""
    out = where or ROOT / ".local" / "bench" / f"county-{households}-{seed}"
    if not (out / "truth.csv").exists():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(
            [
                str(BIDUI),
                "generate",
                "--households",
                str(households),
                "--seed",
                str(seed),
                str(out),
            ],
            check=True,
            capture_output=True,
        )
    return out


def one_run(inbox: Path, tmp: Path, root: Path) -> dict:
    """One ``bidui run`` in a fresh folder: wall time and the run's step durations.

    ``root`` is the code tree to run (another checkout compares before/after)."""
    warehouse = tmp / "w.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["PYTHONPATH"] = str(root)
    env["BIDUI_SPEED_CPU"] = str(tmp / "cpu.json")
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            "run",
            "--inbox",
            str(inbox),
            "--outbox",
            str(tmp / "outbox"),
            "--warehouse",
            str(warehouse),
        ],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"bidui run failed:\n{done.stderr[-3000:]}")
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("run "))
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(warehouse.with_name(warehouse.name + ".dagster"))
    with dg.DagsterInstance.get() as instance:
        stats = instance.get_run_step_stats(run_id)
        run = instance.get_run_stats(run_id)
    steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats}
    noted = json.loads((tmp / "cpu.json").read_text(encoding="utf-8"))
    started_at: dict[str, float] = {}
    step_cpu: dict[str, float] = {}
    for step, kind, at in noted["marks"]:
        if kind == "STEP_START":
            started_at[step] = at
        elif step in started_at:
            step_cpu[step] = at - started_at.pop(step)
    return {
        "wall": wall,
        "cpu": cpu,
        "process_cpu": noted["cpu"],
        "load": load,
        "run": (run.end_time or 0) - (run.start_time or 0),
        "steps": steps,
        "step_cpu": step_cpu,
    }


def group(step: str, feeds: set[str]) -> str:
    if step in feeds:
        return "feed ingest"
    if step in ("data_docs", "gx_feed_suites"):
        return "Great Expectations"
    if step == "findings":
        return "findings"
    if (
        "_" in step
        and step.split("_", 1)[0] in feeds
        or step.startswith(("register_", "social_insurance_", "house_safety_", "civil_affairs_"))
    ):
        return "feed checks"
    return "outputs and other"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--county", type=Path, default=None, help="a generated county folder")
    ap.add_argument("--steps", action="store_true", help="list every step")
    ap.add_argument("--root", type=Path, default=ROOT, help="the code tree to run")
    args = ap.parse_args()

    from department_feeds import SPECS

    inbox = county(args.households, args.seed, args.county) / "inbox"
    runs = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bidui-speed-") as tmp:
            r = one_run(inbox, Path(tmp), args.root.resolve())
        runs.append(r)
        print(
            f"(run {i + 1}: {r['wall']:.1f} s wall, {len(r['steps'])} steps, load {r['load']:.2f})",
            file=sys.stderr,
        )
    feeds = set(SPECS)
    groups: dict[str, list[float]] = {}
    cpu_groups: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for r in runs:
        sums: dict[str, float] = {}
        cpus: dict[str, float] = {}
        for step, secs in r["steps"].items():
            g = group(step, feeds)
            sums[g] = sums.get(g, 0.0) + secs
            cpus[g] = cpus.get(g, 0.0) + r["step_cpu"].get(step, 0.0)
            if r is runs[0]:
                counts[g] = counts.get(g, 0) + 1
        sums["all steps"] = sum(r["steps"].values())
        cpus["all steps"] = sum(r["step_cpu"].values())
        sums["outside steps (start, imports, instance)"] = r["wall"] - sums["all steps"]
        cpus["outside steps (start, imports, instance)"] = r["process_cpu"] - cpus["all steps"]
        sums["wall (end to end)"] = r["wall"]
        cpus["wall (end to end)"] = r["process_cpu"]
        sums["CPU time of the run's processes"] = r["cpu"]
        cpus["CPU time of the run's processes"] = r["cpu"]
        for g, secs in sums.items():
            groups.setdefault(g, []).append(secs)
            cpu_groups.setdefault(g, []).append(cpus.get(g, 0.0))
    med = {g: statistics.median(v) for g, v in groups.items()}
    cpu_med = {g: statistics.median(v) for g, v in cpu_groups.items()}
    loads = ", ".join(f"{r['load']:.2f}" for r in runs)
    print(f"## Fixed time per run, {args.households:,} households\n")
    print(
        f"`bidui run` in a fresh process, fresh warehouse; median of {len(runs)} runs "
        f"(1-min load average at each start: {loads}).\n"
    )
    print("| part | steps | seconds | CPU seconds |\n|---|---:|---:|---:|")
    for g in sorted(med, key=lambda g: (g.startswith(("all", "outside", "wall", "CPU")), -med[g])):
        print(f"| {g} | {counts.get(g, '')} | {med[g]:.1f} | {cpu_med[g]:.1f} |")
    if args.steps:
        print("\n| step | seconds | CPU seconds |\n|---|---:|---:|")
        last = runs[-1]
        for step, secs in sorted(last["steps"].items(), key=lambda x: -x[1]):
            print(f"| {step} | {secs:.2f} | {last['step_cpu'].get(step, 0.0):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
