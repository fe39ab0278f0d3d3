"""Helpers for the tests of whole runs: a child process holding a run lock, and the
environment of a `bidui` subprocess with a throw-away Dagster instance."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import PROJECT_ROOT, clean_env


def run_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment whose DAGSTER_HOME is a fresh instance under ``tmp_path``."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return clean_env() | {"DAGSTER_HOME": str(home)}


def hold_lock_in_child(kind: str, target: Path, ready: Path) -> subprocess.Popen:
    """A child process holding the warehouse or outbox run lock until killed."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from assets.resources import RunLocks
        locks = RunLocks.for_paths(
            warehouse=Path({str(target) if kind == "warehouse" else "/nonexistent"!r}),
            outbox=Path({str(target) if kind == "outbox" else "/nonexistent"!r}),
            only={kind!r},
        )
        locks.acquire(run_id="holder-run-0001", wait_s=0)
        Path({str(ready)!r}).write_text("x")
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=clean_env())
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, "lock holder died"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return child
