"""LibreOffice in tests: find it (or skip with the install hint) and convert files
headless, each test in its own profile so parallel runs never share one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def soffice_or_skip() -> str:
    """The soffice binary, or skip the test saying how to install it."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) not installed; apt-get install libreoffice-calc-nogui")
    return soffice


def soffice_convert(
    soffice: str,
    sources: list,
    fmt: str,
    outdir: Path,
    profile: Path,
    timeout: int = 300,
) -> subprocess.CompletedProcess:
    """``soffice --headless --convert-to fmt`` of ``sources`` into ``outdir``; must succeed."""
    proc = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            fmt,
            "--outdir",
            str(outdir),
            *(str(s) for s in sources),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc
