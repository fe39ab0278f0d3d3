"""Section D of the monitoring spec: the 防返贫监测 record (比对部门: 本系统).

Each rule is one :class:`Rule` entry in :data:`RULES`; its SQL comes from a
small function above it and reads the working set of :mod:`checks.prelude`
(``bd_reg``/``bd_hh``: ``is_poor_exited``, ``is_monitored``, ``risk_open``,
``risk_closed``, ``has_labour``, ``enjoys_dibao``, ``enjoys_destitute``,
``risks``, ``measures_blank``, ``dev_measure``, ``hh_no_labour``…).

These rules need today's export: every one lists ``monitoring_category`` (and
the other register columns it reads) in ``columns``, so on an older 建档立卡
export the engine does not run it and names the missing column.
"""

from __future__ import annotations

from checks.rules.base import (
    Rule,
    fmt,
    household_cols,
    join_parts,
    lit,
    lit_list,
    person_cols,
    when,
)
from checks.rules.register import (
    COMPULSORY_DROPOUT,
    CRITICAL_ILLNESS_MISSING,
    MEDICAL_INSURANCE_MISSING,
    MEDICAL_UNINSURED,
)
from department_feeds.register import DEVELOPMENT_MEASURES, MEASURE_FIELDS

MEASURES = tuple(f for f, _, _ in MEASURE_FIELDS)
"""The 14 帮扶措施 columns (``measures_blank`` = all of them blank)."""

# Columns a rule on 未消除/已消除风险 needs: without 风险是否已消除 every monitored
# household would read as "not eliminated".
_RISK_STATE = ("monitoring_category", "risk_eliminated")

_HELPED = "帮扶消除"
_ILL_HEALTH = ("患有大病", "长期慢性病")
_NO_LABOUR_SKILLS = ("无劳动力", "丧失劳动力")
_DESTITUTE_AGE = (18, 59)
_WORKING_AGE = (16, 59)
# Separators of the items of a measure cell (monitoring.md §1).
_ITEM_SEP = "[、,，;；]"


def _kind(a: str = "h") -> str:
    """The household's monitoring category as the description names it."""
    return f"coalesce({a}.monitoring_category, {a}.household_status, '监测对象')"


def _yn(expr: str) -> str:
    return f"CASE {expr} WHEN true THEN '是' WHEN false THEN '否' END"


def _has_risk(word: str, a: str = "h") -> str:
    return f"list_contains(coalesce({a}.risks, []::VARCHAR[]), {lit(word)})"


def _risks_text(a: str = "h") -> str:
    return f"nullif(array_to_string({a}.risks, '、'), '')"


# Grace period of the three measure rules: identified at least $measure_grace_days
# before the run date (inclusive). A blank 识别监测时间 cannot show the household
# is new, so the rule applies and the description shows the blank date.
_GRACE = (
    "(h.monitoring_from IS NULL OR h.monitoring_from "
    "<= CAST($run_date AS DATE) - CAST($measure_grace_days AS INTEGER))"
)

_ORDER = "ORDER BY p.source_file, p.sheet, p.row_number"


def _members(cond: str | None = None, label: str = "p.name") -> str:
    """``string_agg`` of member labels (optionally only those meeting ``cond``)."""
    flt = f" FILTER (WHERE {cond})" if cond else ""
    return f"string_agg({label}, '、' {_ORDER}){flt}"


_LABOUR_LABEL = fmt("{}（{}）", "p.name", "coalesce(p.labour_skill, '劳动技能空')")


# --- monitoring_without_measures ------------------------------------------------------


def monitoring_without_measures_sql() -> str:
    return f"""
SELECT {household_cols("h")},
       {
        fmt(
            "{}（识别监测时间 {}）风险未消除，14 项帮扶措施均未登记",
            _kind(),
            "bd_date(h.monitoring_from)",
        )
    } AS description,
       {
        fmt(
            "登记：监测对象类别 {}，识别监测时间 {}，风险是否已消除 {}，致贫返贫风险 {}，帮扶措施各列均为空",
            "h.monitoring_category",
            "bd_date(h.monitoring_from)",
            _yn("h.risk_eliminated"),
            _risks_text(),
        )
    } AS evidence
FROM bd_hh h
WHERE h.risk_open AND h.measures_blank AND {_GRACE}
"""


# --- labour_without_development -------------------------------------------------------


def labour_without_development_sql() -> str:
    return f"""
WITH m AS (
    SELECT household_id, {_members("p.has_labour", _LABOUR_LABEL)} AS workers
    FROM bd_reg p GROUP BY household_id
)
SELECT {household_cols("h")},
       {
        fmt(
            "{}风险未消除，家庭成员 {} 有劳动能力，产业帮扶、就业帮扶、金融帮扶、公益岗位帮扶均未登记",
            _kind(),
            "m.workers",
        )
    } AS description,
       {
        fmt(
            "登记：识别监测时间 {}，有劳动能力成员 {}，开发式帮扶措施各列均为空",
            "bd_date(h.monitoring_from)",
            "m.workers",
        )
    } AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.risk_open AND m.workers IS NOT NULL AND NOT coalesce(h.dev_measure, false) AND {_GRACE}
"""


# --- no_labour_without_safety_net -----------------------------------------------------


def no_labour_without_safety_net_sql() -> str:
    who = f"CASE WHEN h.risk_open THEN {_kind()} || '（风险未消除）' ELSE '脱贫户' END"
    return f"""
WITH m AS (
    SELECT household_id, count(*) AS n, {_members(None, _LABOUR_LABEL)} AS members,
           string_agg(DISTINCT coalesce(p.dibao_status, '空'), '/') AS dibao,
           string_agg(DISTINCT coalesce(p.destitute_status, '空'), '/') AS destitute
    FROM bd_reg p GROUP BY household_id
)
SELECT {household_cols("h")},
       {
        fmt(
            "{}家庭成员 {} 人均无劳动能力（{}），无成员享受低保或特困供养",
            who,
            "m.n",
            "m.members",
        )
    } AS description,
       {
        fmt(
            "登记：劳动技能 {}；享受低保政策情况 {}，享受特困供养政策情况 {}",
            "m.members",
            "m.dibao",
            "m.destitute",
        )
    } AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE (h.is_poor_exited OR h.risk_open) AND h.hh_no_labour
  AND NOT coalesce(h.hh_any_dibao, false) AND NOT coalesce(h.hh_any_destitute, false)
"""


# --- eliminated_without_labour --------------------------------------------------------


def eliminated_without_labour_sql() -> str:
    return f"""
WITH m AS (
    SELECT household_id, count(*) AS n, {_members(None, _LABOUR_LABEL)} AS members
    FROM bd_reg p GROUP BY household_id
)
SELECT {household_cols("h")},
       {
        fmt(
            "{}以“帮扶消除”标注风险已消除（消除监测时间 {}），但家庭成员 {} 人均无劳动能力（{}）",
            _kind(),
            "bd_date(h.monitoring_to)",
            "m.n",
            "m.members",
        )
    }
       || CASE WHEN h.hh_any_dibao OR h.hh_any_destitute
               THEN '；该户靠低保/特困兜底，应持续监测' ELSE '' END AS description,
       {
        fmt(
            "登记：风险是否已消除 是，风险消除方式 {}，消除监测时间 {}，劳动技能 {}",
            "h.elimination_mode",
            "bd_date(h.monitoring_to)",
            "m.members",
        )
    } AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.risk_closed AND h.elimination_mode = {lit(_HELPED)} AND h.hh_no_labour
"""


# --- eliminated_too_soon --------------------------------------------------------------


def eliminated_too_soon_sql() -> str:
    # Calendar months, strictly less: to < from + n months (DuckDB clamps 8-31 + 6
    # months to the end of February).
    months = "CAST($elimination_min_months AS INTEGER)"
    days = "h.monitoring_to - h.monitoring_from"
    return f"""
SELECT {household_cols("h")},
       CASE WHEN h.monitoring_to < h.monitoring_from
            THEN {
        fmt(
            "风险消除方式为帮扶消除，消除监测时间 {} 早于识别监测时间 {}",
            "bd_date(h.monitoring_to)",
            "bd_date(h.monitoring_from)",
        )
    }
            ELSE {
        fmt(
            "风险消除方式为帮扶消除，识别监测时间 {} 至消除监测时间 {} 仅 {} 天，不足 {} 个月",
            "bd_date(h.monitoring_from)",
            "bd_date(h.monitoring_to)",
            days,
            months,
        )
    } END AS description,
       {
        fmt(
            "登记：监测对象类别 {}，识别监测时间 {}，消除监测时间 {}，风险消除方式 {}",
            "h.monitoring_category",
            "bd_date(h.monitoring_from)",
            "bd_date(h.monitoring_to)",
            "h.elimination_mode",
        )
    } AS evidence
FROM bd_hh h
WHERE h.risk_closed AND h.elimination_mode = {lit(_HELPED)}
  AND h.monitoring_to < h.monitoring_from + to_months({months})
"""


# --- eliminated_with_gaps -------------------------------------------------------------


def eliminated_with_gaps_sql() -> str:
    # The twin of exited_below_income_line + exited_without_guarantees, with the
    # member conditions of compulsory_education_dropout and medical_insurance_missing
    # (no basic medical insurance, or 城乡居民 insurance without 大病保险).
    low = "h.per_capita_net_income < $income_line"
    return f"""
WITH m AS (
    SELECT household_id,
           {
        _members(
            COMPULSORY_DROPOUT,
            fmt("{}（{}岁）义务教育阶段未在校", "p.name", "p.age_sep"),
        )
    } AS edu,
           {_members(MEDICAL_UNINSURED)} AS uninsured,
           {_members(CRITICAL_ILLNESS_MISSING)} AS no_critical,
           bool_or({MEDICAL_INSURANCE_MISSING}) AS med
    FROM bd_reg p WHERE p.risk_closed GROUP BY household_id
)
SELECT {household_cols("h")},
       {
        fmt(
            "{}风险已消除（{}，消除监测时间 {}），收入或“三保障”未达标：",
            _kind(),
            "h.elimination_mode",
            "bd_date(h.monitoring_to)",
        )
    } || {
        join_parts(
            when(
                low,
                fmt(
                    "{}年年人均纯收入 {} 元，低于当年监测范围 {} 元",
                    "h.year",
                    "bd_num(h.per_capita_net_income)",
                    "bd_num($income_line)",
                ),
            ),
            when("h.is_dangerous_house", "'住房为危房'"),
            when("h.has_safe_water = false", "'饮水不安全'"),
            "m.edu",
            when("m.uninsured IS NOT NULL", "m.uninsured || ' 未参加基本医疗保险'"),
            when(
                "m.no_critical IS NOT NULL",
                "m.no_critical || ' 参加城乡居民基本医疗保险但未参加大病保险'",
            ),
        )
    } AS description,
       {
        fmt(
            "登记：年人均纯收入 {} 元，是否危房 {}，饮水是否安全 {}",
            "bd_num(h.per_capita_net_income)",
            _yn("h.is_dangerous_house"),
            _yn("h.has_safe_water"),
        )
    } AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.risk_closed
  AND ({low} OR h.is_dangerous_house OR h.has_safe_water = false
       OR m.edu IS NOT NULL OR m.med)
"""


# --- identified_above_range -----------------------------------------------------------


def identified_above_range_sql() -> str:
    return f"""
SELECT {household_cols("h")},
       {
        fmt(
            "{}于 {} 纳入监测，{}年年人均纯收入 {} 元，高于 {} 元",
            _kind(),
            "bd_date(h.monitoring_from)",
            "h.year",
            "bd_num(h.per_capita_net_income)",
            "bd_num($identified_income_max)",
        )
    }
       || CASE WHEN h.risk_closed
               THEN {fmt("（已于 {} 标注风险消除）", "bd_date(h.monitoring_to)")} ELSE '' END
           AS description,
       {
        fmt(
            "登记：监测对象类别 {}，识别监测时间 {}，年人均纯收入 {} 元",
            "h.monitoring_category",
            "bd_date(h.monitoring_from)",
            "bd_num(h.per_capita_net_income)",
        )
    } AS evidence
FROM bd_hh h
WHERE h.is_monitored AND year(h.monitoring_from) = h.year
  AND h.monitoring_category IS DISTINCT FROM '突发严重困难户'
  AND h.per_capita_net_income > $identified_income_max
"""


# --- risk_type_unsupported ------------------------------------------------------------


def risk_type_unsupported_sql() -> str:
    conds = (
        (
            f"{_has_risk('因病')} AND NOT coalesce(m.ill, false)",
            "'风险类型含“因病”，但家庭成员均未登记患有大病或长期慢性病'",
        ),
        (
            f"{_has_risk('因残')} AND NOT coalesce(m.disabled, false)",
            "'风险类型含“因残”，但家庭成员均未登记残疾'",
        ),
        (
            f"{_has_risk('缺劳动力')} AND m.all_labour",
            "'风险类型含“缺劳动力”，但家庭成员均有劳动能力'",
        ),
        (
            f"{_has_risk('因学')} AND NOT coalesce(m.student, false)",
            "'风险类型含“因学”，但家庭成员均非在校生'",
        ),
    )
    member = fmt(
        "{}（{}，{}，{}）",
        "p.name",
        "coalesce(p.health, '健康状况空')",
        "coalesce(p.labour_skill, '劳动技能空')",
        "coalesce(p.school_status, '在校生状况空')",
    )
    return f"""
WITH m AS (
    SELECT household_id,
           bool_or(p.health IN {lit_list(_ILL_HEALTH)}) AS ill,
           bool_or(p.health = '残疾') AS disabled,
           bool_and(coalesce(p.has_labour, false)) AS all_labour,
           bool_or(p.is_student) AS student,
           {_members(None, member)} AS members
    FROM bd_reg p GROUP BY household_id
)
SELECT {household_cols("h")},
       {join_parts(*(when(c, t) for c, t in conds))} AS description,
       {fmt("登记：致贫返贫风险 {}；家庭成员 {}", _risks_text(), "m.members")} AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.risk_open AND ({" OR ".join(f"({c})" for c, _ in conds)})
"""


# --- risk_without_matching_measure ----------------------------------------------------


def risk_without_matching_measure_sql() -> str:
    conds = (
        (
            f"{_has_risk('因病')} AND h.measure_health IS NULL AND h.measure_social IS NULL",
            "'风险类型含“因病”，健康帮扶、社会帮扶均未登记'",
        ),
        (
            f"{_has_risk('因学')} AND h.measure_education IS NULL",
            "'风险类型含“因学”，教育帮扶未登记'",
        ),
        (
            f"{_has_risk('因安全住房')} AND h.measure_housing IS NULL AND h.measure_relocation IS NULL",
            "'风险类型含“因安全住房”，住房安全保障、搬迁均未登记'",
        ),
        (
            f"{_has_risk('因安全饮水')} AND h.measure_water IS NULL",
            "'风险类型含“因安全饮水”，饮水安全保障未登记'",
        ),
    )
    return f"""
SELECT {household_cols("h")},
       {join_parts(*(when(c, t) for c, t in conds))} AS description,
       {
        fmt(
            "登记：识别监测时间 {}，致贫返贫风险 {}；健康帮扶 {}，社会帮扶 {}，教育帮扶 {}，住房安全保障 {}，搬迁 {}，饮水安全保障 {}",
            "bd_date(h.monitoring_from)",
            _risks_text(),
            "h.measure_health",
            "h.measure_social",
            "h.measure_education",
            "h.measure_housing",
            "h.measure_relocation",
            "h.measure_water",
        )
    } AS evidence
FROM bd_hh h
WHERE h.risk_open AND {_GRACE} AND ({" OR ".join(f"({c})" for c, _ in conds)})
"""


# --- safety_net_record_mismatch -------------------------------------------------------


def _items_containing(word: str) -> str:
    """Items of 综合保障 that contain ``word`` (an empty list when none)."""
    items = f"string_split_regex(coalesce(h.measure_comprehensive, ''), {lit(_ITEM_SEP)})"
    return f"list_filter(list_transform({items}, lambda x: trim(x)), lambda x: contains(x, {lit(word)}))"


def safety_net_record_mismatch_sql() -> str:
    parts = []
    conds = []
    for word, col, kind in (("低保", "dibao", "低保"), ("特困", "destitute", "特困供养")):
        listed = f"len(h.{col}_items) > 0"
        listed_alone = f"{listed} AND m.{col} IS NULL"
        enjoyed_alone = f"NOT ({listed}) AND m.{col} IS NOT NULL"
        parts += [
            when(
                listed_alone,
                fmt(
                    "综合保障登记有“{}”，但家庭成员均未享受" + kind,
                    f"array_to_string(h.{col}_items, '、')",
                ),
            ),
            when(
                enjoyed_alone,
                fmt("家庭成员 {} 享受" + kind + "，综合保障未登记" + word, f"m.{col}"),
            ),
        ]
        conds += [listed_alone, enjoyed_alone]
    dibao_items, destitute_items = _items_containing("低保"), _items_containing("特困")
    dibao_label = fmt("{}（{}）", "p.name", "coalesce(p.dibao_status, p.household_type)")
    destitute_label = fmt("{}（{}）", "p.name", "coalesce(p.destitute_status, p.household_type)")
    return f"""
WITH h AS (
    SELECT *, {dibao_items} AS dibao_items, {destitute_items} AS destitute_items
    FROM bd_hh h
),
m AS (
    SELECT household_id,
           {_members("p.enjoys_dibao", dibao_label)} AS dibao,
           {_members("p.enjoys_destitute", destitute_label)} AS destitute,
           string_agg(DISTINCT coalesce(p.dibao_status, '空'), '/') AS dibao_status,
           string_agg(DISTINCT coalesce(p.destitute_status, '空'), '/') AS destitute_status
    FROM bd_reg p GROUP BY household_id
)
SELECT {household_cols("h")},
       {join_parts(*parts)} AS description,
       {
        fmt(
            "登记：综合保障 {}；享受低保政策情况 {}，享受特困供养政策情况 {}",
            "h.measure_comprehensive",
            "m.dibao_status",
            "m.destitute_status",
        )
    } AS evidence
FROM h JOIN m USING (household_id)
WHERE h.is_monitored AND ({" OR ".join(f"({c})" for c in conds)})
"""


# --- destitute_working_age_healthy ----------------------------------------------------


def destitute_working_age_healthy_sql() -> str:
    lo, hi = _DESTITUTE_AGE
    return f"""
SELECT {person_cols("p")},
       {
        fmt(
            "享受特困供养（{}），{}岁（按{}年12月31日计），健康状况为健康，非在校生",
            "coalesce(p.destitute_status, p.household_type)",
            "p.age",
            "p.year",
        )
    } AS description,
       {
        fmt(
            "登记：证件号码 {}（出生日期 {}），享受特困供养政策情况 {}，健康状况 健康，在校生状况 {}",
            "p.id_number",
            "bd_date(p.birth_date)",
            "p.destitute_status",
            "p.school_status",
        )
    } AS evidence
FROM bd_reg p
WHERE p.enjoys_destitute AND p.age BETWEEN {lo} AND {hi}
  AND p.health = '健康' AND NOT p.is_student
"""


# --- working_age_no_labour ------------------------------------------------------------


def working_age_no_labour_sql() -> str:
    lo, hi = _WORKING_AGE
    return f"""
SELECT {person_cols("p")},
       {
        fmt(
            "{}岁（按{}年12月31日计），健康状况为健康，非在校生，劳动技能登记为“{}”",
            "p.age",
            "p.year",
            "p.labour_skill",
        )
    } AS description,
       {
        fmt(
            "登记：证件号码 {}（出生日期 {}），健康状况 健康，在校生状况 {}，劳动技能 {}",
            "p.id_number",
            "bd_date(p.birth_date)",
            "p.school_status",
            "p.labour_skill",
        )
    } AS evidence
FROM bd_reg p
WHERE (p.is_poor_exited OR p.is_monitored) AND p.age BETWEEN {lo} AND {hi}
  AND p.health = '健康' AND NOT p.is_student
  AND p.labour_skill IN {lit_list(_NO_LABOUR_SKILLS)}
"""


# --- eliminated_without_measures ------------------------------------------------------


def eliminated_without_measures_sql() -> str:
    return f"""
SELECT {household_cols("h")},
       {
        fmt(
            "{}以“帮扶消除”标注风险已消除（消除监测时间 {}），但 14 项帮扶措施均未登记",
            _kind(),
            "bd_date(h.monitoring_to)",
        )
    } AS description,
       {
        fmt(
            "登记：识别监测时间 {}，消除监测时间 {}，风险消除方式 {}，帮扶措施各列均为空",
            "bd_date(h.monitoring_from)",
            "bd_date(h.monitoring_to)",
            "h.elimination_mode",
        )
    } AS evidence
FROM bd_hh h
WHERE h.risk_closed AND h.elimination_mode = {lit(_HELPED)} AND h.measures_blank
"""


# --- ill_risk_without_costs -----------------------------------------------------------


def ill_risk_without_costs_sql() -> str:
    cost = fmt("{}（{}）", "p.name", "bd_num(p.compliant_self_paid)")
    return f"""
WITH m AS (
    SELECT household_id, count(*) AS n,
           bool_and(coalesce(p.compliant_self_paid, 0) = 0) AS no_cost,
           {_members(None, cost)} AS costs
    FROM bd_reg p GROUP BY household_id
)
SELECT {household_cols("h")},
       {
        fmt(
            "{}风险类型含“因病”，但家庭成员 {} 人的合规自付支出均为空或 0",
            _kind(),
            "m.n",
        )
    } AS description,
       {fmt("登记：致贫返贫风险 {}；合规自付支出 {}", _risks_text(), "m.costs")} AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.risk_open AND {_has_risk("因病")} AND m.no_cost
"""


# --- medical_insurance_double ---------------------------------------------------------


def medical_insurance_double_sql() -> str:
    return f"""
SELECT {person_cols("p")},
       '同时登记参加城乡居民基本医疗保险和城镇职工基本医疗保险' AS description,
       {
        fmt(
            "登记：{}，是否参加城乡居民基本医疗保险 是，是否参加城镇职工基本医疗保险 是",
            "p.name",
        )
    } AS evidence
FROM bd_reg p
WHERE p.has_medical_insurance AND p.has_employee_medical_insurance
"""


# --- the catalogue, section D ---------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        code="monitoring_without_measures",
        name_zh="监测对象未落实帮扶措施",
        category="保障缺失",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="MWM",
        sql=monitoring_without_measures_sql(),
        description_zh="{监测对象类别}（识别监测时间 {日期}）风险未消除，14 项帮扶措施均未登记（识别监测满 30 天的户）",
        requirement_zh="按致贫返贫风险和家庭实际制定并落实针对性帮扶措施，如实录入各项帮扶措施。",
        columns=(*_RISK_STATE, "monitoring_from", *MEASURES),
    ),
    Rule(
        code="labour_without_development",
        name_zh="有劳动力监测户未落实开发式帮扶",
        category="保障缺失",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="LWD",
        sql=labour_without_development_sql(),
        description_zh="{监测对象类别}风险未消除，家庭成员 {姓名（劳动技能）} 有劳动能力，产业帮扶、就业帮扶、金融帮扶、公益岗位帮扶均未登记（识别监测满 30 天的户）",
        requirement_zh="对有劳动能力的家庭成员落实产业、就业、金融或公益岗位等开发式帮扶措施，并如实录入。",
        columns=(*_RISK_STATE, "monitoring_from", "labour_skill", *DEVELOPMENT_MEASURES),
    ),
    Rule(
        code="no_labour_without_safety_net",
        name_zh="无劳动力户未纳入兜底保障",
        category="保障缺失",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="NLS",
        sql=no_labour_without_safety_net_sql(),
        description_zh="脱贫户 / {监测对象类别}（风险未消除）家庭成员 {n} 人均无劳动能力（{姓名（劳动技能）}），无成员享受低保或特困供养",
        requirement_zh="入户核实家庭成员劳动能力；符合条件的按程序纳入低保或特困供养兜底保障，劳动技能登记有误的予以更正。",
        columns=(*_RISK_STATE, "labour_skill", "dibao_status", "destitute_status"),
    ),
    Rule(
        code="eliminated_without_labour",
        name_zh="无劳动力户被标注风险消除",
        category="疑似错退",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="EWL",
        sql=eliminated_without_labour_sql(),
        description_zh="{监测对象类别}以“帮扶消除”标注风险已消除（消除监测时间 {日期}），但家庭成员 {n} 人均无劳动能力（{姓名（劳动技能）}）；该户靠低保/特困兜底，应持续监测",
        requirement_zh="无劳动能力户应落实兜底保障并持续监测，不得以帮扶消除标注风险消除；核实后恢复监测，或更正劳动技能、风险消除方式。",
        columns=(*_RISK_STATE, "elimination_mode", "labour_skill"),
    ),
    Rule(
        code="eliminated_too_soon",
        name_zh="风险消除时间过短",
        category="疑似错退",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="ETS",
        sql=eliminated_too_soon_sql(),
        description_zh="风险消除方式为帮扶消除，识别监测时间 {日期} 至消除监测时间 {日期} 仅 {n} 天，不足 {6} 个月（按自然月计）",
        requirement_zh="核实风险消除依据；帮扶消除应在帮扶措施稳定落实满规定期限后按程序办理，不符合条件的恢复监测，日期录入有误的予以更正。",
        columns=(*_RISK_STATE, "elimination_mode", "monitoring_from", "monitoring_to"),
    ),
    Rule(
        code="eliminated_with_gaps",
        name_zh='风险消除户收入或"三保障"未达标',
        category="疑似错退",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="EWG",
        sql=eliminated_with_gaps_sql(),
        description_zh="{监测对象类别}风险已消除（{消除方式}，消除监测时间 {日期}），收入或“三保障”未达标：{Y}年年人均纯收入 {a} 元，低于当年监测范围 {b} 元；住房为危房；饮水不安全；{姓名}义务教育阶段未在校；{姓名}未参加基本医疗保险；{姓名}参加城乡居民基本医疗保险但未参加大病保险",
        requirement_zh="入户核实家庭收入、住房、饮水、义务教育和基本医疗保障情况；未达标的恢复监测并落实帮扶，登记有误的予以更正。",
        columns=_RISK_STATE,
    ),
    Rule(
        code="identified_above_range",
        name_zh="纳入监测时收入明显偏高",
        category="疑似错评",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="IAR",
        sql=identified_above_range_sql(),
        description_zh="{监测对象类别}于 {日期} 纳入监测，{Y}年年人均纯收入 {a} 元，高于 {20,000} 元（已于 {日期} 标注风险消除）；突发严重困难户除外",
        requirement_zh="核实纳入监测时的家庭收入和风险情况；不符合纳入条件的按程序处理，收入录入有误的予以更正。",
        columns=("monitoring_category", "monitoring_from"),
    ),
    Rule(
        code="risk_type_unsupported",
        name_zh="风险类型与家庭情况不符",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="RTU",
        sql=risk_type_unsupported_sql(),
        description_zh="风险类型含“因病”，但家庭成员均未登记患有大病或长期慢性病；“因残”但均未登记残疾；“缺劳动力”但均有劳动能力；“因学”但均非在校生",
        requirement_zh="入户核实风险类型与家庭成员健康、残疾、劳动能力和就学情况，更正风险类型或成员信息。",
        columns=(*_RISK_STATE, "risk_1", "health", "labour_skill"),
    ),
    Rule(
        code="risk_without_matching_measure",
        name_zh="风险类型无对应帮扶措施",
        category="保障缺失",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="RWM",
        sql=risk_without_matching_measure_sql(),
        description_zh="风险类型含“因病”，健康帮扶、社会帮扶均未登记；“因学”，教育帮扶未登记；“因安全住房”，住房安全保障、搬迁均未登记；“因安全饮水”，饮水安全保障未登记（识别监测满 30 天的户）",
        requirement_zh="针对每项风险落实对应帮扶措施（因病：健康帮扶或社会帮扶；因学：教育帮扶；因安全住房：住房安全保障或搬迁；因安全饮水：饮水安全保障），并如实录入。",
        columns=(
            *_RISK_STATE,
            "monitoring_from",
            "risk_1",
            "measure_health",
            "measure_social",
            "measure_education",
            "measure_housing",
            "measure_relocation",
            "measure_water",
        ),
    ),
    Rule(
        code="safety_net_record_mismatch",
        name_zh="低保特困帮扶措施与享受情况不符",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="SNR",
        sql=safety_net_record_mismatch_sql(),
        description_zh="综合保障登记有“{措施}”，但家庭成员均未享受低保 / 家庭成员 {姓名（享受情况）} 享受低保，综合保障未登记低保（特困供养同理）",
        requirement_zh="与民政部门核对低保、特困供养享受情况，使综合保障措施与享受政策情况一致。",
        columns=(
            "monitoring_category",
            "measure_comprehensive",
            "dibao_status",
            "destitute_status",
        ),
    ),
    Rule(
        code="destitute_working_age_healthy",
        name_zh="特困供养人员为健康劳动年龄人口",
        category="疑似错评",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="DWH",
        sql=destitute_working_age_healthy_sql(),
        description_zh="享受特困供养（{享受情况}），{n}岁（按{Y}年12月31日计，18–59 岁），健康状况为健康，非在校生",
        requirement_zh="与民政部门核实该人员特困供养认定条件，不符合条件的按程序处理；年龄、健康状况登记有误的予以更正。",
        columns=("monitoring_category", "destitute_status", "health"),
    ),
    Rule(
        code="working_age_no_labour",
        name_zh="劳动年龄健康人口登记无劳动能力",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="WNL",
        sql=working_age_no_labour_sql(),
        description_zh="{n}岁（按{Y}年12月31日计，16–59 岁），健康状况为健康，非在校生，劳动技能登记为“无劳动力/丧失劳动力”",
        requirement_zh="入户核实该成员劳动能力，如实更正劳动技能或健康状况；有劳动能力的落实就业帮扶。",
        columns=("monitoring_category", "labour_skill", "health"),
    ),
    Rule(
        code="eliminated_without_measures",
        name_zh="帮扶消除但未登记帮扶措施",
        category="疑似错退",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="EWM",
        sql=eliminated_without_measures_sql(),
        description_zh="{监测对象类别}以“帮扶消除”标注风险已消除（消除监测时间 {日期}），但 14 项帮扶措施均未登记",
        requirement_zh="补录帮扶期间实际落实的帮扶措施；未落实帮扶措施的核实风险消除依据，必要时恢复监测。",
        columns=(*_RISK_STATE, "elimination_mode", *MEASURES),
    ),
    Rule(
        code="ill_risk_without_costs",
        name_zh="因病风险无医疗支出",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="IRC",
        sql=ill_risk_without_costs_sql(),
        description_zh="{监测对象类别}风险类型含“因病”，但家庭成员 {n} 人的合规自付支出均为空或 0",
        requirement_zh="核实因病风险和家庭成员合规自付医疗费用，补录医疗支出或更正风险类型。",
        columns=(*_RISK_STATE, "risk_1", "compliant_self_paid"),
    ),
    Rule(
        code="medical_insurance_double",
        name_zh="重复参加基本医疗保险",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="MID",
        sql=medical_insurance_double_sql(),
        description_zh="同时登记参加城乡居民基本医疗保险和城镇职工基本医疗保险",
        requirement_zh="核实该人员实际参保情况，清理重复参保（只保留一种基本医疗保险），并更正登记。",
        columns=("monitoring_category", "has_employee_medical_insurance"),
    ),
)
