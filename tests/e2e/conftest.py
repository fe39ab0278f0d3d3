"""Fixtures of the end-to-end tests: a generated county and a throw-away Dagster instance."""

import shutil
from pathlib import Path

import pytest

from demo import generate
from tests.conftest import PROJECT_ROOT


def generate_county(out: Path, households: int = 300, seed: int = 7, problems_per_rule: int = 1):
    """A demo county (``out/inbox`` + ``out/truth.csv``) of ``households`` households."""
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
