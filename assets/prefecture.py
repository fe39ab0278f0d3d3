"""The prefecture layer as assets (issue 14): each county's exports to Parquet, and
the prefecture report over all counties.

``county_export`` and ``county_results`` are county assets (the multi-county
Definitions partition them by county; ``bidui.settings`` is then the county's);
``prefecture_report`` is not partitioned and reads every county's Parquet.
In the single-county layout they are not part of the Definitions.
"""

from pathlib import Path

import dagster as dg

from assets.resources import BiduiResource
from checks.cross_county import export_queries, results_queries
from checks.thresholds import load_thresholds
from department_feeds import FEEDS, SPECS
from publishing.prefecture_report import render_prefecture_report
from warehouse.export import export_county


def _county_paths(bidui: BiduiResource) -> tuple[str, Path]:
    # Settings.county / prefecture_dir (core.config): absent or None outside a county run.
    county = getattr(bidui.settings, "county", None)
    prefecture_dir = getattr(bidui.settings, "prefecture_dir", None)
    if not county or prefecture_dir is None:
        raise dg.Failure("county_export/county_results run only as a county of a prefecture")
    return county, Path(prefecture_dir)


@dg.asset(deps=list(SPECS), group_name="prefecture", kinds={"duckdb", "parquet"})
def county_export(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """The county's working-year register (valid ID numbers: ID, name, place,
    household, kind) and the department feeds the cross-county rules read (vehicles,
    property, business, tax, social insurance) as Parquet in
    `<prefecture_dir>/county=<county>/`, each file replaced atomically, encrypted with
    a key derived from the warehouse key when one is configured. The other counties'
    cross-county rules read them tonight."""
    county, prefecture_dir = _county_paths(bidui)
    with bidui.connect(read_only=True) as con:
        out = export_county(con, county, prefecture_dir, export_queries(con))
    context.log.info("county %s exported %s", county, out.rows)
    return dg.MaterializeResult(
        metadata={
            "county": county,
            "path": dg.MetadataValue.path(str(out.folder)),
            "encrypted": out.encrypted,
            "rows": dg.MetadataValue.json(out.rows),
            "dagster/row_count": sum(out.rows.values()),
        }
    )


@dg.asset(deps=["published_outbox"], group_name="prefecture", kinds={"duckdb", "parquet"})
def county_results(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """The county's night for the prefecture report, as Parquet beside its export:
    findings (codes, categories, statuses, the other county of a cross-county
    finding; no names or ID numbers), the latest rule runs, feed status,
    rectification progress and a summary (members, households). Runs after the
    county's outputs are published, so a county whose night failed has none."""
    county, prefecture_dir = _county_paths(bidui)
    quality = load_thresholds(bidui.thresholds or None).feed_quality
    with bidui.connect(read_only=True) as con:
        out = export_county(
            con,
            county,
            prefecture_dir,
            results_queries(con, bidui.run_day, quality),
            kind="results",
        )
    return dg.MaterializeResult(
        metadata={
            "county": county,
            "path": dg.MetadataValue.path(str(out.folder)),
            "encrypted": out.encrypted,
            "rows": dg.MetadataValue.json(out.rows),
            "findings": out.rows.get("findings", 0),
        }
    )


@dg.asset(group_name="prefecture", kinds={"html"})
def prefecture_report(
    context: dg.AssetExecutionContext, bidui: BiduiResource
) -> dg.MaterializeResult:
    """`<prefecture_outbox>/<run date>/report.html`: every county side by side —
    findings per 1,000 members by category, rules not run, stale feeds,
    rectification progress, counties that failed and why, cross-county findings,
    rows of prefecture-wide feeds no county could take. Self-contained, Chinese,
    counts only (ID numbers masked)."""
    s = bidui.settings
    prefecture_dir = s.prefecture_dir
    outbox = s.prefecture_outbox
    # Only inbox folders holding a feed folder are counties (not stray folders).
    counties = s.counties(FEEDS)
    out_path = Path(outbox) / bidui.run_day.isoformat() / "report.html"
    summary = render_prefecture_report(prefecture_dir, bidui.run_day, out_path, counties or None)
    if summary.failed:
        context.log.warning("counties without tonight's results: %s", summary.failed)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out_path)),
            "counties": summary.counties,
            "counties_failed": summary.counties_failed,
            "failed": dg.MetadataValue.json([list(f) for f in summary.failed]),
            "findings": summary.findings,
            "cross_county_findings": summary.cross_county_findings,
            "unassigned_rows": summary.unassigned_rows,
        }
    )


PREFECTURE_COUNTY_ASSETS = [county_export, county_results]
"""Partitioned by county in the multi-county Definitions."""
PREFECTURE_ASSETS = [county_export, county_results, prefecture_report]
