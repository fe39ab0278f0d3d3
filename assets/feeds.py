"""One asset per department feed, with its checks evaluated in the same step.

Each feed's step loads it, then tests its blocking ingest checks (headers found,
rows accounted) and its quality checks (assets/feed_quality.py) on the connection
it already holds: one check result per property, each with its own name, numbers
and threshold in the UI. A failed blocking check with ERROR severity fails the
feed's step after everything is recorded, so nothing downstream of it runs.
"""

import json
import logging
import threading

import dagster as dg
import duckdb
import polars as pl

from assets.expectations import DATA_DOCS_KEY
from assets.feed_quality import (
    quality_check_specs,
    quality_results,
    quality_thresholds,
    record_feed_run,
)
from assets.resources import BiduiResource
from checks.expectations import preload_gx
from core.config import Settings
from core.idcard import mask_expr, mask_in_text
from department_feeds import SPECS
from department_feeds.spec import FeedSpec
from warehouse import connect as open_warehouse
from warehouse import load_feed
from warehouse.ingest import ParseAhead
from warehouse.manifest import write_manifest

FEED_GROUP = "feeds"

log = logging.getLogger(__name__)


class _RunIngest:
    """What one run's feed steps share: the first step starts it, the last closes it.

    ``ahead`` parses the next feeds' changed files in a child process while a feed
    is written. ``keep`` holds the warehouse open between the steps: each step's
    own connection closes at its end, and the last connection of a DuckDB database
    closing checkpoints it, and the next step then opens the file again (about
    70 ms of CPU a step); with it the warehouse is checkpointed once, when the
    last feed step ends.
    """

    def __init__(
        self, feeds: list[str], ahead: ParseAhead | None, keep: duckdb.DuckDBPyConnection
    ) -> None:
        self.feeds, self.ahead, self.keep = set(feeds), ahead, keep
        self.finished: set[str] = set()

    def close(self) -> None:
        if self.ahead is not None:
            self.ahead.close()
        self.keep.close()


_RUNS: dict[str, _RunIngest] = {}
"""Run id → what its feed steps share."""
_RUNS_GUARD = threading.Lock()


def run_asset_keys(context: dg.AssetExecutionContext) -> set[dg.AssetKey]:
    """The assets this run materialises. (``run.asset_selection`` is empty, not
    None, for a whole job run in process, so it cannot tell.)"""
    return set(context.job_def.asset_layer.selected_asset_keys)


def run_feeds(context: dg.AssetExecutionContext) -> list[str]:
    """The feeds this run loads, in the order Dagster runs their steps (by step key,
    i.e. by name: they depend on nothing)."""
    names = {k.to_user_string() for k in run_asset_keys(context)}
    steps = context.run.step_keys_to_execute
    if steps is not None:
        names &= set(steps)
    return sorted(n for n in names if n in SPECS)


def _run_ingest(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    spec: FeedSpec,
    settings: Settings,
) -> _RunIngest | None:
    """The run's shared ingest, started by its first feed step for every feed the
    run loads. No parse-ahead in a county's run of a multi-county night (county
    runs already use every core side by side). None for a run of one feed, or when
    it cannot tell which feeds the run loads: each load then parses its own files."""
    run_id = context.run.run_id
    with _RUNS_GUARD:
        run = _RUNS.get(run_id)
        if run is not None:
            return run
        for other in [r for r in _RUNS if r != run_id]:  # a run that stopped half-way
            _RUNS.pop(other).close()
        keep = None
        try:
            feeds = run_feeds(context)
            if spec.name not in feeds or len(feeds) < 2:
                return None
            keep = open_warehouse(settings.warehouse)
            ahead = (
                None
                if context.has_partition_key
                else ParseAhead.for_run(con, settings.inbox, feeds)
            )
        except Exception:  # an optimisation only: never fail the load for it
            log.warning("feed steps share nothing in this run", exc_info=True)
            if keep is not None:
                keep.close()
            return None
        run = _RUNS[run_id] = _RunIngest(feeds, ahead, keep)
        return run


def _feed_done(context: dg.AssetExecutionContext, feed: str) -> None:
    """A feed step ended (loaded or failed): after the run's last, close what they share."""
    run_id = context.run.run_id
    with _RUNS_GUARD:
        run = _RUNS.get(run_id)
        if run is None:
            return
        run.finished.add(feed)
        if run.ahead is not None:
            run.ahead.finished(feed)
        if not run.feeds <= run.finished:
            return
        del _RUNS[run_id]
    run.close()
    if run.ahead is not None:
        context.log.info(
            "parse-ahead: %d file(s) parsed beside the loads", run.ahead.parsed_by_worker
        )


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
    # A handful of cells: plain Python (map_elements costs a UDF call set-up per column).
    frame = frame.with_columns(
        [
            pl.Series(c, [None if v is None else mask_in_text(v) for v in frame[c]], pl.String)
            for c in text
        ]
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
        check_specs=[*ingest_check_specs(spec), *quality_check_specs(spec)],
    )
    def _feed(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
        if DATA_DOCS_KEY in run_asset_keys(context):
            preload_gx()  # overlaps GX's ~3 s import with the loads (see the function)
        settings = bidui.settings
        quality = quality_thresholds(bidui)
        folder = settings.inbox / spec.name
        mtimes = (
            [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        )
        try:
            with bidui.connect() as con:
                run = _run_ingest(context, con, spec, settings)
                load_feed(con, spec.name, settings.inbox, ahead=run.ahead if run else None)
                # What is now read, for the inbox sensor (which must not open the warehouse).
                write_manifest(con, settings.warehouse)
                record_feed_run(
                    con, context.run.run_id, bidui.run_day, spec.name, max(mtimes, default=0.0)
                )
                files = feed_load_summary(con, spec.name)
                preview = masked_preview(con, spec)
                table_rows = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchone()[0]
                checks = [
                    *ingest_results(spec, files),
                    *quality_results(con, spec, quality, bidui.run_day),
                ]
        finally:
            _feed_done(context, spec.name)
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
            },
            check_results=checks,
        )

    return _feed


def ingest_check_specs(spec: FeedSpec) -> list[dg.AssetCheckSpec]:
    """Blocking checks: headers found, and rows in = loaded + rejected per file.

    A missing header fails the register with ERROR (nothing can run without it)
    and a department feed with WARN: its rules are marked not run, the rest go on.
    """
    return [
        dg.AssetCheckSpec(
            "headers_complete",
            asset=spec.name,
            blocking=True,
            description="每个文件都找到了全部必需表头 (every required header was found in every file)",
        ),
        dg.AssetCheckSpec(
            "rows_accounted",
            asset=spec.name,
            blocking=True,
            description="读入行数 = 入库行数 + 拒收行数 (rows read = loaded + rejected, per file)",
        ),
    ]


def ingest_results(spec: FeedSpec, files: pl.DataFrame) -> list[dg.AssetCheckResult]:
    """The results of :func:`ingest_check_specs` from the feed's per-file bookkeeping."""
    return [headers_complete(spec, files), rows_accounted(spec, files)]


def headers_complete(spec: FeedSpec, files: pl.DataFrame) -> dg.AssetCheckResult:
    """Every file of the feed had every required header."""
    bad = {
        row["source_file"]: json.loads(row["missing_required"] or "[]")
        for row in files.iter_rows(named=True)
        if row["missing_required"] and json.loads(row["missing_required"])
    }
    severity = (
        dg.AssetCheckSeverity.ERROR if spec.name == "register" else dg.AssetCheckSeverity.WARN
    )
    return dg.AssetCheckResult(
        asset_key=spec.name,
        check_name="headers_complete",
        passed=not bad,
        severity=severity,
        metadata={
            "files_checked": files.height,
            "files_missing_headers": len(bad),
            "missing": dg.MetadataValue.json(bad),
        },
    )


def rows_accounted(spec: FeedSpec, files: pl.DataFrame) -> dg.AssetCheckResult:
    """Per file: rows read = rows loaded + rows rejected."""
    off = files.filter(pl.col("rows_read") != pl.col("rows_loaded") + pl.col("rows_rejected"))[
        "source_file"
    ].to_list()
    return dg.AssetCheckResult(
        asset_key=spec.name,
        check_name="rows_accounted",
        passed=not off,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files_checked": files.height,
            "files_unbalanced": dg.MetadataValue.json(off),
            "rows_read": int(files["rows_read"].sum()) if files.height else 0,
        },
    )


FEED_ASSETS = [build_feed_asset(spec) for spec in SPECS.values()]
INGEST_CHECKS: list[dg.AssetChecksDefinition] = []
"""Ingest checks with a step of their own: none, each feed's step evaluates its own."""
