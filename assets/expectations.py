"""Great Expectations: the ``data_docs`` output asset runs every feed's suite, the
``gx_feed_suites`` multi-asset check reports them, one check per feed.

GX 1.x is called directly (the old ``dagster-ge`` op factory does not fit GX 1.x):
``data_docs`` validates every feed's table as a pandas frame (GX's SQL path on
DuckDB does not work, see stack-notes) and builds one Data Docs site into the run's
staging folder, published as ``<outbox>/<run-date>/data_docs/``. It is an asset,
not only a check, so that publishing can depend on it (a check cannot be a dep).
Findings of a suite are WARN: they describe the feed, they do not stop the night.
"""

import dagster as dg

from assets.outputs import STAGING_OUTPUT_TAGS
from assets.resources import BiduiResource
from checks.expectations import validate_feeds
from department_feeds import SPECS

GX_CHECK_NAME = "gx_expectations"
DATA_DOCS_KEY = dg.AssetKey("data_docs")

GX_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name=GX_CHECK_NAME,
        asset=feed,
        additional_deps=[DATA_DOCS_KEY],
        description=f"数据质量期望（Great Expectations）：{spec.title_zh}",
    )
    for feed, spec in SPECS.items()
]


@dg.asset(
    key=DATA_DOCS_KEY,
    deps=list(SPECS),
    group_name="outputs",
    kinds={"great_expectations", "html"},
    tags=STAGING_OUTPUT_TAGS,
)
def data_docs(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """数据质量报告 (Data Docs): runs each feed's expectation suite (completeness,
    allowed values, formats, uniqueness, ranges) and builds one offline site in the
    run's staging folder; ID numbers in samples are masked. GX trouble is logged,
    not raised: it must not cost the night its problem lists."""
    docs_dir = bidui.staging_dir(context.run.run_id) / "data_docs"
    try:
        with bidui.connect(read_only=True) as con:
            results = validate_feeds(con, bidui.run_day, docs_dir)
    except Exception as exc:
        context.log.exception("Great Expectations validation failed")
        return dg.MaterializeResult(
            metadata={"error": f"{type(exc).__name__}: {exc}"[:500], "feeds_validated": 0}
        )
    by_feed = {
        feed: {"passed": v.passed, "reason": v.reason or "", "metadata": v.to_metadata()}
        for feed, v in results.items()
    }
    return dg.MaterializeResult(
        metadata={
            "feeds_validated": sum(1 for v in results.values() if v.validated),
            "validations": dg.MetadataValue.json(by_feed),
        }
    )


def _this_runs_validations(context: dg.AssetCheckExecutionContext) -> tuple[dict, str]:
    """The per-feed results ``data_docs`` recorded in this run, and its error if any."""
    # This run's own event: with counties as partitions, the asset's latest
    # materialization may be another county's run going on at the same time.
    run_id = context.op_execution_context.run_id
    events = [
        e
        for e in context.instance.all_logs(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        if e.asset_materialization is not None
        and e.asset_materialization.asset_key == DATA_DOCS_KEY
    ]
    if not events:
        return {}, "data_docs 未在本次运行中生成"
    meta = events[-1].asset_materialization.metadata
    validations = meta.get("validations")
    error = meta.get("error")
    return (validations.value if validations else {}), (error.value if error else "")


@dg.multi_asset_check(specs=GX_CHECK_SPECS, name="gx_feed_suites", can_subset=False)
def gx_feed_suites(context: dg.AssetCheckExecutionContext):
    """Reports the suites ``data_docs`` ran, one check per feed."""
    validations, error = _this_runs_validations(context)
    for feed in SPECS:
        v = validations.get(feed)
        if v is None:
            yield dg.AssetCheckResult(
                asset_key=feed,
                check_name=GX_CHECK_NAME,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"数据质量期望未能执行：{error or '无结果'}"[:500],
            )
            continue
        meta = dict(v["metadata"])
        failed = [
            f"{r['column']}: {r['description_zh']} ({r['unexpected_count'] or 0})"
            for r in meta.pop("failed_expectations")
        ]
        yield dg.AssetCheckResult(
            asset_key=feed,
            check_name=GX_CHECK_NAME,
            passed=v["passed"],
            severity=dg.AssetCheckSeverity.WARN,
            description=v["reason"]
            or (f"{len(failed)} 项期望未满足" if failed else "全部期望满足"),
            metadata={
                **{k: val for k, val in meta.items() if k != "results"},
                "failed": dg.MetadataValue.json(failed),
                "results": dg.MetadataValue.json(meta["results"]),
            },
        )
