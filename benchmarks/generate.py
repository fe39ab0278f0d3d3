"""Demo-county generation time.

    .venv/bin/python benchmarks/generate.py [--households 20000] [--seed 1] [--problems-per-rule 3]
    .venv/bin/python benchmarks/generate.py --households 2000 --households 20000

Timed: ``demo.generate`` end to end (model, injection, writing every
feed's files, truth.csv). The county goes to a temporary folder that is removed
afterwards. Prints a markdown table; writes ``.local/bench/generate.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo import generate  # noqa: E402  (after the path insert: run as a script)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench(households: int, seed: int, problems: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bidui-gen-"))
    try:
        t0 = time.perf_counter()
        res = generate(tmp, households=households, seed=seed, problems_per_rule=problems)
        seconds = time.perf_counter() - t0
        return {
            "households": households,
            "seconds": round(seconds, 2),
            "register_members": res.persons,
            "residents": res.residents,
            "townships": res.townships,
            "villages": res.villages,
            "feed_rows": sum(res.feed_rows.values()),
            "files": sum(len(v) for v in res.files.values()),
            "megabytes": round(_size(tmp / "inbox") / 1e6, 1),
            "truth_rows": res.truth_rows,
            "near_misses": res.near_miss_rows,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, action="append")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--problems-per-rule", type=int, default=3)
    args = ap.parse_args()
    sizes = args.households or [2000]
    rows = [bench(n, args.seed, args.problems_per_rule) for n in sizes]
    print(
        "| households | seconds | register members | residents (hukou) | townships | "
        "villages | feed rows | files | MB | injected | near misses |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['households']:,} | {r['seconds']:.1f} | {r['register_members']:,} | "
            f"{r['residents']:,} | {r['townships']} | {r['villages']} | {r['feed_rows']:,} | "
            f"{r['files']} | {r['megabytes']} | {r['truth_rows']} | {r['near_misses']} |"
        )
    out = ROOT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "generate.json").write_text(
        json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
