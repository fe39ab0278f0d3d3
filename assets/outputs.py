"""What the night publishes: problem lists, files, report, and the publish step.

Every output asset writes into the run's staging folder
(``<outbox>/.staging/<run_id>/``) and carries ``STAGING_OUTPUT_TAGS``; the last
asset, ``published_outbox``, moves the folder to ``<outbox>/<run-date>/`` in one
rename. ``pipelines.definitions`` lists every output asset once (``OUTPUT_ASSETS``:
the ones here and ``data_docs``) and builds the publish step from that list
(:func:`build_published_outbox`), so an output cannot miss the outbox by the
order Dagster happens to pick; :func:`unpublished_outputs` finds a staging writer
left out. A failed run never leaves half a set of workbooks beside good ones: its
staging folder is removed when it ends (and, after a kill, by the next run on the
same outbox, under the run lock).
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from assets.resources import BiduiResource
from checks.engine import write_problems_csv
from checks.thresholds import load_thresholds
from core.csv_safety import neutralise_frame
from core.office_crypto import configured_passwords, encrypt_workbooks
from publishing.outbox import promote, recover
from publishing.report import render_report
from publishing.workbooks import write_township_workbooks, write_warning_workbooks
from rectification.form import PROBLEM_FORM, UNPLACED_TOWNSHIP, WARNING_FORM
from warehouse.schema import columns

STAGING_OUTPUT_TAG = "bidui/output"
STAGING_OUTPUT_TAGS = {STAGING_OUTPUT_TAG: "staging"}
"""Tag of every asset writing into the run's staging folder: published_outbox waits for it."""

REJECTS_CSV_COLUMNS = tuple(c for c in columns("rejects") if c != "load_id")
"""``rejects.csv``: the ``rejects`` table without its internal load id."""


def _township_workbooks(bidui: BiduiResource, staging: Path, write) -> tuple:
    """Write one kind of township workbook into ``staging`` with
    ``write(con, run_day, staging)``, encrypt them when passwords are configured;
    returns the infos and the metadata both list assets report."""
    passwords = configured_passwords()  # a bad passwords file fails before writing
    with bidui.connect(read_only=True) as con:
        infos = write(con, bidui.run_day, staging)
    encrypted = encrypt_workbooks(infos, passwords) if passwords is not None else []
    rows = {i.township: i.rows for i in infos}
    return infos, {
        "workbooks": len(infos),
        "encrypted_workbooks": len(encrypted),
        "rows_needing_an_answer": sum(i.todo for i in infos),
        "answers_carried_forward": sum(i.carried for i in infos),
        "rows_per_township": dg.MetadataValue.json(rows),
        "dagster/row_count": sum(rows.values()),
    }


@dg.asset(deps=["rectification"], group_name="outputs", kinds={"excel"}, tags=STAGING_OUTPUT_TAGS)
def problem_lists(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """问题清单: one workbook per township (only that township's rows, built from a
    query filtered by township), 汇总 sheet first, then one sheet per 行政村;
    pipeline columns locked, the five township columns open with dropdowns.
    Waived and 已纳入监测 findings are left off, and so are early warnings (they
    are on the 监测预警核实清单). With `BIDUI_WORKBOOK_PASSWORDS` set, each
    workbook is encrypted with its township's password (docs/security.md)."""
    due_days = load_thresholds(bidui.thresholds or None).due_days
    staging = bidui.staging_dir(context.run.run_id)
    infos, meta = _township_workbooks(
        bidui, staging, lambda con, day, out: write_township_workbooks(con, day, out, due_days)
    )
    return dg.MaterializeResult(metadata=meta)


@dg.asset(deps=["rectification"], group_name="outputs", kinds={"excel"}, tags=STAGING_OUTPUT_TAGS)
def warning_lists(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """监测预警核实清单: one workbook per township with early warnings (疑似漏评 from
    民政, 医保 and 残联 data), in the township's folder beside its 问题清单; only
    that township's rows, people outside the register placed there by their hukou
    address included. 汇总 first (行政村 × 风险类型, 待走访核实, 已超过核实时限),
    then one sheet per 行政村; pipeline columns locked, 走访日期 / 核实结论
    (dropdown) / 说明 / 核实人 open. Warnings that could not be placed go on the
    county-level `未能定位` list for the office. Waived and 已纳入监测 warnings are
    left off. Encrypted like the 问题清单 when `BIDUI_WORKBOOK_PASSWORDS` is set
    (a password for `未能定位` is needed then)."""
    staging = bidui.staging_dir(context.run.run_id)
    infos, meta = _township_workbooks(bidui, staging, write_warning_workbooks)
    rows = meta["rows_per_township"].value
    return dg.MaterializeResult(
        metadata={
            **meta,
            "overdue": sum(i.overdue for i in infos),
            "unplaced_rows": rows.get(UNPLACED_TOWNSHIP, 0),
        }
    )


@dg.asset(deps=["rectification"], group_name="outputs", kinds={"csv"}, tags=STAGING_OUTPUT_TAGS)
def problem_files(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """`problems.csv` (one row per finding of the run, the columns of outputs.md §2
    first, UTF-8 with BOM) and `rejects.csv` (every input row that could not be
    loaded, with the reason in Chinese and English)."""
    staging = bidui.staging_dir(context.run.run_id)
    with bidui.connect(read_only=True) as con:
        problems = write_problems_csv(con, staging / "problems.csv")
        # Feedback rejects stay in the warehouse as history; the night's file lists
        # those of returned workbooks still in the inbox (as for every other feed).
        inbox = bidui.settings.inbox
        present = [
            p.relative_to(inbox).as_posix() for p in (inbox / "feedback").rglob("*") if p.is_file()
        ]
        rejects = con.sql(
            f"SELECT {', '.join(REJECTS_CSV_COLUMNS)} FROM rejects "
            "WHERE feed <> 'feedback' OR list_contains($present::VARCHAR[], source_file) "
            "ORDER BY feed, source_file, sheet, row_number",
            params={"present": present},
        ).pl()
    with open(staging / "rejects.csv", "wb") as fh:
        fh.write("\ufeff".encode())
        neutralise_frame(rejects).write_csv(fh)
    by_feed = rejects.group_by("feed").len().sort("feed").to_dicts() if rejects.height else []
    return dg.MaterializeResult(
        metadata={
            "problems_rows": problems,
            "rejects_rows": rejects.height,
            "rejects_by_feed": dg.MetadataValue.json(by_feed),
        }
    )


def workbook_links(staging: Path) -> dict[str, str]:
    """The report's links to the night's township workbooks (relative paths).

    A 问题清单 under its township folder's name; a 监测预警核实清单 under
    ``<folder> 监测预警核实清单``, or under the folder's name when the township has
    no 问题清单 (so the 未能定位 list is the link named ``未能定位``)."""
    links = {
        p.parent.name: p.relative_to(staging).as_posix()
        for p in sorted(staging.glob(f"*/{PROBLEM_FORM.title_zh}_*.xlsx"))
    }
    for p in sorted(staging.glob(f"*/{WARNING_FORM.title_zh}_*.xlsx")):
        town = p.parent.name
        label = f"{town} {WARNING_FORM.title_zh}" if town in links else town
        links[label] = p.relative_to(staging).as_posix()
    return links


# data_docs first: the report links Data Docs only when the site is there.
@dg.asset(
    deps=["problem_lists", "warning_lists", "problem_files", "data_docs"],
    group_name="outputs",
    kinds={"html"},
    tags=STAGING_OUTPUT_TAGS,
)
def report(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """`report.html`: the morning report for people who never open Dagster —
    headline numbers, findings by township and category, per-rule counts with
    their trend, rectification progress, the early warnings, feed health, links
    to both township workbooks (问题清单, 监测预警核实清单) and Data Docs.
    Self-contained (opens offline); ID numbers masked."""
    staging = bidui.staging_dir(context.run.run_id)
    links = workbook_links(staging)
    if (staging / "data_docs" / "index.html").exists():
        links["数据质量报告 (Data Docs)"] = "data_docs/index.html"
    links["problems.csv"] = "problems.csv"
    links["rejects.csv"] = "rejects.csv"
    with bidui.connect(read_only=True) as con:
        summary = render_report(
            con,
            bidui.run_day,
            staging / "report.html",
            links,
            thresholds=load_thresholds(bidui.thresholds or None),
        )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(bidui.published_dir() / "report.html")),
            **{k: v for k, v in vars(summary).items() if isinstance(v, int | float | str)},
        }
    )


def writes_staging(asset: dg.AssetsDefinition) -> bool:
    """Whether ``asset`` is tagged as writing into the run's staging folder."""
    return any(
        asset.tags_by_key.get(key, {}).get(STAGING_OUTPUT_TAG) == "staging" for key in asset.keys
    )


def build_published_outbox(outputs: Sequence[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    """The publish step, downstream of every asset of ``outputs`` (each must carry
    ``STAGING_OUTPUT_TAGS``)."""
    untagged = [a.key.to_user_string() for a in outputs if not writes_staging(a)]
    if untagged:
        raise ValueError(f"output assets without the staging tag: {', '.join(untagged)}")
    deps = sorted({key for a in outputs for key in a.keys}, key=lambda k: k.to_user_string())

    @dg.asset(deps=deps, group_name="outputs")
    def published_outbox(
        context: dg.AssetExecutionContext, bidui: BiduiResource
    ) -> dg.MaterializeResult:
        """Publishes the run's staging folder as `<outbox>/<run-date>/` in one rename
        (an earlier folder of the same date is replaced only after the new one is in
        place)."""
        staging = bidui.staging_dir(context.run.run_id)
        target = bidui.published_dir()
        # A crash between the two renames of an earlier publish left the last good
        # folder aside: put it back before replacing it.
        restored = recover(bidui.settings.outbox)
        if restored:
            context.log.warning("restored interrupted publish: %s", restored)
        # Only this run's own folder moves: staging folders of dead runs are swept at the
        # start of a run, under the run lock (assets/resources.py).
        promote(staging, target)
        files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(target)),
                "files": len(files),
                "listing": dg.MetadataValue.json(files[:200]),
            }
        )

    return published_outbox


def unpublished_outputs(defs: dg.Definitions, publish: str = "published_outbox") -> list[str]:
    """Staging writers of ``defs`` that are not upstream of the publish step (should
    be none: their files would miss the outbox)."""
    graph = defs.resolve_asset_graph()
    publish_key = dg.AssetKey(publish)
    upstream = graph.get_ancestor_asset_keys(publish_key)
    return sorted(
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if key != publish_key
        and graph.get(key).tags.get(STAGING_OUTPUT_TAG) == "staging"
        and key not in upstream
    )


OUTPUTS = [problem_lists, warning_lists, problem_files, report]
"""The staging writers of this module (``data_docs`` is the other: assets.expectations)."""
