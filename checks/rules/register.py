"""Section A of rules.md: rules inside the register (比对部门: 本系统).

Each rule is one :class:`Rule` entry in :data:`RULES`; its SQL comes from a
small function above it. The SQL reads the working set of :mod:`checks.prelude`
(``bd_reg`` person rows and ``bd_hh`` household rows of the working year).
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
from core.idcard import PROBLEMS_ZH
from department_feeds.register import HOUSEHOLD_FIELDS
from department_feeds.register import SPEC as REGISTER_SPEC

# --- id_invalid -----------------------------------------------------------------

# A value that reads like an Excel number: scientific notation, a trailing ".0",
# or 18 digits ending in 000 (Excel keeps 15 significant digits).
_EXCEL_LIKE = r"^\s*[0-9](\.[0-9]+)?[eE]\+?[0-9]+\s*$|^[0-9]+\.0+$|^[0-9]{15}000$"


def _problem_text(col: str) -> str:
    cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in PROBLEMS_ZH.items())
    return f"CASE {col} {cases} ELSE {lit('证件号码有误')} END"


def id_invalid_sql() -> str:
    raw = "coalesce(p.id_number_raw, '')"
    # precision_lost already says "Excel lost the last digits"; other problems on a
    # value that merely looks like an Excel number get the hint added.
    excel_note = f"""CASE
        WHEN p.id_number_problem = 'precision_lost'
            THEN {lit("，须按户口簿或身份证原件重新录入（录入时将该列设为文本格式）")}
        WHEN regexp_matches({raw}, {lit(_EXCEL_LIKE)})
            THEN {lit("（疑似曾被 Excel 按数字保存、末几位已丢失，须按户口簿或身份证原件重新录入并将该列设为文本格式）")}
        END"""
    reason = f"""CASE
        WHEN p.id_type = '残疾人证' AND p.id_number_problem IS NOT NULL
            THEN {lit("残疾人证号前18位为身份证号码，")} || {_problem_text("p.id_number_problem")}
        WHEN p.id_number_problem IS NULL THEN {fmt("证件号码中的出生日期 {} 晚于登记年度 {} 年", "bd_date(p.birth_raw)", "p.year")}
        ELSE {_problem_text("p.id_number_problem")} END"""
    description = f"""CASE WHEN p.id_number_problem = 'empty' THEN {lit("证件号码为空")}
        ELSE {fmt("证件号码“{}”：{}", raw, reason)} || coalesce({excel_note}, '') END"""
    # A typo (one wrong character, two swapped neighbours, a wrong check digit):
    # propose the same-named person's number in hukou when exactly one fits. Hukou
    # is optional here: without it the rule still runs, just without proposals.
    diff = "list_filter(range(1, 18), lambda i: substr(b.id_number, i, 1) <> substr(k.id_number, i, 1))"
    return f"""
WITH bad AS (
    SELECT p.* FROM bd_reg p
    -- A 残疾人证号 holds the person's ID number in its first 18 characters (the
    -- loader keeps them); other numbers of other documents are not ID numbers.
    WHERE (coalesce(p.id_type, '居民身份证') = '居民身份证'
           OR (p.id_type = '残疾人证'
               AND regexp_full_match(coalesce(p.id_number, ''), '[0-9]{{17}}[0-9X]')))
      AND (p.id_number_problem IS NOT NULL OR p.birth_raw > make_date(p.year, 12, 31))
),
cand AS (
    SELECT b.pkey, b.id_number AS reg_id, k.id_number AS cand_id, {diff} AS diff
    FROM bad b JOIN bd_hukou k ON bd_name(k.name) = bd_name(b.name)
    WHERE length(b.id_number) = 18 AND k.id_number <> b.id_number
),
fit AS (
    SELECT pkey, min(cand_id) AS cand_id, count(DISTINCT cand_id) AS n FROM cand c
    WHERE len(c.diff) <= 1
       OR (len(c.diff) = 2 AND c.diff[2] = c.diff[1] + 1
           AND substr(c.reg_id, c.diff[1], 1) = substr(c.cand_id, c.diff[2], 1)
           AND substr(c.reg_id, c.diff[2], 1) = substr(c.cand_id, c.diff[1], 1))
    GROUP BY pkey
)
SELECT {person_cols("p")},
       {description} || CASE WHEN f.n = 1 THEN '；疑似正确号码：' || f.cand_id ELSE '' END
           AS description,
       {fmt("登记：{}，证件类型 {}，证件号码“{}”", "p.name", "coalesce(p.id_type, '居民身份证')", raw)} AS evidence
FROM bad p LEFT JOIN fit f USING (pkey)
"""


# --- id_duplicate ---------------------------------------------------------------


def id_duplicate_sql() -> str:
    # One finding per (household, number): rows of one household with the same
    # number collapse into one finding that says how many times it is listed.
    return f"""
WITH ok AS (SELECT * FROM bd_reg WHERE id_ok),
dup AS (SELECT id_number, count(*) AS n_rows FROM ok GROUP BY id_number HAVING count(*) >= 2),
rows AS (
    SELECT p.*, d.n_rows,
           count(*) OVER (PARTITION BY p.household_id, p.id_number) AS n_same,
           row_number() OVER (PARTITION BY p.household_id, p.id_number
                              ORDER BY p.source_file, p.sheet, p.row_number) AS k
    FROM ok p JOIN dup d USING (id_number)
),
others AS (
    SELECT a.household_id, a.id_number,
           string_agg(DISTINCT CASE WHEN b.township = a.township
                 THEN {fmt("{} 户编号 {} {}", "b.village", "b.household_id", "b.name")} END, '、')
               AS same_town,
           count(*) FILTER (WHERE b.township IS DISTINCT FROM a.township) AS other_town
    FROM rows a
    JOIN ok b ON b.id_number = a.id_number
             AND b.household_id <> a.household_id
    WHERE a.k = 1
    GROUP BY a.household_id, a.id_number
)
SELECT {person_cols("p")},
       {
        fmt("证件号码 {} 在{}年度登记中出现 {} 次", "p.id_number", "p.year", "p.n_rows")
    } AS description,
       {
        join_parts(
            when("p.n_same > 1", fmt("本户重复登记 {} 条", "p.n_same")),
            when("o.same_town IS NOT NULL", "'本乡(镇)另见：' || o.same_town"),
            when("o.other_town > 0", fmt("其他乡(镇)另有 {} 条登记使用该号码", "o.other_town")),
        )
    } AS evidence
FROM rows p
LEFT JOIN others o ON o.household_id = p.household_id AND o.id_number = p.id_number
WHERE p.k = 1
"""


# --- gender_id_mismatch -------------------------------------------------------------

_ID_GENDER = "CASE WHEN CAST(substr(p.id_number, 17, 1) AS INTEGER) % 2 = 1 THEN '男' ELSE '女' END"


def gender_id_mismatch_sql() -> str:
    return f"""
SELECT {person_cols("p")},
       {fmt("性别登记为“{}”，证件号码第17位为 {}，应为“{}”", "p.gender", "substr(p.id_number, 17, 1)", _ID_GENDER)}
           AS description,
       {fmt("登记：{}，性别 {}，证件号码 {}", "p.name", "p.gender", "p.id_number")} AS evidence
FROM bd_reg p
WHERE p.id_ok AND p.gender IS NOT NULL AND p.gender <> {_ID_GENDER}
"""


# --- household_head_invalid ---------------------------------------------------------


def household_head_invalid_sql() -> str:
    return f"""
WITH m AS (
    SELECT household_id,
           string_agg(name, '、' ORDER BY source_file, row_number) FILTER (WHERE relation = '户主')
               AS heads,
           string_agg({fmt("{}（{}）", "name", "coalesce(relation, '关系空')")}, '、'
                      ORDER BY source_file, row_number) AS members
    FROM bd_reg GROUP BY household_id
)
SELECT {household_cols("h")},
       CASE WHEN h.n_heads = 0 THEN '户内没有与户主关系为“户主”的成员'
            ELSE {fmt("户内有 {} 名成员登记为户主：{}", "h.n_heads", "m.heads")} END AS description,
       {fmt("登记：家庭成员 {} 人：{}", "h.n_members", "m.members")} AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.n_heads <> 1
"""


# --- household_size_mismatch --------------------------------------------------------

_HH_FIELDS = HOUSEHOLD_FIELDS


def _as_text(field: str) -> str:
    if REGISTER_SPEC.column(field).kind == "bool":
        return f"coalesce(CASE {field} WHEN true THEN '是' WHEN false THEN '否' END, '空')"
    return f"coalesce(CAST({field} AS VARCHAR), '空')"


def household_size_mismatch_sql() -> str:
    # One UNPIVOT pass (field, value) instead of a DISTINCT aggregate per column:
    # the wide form cost a quarter of a second to plan even on ten rows.
    texts = ", ".join(f"{_as_text(f)} AS {f}" for f in _HH_FIELDS)
    order = ", ".join(
        f"({lit(f)}, {lit(REGISTER_SPEC.column(f).header)}, {i})" for i, f in enumerate(_HH_FIELDS)
    )
    return f"""
WITH split AS (
    -- Households whose members disagree somewhere: one hash per row finds them cheaply.
    SELECT household_id FROM bd_reg GROUP BY household_id
    HAVING count(DISTINCT hash({", ".join(_HH_FIELDS)})) > 1
),
long AS (
    UNPIVOT (SELECT household_id, {texts} FROM bd_reg SEMI JOIN split USING (household_id))
    ON {", ".join(_HH_FIELDS)} INTO NAME field VALUE val
),
per_field AS (
    SELECT household_id, field, string_agg(DISTINCT val, '/' ORDER BY val) AS vals
    FROM long GROUP BY household_id, field HAVING count(DISTINCT val) > 1
),
a AS (
    SELECT household_id, string_agg(o.header || '（' || vals || '）', '、' ORDER BY o.ord)
               AS diff_cols
    FROM per_field JOIN (VALUES {order}) o(field, header, ord) USING (field)
    GROUP BY household_id
)
SELECT {household_cols("h")},
       {
        join_parts(
            when(
                "h.household_size IS DISTINCT FROM h.n_members",
                fmt(
                    "家庭人口数登记为 {} 人，实有成员记录 {} 条", "h.household_size", "h.n_members"
                ),
            ),
            when("a.diff_cols IS NOT NULL", "'同户成员记录的户级信息不一致：' || a.diff_cols"),
        )
    } AS description,
       {
        fmt("登记：户主行家庭人口数 {}，成员记录 {} 条", "h.household_size", "h.n_members")
    } AS evidence
FROM bd_hh h LEFT JOIN a USING (household_id)
WHERE h.household_size IS DISTINCT FROM h.n_members OR a.diff_cols IS NOT NULL
"""


# --- income_arithmetic --------------------------------------------------------------


def income_arithmetic_sql() -> str:
    n = "bd_num"
    net_text = fmt(
        "家庭年纯收入 {} 元，按工资性 {} + 生产经营性 {} + 财产性 {} + 转移性 {} − 生产经营性支出 {} 计算应为 {} 元",
        f"{n}(h.household_net_income)",
        f"{n}(h.w)",
        f"{n}(h.b)",
        f"{n}(h.p)",
        f"{n}(h.t)",
        f"{n}(h.e)",
        f"{n}(h.net_calc)",
    )
    pc_text = fmt(
        "年人均纯收入 {} 元，按家庭年纯收入 {} 元 ÷ 家庭人口数 {} 人计算应为 {} 元",
        f"{n}(h.per_capita_net_income)",
        f"{n}(h.household_net_income)",
        "h.household_size",
        f"{n}(round(h.pc_calc, 2))",
    )
    pay_text = fmt(
        "低保金 {} + 特困供养金 {} + 养老金 {} = {} 元，超过转移性收入 {} 元",
        f"{n}(h.d)",
        f"{n}(h.x)",
        f"{n}(h.pn)",
        f"{n}(h.pay_sum)",
        f"{n}(h.t)",
    )
    net_bad = "abs(h.household_net_income - h.net_calc) > $income_tolerance"
    pc_bad = "abs(h.per_capita_net_income - h.pc_calc) > $income_tolerance"
    pay_bad = "h.pay_sum > h.t"
    return f"""
WITH h AS (
    SELECT *,
           coalesce(wage_income, 0) AS w, coalesce(business_income, 0) AS b,
           coalesce(property_income, 0) AS p, coalesce(transfer_income, 0) AS t,
           coalesce(business_expense, 0) AS e, coalesce(dibao_payment, 0) AS d,
           coalesce(destitute_payment, 0) AS x, coalesce(pension_payment, 0) AS pn,
           coalesce(wage_income, 0) + coalesce(business_income, 0) + coalesce(property_income, 0)
             + coalesce(transfer_income, 0) - coalesce(business_expense, 0) AS net_calc,
           CASE WHEN household_size > 0
                THEN CAST(household_net_income AS DOUBLE) / household_size END AS pc_calc,
           coalesce(dibao_payment, 0) + coalesce(destitute_payment, 0)
             + coalesce(pension_payment, 0) AS pay_sum
    FROM bd_hh
)
SELECT {household_cols("h")},
       {join_parts(when(net_bad, net_text), when(pc_bad, pc_text), when(pay_bad, pay_text))}
           AS description,
       {
        fmt(
            "登记：家庭年纯收入 {} 元，年人均纯收入 {} 元，家庭人口数 {} 人",
            f"{n}(h.household_net_income)",
            f"{n}(h.per_capita_net_income)",
            "h.household_size",
        )
    }
           AS evidence
FROM h
WHERE coalesce({net_bad}, false) OR coalesce({pc_bad}, false) OR {pay_bad}
"""


# --- income_unchanged ---------------------------------------------------------------


def income_unchanged_sql() -> str:
    # Gaps and islands: years of this household with the working year's value; the
    # run ending at the working year has year + row_number (descending) = $year + 1.
    return f"""
WITH cur AS (
    SELECT * FROM bd_hh
    WHERE per_capita_net_income IS NOT NULL AND per_capita_net_income <> 0
),
same AS (
    SELECT a.household_id, a.year, a.per_capita_net_income AS v
    FROM bd_hh_all a JOIN cur c
      ON a.household_id = c.household_id AND a.year <= c.year
     AND a.per_capita_net_income = c.per_capita_net_income
),
runs AS (
    SELECT household_id, count(*) AS n_years, min(year) AS first_year,
           string_agg({fmt("{}年 {} 元", "year", "bd_num(v)")}, '，' ORDER BY year) AS detail
    FROM (SELECT *, year + row_number() OVER (PARTITION BY household_id ORDER BY year DESC) AS g
          FROM same)
    WHERE g = $year + 1
    GROUP BY household_id
)
SELECT {household_cols("h")},
       CASE WHEN r.n_years = 2
            THEN {
        fmt(
            "年人均纯收入 {}年与{}年均为 {} 元，连续 2 年无变化",
            "r.first_year",
            "h.year",
            "bd_num(h.per_capita_net_income)",
        )
    }
            ELSE {
        fmt(
            "年人均纯收入 {}年至{}年均为 {} 元，连续 {} 年无变化",
            "r.first_year",
            "h.year",
            "bd_num(h.per_capita_net_income)",
            "r.n_years",
        )
    }
       END AS description,
       '登记：' || r.detail AS evidence
FROM cur h JOIN runs r USING (household_id)
WHERE r.n_years >= 2
"""


# --- grade_stuck --------------------------------------------------------------------

_NOT_A_GRADE = ("非在校生", "学前教育", "研究生")


def grade_stuck_sql() -> str:
    # A person across years: by valid ID number, else by household and name.
    return f"""
WITH prev AS (
    SELECT CASE WHEN id_number_problem IS NULL AND id_number IS NOT NULL
                THEN 'id:' || id_number ELSE 'hn:' || household_id || chr(31) || name END AS mkey,
           school_status
    FROM register WHERE year = $year - 1
)
SELECT {person_cols("p")},
       {fmt("在校生状况 {}年与{}年均为“{}”，连续两年就读同一年级", "p.year - 1", "p.year", "p.school_status")}
           AS description,
       {fmt("登记：{}年、{}年在校生状况均为 {}", "p.year - 1", "p.year", "p.school_status")} AS evidence
FROM bd_reg p
WHERE p.school_status IS NOT NULL AND p.school_status NOT IN {lit_list(_NOT_A_GRADE)}
  AND EXISTS (
      SELECT 1 FROM prev q
      WHERE q.mkey = CASE WHEN p.id_ok THEN 'id:' || p.id_number
                          ELSE 'hn:' || p.household_id || chr(31) || p.name END
        AND q.school_status = p.school_status
  )
"""


# --- age_school_mismatch ------------------------------------------------------------


def age_school_mismatch_sql() -> str:
    typical = (
        "CASE WHEN g.age_min = g.age_max THEN CAST(g.age_min AS VARCHAR) "
        "ELSE g.age_min || '–' || g.age_max END"
    )
    return f"""
SELECT {person_cols("p")},
       {
        fmt(
            "按{}年9月1日计年龄 {} 岁，在校生状况为“{}”，该年级一般为 {} 岁",
            "p.year",
            "p.age_sep",
            "p.school_status",
            typical,
        )
    } AS description,
       {
        fmt(
            "登记：证件号码 {}（出生日期 {}），在校生状况 {}",
            "p.id_number",
            "bd_date(p.birth_date)",
            "p.school_status",
        )
    } AS evidence
FROM bd_reg p JOIN bd_grade_age g USING (school_status)
WHERE p.age_sep IS NOT NULL
  AND (p.age_sep < g.age_min - $grade_tolerance OR p.age_sep > g.age_max + $grade_tolerance)
"""


# --- compulsory_education_dropout ---------------------------------------------------

COMPULSORY_DROPOUT = (
    "p.age_sep BETWEEN $school_age_min AND $school_age_max AND p.school_status = '非在校生'"
)


def compulsory_education_dropout_sql() -> str:
    return f"""
SELECT {person_cols("p")},
       {
        fmt(
            "按{}年9月1日计年龄 {} 岁，处于义务教育阶段，在校生状况为“非在校生”",
            "p.year",
            "p.age_sep",
        )
    }
       || CASE WHEN p.health = '残疾' THEN '；该生登记为残疾，如已安排送教上门请据实标注' ELSE '' END
           AS description,
       {
        fmt(
            "登记：证件号码 {}（出生日期 {}），在校生状况 非在校生，健康状况 {}",
            "p.id_number",
            "bd_date(p.birth_date)",
            "p.health",
        )
    } AS evidence
FROM bd_reg p
WHERE {COMPULSORY_DROPOUT}
"""


# --- medical_insurance_missing ------------------------------------------------------

# Neither 城乡居民 nor 城镇职工 basic medical insurance (职工 only where the export has
# that column); or in 城乡居民 insurance without 大病保险.
MEDICAL_UNINSURED = (
    "p.has_medical_insurance = false AND coalesce(p.has_employee_medical_insurance, false) = false"
)
CRITICAL_ILLNESS_MISSING = (
    "p.has_medical_insurance = true AND p.has_critical_illness_insurance = false"
)
MEDICAL_INSURANCE_MISSING = f"(({MEDICAL_UNINSURED}) OR ({CRITICAL_ILLNESS_MISSING}))"
"""A person failing ``medical_insurance_missing`` (a ``bd_reg`` row aliased ``p``)."""


def medical_insurance_missing_sql() -> str:
    return f"""
SELECT {person_cols("p")},
       CASE WHEN {CRITICAL_ILLNESS_MISSING}
            THEN '参加城乡居民基本医疗保险，但是否参加大病保险登记为“否”'
            WHEN p.has_employee_medical_insurance IS NULL
            THEN '是否参加城乡居民基本医疗保险登记为“否”'
            ELSE '是否参加城乡居民基本医疗保险、是否参加城镇职工基本医疗保险均登记为“否”'
       END AS description,
       CASE WHEN {CRITICAL_ILLNESS_MISSING}
            THEN {fmt("登记：{}，是否参加城乡居民基本医疗保险 是，是否参加大病保险 否", "p.name")}
            WHEN p.has_employee_medical_insurance IS NULL
            THEN {fmt("登记：{}，是否参加城乡居民基本医疗保险 否", "p.name")}
            ELSE {fmt("登记：{}，是否参加城乡居民基本医疗保险 否，是否参加城镇职工基本医疗保险 否", "p.name")}
       END AS evidence
FROM bd_reg p
WHERE {MEDICAL_INSURANCE_MISSING}
"""


# --- exited_below_income_line -------------------------------------------------------

# The exited household's state as the description names it: 户状态 (older generation),
# else 脱贫户 / 风险已消除 from today's export.
_EXITED_LABEL = (
    "coalesce(h.household_status, CASE WHEN h.is_poor_exited THEN '脱贫' ELSE '风险已消除' END)"
)
# One finding per gap: an 已消除风险 监测对象 of today's export is eliminated_with_gaps'
# (rules D); 户状态 风险已消除 of the older generation, where rules D do not run, stays here.
NOT_MONITORED_ELIMINATED = "NOT (h.risk_closed AND h.monitoring_category IS NOT NULL)"


def exited_below_income_line_sql() -> str:
    old_evidence = fmt(
        "登记：户状态 {}，年人均纯收入 {} 元",
        "h.household_status",
        "bd_num(h.per_capita_net_income)",
    )
    evidence = fmt(
        "登记：户类型 {}，年人均纯收入 {} 元",
        "h.household_kind",
        "bd_num(h.per_capita_net_income)",
    )
    return f"""
SELECT {household_cols("h")},
       {
        fmt(
            "{}户（脱贫年度 {}）{}年年人均纯收入 {} 元，低于当年标准 {} 元",
            _EXITED_LABEL,
            "h.exit_year",
            "h.year",
            "bd_num(h.per_capita_net_income)",
            "bd_num($income_line)",
        )
    } AS description,
       CASE WHEN h.household_status IS NOT NULL THEN {old_evidence} ELSE {evidence} END
           AS evidence
FROM bd_hh h
WHERE h.is_exited AND h.per_capita_net_income < $income_line AND {NOT_MONITORED_ELIMINATED}
"""


# --- exited_without_guarantees ------------------------------------------------------


def exited_without_guarantees_sql() -> str:
    return f"""
WITH m AS (
    SELECT household_id,
           string_agg(CASE WHEN {COMPULSORY_DROPOUT}
                           THEN {fmt("{}（{}岁）义务教育阶段未在校", "p.name", "p.age_sep")} END,
                      '、' ORDER BY p.source_file, p.row_number) AS edu,
           string_agg(CASE WHEN {MEDICAL_UNINSURED} THEN p.name END,
                      '、' ORDER BY p.source_file, p.row_number) AS med
    FROM bd_reg p WHERE p.is_exited GROUP BY household_id
)
SELECT {household_cols("h")},
       {fmt("{}户“三保障”和饮水安全未解决：", _EXITED_LABEL)} || {
        join_parts(
            when("h.is_dangerous_house", "'住房为危房'"),
            when("h.has_safe_water = false", "'饮水不安全'"),
            "m.edu",
            when("m.med IS NOT NULL", "m.med || ' 未参加城乡居民基本医疗保险'"),
        )
    } AS description,
       {
        fmt(
            "登记：是否危房 {}，饮水是否安全 {}",
            "CASE h.is_dangerous_house WHEN true THEN '是' WHEN false THEN '否' END",
            "CASE h.has_safe_water WHEN true THEN '是' WHEN false THEN '否' END",
        )
    } AS evidence
FROM bd_hh h JOIN m USING (household_id)
WHERE h.is_exited AND {NOT_MONITORED_ELIMINATED}
  AND (h.is_dangerous_house OR h.has_safe_water = false OR m.edu IS NOT NULL OR m.med IS NOT NULL)
"""


# --- welfare_payment_inconsistent ---------------------------------------------------


def welfare_payment_inconsistent_sql() -> str:
    dibao, destitute = "coalesce(h.dibao_payment, 0)", "coalesce(h.destitute_payment, 0)"
    # Older generation (户类型 低保户/特困供养户/一般户, 户状态): the household's type.
    # Today's export (neither column): members who enjoy 低保 (特困) per
    # 享受低保/特困供养政策情况, compared per household with its payments.
    old = "(h.household_type IS NOT NULL OR h.household_status IS NOT NULL)"
    conds = (
        (f"h.household_type = '低保户' AND {dibao} = 0", "'户类型为低保户，低保金为 0'"),
        (
            f"h.household_type = '一般户' AND {dibao} > 0",
            fmt("户类型为一般户，但有低保金 {} 元", f"bd_num({dibao})"),
        ),
        (
            f"h.household_type = '特困供养户' AND {destitute} = 0",
            "'户类型为特困供养户，特困供养金为 0'",
        ),
        (
            f"h.household_type = '一般户' AND {destitute} > 0",
            fmt("户类型为一般户，但有特困供养金 {} 元", f"bd_num({destitute})"),
        ),
        (f"NOT {old} AND h.hh_any_dibao AND {dibao} = 0", "'本户有成员享受低保，低保金为 0'"),
        (
            f"NOT {old} AND NOT h.hh_any_dibao AND {dibao} > 0",
            fmt("本户无成员享受低保，但有低保金 {} 元", f"bd_num({dibao})"),
        ),
        (
            f"NOT {old} AND h.hh_any_destitute AND {destitute} = 0",
            "'本户有成员享受特困供养，特困供养金为 0'",
        ),
        (
            f"NOT {old} AND NOT h.hh_any_destitute AND {destitute} > 0",
            fmt("本户无成员享受特困供养，但有特困供养金 {} 元", f"bd_num({destitute})"),
        ),
    )
    old_evidence = fmt(
        "登记：户类型 {}，低保金 {} 元，特困供养金 {} 元",
        "h.household_type",
        f"bd_num({dibao})",
        f"bd_num({destitute})",
    )
    evidence = fmt(
        "登记：享受低保 {} 人，享受特困供养 {} 人，低保金 {} 元，特困供养金 {} 元",
        "e.n_dibao",
        "e.n_destitute",
        f"bd_num({dibao})",
        f"bd_num({destitute})",
    )
    return f"""
WITH e AS (
    SELECT household_id, count(*) FILTER (WHERE enjoys_dibao) AS n_dibao,
           count(*) FILTER (WHERE enjoys_destitute) AS n_destitute
    FROM bd_reg GROUP BY household_id
)
SELECT {household_cols("h")},
       {join_parts(*(when(c, t) for c, t in conds))} AS description,
       CASE WHEN {old} THEN {old_evidence} ELSE {evidence} END AS evidence
FROM bd_hh h JOIN e USING (household_id)
WHERE {" OR ".join(f"({c})" for c, _ in conds)}
"""


# --- phone_invalid ------------------------------------------------------------------

MOBILE_RE = "1[3-9][0-9]{9}"
LANDLINE_RE = "(0[0-9]{2,3}-)?[2-9][0-9]{6,7}"


def phone_invalid_sql() -> str:
    bad_format = (
        f"NOT (regexp_full_match(h.ph, {lit(MOBILE_RE)}) "
        f"OR regexp_full_match(h.ph, {lit(LANDLINE_RE)}))"
    )
    shared = "coalesce(s.n, 0) > $phone_max_households"
    return f"""
WITH h AS (SELECT *, trim(coalesce(phone, '')) AS ph FROM bd_hh),
s AS (SELECT ph, count(DISTINCT household_id) AS n FROM h WHERE ph <> '' GROUP BY ph)
SELECT {household_cols("h")},
       {
        join_parts(
            when("h.ph = ''", "'联系电话为空'"),
            when(
                f"h.ph <> '' AND {bad_format}",
                fmt("联系电话“{}”既不是11位手机号码也不是有效的固定电话", "h.ph"),
            ),
            when(shared, fmt("联系电话 {} 同时登记在 {} 户", "h.ph", "s.n")),
        )
    } AS description,
       {fmt("登记：联系电话“{}”", "h.ph")} AS evidence
FROM h LEFT JOIN s USING (ph)
WHERE h.ph = '' OR {bad_format} OR {shared}
"""


# --- village_stats_mismatch ---------------------------------------------------------

_COUNTS = (
    ("households_total", "总户数"),
    ("persons_total", "总人口数"),
    ("registered_households", "建档立卡户数"),
    ("registered_persons", "建档立卡人口数"),
    ("dibao_households", "低保户数"),
    ("labour_force", "劳动力人数"),
)


def village_stats_mismatch_sql() -> str:
    sums = ", ".join(f"sum({c}) AS {c}" for c, _ in _COUNTS)
    sum_diffs = join_parts(
        *(
            when(
                f"t.{c} IS DISTINCT FROM g.{c}",
                fmt(label + " 合计行 {}、各组之和 {}", f"t.{c}", f"g.{c}"),
            )
            for c, label in _COUNTS
        ),
        sep="，",
    )
    reg_diffs = join_parts(
        when(
            "v.registered_households IS DISTINCT FROM coalesce(v.hh, 0)",
            fmt("建档立卡户数 {}，登记系统 {} 户", "v.registered_households", "coalesce(v.hh, 0)"),
        ),
        when(
            "v.registered_persons IS DISTINCT FROM coalesce(v.persons, 0)",
            fmt(
                "建档立卡人口数 {}，登记系统 {} 人",
                "v.registered_persons",
                "coalesce(v.persons, 0)",
            ),
        ),
        sep="，",
    )
    place = "NULL::VARCHAR AS household_id, NULL::VARCHAR AS id_number, NULL::VARCHAR AS name, NULL::VARCHAR AS head_name"
    unit = "coalesce(v.village_group, '全村')"
    return f"""
WITH v AS (SELECT * FROM villages WHERE year = $year),
g AS (SELECT township, village, {sums} FROM v WHERE NOT coalesce(is_total, false)
      GROUP BY township, village),
reg_v AS (SELECT township, village, count(DISTINCT household_id) AS hh, count(*) AS persons
          FROM bd_reg GROUP BY township, village),
reg_g AS (SELECT township, village, village_group, count(DISTINCT household_id) AS hh,
                 count(*) AS persons
          FROM bd_reg GROUP BY township, village, village_group),
vr AS (
    SELECT v.*, r.hh, r.persons FROM v
    LEFT JOIN reg_v r ON r.township = v.township AND r.village = v.village
    WHERE coalesce(v.is_total, false)
    UNION ALL BY NAME
    SELECT v.*, r.hh, r.persons FROM v
    LEFT JOIN reg_g r ON r.township = v.township AND r.village = v.village
                     AND r.village_group = v.village_group
    WHERE NOT coalesce(v.is_total, false)
)
SELECT t.year, t.county, t.township, t.village, NULL::VARCHAR AS village_group, {place},
       '村组统计中各组之和与全村合计行不一致：' || {sum_diffs} AS description,
       {fmt("村组统计：{}年 {} {}", "t.year", "t.township", "t.village")} AS evidence,
       t.township || chr(31) || t.village || chr(31) || 'sum' AS nkey
FROM v t JOIN g USING (township, village)
WHERE coalesce(t.is_total, false) AND {sum_diffs} <> ''
UNION ALL
SELECT v.year, v.county, v.township, v.village, v.village_group, {place},
       {fmt("村组统计（{}）与登记系统不一致：", unit)} || {reg_diffs} AS description,
       {fmt("村组统计：{}年 {} {} {}", "v.year", "v.township", "v.village", unit)} AS evidence,
       v.township || chr(31) || v.village || chr(31) || coalesce(v.village_group, chr(0))
           || chr(31) || 'reg' AS nkey
FROM vr v
WHERE {reg_diffs} <> ''
"""


# --- the catalogue, section A ---------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        code="id_invalid",
        name_zh="证件号码错误",
        category="信息不准",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="IDI",
        sql=id_invalid_sql(),
        description_zh="证件号码“{原值}”：{错误类型}（疑似 Excel 数字格式丢失末位时另行说明）；疑似正确号码：{号码}（户籍库中同名且仅差一位/相邻两位颠倒/仅校验位不同的唯一候选）",
        requirement_zh="核对户口簿或身份证原件，在系统中更正证件号码（录入时单元格设为文本格式）。",
    ),
    Rule(
        code="id_duplicate",
        name_zh="证件号码重复",
        category="信息不准",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="IDD",
        sql=id_duplicate_sql(),
        description_zh="证件号码 {号码} 在{年度}年度登记中出现 {次数} 次",
        requirement_zh="核实该人员实际所在户，删除重复或错误的成员记录，必要时与相关村联系确认。",
    ),
    Rule(
        code="gender_id_mismatch",
        name_zh="性别与证件号码不符",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="GEN",
        sql=gender_id_mismatch_sql(),
        description_zh="性别登记为“{性别}”，证件号码第17位为 {数字}，应为“{应为}”",
        requirement_zh="核对身份证原件，更正性别或证件号码。",
    ),
    Rule(
        code="household_head_invalid",
        name_zh="户主缺失或重复",
        category="信息不准",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="HHD",
        sql=household_head_invalid_sql(),
        description_zh="户内没有户主 / 户内有 {n} 名成员登记为户主：{姓名}",
        requirement_zh="核实户主，确保每户有且只有一名成员的与户主关系为“户主”。",
    ),
    Rule(
        code="household_size_mismatch",
        name_zh="家庭人口数不符",
        category="信息不准",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="HSZ",
        sql=household_size_mismatch_sql(),
        description_zh="家庭人口数登记为 {n} 人，实有成员记录 {m} 条；同户成员记录的户级信息不一致：{字段（取值）}",
        requirement_zh="核实家庭成员，更正家庭人口数，并使同户各成员记录的户级信息一致。",
    ),
    Rule(
        code="income_arithmetic",
        name_zh="收入计算不符",
        category="信息不准",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="INA",
        sql=income_arithmetic_sql(),
        columns=(
            "household_net_income",
            "wage_income",
            "business_income",
            "property_income",
            "transfer_income",
            "business_expense",
        ),
        description_zh="家庭年纯收入 {a} 元，按各项收入计算应为 {b} 元；年人均纯收入 … ；低保金 + 特困供养金 + 养老金超过转移性收入",
        requirement_zh="重新核算家庭各项收入和支出，更正家庭年纯收入、年人均纯收入及转移性收入。",
    ),
    Rule(
        code="income_unchanged",
        name_zh="收入连续年度无变化",
        category="需更新",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="INU",
        sql=income_unchanged_sql(),
        description_zh="年人均纯收入 {Y-1}年与{Y}年均为 {金额} 元，连续 {n} 年无变化",
        requirement_zh="入户重新核算本年度家庭收入，按实际情况更新收入信息。",
        year_feeds=(("register", "year", 1),),
    ),
    Rule(
        code="grade_stuck",
        name_zh="在校生连续年度就读同一年级",
        category="需更新",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="GRS",
        sql=grade_stuck_sql(),
        description_zh="在校生状况 {Y-1}年与{Y}年均为“{年级}”，连续两年就读同一年级",
        requirement_zh="核实学生实际就读年级（留级、休学或辍学），更新在校生状况。",
        year_feeds=(("register", "year", 1),),
    ),
    Rule(
        code="age_school_mismatch",
        name_zh="年龄与在校生状况不符",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="AGS",
        sql=age_school_mismatch_sql(),
        description_zh="按{Y}年9月1日计年龄 {n} 岁，在校生状况为“{年级}”，该年级一般为 {m} 岁",
        requirement_zh="核实学生实际就读情况，更正在校生状况或证件号码。",
    ),
    Rule(
        code="compulsory_education_dropout",
        name_zh="义务教育阶段适龄未在校",
        category="保障缺失",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="EDU",
        sql=compulsory_education_dropout_sql(),
        description_zh="按{Y}年9月1日计年龄 {n} 岁，处于义务教育阶段，在校生状况为“非在校生”（残疾时提示送教上门）",
        requirement_zh="入户核实是否辍学；辍学的落实控辍保学措施，残疾儿童落实送教上门并如实标注。",
    ),
    Rule(
        code="medical_insurance_missing",
        name_zh="未参加基本医疗保险",
        category="保障缺失",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="MED",
        sql=medical_insurance_missing_sql(),
        description_zh="是否参加城乡居民基本医疗保险登记为“否”（导出有城镇职工基本医疗保险列时，两项均为“否”）；或参加城乡居民基本医疗保险，但是否参加大病保险登记为“否”",
        requirement_zh="动员并协助参加城乡居民基本医疗保险（按政策落实资助参保），已参保的更正登记。",
    ),
    Rule(
        code="exited_below_income_line",
        name_zh="已脱贫户收入低于标准",
        category="疑似错退",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="EXI",
        sql=exited_below_income_line_sql(),
        description_zh="{户状态}户（脱贫年度 {年度}）{Y}年年人均纯收入 {a} 元，低于当年标准 {b} 元（当年监测范围未配置时沿用最近年度的标准，报告中提示）；已消除风险的监测对象见 eliminated_with_gaps",
        requirement_zh="入户核实家庭收入；收入确实低于标准的按程序纳入监测帮扶，登记有误的更正收入。",
    ),
    Rule(
        code="exited_without_guarantees",
        name_zh='已脱贫户"三保障"未解决',
        category="疑似错退",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="EXG",
        sql=exited_without_guarantees_sql(),
        description_zh="{户状态}户“三保障”和饮水安全未解决：住房为危房；饮水不安全；{姓名}义务教育阶段未在校；{姓名}未参加医保（已消除风险的监测对象见 eliminated_with_gaps）",
        requirement_zh="逐项落实住房安全、饮水安全、义务教育和基本医疗保障；已解决的更正登记。",
    ),
    Rule(
        code="welfare_payment_inconsistent",
        name_zh="低保/特困金与户类型不符",
        category="信息不准",
        severity="medium",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="WEL",
        sql=welfare_payment_inconsistent_sql(),
        columns=("dibao_payment", "destitute_payment"),
        description_zh="户类型为低保户，低保金为 0 / 户类型为一般户，但有低保金 {a} 元（特困供养同理）；今日导出：本户有成员享受低保，低保金为 0 / 本户无成员享受低保，但有低保金 {a} 元",
        requirement_zh="与民政部门核对低保、特困供养认定和发放情况，更正户类型或补录金额。",
    ),
    Rule(
        code="phone_invalid",
        name_zh="联系电话错误或共用",
        category="信息不准",
        severity="low",
        department="本系统",
        feeds=("register",),
        level="household",
        prefix="PHN",
        sql=phone_invalid_sql(),
        columns=("phone",),
        description_zh="联系电话“{号码}”既不是11位手机号码也不是有效的固定电话；联系电话 {号码} 同时登记在 {n} 户",
        requirement_zh="核实并登记本户有效的联系电话（户主或家庭成员本人的号码）。",
    ),
    Rule(
        code="village_stats_mismatch",
        name_zh="村组数据逻辑不符",
        category="信息不准",
        severity="medium",
        department="本系统",
        feeds=("register", "villages"),
        level="village",
        prefix="VST",
        sql=village_stats_mismatch_sql(),
        description_zh="村组统计中各组之和与全村合计行不一致：{项目} 合计行 {a}、各组之和 {b}；村组统计（{组}）与登记系统不一致：建档立卡户数 {a}，登记系统 {b} 户",
        requirement_zh="核对村组统计表与建档立卡登记，更正村组统计数据。",
        year_feeds=(("villages", "year", 0),),
    ),
)
