"""One asset per department feed, plus its blocking ingest checks."""

import json

import dagster as dg
import duckdb
import polars as pl

from assets.feed_quality import record_feed_run
from assets.resources import BiduiResource
from core.idcard import mask_expr, mask_in_text
from department_feeds import SPECS
from department_feeds.spec import FeedSpec
from warehouse import load_feed
from warehouse.manifest import write_manifest

FEED_GROUP = "feeds"


def feed_load_summary(con: duckdb.DuckDBPyConnection, feed: str) -> pl.DataFrame:
    """Per-file bookkeeping of the feed's current load (one row per file)."""
    return con.sql(
        """
        SELECT source_file, status, encoding, rows_read, rows_loaded, rows_rejected,
               missing_required, error, header_mapping, loaded_at
        FROM loads WHERE feed = ? ORDER BY source_file
        """,
        params=[feed],
    ).pl()


def masked_preview(con: duckdb.DuckDBPyConnection, spec: FeedSpec, n: int = 5) -> str:
    """A markdown preview of loaded rows with every ID number masked."""
    fields = [c.field for c in spec.columns][:12]
    # Identifiers come from the spec (code), never from feed contents.
    select = ", ".join(f'"{f}"' for f in fields)
    frame = con.sql(f'SELECT {select} FROM "{spec.name}" LIMIT {int(n)}').pl()
    ids = [c.field for c in spec.id_columns if c.field in frame.columns]
    if ids:
        frame = frame.with_columns([mask_expr(pl.col(c)).alias(c) for c in ids])
    # Other text can carry an ID number too (a 残疾人证号 is the ID + 2 or 4 digits).
    text = [c for c, t in frame.schema.items() if t == pl.String and c not in ids]
    frame = frame.with_columns(
        [pl.col(c).map_elements(mask_in_text, return_dtype=pl.String) for c in text]
    )
    return _markdown(frame)


def _markdown(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "(no rows)"
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([head, rule, *rows])


def build_feed_asset(spec: FeedSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name,
        group_name=FEED_GROUP,
        description=(
            f"{spec.title_zh}（{spec.department_zh}）: every file under `inbox/{spec.name}/` "
            "read, headers mapped, values normalised and loaded into the warehouse table "
            f"`{spec.name}`; rows that cannot be placed go to `rejects` with a reason. "
            "Idempotent: unchanged files are not re-read."
        ),
        kinds={"duckdb", "excel"},
    )
    def _feed(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
        settings = bidui.settings
        folder = settings.inbox / spec.name
        mtimes = (
            [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        )
        with bidui.connect() as con:
            load_feed(con, spec.name, settings.inbox)
            # What is now read, for the inbox sensor (which must not open the warehouse).
            write_manifest(con, settings.warehouse)
            record_feed_run(
                con, context.run.run_id, bidui.run_day, spec.name, max(mtimes, default=0.0)
            )
            files = feed_load_summary(con, spec.name)
            preview = masked_preview(con, spec)
            table_rows = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchone()[0]
        totals = {
            k: int(files[k].sum()) if not files.is_empty() else 0
            for k in ("rows_read", "rows_loaded", "rows_rejected")
        }
        failed = files.filter(pl.col("status") == "failed")["source_file"].to_list()
        duplicates = files.filter(pl.col("status") == "duplicate")["source_file"].to_list()
        context.log.info(
            "%s: %d file(s), read %d, loaded %d, rejected %d, failed files: %s",
            spec.name,
            files.height,
            totals["rows_read"],
            totals["rows_loaded"],
            totals["rows_rejected"],
            failed or "none",
        )
        return dg.MaterializeResult(
            metadata={
                "files": files.height,
                "failed_files": dg.MetadataValue.json(failed),
                "duplicate_files": dg.MetadataValue.json(duplicates),
                **totals,
                "dagster/row_count": table_rows,
                "preview": dg.MetadataValue.md(preview),
            }
        )

    return _feed


def build_ingest_checks(spec: FeedSpec) -> list[dg.AssetChecksDefinition]:
    """Blocking checks: headers found, and rows in = loaded + rejected per file.

    A missing header fails the register with ERROR (nothing can run without it)
    and a department feed with WARN: its rules are marked not run, the rest go on.
    """

    @dg.asset_check(
        asset=spec.name,
        name="headers_complete",
        blocking=True,
        description="每个文件都找到了全部必需表头 (every required header was found in every file)",
    )
    def headers_complete(bidui: BiduiResource) -> dg.AssetCheckResult:
        with bidui.connect() as con:
            files = feed_load_summary(con, spec.name)
        bad = {
            row["source_file"]: json.loads(row["missing_required"] or "[]")
            for row in files.iter_rows(named=True)
            if row["missing_required"] and json.loads(row["missing_required"])
        }
        severity = (
            dg.AssetCheckSeverity.ERROR if spec.name == "register" else dg.AssetCheckSeverity.WARN
        )
        return dg.AssetCheckResult(
            passed=not bad,
            severity=severity,
            metadata={
                "files_checked": files.height,
                "files_missing_headers": len(bad),
                "missing": dg.MetadataValue.json(bad),
            },
        )

    @dg.asset_check(
        asset=spec.name,
        name="rows_accounted",
        blocking=True,
        description="读入行数 = 入库行数 + 拒收行数 (rows read = loaded + rejected, per file)",
    )
    def rows_accounted(bidui: BiduiResource) -> dg.AssetCheckResult:
        with bidui.connect() as con:
            files = feed_load_summary(con, spec.name)
        off = files.filter(pl.col("rows_read") != pl.col("rows_loaded") + pl.col("rows_rejected"))[
            "source_file"
        ].to_list()
        return dg.AssetCheckResult(
            passed=not off,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "files_checked": files.height,
                "files_unbalanced": dg.MetadataValue.json(off),
                "rows_read": int(files["rows_read"].sum()) if files.height else 0,
            },
        )

    return [headers_complete, rows_accounted]


FEED_ASSETS = [build_feed_asset(spec) for spec in SPECS.values()]
INGEST_CHECKS = [check for spec in SPECS.values() for check in build_ingest_checks(spec)]
