"""Great Expectations suites as asset checks: one check per feed, one GX run.

GX 1.x is called directly (the old ``dagster-ge`` op factory does not fit GX 1.x):
a single multi-asset check validates every feed's table as a pandas frame (GX's
SQL path on DuckDB does not work, see stack-notes) and builds one Data Docs
site into the run's staging folder, published as ``<outbox>/<run-date>/data_docs/``.
Findings of a suite are WARN: they describe the feed, they do not stop the night.
"""

import dagster as dg

from department_feeds import SPECS
from pipelines.resources import BiduiResource

GX_CHECK_NAME = "gx_expectations"

GX_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name=GX_CHECK_NAME,
        asset=feed,
        description=f"数据质量期望（Great Expectations）：{spec.title_zh}",
    )
    for feed, spec in SPECS.items()
]


@dg.multi_asset_check(specs=GX_CHECK_SPECS, name="gx_feed_suites", can_subset=False)
def gx_feed_suites(context: dg.AssetCheckExecutionContext, bidui: BiduiResource):
    """Runs each feed's expectation suite (completeness, allowed values, formats,
    uniqueness, ranges) and writes Data Docs; ID numbers in samples are masked."""
    from checks.expectations import validate_feeds

    docs_dir = bidui.staging_dir(context.op_execution_context.run_id) / "data_docs"
    try:
        with bidui.connect(read_only=True) as con:
            results = validate_feeds(con, bidui.run_day, docs_dir)
    except Exception as exc:  # GX trouble must not cost the night its problem lists
        context.log.exception("Great Expectations validation failed")
        for feed in SPECS:
            yield dg.AssetCheckResult(
                asset_key=feed,
                check_name=GX_CHECK_NAME,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"数据质量期望未能执行：{type(exc).__name__}: {exc}"[:500],
            )
        return
    for feed in SPECS:
        v = results[feed]
        meta = v.to_metadata()
        failed = [
            f"{r['column']}: {r['description_zh']} ({r['unexpected_count'] or 0})"
            for r in meta.pop("failed_expectations")
        ]
        yield dg.AssetCheckResult(
            asset_key=feed,
            check_name=GX_CHECK_NAME,
            passed=v.passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=v.reason or (f"{len(failed)} 项期望未满足" if failed else "全部期望满足"),
            metadata={
                **{k: val for k, val in meta.items() if k != "results"},
                "failed": dg.MetadataValue.json(failed),
                "results": dg.MetadataValue.json(meta["results"]),
            },
        )
