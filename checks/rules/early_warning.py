"""Section E of the monitoring spec: department verification and early warning
(部门筛查预警, monitoring.md §4).

Six rules check the register against 民政, 医保, 教育 and 残联 records like
section B. Three are *early warnings* (``warning_list=True``): people with a risk
signal whom nobody monitors, to be visited — ``dibao_not_monitored`` (兜底保障),
``high_medical_cost`` (因病), ``new_severe_disability`` (因残). Those also find
county residents **outside the register**: ``bd_resident`` (:mod:`checks.prelude`)
holds the hukou residents and places the outsiders by their 住址; a finding row
for an outsider has no household, its township/village from that placement
(``未能定位`` when it cannot be placed) and ``standing`` 不在册. Evidence for
outsiders holds only the person's own department record and hukou address.

Readings where the spec leaves room (chosen as a cadre would expect):

- register persons of the warning rules that are neither 脱贫户 nor 监测对象 must
  also be county residents (the spec's "a county resident" applies to everyone);
  members of 脱贫户 / 监测对象 in ``high_medical_cost`` need not be;
- one finding per person (several 民政 records or certificates are listed in one);
- 学籍 records without a grade match any grade of their stage, like a register
  小学 without a grade; 大专 in the register is the 学籍 stage 高职;
- a blank 在校生状况 is no statement: ``school_status_mismatch`` leaves it alone;
  a blank 健康状况 is "not 残疾" (``disability_unrecorded`` fires);
- the 综合保障 subsidy check reads every member row of the household (the
  national export repeats it on each).
"""

from __future__ import annotations

from checks.prelude import (
    STANDING_ELIMINATED,
    STANDING_MONITORED,
    STANDING_OUTSIDE,
    STANDING_POOR_EXITED,
)
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

YEAR = "CAST($year AS INTEGER)"
YEAR_END = f"make_date({YEAR}, 12, 31)"
SCHOOL_YEAR = fmt("{}-{}学年", YEAR, f"{YEAR} + 1")

# Register columns of the 是否在册 standing (脱贫户 / 监测对象 / 已消除): without
# them every 监测户 would read as 一般农户 and be warned about.
_STANDING_COLS = ("monitoring_category", "household_kind", "risk_eliminated")

_DIBAO = ("农村低保", "城市低保")
_RURAL_SAFETY_NET = ("农村低保", "特困供养")
_DESTITUTE = "特困供养"
_RESIDENT_INSURANCE = "城乡居民基本医疗保险"
_SEVERE = ("一级", "二级")
DISABILITY_SUBSIDIES = ("残疾人两项补贴", "残疾人补贴", "重度残疾人护理补贴")
"""综合保障 items that count as the disability subsidy (severe_disability_without_subsidy)."""

_ORDER = "ORDER BY p.source_file, p.sheet, p.row_number"


# --- shared pieces ----------------------------------------------------------------------


def _resident(a: str = "p") -> str:
    """The register person ``a`` is a county resident (hukou)."""
    return f"EXISTS (SELECT 1 FROM bd_resident r0 WHERE r0.id_number = {a}.id_number)"


def _outsider_cols(r: str = "r", name: str | None = None) -> str:
    """Output columns of a finding on a county resident outside the register, row
    ``r`` of ``bd_resident``: placed by the hukou 住址, key = the ID number."""
    who = f"{r}.name" if name is None else f"coalesce({r}.name, {name})"
    return (
        f"{YEAR} AS year, {r}.county, {r}.township, {r}.village, "
        "NULL::VARCHAR AS village_group, NULL::VARCHAR AS household_id, "
        f"{r}.id_number, {who} AS name, NULL::VARCHAR AS head_name, {r}.id_number AS nkey, "
        f"{lit(STANDING_OUTSIDE)} AS standing"
    )


def _address(r: str = "r") -> str:
    return fmt("；户籍住址 {}", f"{r}.address")


def _standing_text(a: str = "p") -> str:
    """Why nobody monitors the person, in words (register rows)."""
    return f"""CASE {a}.standing
        WHEN {lit(STANDING_POOR_EXITED)} THEN '所在户为脱贫户，未纳入监测'
        WHEN {lit(STANDING_ELIMINATED)} THEN '所在户为监测对象，风险已消除'
        WHEN {lit(STANDING_MONITORED)} THEN '所在户为监测对象，风险类型未含因病'
        ELSE '所在户为一般农户，未纳入监测' END"""


_OUTSIDE_TEXT = "'不在防返贫监测登记范围内'"


def _civil_label(c: str = "c") -> str:
    """One 民政 record: ``农村低保（2023-05-01 起，至 2024-10-31，终止）``."""
    return fmt(
        "{}（{} 起{}，{}）",
        f"{c}.assistance_kind",
        f"bd_date({c}.start_on)",
        f"CASE WHEN {c}.end_on IS NULL THEN '' ELSE '，至 ' || bd_date({c}.end_on) END",
        f"{c}.status",
    )


def _active(c: str = "c") -> str:
    """An active 民政 record at the working year end (start blank or earlier, end
    blank or later, 在保)."""
    return (
        f"({c}.start_on IS NULL OR {c}.start_on <= {YEAR_END}) "
        f"AND ({c}.end_on IS NULL OR {c}.end_on >= {YEAR_END}) AND {c}.status = '在保'"
    )


def _cert_label(d: str = "d") -> str:
    """One certificate: ``证号 …，二级肢体残疾，2024-03-01 发证``."""
    return fmt(
        "证号 {}，{}{}残疾，{} 发证",
        f"{d}.certificate_no",
        f"coalesce({d}.level, '')",
        f"coalesce({d}.category, '')",
        f"bd_date({d}.issued_on)",
    )


def _disability(d: str = "d") -> str:
    """``二级肢体残疾`` for a description (no certificate number)."""
    return f"coalesce({d}.level, '') || coalesce({d}.category, '') || '残疾'"


# --- 民政 --------------------------------------------------------------------------------


def dibao_not_monitored_sql() -> str:
    return f"""
WITH c AS (
    SELECT id_number, min(name) AS name,
           string_agg(DISTINCT assistance_kind, '、' ORDER BY assistance_kind) AS kinds,
           string_agg({_civil_label()}, '；' ORDER BY start_on, assistance_kind) AS recs
    FROM bd_civil_affairs c
    WHERE assistance_kind IN {lit_list(_RURAL_SAFETY_NET)} AND {_active()}
    GROUP BY id_number
),
covered AS (
    SELECT DISTINCT id_number FROM bd_reg WHERE id_ok AND (is_poor_exited OR is_monitored)
)
SELECT {person_cols("p")}, p.standing,
       {fmt("{}年12月31日享受{}（民政在保），{}", "p.year", "c.kinds", _standing_text())}
           AS description,
       {fmt("民政：{}；登记：{}", "c.recs", "p.standing")} AS evidence
FROM bd_reg p JOIN c ON c.id_number = p.id_number
WHERE p.id_ok AND NOT p.is_poor_exited AND NOT p.is_monitored
  AND p.id_number NOT IN (SELECT id_number FROM covered) AND {_resident()}
UNION ALL BY NAME
SELECT {_outsider_cols(name="c.name")},
       {fmt("{}年12月31日享受{}（民政在保），{}", YEAR, "c.kinds", _OUTSIDE_TEXT)} AS description,
       {fmt("民政：{}", "c.recs")} || {_address()} AS evidence
FROM bd_resident r JOIN c USING (id_number)
WHERE NOT r.in_register
"""


def dibao_record_mismatch_sql() -> str:
    kinds = (*_DIBAO, _DESTITUTE)
    parts, conds = [], []
    for col, active, word, kind_zh in (
        ("dibao", "c.dibao_on", "低保", "低保"),
        ("destitute", "c.destitute_on", "特困", "特困供养"),
    ):
        lacking = f"p.enjoys_{col} AND NOT coalesce({active}, false)"
        extra = f"NOT p.enjoys_{col} AND coalesce({active}, false)"
        shown = f"coalesce(p.{col}_status, p.household_type)"
        parts += [
            when(
                lacking,
                fmt(
                    "登记享受" + kind_zh + "（{}），民政{}年12月31日无在保的" + word + "记录",
                    shown,
                    "p.year",
                ),
            ),
            when(
                extra,
                fmt(
                    "登记享受" + kind_zh + "政策情况为“{}”，民政{}年12月31日有在保的{}记录",
                    shown,
                    "p.year",
                    f"c.{col}_kinds",
                ),
            ),
        ]
        conds += [lacking, extra]
    return f"""
WITH c AS (
    SELECT id_number,
           bool_or(assistance_kind IN {lit_list(_DIBAO)} AND {_active()}) AS dibao_on,
           bool_or(assistance_kind = {lit(_DESTITUTE)} AND {_active()}) AS destitute_on,
           string_agg(DISTINCT assistance_kind, '、' ORDER BY assistance_kind)
               FILTER (WHERE assistance_kind IN {lit_list(_DIBAO)} AND {_active()}) AS dibao_kinds,
           string_agg(DISTINCT assistance_kind, '、' ORDER BY assistance_kind)
               FILTER (WHERE assistance_kind = {lit(_DESTITUTE)} AND {_active()})
               AS destitute_kinds,
           string_agg({_civil_label()}, '；' ORDER BY start_on, assistance_kind) AS recs
    FROM bd_civil_affairs c WHERE assistance_kind IN {lit_list(kinds)}
    GROUP BY id_number
)
SELECT {person_cols("p")},
       {join_parts(*parts)} AS description,
       '民政：' || coalesce(c.recs, '无低保、特困供养记录')
       || {
        fmt(
            "；登记：享受低保政策情况 {}，享受特困供养政策情况 {}",
            "p.dibao_status",
            "p.destitute_status",
        )
    } AS evidence
FROM bd_reg p LEFT JOIN c ON c.id_number = p.id_number
WHERE p.id_ok AND ({" OR ".join(f"({x})" for x in conds)})
"""


# --- 医保 --------------------------------------------------------------------------------


def high_medical_cost_sql() -> str:
    # The line: $rural_income × percent / 100, compared exactly (decimals × 100).
    reaches = "m.paid * 100 >= $rural_income * {pct}"
    line = "$rural_income * {pct} / 100"
    desc = "{}年医保个人自付合计 {} 元，达到本省农村居民人均可支配收入 {} 元的 {}%（{} 元），{}"
    evid = "医保：{}年医疗总费用 {} 元，基金支付 {} 元，个人自付 {} 元"
    return f"""
WITH m AS (
    SELECT id_number, min(name) AS name, sum(self_paid) AS paid, sum(total_cost) AS total,
           sum(fund_paid) AS fund
    FROM bd_medical WHERE year = {YEAR} GROUP BY id_number
),
p AS (
    SELECT p.*, CASE WHEN p.is_poor_exited OR p.is_monitored THEN $monitored_cost_pct
                     ELSE $others_cost_pct END AS pct
    FROM bd_reg p WHERE p.id_ok
)
SELECT {person_cols("p")}, p.standing,
       {
        fmt(
            desc,
            "p.year",
            "bd_num(m.paid)",
            "bd_num($rural_income)",
            "p.pct",
            f"bd_num({line.format(pct='p.pct')})",
            _standing_text(),
        )
    } AS description,
       {fmt(evid, "p.year", "bd_num(m.total)", "bd_num(m.fund)", "bd_num(m.paid)")} AS evidence
FROM p JOIN m ON m.id_number = p.id_number
WHERE {reaches.format(pct="p.pct")}
  -- A household monitored for 因病 is already followed for that risk.
  AND NOT (p.risk_open AND list_contains(coalesce(p.risks, []::VARCHAR[]), '因病'))
  AND (p.is_poor_exited OR p.is_monitored OR {_resident()})
UNION ALL BY NAME
SELECT {_outsider_cols(name="m.name")},
       {
        fmt(
            desc,
            YEAR,
            "bd_num(m.paid)",
            "bd_num($rural_income)",
            "$others_cost_pct",
            f"bd_num({line.format(pct='$others_cost_pct')})",
            _OUTSIDE_TEXT,
        )
    } AS description,
       {fmt(evid, YEAR, "bd_num(m.total)", "bd_num(m.fund)", "bd_num(m.paid)")}
       || {_address()} AS evidence
FROM bd_resident r JOIN m USING (id_number)
WHERE NOT r.in_register AND {reaches.format(pct="$others_cost_pct")}
"""


def medical_enrolment_mismatch_sql() -> str:
    missing = "p.has_medical_insurance AND NOT p.enrolled"
    # The evidence (every record of the person) is aggregated for the few mismatches
    # only: over all 医保 rows it was most of the rule's time.
    return f"""
WITH m AS (
    SELECT id_number,
           bool_or(insurance_kind = {lit(_RESIDENT_INSURANCE)} AND enrolment_status = '正常参保')
               AS enrolled
    FROM bd_medical WHERE year = {YEAR} GROUP BY id_number
),
hits AS (
    SELECT p.*, coalesce(m.enrolled, false) AS enrolled
    FROM bd_reg p LEFT JOIN m ON m.id_number = p.id_number
    WHERE p.id_ok
      AND ((p.has_medical_insurance AND NOT coalesce(m.enrolled, false))
           OR (p.has_medical_insurance = false AND coalesce(m.enrolled, false)))
),
recs AS (
    SELECT id_number,
           string_agg(insurance_kind || '（' || enrolment_status || '）', '、'
                      ORDER BY insurance_kind, enrolment_status) AS recs
    FROM bd_medical
    WHERE year = {YEAR} AND id_number IN (SELECT id_number FROM hits)
    GROUP BY id_number
)
SELECT {person_cols("p")},
       CASE WHEN {missing} THEN '保障缺失' ELSE '信息不准' END AS category,
       CASE WHEN {missing} THEN 'high' ELSE 'low' END AS severity,
       CASE WHEN {missing}
            THEN {
        fmt(
            "登记为参加城乡居民基本医疗保险，但医保{}年无该人员正常参保的城乡居民基本医疗保险记录",
            "p.year",
        )
    }
            ELSE {
        fmt(
            "登记为未参加城乡居民基本医疗保险，但医保{}年有该人员正常参保的城乡居民基本医疗保险记录",
            "p.year",
        )
    } END AS description,
       CASE WHEN m.recs IS NULL THEN {fmt("医保：{}年无参保记录", "p.year")}
            ELSE {fmt("医保：{}年 {}", "p.year", "m.recs")} END AS evidence
FROM hits p LEFT JOIN recs m ON m.id_number = p.id_number
"""


# --- 教育 --------------------------------------------------------------------------------


def _grade_no(expr: str) -> str:
    """The grade number written in ``expr`` (``三年级`` / ``初一`` / ``高2`` → 3 / 1 / 2)."""
    return (
        f"coalesce(TRY_CAST(nullif(regexp_extract({expr}, '([1-9])', 1), '') AS INTEGER), "
        f"nullif(strpos('一二三四五六七八九', "
        f"nullif(regexp_extract({expr}, '([一二三四五六七八九])', 1), '')), 0))"
    )


def _register_stage(s: str = "p.school_status") -> str:
    """在校生状况 → the 学籍 学段 (非在校生 → NULL; 大专 → 高职)."""
    return f"""CASE WHEN {s} = '学前教育' THEN '学前'
        WHEN {s} LIKE '小学%' THEN '小学'
        WHEN {s} IN ('七年级', '八年级', '九年级') THEN '初中'
        WHEN {s} LIKE '高中%' THEN '高中'
        WHEN {s} LIKE '中职%' THEN '中职'
        WHEN {s} LIKE '高职%' OR {s} LIKE '大专%' THEN '高职'
        WHEN {s} LIKE '本科%' THEN '本科'
        WHEN {s} = '研究生' THEN '研究生' END"""


def _stage_grade(stage: str, grade_text: str) -> str:
    """Grade within its stage: 学前 none, 初中 七–九 (or 初一…) → 1–3."""
    n = _grade_no(grade_text)
    return f"""CASE WHEN {stage} = '学前' THEN NULL
        WHEN {stage} = '初中' AND {n} >= 7 THEN {n} - 6
        ELSE {n} END"""


def _school_records(cond: str) -> str:
    """``e`` rows of the working school year by person, with their labels."""
    label = fmt("{} {}{}（{}）", "e.school", "e.stage", "coalesce(e.grade, '')", "e.status")
    return f"""
    SELECT e.id_number, bool_or(e.status = '在读') AS enrolled,
           string_agg({label}, '；' ORDER BY e.status, e.school) AS recs,
           string_agg({label}, '；' ORDER BY e.school) FILTER (WHERE e.status = '在读')
               AS enrolled_recs
    FROM bd_education e WHERE e.school_year = {YEAR} AND {cond}
    GROUP BY e.id_number
"""


def student_not_enrolled_sql() -> str:
    return f"""
WITH e AS ({_school_records("true")})
SELECT {person_cols("p")},
       {
        fmt(
            "按{}年9月1日计年龄 {} 岁，处于义务教育阶段，{}学籍{}",
            "p.year",
            "p.age_sep",
            SCHOOL_YEAR,
            "CASE WHEN e.id_number IS NULL THEN '无记录' ELSE '无在读记录（' || e.recs || '）' END",
        )
    } AS description,
       {
        fmt(
            "教育：{}{}；登记：证件号码 {}（出生日期 {}），在校生状况 {}",
            SCHOOL_YEAR,
            "coalesce(' ' || e.recs, '无学籍记录')",
            "p.id_number",
            "bd_date(p.birth_date)",
            "p.school_status",
        )
    } AS evidence
FROM bd_reg p LEFT JOIN e ON e.id_number = p.id_number
WHERE p.id_ok AND p.age_sep BETWEEN $school_age_min AND $school_age_max
  AND NOT coalesce(e.enrolled, false)
"""


def school_status_mismatch_sql() -> str:
    reg_stage = _register_stage()
    reg_grade = _stage_grade(reg_stage, "p.school_status")
    edu_grade = _stage_grade("e.stage", "e.grade")
    # A grade missing on either side (register 小学, 学籍 without 年级) matches any.
    match = f"""e.stage = ({reg_stage})
        AND (({reg_grade}) IS NULL OR ({edu_grade}) IS NULL OR ({reg_grade}) = ({edu_grade}))"""
    return f"""
WITH e AS ({_school_records("e.status = '在读'")})
SELECT {person_cols("p")},
       {fmt("在校生状况登记为“{}”，{}学籍为{}", "p.school_status", SCHOOL_YEAR, "e.enrolled_recs")}
           AS description,
       {
        fmt(
            "教育：{} {}；登记：在校生状况 {}",
            SCHOOL_YEAR,
            "e.enrolled_recs",
            "p.school_status",
        )
    } AS evidence
FROM bd_reg p JOIN e ON e.id_number = p.id_number
WHERE p.id_ok AND p.school_status IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM bd_education e
      WHERE e.id_number = p.id_number AND e.school_year = {YEAR} AND e.status = '在读'
        AND {match}
  )
"""


# --- 残联 --------------------------------------------------------------------------------


def disability_unrecorded_sql() -> str:
    return f"""
WITH d AS (
    SELECT id_number, string_agg({_disability()}, '、' ORDER BY certificate_no) AS what,
           string_agg({_cert_label()}, '；' ORDER BY certificate_no) AS certs
    FROM bd_disability d WHERE status = '有效' GROUP BY id_number
)
SELECT {person_cols("p")},
       {fmt("持有效残疾人证（{}），健康状况登记为“{}”", "d.what", "p.health")} AS description,
       {fmt("残联：{}，证件状态 有效；登记：健康状况 {}", "d.certs", "p.health")} AS evidence
FROM bd_reg p JOIN d ON d.id_number = p.id_number
WHERE p.id_ok AND p.health IS DISTINCT FROM '残疾'
"""


def severe_disability_without_subsidy_sql() -> str:
    listed = " OR ".join(
        f"contains(coalesce(measure_comprehensive, ''), {lit(s)})" for s in DISABILITY_SUBSIDIES
    )
    holder = fmt("{}（{}）", "p.name", _disability())
    return f"""
WITH d AS (
    SELECT * FROM bd_disability d WHERE status = '有效' AND level IN {lit_list(_SEVERE)}
),
m AS (
    SELECT p.household_id,
           string_agg({holder}, '、' {_ORDER}, d.certificate_no) AS holders,
           string_agg(p.name || ' ' || {_cert_label()}, '；' {_ORDER}, d.certificate_no) AS certs,
           list(p.name {_ORDER}, d.certificate_no)[1] AS top_name,
           list(p.id_out {_ORDER}, d.certificate_no)[1] AS top_id
    FROM bd_reg p JOIN d ON d.id_number = p.id_number
    WHERE p.id_ok GROUP BY p.household_id
),
s AS (
    SELECT household_id, bool_or({listed}) AS listed,
           string_agg(DISTINCT measure_comprehensive, '/') AS comprehensive
    FROM bd_reg GROUP BY household_id
)
SELECT {household_cols("h", named="m.top_name", named_id="m.top_id")},
       {
        fmt(
            "{}家庭成员 {} 持有效重度残疾人证，综合保障未登记残疾人两项补贴、残疾人补贴或重度残疾人护理补贴",
            "CASE WHEN h.risk_open THEN '监测对象（风险未消除）' ELSE '脱贫户' END",
            "m.holders",
        )
    } AS description,
       {fmt("残联：{}；登记：综合保障 {}", "m.certs", "s.comprehensive")} AS evidence
FROM bd_hh h JOIN m USING (household_id) JOIN s USING (household_id)
WHERE (h.is_poor_exited OR h.risk_open) AND NOT coalesce(s.listed, false)
"""


def new_severe_disability_sql() -> str:
    since = f"{YEAR_END} - to_months(CAST($new_disability_months AS INTEGER))"
    desc = "{}（{} 发证），{}"
    return f"""
WITH d AS (
    SELECT id_number, min(name) AS name,
           string_agg({_disability()}, '、' ORDER BY issued_on, certificate_no) AS what,
           string_agg(bd_date(issued_on), '、' ORDER BY issued_on, certificate_no) AS issued,
           string_agg({_cert_label()}, '；' ORDER BY issued_on, certificate_no) AS certs
    FROM bd_disability d
    WHERE status = '有效' AND level IN {lit_list(_SEVERE)}
      AND issued_on <= {YEAR_END} AND issued_on > {since}
    GROUP BY id_number
)
SELECT {person_cols("p")}, p.standing,
       {fmt("新办" + desc, "d.what", "d.issued", _standing_text())} AS description,
       {fmt("残联：{}，证件状态 有效；登记：{}", "d.certs", "p.standing")} AS evidence
FROM bd_reg p JOIN d ON d.id_number = p.id_number
WHERE p.id_ok AND NOT p.risk_open AND {_resident()}
UNION ALL BY NAME
SELECT {_outsider_cols(name="d.name")},
       {fmt("新办" + desc, "d.what", "d.issued", _OUTSIDE_TEXT)} AS description,
       {fmt("残联：{}，证件状态 有效", "d.certs")} || {_address()} AS evidence
FROM bd_resident r JOIN d USING (id_number)
WHERE NOT r.in_register
"""


# --- the catalogue, section E ------------------------------------------------------------

_MEDICAL_YEAR = (("medical", "year", 0),)
_SCHOOL_YEAR = (("education", "school_year", 0),)

RULES: tuple[Rule, ...] = (
    Rule(
        code="dibao_not_monitored",
        name_zh="低保特困对象未纳入监测",
        category="疑似漏评",
        severity="medium",
        department="民政",
        feeds=("register", "civil_affairs", "hukou"),
        level="person",
        prefix="DNM",
        sql=dibao_not_monitored_sql(),
        columns=_STANDING_COLS,
        coverage="hukou",
        warning_list=True,
        risk_type_zh="兜底保障",
        description_zh="{Y}年12月31日享受{农村低保/特困供养}（民政在保），所在户为一般农户，未纳入监测 / 不在防返贫监测登记范围内",
        requirement_zh="入户走访核实家庭收入、支出和风险情况，符合条件的按程序纳入防返贫监测，不符合的写明理由。",
    ),
    Rule(
        code="dibao_record_mismatch",
        name_zh="低保特困享受情况与民政不符",
        category="信息不准",
        severity="medium",
        department="民政",
        feeds=("register", "civil_affairs"),
        level="person",
        prefix="DRM",
        sql=dibao_record_mismatch_sql(),
        columns=("dibao_status", "destitute_status"),
        description_zh="登记享受低保（特困供养），民政{Y}年12月31日无在保记录 / 登记未享受，民政有在保的{救助类型}记录",
        requirement_zh="与民政部门核对低保、特困供养在保情况，更正“享受低保政策情况”“享受特困供养政策情况”。",
    ),
    Rule(
        code="high_medical_cost",
        name_zh="大额医疗自付费用预警",
        category="疑似漏评",
        severity="high",
        department="医保",
        feeds=("register", "medical", "hukou"),
        level="person",
        prefix="HMC",
        sql=high_medical_cost_sql(),
        columns=(*_STANDING_COLS, "risk_1"),
        year_feeds=_MEDICAL_YEAR,
        coverage="hukou",
        warning_list=True,
        risk_type_zh="因病",
        description_zh="{Y}年医保个人自付合计 {a} 元，达到本省农村居民人均可支配收入 {b} 元的 {p}%（{c} 元），所在户…",
        requirement_zh="入户走访核实医疗支出和家庭收入，符合条件的按程序纳入防返贫监测并落实健康帮扶，不符合的写明理由。",
    ),
    Rule(
        code="medical_enrolment_mismatch",
        name_zh="参保状态与医保部门不符",
        category="保障缺失",
        severity="high",
        department="医保",
        feeds=("register", "medical"),
        level="person",
        prefix="MEM",
        sql=medical_enrolment_mismatch_sql(),
        year_feeds=_MEDICAL_YEAR,
        description_zh="登记为参加城乡居民基本医疗保险，但医保{Y}年无正常参保记录（保障缺失，高）/ 登记为未参加，但医保有正常参保记录（信息不准，低）",
        requirement_zh="与医保部门核对参保情况：未参保的动员参保（按政策落实资助参保），已参保的更正“是否参加城乡居民基本医疗保险”。",
    ),
    Rule(
        code="student_not_enrolled",
        name_zh="义务教育适龄儿童学籍核验未在读",
        category="保障缺失",
        severity="high",
        department="教育",
        feeds=("register", "education"),
        level="person",
        prefix="SNE",
        sql=student_not_enrolled_sql(),
        year_feeds=_SCHOOL_YEAR,
        description_zh="按{Y}年9月1日计年龄 {n} 岁，处于义务教育阶段，{Y}-{Y+1}学年学籍无记录 / 无在读记录（{学籍}）",
        requirement_zh="入户核实孩子就学情况，未入学或辍学的落实控辍保学，在外地就读的提供就读证明并更正在校生状况。",
    ),
    Rule(
        code="school_status_mismatch",
        name_zh="在校生状况与学籍不符",
        category="信息不准",
        severity="low",
        department="教育",
        feeds=("register", "education"),
        level="person",
        prefix="SSM",
        sql=school_status_mismatch_sql(),
        year_feeds=_SCHOOL_YEAR,
        description_zh="在校生状况登记为“{在校生状况}”，{Y}-{Y+1}学年学籍为{学校 学段年级（在读）}",
        requirement_zh="与学校或教育部门核对学籍，按实际就读学段和年级更正在校生状况。",
    ),
    Rule(
        code="disability_unrecorded",
        name_zh="持证残疾人未标注残疾",
        category="信息不准",
        severity="low",
        department="残联",
        feeds=("register", "disability"),
        level="person",
        prefix="DUR",
        sql=disability_unrecorded_sql(),
        columns=("health",),
        description_zh="持有效残疾人证（{等级}{类别}残疾），健康状况登记为“{健康状况}”",
        requirement_zh="核对残疾人证，将健康状况更正为残疾，并落实相应残疾人保障政策。",
    ),
    Rule(
        code="severe_disability_without_subsidy",
        name_zh="重度残疾人未落实残疾人补贴",
        category="保障缺失",
        severity="medium",
        department="残联",
        feeds=("register", "disability"),
        level="household",
        prefix="SDS",
        sql=severe_disability_without_subsidy_sql(),
        columns=(*_STANDING_COLS, "measure_comprehensive"),
        description_zh="{脱贫户/监测对象}家庭成员 {姓名（等级类别残疾）} 持有效重度残疾人证，综合保障未登记残疾人两项补贴、残疾人补贴或重度残疾人护理补贴",
        requirement_zh="核实后协调残联落实困难残疾人生活补贴和重度残疾人护理补贴，并在综合保障中登记。",
    ),
    Rule(
        code="new_severe_disability",
        name_zh="新增重度残疾预警",
        category="疑似漏评",
        severity="medium",
        department="残联",
        feeds=("register", "disability", "hukou"),
        level="person",
        prefix="NSD",
        sql=new_severe_disability_sql(),
        columns=_STANDING_COLS,
        coverage="hukou",
        warning_list=True,
        risk_type_zh="因残",
        description_zh="新办{等级类别}残疾（{发证日期} 发证），所在户为一般农户/脱贫户，未纳入监测 / 不在防返贫监测登记范围内",
        requirement_zh="入户走访核实残疾对家庭生活和收入的影响，符合条件的按程序纳入防返贫监测，不符合的写明理由。",
    ),
)
