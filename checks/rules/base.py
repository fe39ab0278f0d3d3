"""A rule as data, and the small pure functions its SQL is built from.

Every rule's SQL is a single SELECT over the working-set tables the engine
prepares (see :mod:`checks.prelude`) and returns one row per finding with the
columns of :data:`OUTPUT_COLUMNS` (``category`` optional: rules whose category
depends on the record, e.g. 疑似错退 for exited households, return it).

Thresholds are bound by name (``$year``, ``$income_line``…, see
``Thresholds.sql_params``); feed contents are only ever read by SQL, never
pasted into it. The only literals built here are code constants (column names,
Chinese labels), quoted by :func:`lit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from department_feeds import DEPARTMENTS  # 比对部门: derived from the feed specs
from department_feeds.register import SPEC as REGISTER_SPEC

Level = Literal["person", "household", "village"]
Severity = Literal["high", "medium", "low"]

CATEGORIES = ("疑似错评", "疑似漏评", "疑似错退", "信息不准", "保障缺失", "需更新")
"""问题类别, in the order reports and problem lists show them."""
SEVERITIES: tuple[str, ...] = get_args(Severity)
SEVERITY_ZH: dict[str, str] = dict(zip(SEVERITIES, ("高", "中", "低"), strict=True))
"""Severity as the office reads it (checks' metadata, the report, docs/rules.md)."""

OUTPUT_COLUMNS = (
    "year",
    "county",
    "township",
    "village",
    "village_group",
    "household_id",
    "id_number",
    "name",
    "head_name",
    "description",
    "evidence",
    "nkey",
)
"""What a rule's SELECT returns. ``nkey`` is the natural key of the finding
(record + discriminating evidence, never the year): problem ids hash it."""
OPTIONAL_OUTPUT_COLUMNS = ("category", "severity", "standing")
"""What a rule's SELECT may add: ``category`` / ``severity`` when they depend on the
record (疑似错退 for exited households; 医保 enrolment's two cases), ``standing``
(是否在册: 脱贫户 / 监测对象 / 监测对象(已消除) / 一般农户 / 不在册) for
early-warning rules. NULL or absent: the rule's own value."""

_REGISTER_FIELDS = frozenset(c.field for c in REGISTER_SPEC.columns)

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Rule:
    """One entry of the rule catalogue (rules.md)."""

    code: str
    name_zh: str
    category: str
    severity: Severity
    department: str
    feeds: tuple[str, ...]
    level: Level
    prefix: str
    """Short prefix of problem ids (``OC`` → ``OC-3F9A2B7C01``); unique per rule."""
    sql: str
    description_zh: str
    """The description template in words (the SQL renders it with the values)."""
    requirement_zh: str
    """整改要求: what the village must do."""
    year_feeds: tuple[tuple[str, str, int], ...] = ()
    """(feed, year column, years back) that must hold rows of the working year
    (minus years back), else the rule cannot run: a tax feed of last year must not
    read as "no income", a register without last year as "income changed"."""
    coverage: str | None = None
    """A feed delivered one file per township (hukou): when it holds (almost) none
    of a township's register persons, that township's file is missing and the rule
    would report every one of them; it does not run, and says which township."""
    warning_list: bool = False
    """An early-warning rule (monitoring.md §5): its findings are households to
    visit, listed on the township's 监测预警核实清单 instead of the 问题清单, with
    a 核实时限 of ``[early_warning] visit_days`` after first seen."""
    risk_type_zh: str | None = None
    """风险类型 of an early-warning rule's findings (因病 / 因残 / 兜底保障)."""
    columns: tuple[str, ...] = ()
    """Optional register fields the rule needs (``monitoring_category``…). When any
    is absent from the working year's register (not mapped by every loaded file of
    that year), the rule does not run and its reason names the column's header:
    run on nulls it would read as "no problems"."""

    def __post_init__(self) -> None:
        assert self.category in CATEGORIES, self.category
        assert self.department in DEPARTMENTS, self.department
        assert self.severity in SEVERITIES, self.severity
        assert re.fullmatch(r"[A-Z]{2,4}", self.prefix), self.prefix
        assert self.warning_list == (self.risk_type_zh is not None), self.code
        unknown = set(self.columns) - _REGISTER_FIELDS
        assert not unknown, (self.code, unknown)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Named parameters the SQL binds, in first-use order."""
        return tuple(dict.fromkeys(_PARAM.findall(self.sql)))


# --- SQL building blocks ---------------------------------------------------------


def lit(text: str) -> str:
    """A SQL string literal for a code constant (never for feed contents)."""
    return "'" + text.replace("'", "''") + "'"


def lit_list(values: tuple[str, ...] | list[str]) -> str:
    """``('a', 'b')`` for ``IN`` over code constants."""
    return "(" + ", ".join(lit(v) for v in values) + ")"


def person_cols(a: str = "p", key_extra: str | None = None) -> str:
    """Output columns of a person-level finding from a ``bd_reg`` row aliased ``a``.

    ``key_extra`` is an SQL expression appended to the person's natural key
    (plate number, credit code, property location…) so several findings of one
    rule on one person stay distinct.
    """
    key = f"{a}.pkey" if key_extra is None else f"{a}.pkey || chr(31) || coalesce({key_extra}, '')"
    return (
        f"{a}.year, {a}.county, {a}.township, {a}.village, {a}.village_group, "
        f"{a}.household_id, {a}.id_out AS id_number, {a}.name, {a}.head_name, {key} AS nkey"
    )


def household_cols(a: str = "h", named: str | None = None, named_id: str | None = None) -> str:
    """Output columns of a household-level finding from a ``bd_hh`` row aliased ``a``.

    Place and ID come from the 户主's row; 姓名 stays blank unless ``named`` (the
    two summing income rules name the member with the largest amount).
    """
    name = "NULL::VARCHAR" if named is None else named
    id_number = f"{a}.id_out" if named_id is None else named_id
    return (
        f"{a}.year, {a}.county, {a}.township, {a}.village, {a}.village_group, "
        f"{a}.household_id, {id_number} AS id_number, {name} AS name, {a}.head_name, "
        f"{a}.household_id AS nkey"
    )


def join_parts(*parts: str, sep: str = "；") -> str:
    """``concat_ws`` over optional parts: a NULL part (condition not met) is skipped."""
    return f"concat_ws({lit(sep)}, {', '.join(parts)})"


def when(cond: str, text: str) -> str:
    """``CASE WHEN cond THEN text END``: one optional part of a description."""
    return f"CASE WHEN {cond} THEN {text} END"


def text(expr: str, blank: str = "（空）") -> str:
    """``expr`` as text for a description; NULL reads as ``blank`` (format() would
    otherwise turn the whole sentence NULL)."""
    return f"coalesce(CAST({expr} AS VARCHAR), {lit(blank)})"


def fmt(template: str, *exprs: str) -> str:
    """DuckDB ``format(template, …)`` with every argument NULL-safe.

    ``template`` uses ``{}`` placeholders (a code constant); ``exprs`` are SQL
    expressions, already rendered (money through ``bd_num``) where it matters.
    """
    assert template.count("{}") == len(exprs), template
    args = "".join(f", {text(e)}" for e in exprs)
    return f"format({lit(template)}{args})"
