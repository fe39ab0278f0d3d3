"""Outputs cannot be forgotten: every staging writer is in the registry
(``pipelines.definitions.OUTPUT_ASSETS``) and upstream of ``published_outbox``."""

import dagster as dg
import pytest

from assets.outputs import (
    STAGING_OUTPUT_TAGS,
    build_published_outbox,
    unpublished_outputs,
    writes_staging,
)
from assets.resources import BiduiResource
from pipelines.definitions import ASSETS, OUTPUT_ASSETS, defs


def test_every_output_asset_is_registered_and_published():
    """OUTPUT_ASSETS is the registry of staging writers: it holds exactly the tagged
    assets, and published_outbox depends on each of them directly."""
    tagged = {k for a in ASSETS if writes_staging(a) for k in a.keys}
    assert tagged == {k for a in OUTPUT_ASSETS for k in a.keys}
    parents = defs.resolve_asset_graph().get(dg.AssetKey("published_outbox")).parent_keys
    assert tagged <= parents
    assert unpublished_outputs(defs) == []


@dg.asset(group_name="outputs", tags=STAGING_OUTPUT_TAGS)
def forgotten_output(context: dg.AssetExecutionContext, bidui: BiduiResource) -> None:
    """A new output asset someone forgot to add to OUTPUT_ASSETS."""
    (bidui.staging_dir(context.run.run_id) / "extra.csv").write_text("x")


def test_a_staging_writer_left_out_of_the_registry_is_caught():
    publish = build_published_outbox(OUTPUT_ASSETS)  # the registry without the new asset
    broken = dg.Definitions(
        assets=[*ASSETS, forgotten_output, publish], resources={"bidui": BiduiResource()}
    )
    assert unpublished_outputs(broken) == ["forgotten_output"]
    fixed = dg.Definitions(
        assets=[
            *ASSETS,
            forgotten_output,
            build_published_outbox([*OUTPUT_ASSETS, forgotten_output]),
        ],
        resources={"bidui": BiduiResource()},
    )
    assert unpublished_outputs(fixed) == []


def test_an_untagged_output_is_refused():
    @dg.asset
    def untagged() -> None:
        """Writes nothing; carries no staging tag."""

    with pytest.raises(ValueError, match="untagged"):
        build_published_outbox([*OUTPUT_ASSETS, untagged])


def test_warning_lists_are_published_and_linked_by_the_report():
    """The 监测预警核实清单 asset is a registered staging writer; the report and the
    publish step wait for it."""
    assert "warning_lists" in {k.to_user_string() for a in OUTPUT_ASSETS for k in a.keys}
    graph = defs.resolve_asset_graph()
    for downstream in ("published_outbox", "report"):
        assert dg.AssetKey("warning_lists") in graph.get(dg.AssetKey(downstream)).parent_keys
    node = graph.get(dg.AssetKey("warning_lists"))
    assert dg.AssetKey("rectification") in node.parent_keys
    assert "监测预警核实清单" in (node.description or "")
