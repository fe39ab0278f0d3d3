"""Run every benchmark script and collect their tables into docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py [--households 20000]

Each ``benchmarks/<name>.py`` prints a markdown section; this script runs them one
after another (never in parallel: they measure a 2-core machine) and writes the
page with the machine it ran on and its load average. With ``--only`` the page
keeps its other sections: a section of the same ``## `` heading is replaced, a new
one appended.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["generate", "ingest", "rules", "early_warning", "workbooks", "pipeline"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def merge(page: str, sections: list[str]) -> str:
    """``page`` with each of ``sections`` replacing the one of the same ``## `` heading
    (or appended when the page has none)."""
    lines = page.rstrip("\n").split("\n")
    for section in sections:
        heading = section.split("\n", 1)[0]
        body = section.rstrip("\n").split("\n")
        if heading in lines:
            start = lines.index(heading)
            end = next(
                (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                len(lines),
            )
            lines[start:end] = [*body, ""]
        else:
            lines += ["", *body]
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=20000)
    ap.add_argument("--only", nargs="*", help="benchmark names (default: all)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()

    names = [n for n in ORDER if (ROOT / "benchmarks" / f"{n}.py").exists()]
    names += sorted(
        p.stem
        for p in (ROOT / "benchmarks").glob("*.py")
        if p.stem not in names and p.stem not in {"run_all", "__init__"}
    )
    if args.only:
        names = [n for n in names if n in args.only]
    sections = []
    load_start = load_average()
    for name in names:
        cmd = [
            sys.executable,
            str(ROOT / "benchmarks" / f"{name}.py"),
            "--households",
            str(args.households),
        ]
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            sections.append(f"## {name}\n\nFAILED (exit {done.returncode}) after {took:.0f} s.\n")
            continue
        print(done.stdout)
        text = done.stdout.strip()
        if not text.startswith("#"):
            text = f"## {name}\n\n{text}"
        sections.append(text + "\n")

    out = Path(args.out)
    if args.only and out.exists():
        out.write_text(merge(out.read_text(encoding="utf-8"), sections), encoding="utf-8")
        print(f"updated {', '.join(names)} in {args.out}")
        return 0
    page = [
        "# Benchmarks",
        "",
        "Measured by `benchmarks/run_all.py` (`make bench`), not by timed tests.",
        f"Machine: {machine()}; load average (1/5/15 min) {load_start} at the start.",
        f"Run: {datetime.now().isoformat(timespec='minutes')}, county of "
        f"{args.households:,} households unless a section says otherwise.",
        "",
        *sections,
    ]
    out.write_text("\n".join(page), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
