"""``docs/rules.md``: the rule catalogue as the office reads it, generated from the code.

The catalogue (``checks.rules``) is the one owner of codes, names, categories,
severities and departments; this page is derived from it and a test keeps it
current. Regenerate after changing a rule::

    .venv/bin/python -m checks.catalogue_doc
"""

from __future__ import annotations

import sys
from pathlib import Path

from checks.rules import ALL_RULES
from checks.rules.base import SEVERITY_ZH

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "rules.md"

_HEADER = """\
# 比对规则目录 (rule catalogue)

Generated from `checks/rules/` by `python -m checks.catalogue_doc`; do not edit by
hand (a test fails when this page and the code differ). Thresholds marked in the
descriptions live in `checks/thresholds.toml`.

| # | 代码 code | 名称 | 问题类别 | 严重程度 | 比对部门 | 数据源 feeds | 问题描述 | 整改要求 |
|---|---|---|---|---|---|---|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole page, one table row per rule in catalogue order."""
    rows = [
        f"| {i} | `{r.code}` | {_cell(r.name_zh)} | {r.category} | {SEVERITY_ZH[r.severity]} "
        f"| {r.department} | {', '.join(r.feeds)} | {_cell(r.description_zh)} "
        f"| {_cell(r.requirement_zh)} |"
        for i, r in enumerate(ALL_RULES, start=1)
    ]
    return _HEADER + "\n".join(rows) + f"\n\n{len(ALL_RULES)} rules.\n"


def main() -> int:
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC_PATH} ({len(ALL_RULES)} rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
