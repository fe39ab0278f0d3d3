"""What every test layer shares: project paths, a clean environment, no secrets from
the shell, and the layer marker of each test.

The layers are folders (see the README's Tests section):

- ``unit/``: pure functions on tiny inputs; no DuckDB, no Dagster run, no Great
  Expectations, no subprocess (``unit/conftest.py`` refuses the first and the last).
- ``integration/``: one part at a time on hand-made data: a real DuckDB warehouse,
  loaders, rules, engine, workbooks, report, feedback, GX suites, the Definitions.
- ``e2e/``: a generated county, the nightly job, the CLI as a subprocess,
  ``dagster dev``, headless Chromium, LibreOffice.

Each test is marked with its folder's name, so ``pytest -m unit`` selects a layer too.
"""

import os
import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
TESTS = Path(__file__).resolve().parent
LAYERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    """Mark every test with its layer (the first folder under tests/)."""
    for item in items:
        parts = Path(item.path).resolve().relative_to(TESTS).parts
        if len(parts) > 1 and parts[0] in LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def copy_inbox(county: Path, dest: Path) -> Path:
    """A private copy of a county's inbox (tests add, change and delete files)."""
    shutil.copytree(county / "inbox", dest)
    return dest


def clean_env() -> dict[str, str]:
    """The environment for a subprocess, without any BIDUI_* leaking in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BIDUI_")}


@pytest.fixture(autouse=True)
def _no_secrets_from_the_shell(monkeypatch):
    """A developer's own key or passwords file must not leak into tests: the tests
    that want encryption set these themselves."""
    for name in (
        "BIDUI_WAREHOUSE_KEY",
        "BIDUI_WAREHOUSE_KEY_FILE",
        "BIDUI_WAREHOUSE_OLD_KEY",
        "BIDUI_WAREHOUSE_OLD_KEY_FILE",
        "BIDUI_WORKBOOK_PASSWORDS",
    ):
        monkeypatch.delenv(name, raising=False)
