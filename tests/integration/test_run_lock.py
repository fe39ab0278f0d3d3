"""The in-code warehouse lock: a second process waits, then fails clearly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from assets.resources import run_lock


def test_second_process_cannot_take_the_lock(tmp_path):
    wh = tmp_path / "w.duckdb"
    with run_lock(wh):
        code = textwrap.dedent(
            f"""
            from pathlib import Path
            from assets.resources import WarehouseBusy, run_lock
            try:
                with run_lock(Path({str(wh)!r}), timeout_s=1):
                    print("acquired")
            except WarehouseBusy as exc:
                print("busy:", exc)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "busy:" in out.stdout and "another bidui run (pid " in out.stdout
    assert f"is using warehouse {wh}" in out.stdout and "waited 1 s" in out.stdout
