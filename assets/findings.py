"""The rule engine as an asset: every rule of the catalogue, one check per rule.

In a county run of a prefecture (``bidui.settings.county`` set) the cross-county
rules run too, over the other counties' Parquet exports
(:func:`checks.cross_county.attach_other_counties`); they have no asset check (the
single-county Definitions stay as they are) and are reported in the metadata.
"""

from typing import Any

import dagster as dg

from assets.resources import BiduiResource
from checks import ALL_RULES
from checks.cross_county import attach_other_counties
from checks.engine import rule_summary, run_rules
from checks.rules.base import SEVERITY_ZH, Rule
from checks.rules.cross_county import CROSS_COUNTY_RULES
from checks.thresholds import load_thresholds
from department_feeds import SPECS

RULE_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name=rule.code,
        asset="findings",
        # The office searches the UI in Chinese: name, category and severity first.
        description=(
            f"{rule.name_zh}（{rule.category}，严重程度：{SEVERITY_ZH[rule.severity]}，"
            f"比对部门：{rule.department}）"
        ),
    )
    for rule in ALL_RULES
]


def rule_check_metadata(rule: Rule, summary: dict[str, Any]) -> dict[str, Any]:
    """Metadata of a rule's check: what the office reads in Chinese (严重程度 高/中/低),
    the code-level severity under ``severity_code``, the thresholds and a masked sample."""
    ran = bool(summary.get("ran"))
    metadata: dict[str, Any] = {
        "ran": ran,
        "findings": int(summary.get("count") or 0),
        "category": rule.category,
        "name_zh": rule.name_zh,
        "severity": SEVERITY_ZH[rule.severity],
        "severity_code": rule.severity,
        "department": rule.department,
        "thresholds": dg.MetadataValue.json(summary.get("thresholds") or {}),
        "sample": dg.MetadataValue.json(summary.get("sample") or []),
    }
    if not ran:
        metadata["not_run_reason"] = summary.get("reason") or ""
    elif summary.get("note"):
        # e.g. 2024 年监测范围未配置，沿用 2021 年 6000 元: seen until the office sets it.
        metadata["note"] = summary["note"]
    return metadata


@dg.asset(
    deps=list(SPECS),
    group_name="rules",
    check_specs=RULE_CHECK_SPECS,
    kinds={"duckdb"},
)
def findings(context: dg.AssetExecutionContext, bidui: BiduiResource) -> dg.MaterializeResult:
    """Findings of the working year (the latest register year): every rule of the
    catalogue run as set-based DuckDB SQL against the warehouse. Writes `findings`
    (one row per finding, stable `problem_id`), `finding_history` and `rule_runs`.
    A rule whose feed is missing or failed to load is recorded as *not run* — never
    as "0 findings". Each rule is an asset check named by its code."""
    thresholds = load_thresholds(bidui.thresholds or None)
    # Settings.county / prefecture_dir: None in a single-county run (nothing changes).
    county = getattr(bidui.settings, "county", None)
    prefecture_dir = getattr(bidui.settings, "prefecture_dir", None)
    rules = ALL_RULES
    cross: dict[str, Any] = {}
    with bidui.connect() as con:
        if county and prefecture_dir is not None:
            others = attach_other_counties(con, prefecture_dir, county)
            rules = ALL_RULES + CROSS_COUNTY_RULES
            cross["other_counties"] = others.counties
            cross["other_counties_not_read"] = others.missing
        run = run_rules(con, bidui.run_day, thresholds, rules=rules)
        summaries = {rule.code: rule_summary(con, rule.code) for rule in ALL_RULES}
        totals = con.execute(
            "SELECT count(*), count(*) FILTER (status = 'new'), "
            "count(*) FILTER (status = 'reopened') FROM findings"
        ).fetchone()

    check_results = []
    not_run = []
    for rule in ALL_RULES:
        summary = summaries[rule.code]
        ran = bool(summary.get("ran"))
        count = int(summary.get("count") or 0)
        metadata = rule_check_metadata(rule, summary)
        if not ran:
            not_run.append(rule.code)
        check_results.append(
            dg.AssetCheckResult(
                check_name=rule.code,
                passed=ran and count == 0,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"{rule.name_zh}：{count} 条"
                    if ran
                    else f"{rule.name_zh}：未运行（{summary.get('reason') or '缺少数据源'}）"
                ),
                metadata=metadata,
            )
        )
    context.log.info(
        "rules: %d ran, %d not run %s; %d findings",
        len(ALL_RULES) - len(not_run),
        len(not_run),
        not_run,
        totals[0],
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": totals[0],
            "new": totals[1],
            "reopened": totals[2],
            "rules_ran": len(ALL_RULES) - len(not_run),
            "rules_not_run": dg.MetadataValue.json(not_run),
            "working_year": getattr(run, "working_year", None),
            **(
                {
                    "county": county,
                    "cross_county": dg.MetadataValue.json(
                        cross
                        | {
                            r.code: (r.finding_count if r.ran else f"未运行：{r.reason}")
                            for r in run.results
                            if r.code in {x.code for x in CROSS_COUNTY_RULES}
                        }
                    ),
                }
                if cross
                else {}
            ),
        },
        check_results=check_results,
    )
