"""The rule catalogue: rules.md sections A and B and monitoring.md sections D and E, in order.

The order is the one users see (report, problem lists, docs/rules.md): the
register's own rules first — section A, then section D (防返贫监测), both 比对部门
本系统 — then the rules against department feeds (section B), then department
verification and early warning (section E: 民政, 医保, 教育, 残联).

Adding a rule = one :class:`~checks.rules.base.Rule` entry in the section's
``RULES`` tuple (with its SQL function) plus its tests; nothing else changes.
"""

from __future__ import annotations

from checks.rules import departments, early_warning, monitoring, register
from checks.rules.base import Rule

ALL_RULES: tuple[Rule, ...] = (
    register.RULES + monitoring.RULES + departments.RULES + early_warning.RULES
)
RULES_BY_CODE: dict[str, Rule] = {r.code: r for r in ALL_RULES}
WARNING_RULE_CODES: frozenset[str] = frozenset(r.code for r in ALL_RULES if r.warning_list)
"""Rules whose findings go on the 监测预警核实清单, not the 问题清单 (monitoring.md §5)."""

assert len(RULES_BY_CODE) == len(ALL_RULES), "duplicate rule code"
assert len({r.prefix for r in ALL_RULES}) == len(ALL_RULES), "duplicate problem-id prefix"

__all__ = ["ALL_RULES", "RULES_BY_CODE", "WARNING_RULE_CODES", "Rule"]
