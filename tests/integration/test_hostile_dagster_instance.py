"""The project's Dagster instance configuration (dagster.yaml) loads and keeps the UI quiet."""

from __future__ import annotations

import shutil

import yaml
from dagster import DagsterInstance

from tests.conftest import PROJECT_ROOT


def test_instance_loads_with_sign_up_prompt_and_telemetry_off(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["nux"] == {"enabled": False}
    instance = DagsterInstance.from_config(str(home))
    try:
        # nux_enabled drives the UI's shouldShowNux (the "sign up for Dagster+" pop-up).
        assert instance.nux_enabled is False
        assert instance.telemetry_enabled is False
    finally:
        instance.dispose()
