"""Shared fixtures: a small generated county, written once per test module."""

import os
import shutil
from pathlib import Path

import pytest

from demo import generate
from warehouse import connect

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def generate_county(out: Path, households: int = 300, seed: int = 7, problems_per_rule: int = 1):
    return generate(out, households=households, seed=seed, problems_per_rule=problems_per_rule)


@pytest.fixture(scope="module")
def small_county(tmp_path_factory) -> Path:
    """A generated county of 300 households (inbox/ + truth.csv), one per module."""
    out = tmp_path_factory.mktemp("county")
    generate_county(out)
    return out


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """A throw-away DAGSTER_HOME holding the project's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


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


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox folder of the test's own."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def con(tmp_path: Path):
    """A fresh warehouse file of the test's own (every table created)."""

    c = connect(tmp_path / "wh" / "warehouse.duckdb")
    yield c
    c.close()
