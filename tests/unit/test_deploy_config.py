"""The Kubernetes deployment's instance config (deploy/dagster.yaml) is valid for Dagster.

Validated the way a Dagster instance loads it: the top level with
``dagster_instance_config`` (the instance schema: a misspelt or unknown key fails),
then every pluggable class (run launcher, run coordinator, storages, scheduler,
compute logs) against that class's own ``config_type()``, with ``process_config`` as
``ConfigurableClassData.rehydrate`` does, so ``{env: DAGSTER_PG_PASSWORD}`` is resolved
from the environment and fails when unset. Only the constructors are not called: they
would connect to PostgreSQL and load an in-cluster Kubernetes config.

Also: deploy/values.yaml renders this file (the chart's templates, for the keys bidui
sets), docs/deploy.md shows both files verbatim, and the tags the run queue limits on
are tags bidui's runs carry.
"""

from __future__ import annotations

import copy
import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import ConfigurableClassData

from pipelines.jobs import nightly_job

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT_ROOT / "deploy"
INSTANCE_YAML = DEPLOY / "dagster.yaml"
VALUES_YAML = DEPLOY / "values.yaml"
DEPLOY_DOC = PROJECT_ROOT / "docs" / "deploy.md"

# Top-level keys whose value is {module, class, config}: a class Dagster loads.
PLUGGABLE = (
    "run_launcher",
    "run_coordinator",
    "run_storage",
    "event_log_storage",
    "schedule_storage",
    "scheduler",
    "compute_logs",
)


def validate_instance_dir(base_dir: Path) -> dict[str, Any]:
    """Validate ``base_dir/dagster.yaml`` as Dagster does on load; the validated config.

    Raises DagsterInvalidConfigError naming the wrong key or value."""
    config, _ = dagster_instance_config(str(base_dir))
    for key in PLUGGABLE:
        if key not in config:
            continue
        entry = config[key]
        # ConfigurableClassData maps the chart's "dagster.core..." to "dagster._core...".
        data = ConfigurableClassData(
            entry["module"], entry["class"], yaml.safe_dump(entry.get("config") or {})
        )
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        if not result.success:
            raise DagsterInvalidConfigError(
                f"Errors in {key} ({data.module_name}.{data.class_name}) of {base_dir}",
                result.errors,
                data.config_dict,
            )
    return config


def _write_instance(tmp_path: Path, config: dict[str, Any]) -> Path:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return tmp_path


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture
def pg_password(monkeypatch):
    """The chart puts the Postgres password in DAGSTER_PG_PASSWORD in every pod."""
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "not-the-real-one")


def test_the_kubernetes_instance_config_passes_dagsters_validation(pg_password):
    config = validate_instance_dir(DEPLOY)
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_storage"]["class"] == "PostgresRunStorage"


def _misspell_launcher_key(c):
    c["run_launcher"]["config"]["env_secret"] = c["run_launcher"]["config"].pop("env_secrets")


def _misspell_postgres_key(c):
    db = c["run_storage"]["config"]["postgres_db"]
    db["host"] = db.pop("hostname")


def _misspell_top_level_key(c):
    c["run_monitor"] = c.pop("run_monitoring")


def _wrong_type(c):
    c["run_coordinator"]["config"]["max_concurrent_runs"] = "four"


def _misspell_tag_limit(c):
    c["run_coordinator"]["config"]["tag_concurrency_limits"][0]["limits"] = 1


def _unknown_class(c):
    c["run_launcher"]["class"] = "K8sRunLauncherr"


# name -> (how to break a copy, what the error must name). All but the top-level key
# pass the instance schema alone: only the classes' own schemas catch them.
BREAKAGES = {
    "launcher key": (_misspell_launcher_key, '"env_secret"'),
    "postgres key": (_misspell_postgres_key, '"host"'),
    "top-level key": (_misspell_top_level_key, '"run_monitor"'),
    "wrong type": (_wrong_type, "max_concurrent_runs"),
    "tag limit key": (_misspell_tag_limit, '"limits"'),
}


@pytest.mark.parametrize("name", BREAKAGES)
def test_a_broken_copy_fails_validation(tmp_path, pg_password, name):
    breakage, named = BREAKAGES[name]
    config = copy.deepcopy(_load(INSTANCE_YAML))
    breakage(config)
    with pytest.raises(DagsterInvalidConfigError, match=re.escape(named)):
        validate_instance_dir(_write_instance(tmp_path, config))


def test_an_unknown_class_fails_to_load(tmp_path, pg_password):
    config = copy.deepcopy(_load(INSTANCE_YAML))
    _unknown_class(config)
    with pytest.raises((AttributeError, ImportError)):
        validate_instance_dir(_write_instance(tmp_path, config))


def test_the_postgres_password_comes_from_the_environment(monkeypatch):
    """As in Dagster: an ``{env: NAME}`` value is read when the instance loads, and an
    unset variable is an error that names it (never a silent empty password)."""
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_PG_PASSWORD"):
        validate_instance_dir(DEPLOY)
    for key in ("run_storage", "event_log_storage", "schedule_storage"):
        db = _load(INSTANCE_YAML)[key]["config"]["postgres_db"]
        assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}, key


# --------------------------------------------------------------------------- values.yaml
# What the chart's instance ConfigMap template (templates/configmap-instance.yaml and
# helpers/instance/*.tpl) renders for the values bidui sets, as release "dagster".
RELEASE_FULLNAME = "dagster"


def _postgres(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    assert pg["enabled"] is False, "the office's own PostgreSQL (postgresqlHost)"
    return {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg["postgresqlParams"],
        }
    }


def _k8s_launcher(values: dict[str, Any]) -> dict[str, Any]:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    config = {
        "load_incluster_config": k["loadInclusterConfig"],
        "job_namespace": k["jobNamespace"],
        "image_pull_policy": k["imagePullPolicy"],
        "service_account_name": RELEASE_FULLNAME,
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{RELEASE_FULLNAME}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_config_maps": [m["name"] for m in k.get("envConfigMaps", [])],
        "env_secrets": [s["name"] for s in k.get("envSecrets", [])],
        "env_vars": k.get("envVars"),
        "volume_mounts": k.get("volumeMounts"),
        "volumes": k.get("volumes"),
        "labels": k.get("labels"),
        "resources": k.get("resources"),
        "fail_pod_on_run_failure": True if k.get("failPodOnRunFailure") else None,
        "run_k8s_config": {
            run_k8s[name]: value for name, value in (k.get("runK8sConfig") or {}).items()
        },
    }
    always = {"load_incluster_config", "job_namespace", "image_pull_policy"}
    return {key: value for key, value in config.items() if key in always or value}


def _queued_coordinator(values: dict[str, Any]) -> dict[str, Any]:
    rc = values["dagsterDaemon"]["runCoordinator"]
    assert rc["enabled"] and rc["type"] == "QueuedRunCoordinator"
    q = rc["config"]["queuedRunCoordinator"]
    config = {
        "max_concurrent_runs": q["maxConcurrentRuns"],
        "tag_concurrency_limits": q.get("tagConcurrencyLimits"),
        "dequeue_interval_seconds": q.get("dequeueIntervalSeconds"),
    }
    return {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {key: value for key, value in config.items() if value is not None},
    }


def render_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The instance config the chart renders from ``values`` (the keys bidui uses)."""
    daemon = values["dagsterDaemon"]
    assert values["scheduler"]["type"] == "DagsterDaemonScheduler"
    scheduler_config = {
        {"maxCatchupRuns": "max_catchup_runs", "maxTickRetries": "max_tick_retries"}[k]: v
        for k, v in values["scheduler"]["config"]["daemonScheduler"].items()
        if v
    }
    assert values["computeLogManager"]["type"] == "NoOpComputeLogManager"
    monitoring = daemon["runMonitoring"]
    rendered = {
        "scheduler": {
            "module": "dagster.core.scheduler",
            "class": "DagsterDaemonScheduler",
            **({"config": scheduler_config} if scheduler_config else {}),
        },
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": _postgres(values),
        },
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": _k8s_launcher(values),
        },
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": _postgres(values),
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": _postgres(values),
        },
        "run_coordinator": _queued_coordinator(values),
        "compute_logs": {
            "module": "dagster.core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    if monitoring["enabled"]:
        rendered["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "cancel_timeout_seconds": monitoring["cancelTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        }
    # Blocks the values switch off must stay off (else the chart renders them).
    assert not daemon["runRetries"]["enabled"]
    assert not daemon["sensors"]["useThreads"] and not daemon["schedules"]["useThreads"]
    assert not values["retention"]["enabled"]
    rendered.update(values.get("additionalInstanceConfig") or {})
    return rendered


def test_the_helm_values_render_this_instance_config():
    assert render_instance(_load(VALUES_YAML)) == _load(INSTANCE_YAML)


def test_a_changed_value_no_longer_matches():
    values = _load(VALUES_YAML)
    values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"][
        "maxConcurrentRuns"
    ] += 1
    assert render_instance(values) != _load(INSTANCE_YAML)


def test_the_code_location_is_the_projects_definitions():
    values = _load(VALUES_YAML)
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert deployment["dagsterApiGrpcArgs"] == ["-m", pyproject["tool"]["dagster"]["module_name"]]
    # Run pods take the run launcher's settings (secrets, writable volume, 2Gi), which
    # this deployment's container context would otherwise override.
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}


def test_runs_carry_the_tag_the_queue_limits_on():
    limits = _load(INSTANCE_YAML)["run_coordinator"]["config"]["tag_concurrency_limits"]
    per_value = {
        lim["key"]: lim["limit"]
        for lim in limits
        if lim.get("value") == {"applyLimitPerUniqueValue": True}
    }
    assert per_value == {"bidui/warehouse": 1, "dagster/partition": 1}
    assert "bidui/warehouse" in nightly_job.tags


# --------------------------------------------------------------------------- the doc
def _doc_blocks() -> dict[str, str]:
    """``<!-- file: PATH -->`` followed by a fenced yaml block: PATH -> block text."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- file: (\S+) -->\n```yaml\n(.*?)```\n", re.S)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def test_the_doc_shows_the_deploy_files_verbatim():
    blocks = _doc_blocks()
    assert set(blocks) >= {"deploy/dagster.yaml", "deploy/values.yaml"}
    for rel, block in blocks.items():
        assert block == (PROJECT_ROOT / rel).read_text(encoding="utf-8"), rel
