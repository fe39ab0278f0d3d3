"""The prefecture layer as assets (issue 14): the split of prefecture-wide feeds,
each county's exports to Parquet, and the prefecture report over all counties.

``prefecture_split`` is not partitioned: it runs first on a night and writes into
the counties' inbox folders. ``county_export`` and ``county_results`` are county
assets (the multi-county Definitions partition them by county; ``bidui.settings`` is
then the county's); ``prefecture_report`` is not partitioned and reads every
county's Parquet. In the single-county layout they are not part of the Definitions.
"""

from pathlib import Path

import dagster as dg

from assets.resources import BiduiResource
from checks.cross_county import export_queries, results_queries
from checks.thresholds import load_thresholds
from core.config import PREFECTURE_FOLDER
from department_feeds import FEEDS, SPECS
from publishing.prefecture_report import render_prefecture_report
from warehouse.export import UNASSIGNED, export_county
from warehouse.split import MANIFEST, SPLIT_PREFIX, split_prefecture_feeds

SPLIT_CHECK = "files_readable"
NO_PREFECTURE_FOLDER = (
    "收件箱中没有 _prefecture 文件夹：没有市级下发的数据需要拆分，各县照常读取本县数据"
    "（此前拆分出的文件保持不变） / no <inbox>/_prefecture folder: nothing to split"
)


def _county_paths(bidui: BiduiResource) -> tuple[str, Path]:
    # Settings.county / prefecture_dir (core.config): absent or None outside a county run.
    county = getattr(bidui.settings, "county", None)
    prefecture_dir = getattr(bidui.settings, "prefecture_dir", None)
    if not county or prefecture_dir is None:
        raise dg.Failure("county_export/county_results run only as a county of a prefecture")
    return county, Path(prefecture_dir)


@dg.asset(
    group_name="prefecture",
    kinds={"csv", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            SPLIT_CHECK,
            asset="prefecture_split",
            description="市级下发的每个文件都已读取并拆分（无法读取的文件及原因见元数据）",
        )
    ],
)
def prefecture_split(
    context: dg.AssetExecutionContext, bidui: BiduiResource
) -> dg.MaterializeResult:
    """Prefecture-wide feeds split by the person's county, before the counties' ingest.

    Every file of `<inbox>/_prefecture/<feed>/` is read like a county's feed file
    (the same `BIDUI_MAX_*` limits); each row goes to the one county it belongs to —
    hukou by the county named in 住址, the other feeds by the person's ID number in
    the (split or the county's own) hukou — as
    `<inbox>/<county>/<feed>/市级下发_<file>.csv`, rewritten only when its content
    changes. Rows of no county are kept with the reason in
    `<prefecture_dir>/unassigned/<feed>.parquet` (encrypted when the warehouse key is
    configured). A file that cannot be read (damaged, over a limit, a wrong header)
    writes nothing into any county, is listed with its reason, and fails the
    `files_readable` check as a warning: the other files and feeds are split, and the
    county runs start all the same. No `_prefecture` folder: nothing to do, noted.

    Metadata: rows read, rows assigned per county, rows unassigned with their reasons
    and failed files with theirs, per feed (`feeds`) and in total.
    """
    s = bidui.settings
    if s.county:
        raise dg.Failure("prefecture_split runs for the whole prefecture, not for one county")
    counties = s.counties(FEEDS)
    source = Path(s.inbox) / PREFECTURE_FOLDER
    if not source.is_dir():
        context.log.info(NO_PREFECTURE_FOLDER)
        return dg.MaterializeResult(
            metadata={
                "note": NO_PREFECTURE_FOLDER,
                "counties": dg.MetadataValue.json(list(counties)),
                "feeds": dg.MetadataValue.json({}),
                "rows_read": 0,
                "unassigned_rows": 0,
                "failed_files": dg.MetadataValue.json({}),
                "dagster/row_count": 0,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=SPLIT_CHECK, passed=True, metadata={"note": NO_PREFECTURE_FOLDER}
                )
            ],
        )
    result = split_prefecture_feeds(s.inbox, counties, s.prefecture_dir)
    summary = result.summary_zh()
    for line in summary:
        context.log.info("市级下发拆分 %s", line)
    failed = result.failed_files
    errors = {f.feed: f.error for f in result.feeds.values() if f.error}
    if failed or errors:
        note = (
            f"{len(failed)} 个市级下发文件无法读取、{len(errors)} 个数据源拆分出错：这些文件未拆分，"
            "各县保留上次的拆分结果；其余文件照常拆分，各县照常入库"
        )
        context.log.warning("%s: %s %s", note, failed, errors)
    else:
        note = f"市级下发的 {sum(f.files for f in result.feeds.values())} 个文件全部拆分"
    rows_read = sum(f.rows_read for f in result.feeds.values())
    return dg.MaterializeResult(
        metadata={
            "note": note,
            "summary": dg.MetadataValue.md("\n".join(f"- {line}" for line in summary) or "-"),
            "counties": dg.MetadataValue.json(list(counties)),
            "feeds": dg.MetadataValue.json({f: fs.counts() for f, fs in result.feeds.items()}),
            "rows_read": rows_read,
            "unassigned_rows": result.unassigned,
            "failed_files": dg.MetadataValue.json(failed),
            "counties_changed": dg.MetadataValue.json(result.counties_changed),
            "unassigned_path": dg.MetadataValue.path(str(Path(s.prefecture_dir) / UNASSIGNED)),
            "manifest": dg.MetadataValue.path(str(Path(s.prefecture_dir) / MANIFEST)),
            "written_as": f"<inbox>/<county>/<feed>/{SPLIT_PREFIX}<file>.csv",
            "dagster/row_count": rows_read,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SPLIT_CHECK,
                passed=not (failed or errors),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "failed_files": dg.MetadataValue.json(failed),
                    "feed_errors": dg.MetadataValue.json(errors),
                },
            )
        ],
    )


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
PREFECTURE_ASSETS = [prefecture_split, county_export, county_results, prefecture_report]
