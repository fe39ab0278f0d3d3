"""The catalogue as data: every rule of rules.md §A and §B and monitoring.md §3 (D) and
§4 (E), one entry each, with the
published code, Chinese name, category, severity and department; docs/rules.md is
generated from it. (Each rule's SQL on a warehouse: integration/rules/test_catalogue.py.)"""

from __future__ import annotations

import re

import pytest

from assets.findings import rule_check_metadata
from checks import ALL_RULES, RULES_BY_CODE
from checks.catalogue_doc import DOC_PATH, render
from checks.rules.base import CATEGORIES, DEPARTMENTS, SEVERITY_ZH
from checks.thresholds import load_thresholds
from department_feeds import DEPARTMENT_FEEDS, SPECS
from tests.conftest import PROJECT_ROOT

RULES_MD = PROJECT_ROOT.parent / "shared" / "spec" / "rules.md"
MONITORING_MD = PROJECT_ROOT.parent / "shared" / "spec" / "monitoring.md"
SECTION_ORDER = ("A", "D", "B", "E")
"""The catalogue's order: register rules, monitoring rules (monitoring.md §3), then
the department matches, then department verification and early warning (§4)."""


def _table_rows(path, sections: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(section, code, cells) of the rule tables under the headings ``sections`` maps
    (heading prefix → section letter)."""
    out = []
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = next((v for k, v in sections.items() if line.startswith(k)), None)
        m = re.match(r"^\| `(\w+)` \|(.*)\|\s*$", line)
        if m and section:
            out.append((section, m.group(1), [c.strip() for c in m.group(2).split("|")]))
    return out


def _spec_rows() -> dict[str, dict]:
    """code → {name, category, severity, department} from rules.md §A, §B and
    monitoring.md §3 (rules D) and §4 (rules E), in catalogue order."""
    rows = _table_rows(RULES_MD, {"## A": "A", "## B": "B"})
    rows += _table_rows(MONITORING_MD, {"## 3.": "D", "## 4.": "E"})
    spec: dict[str, dict] = {}
    for section, code, cells in sorted(rows, key=lambda r: SECTION_ORDER.index(r[0])):
        if section in ("B", "E"):
            department, name, _logic, category, severity = cells
        else:
            name, _logic, category, severity = cells
            department = "本系统"
        spec[code] = {
            "name": name,
            "category": category,
            "severity": severity,
            "department": department,
            "section": section,
        }
    return spec


@pytest.mark.skipif(
    not (RULES_MD.exists() and MONITORING_MD.exists()), reason="shared spec not checked out"
)
def test_catalogue_matches_rules_md():
    spec = _spec_rows()
    assert [r.code for r in ALL_RULES] == list(spec)  # same codes, same order
    for rule in ALL_RULES:
        s = spec[rule.code]
        # A category/severity that follows the record (医保 enrolment: 保障缺失 / 信息不准,
        # high / low): the rule's own value is the first.
        category, severity = (s[k].split(" / ")[0] for k in ("category", "severity"))
        assert (rule.name_zh, rule.category, rule.severity, rule.department) == (
            s["name"],
            category,
            severity,
            s["department"],
        ), rule.code
        assert ("register" in rule.feeds) and (len(rule.feeds) > 1) == (
            s["section"] in ("B", "E") or rule.code == "village_stats_mismatch"
        )
        # 疑似漏评 of section E: the three early warnings of the 监测预警核实清单.
        assert rule.warning_list is (s["section"] == "E" and rule.category == "疑似漏评")


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_entry_is_complete(rule):
    assert rule.description_zh and rule.requirement_zh and rule.name_zh
    assert RULES_BY_CODE[rule.code] is rule
    params = load_thresholds().sql_params(2024)
    assert set(rule.param_names) <= set(params), "a $name the thresholds do not provide"


def test_docs_rules_md_is_current():
    """docs/rules.md is generated from the catalogue; a rule change must regenerate it."""

    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/rules.md is out of date: run `.venv/bin/python -m checks.catalogue_doc`"
    )
    for rule in ALL_RULES:
        assert f"| `{rule.code}` | {rule.name_zh} |" in render()


def test_departments_derive_from_the_feed_specs():
    """比对部门: each department feed's department, then 本系统; every rule names one."""
    assert set(DEPARTMENTS) == {SPECS[f].department_zh for f in DEPARTMENT_FEEDS} | {"本系统"}
    assert {r.department for r in ALL_RULES} <= set(DEPARTMENTS)
    assert {r.category for r in ALL_RULES} <= set(CATEGORIES)


@pytest.mark.parametrize("rule", ALL_RULES[:1] + ALL_RULES[-1:], ids=lambda r: r.code)
def test_check_metadata_shows_severity_in_chinese(rule):
    meta = rule_check_metadata(rule, {"ran": False, "reason": "缺少数据源"})
    assert meta["severity"] == SEVERITY_ZH[rule.severity] in ("高", "中", "低")
    assert meta["severity_code"] == rule.severity
    assert meta["not_run_reason"] == "缺少数据源"
