"""The rectification step: township answers in, statuses derived again.

Runs after ``findings`` and before every output: the problem lists, problems.csv
and the report show the statuses it derives.
"""

import dagster as dg

from assets.resources import BiduiResource
from checks.rules import WARNING_RULE_CODES
from rectification.feedback import load_feedback
from rectification.status import derive_statuses
from warehouse.manifest import write_manifest


@dg.asset(deps=["findings"], group_name="rectification", kinds={"duckdb", "excel"})
def rectification(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """Township feedback in, lifecycle applied: reads the returned problem lists and
    监测预警核实清单 in `inbox/feedback/` (matched by 问题编号; every response kept as
    history; edits to locked columns ignored and reported; unknown ids, bad dropdown
    values and answers on the wrong list rejected), then derives every status again
    so tonight's answers count: `waived` for waivers the office accepted (`bidui
    waive accept`), `reopened` for findings answered 已整改 that are still found,
    `included` for warnings answered 已纳入监测 once the register shows the household
    monitored (rectification.status). Resolved findings were dated by the rule engine."""
    with bidui.connect() as con:
        fb = load_feedback(con, bidui.settings.inbox / "feedback", warning_rules=WARNING_RULE_CODES)
        write_manifest(con, bidui.settings.warehouse)  # returned lists read: for the sensor
        life = derive_statuses(con)
        by_status = dict(
            con.execute("SELECT status, count(*) FROM findings GROUP BY ALL").fetchall()
        )
    context.log.info("feedback %s; lifecycle %s", fb, life)
    return dg.MaterializeResult(
        metadata={
            "feedback_files": fb.files_read,
            "feedback_rows_read": fb.rows_read,
            "feedback_accepted": fb.accepted,
            "feedback_rejected": fb.rejected,
            "feedback_fields_rejected": fb.fields_rejected,
            "feedback_unchanged": fb.unchanged,
            "feedback_files_unverified": fb.files_unverified,
            "feedback_files_not_read": fb.files_failed,
            "locked_edits_ignored": fb.edits_ignored,
            "waived": life.waived,
            "reopened_after_rectified": life.reopened_after_rectified,
            "pending_waivers": life.pending_waivers,
            "included": life.included,
            "findings_by_status": dg.MetadataValue.json(by_status),
        }
    )
