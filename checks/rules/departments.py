"""Section B of rules.md: the register against department feeds.

Joins use the normalised ID columns and only valid numbers: ``bd_reg.id_ok`` on
the register side, the ``bd_<feed>`` views (``*_problem IS NULL``) on the other.
"""

from __future__ import annotations

from checks.rules.base import (
    Rule,
    fmt,
    household_cols,
    lit,
    lit_list,
    person_cols,
)
from department_feeds.social_insurance import PENSION_KINDS

YEAR_END = "make_date(p.year, 12, 31)"


# --- evidence of a department record (shared with checks/rules/cross_county.py) -----


def car_evidence(v: str = "v") -> str:
    """车管 evidence of a ``vehicles`` row aliased ``v``."""
    return (
        fmt(
            "车管：{} {}，{} 初次登记",
            f"{v}.plate",
            f"{v}.vehicle_type",
            f"bd_date({v}.first_registered_on)",
        )
        + f" || coalesce('，' || {v}.use_nature, '')"
    )


def property_evidence(r: str = "r") -> str:
    """不动产 evidence of a ``property`` row aliased ``r``."""
    return fmt(
        "不动产：{}，{}，{}，建筑面积 {}㎡，{} 登记",
        f"{r}.location",
        f"{r}.property_kind",
        f"{r}.usage",
        f"bd_num({r}.floor_area_m2)",
        f"bd_date({r}.registered_on)",
    )


def business_evidence(b: str = "b") -> str:
    """市场监管 evidence of an aggregated business row aliased ``b``."""
    return fmt(
        "市场监管：{}（统一社会信用代码 {}），{}，{}，注册资本 {} 万元，{}，{} 成立",
        f"{b}.entity_name",
        f"coalesce({b}.credit_code, '未填')",
        f"{b}.entity_type",
        f"{b}.roles",
        f"bd_num({b}.capital)",
        f"{b}.status",
        f"bd_date({b}.founded_on)",
    )


# --- 公安: hukou ---------------------------------------------------------------------


def hukou_not_found_sql() -> str:
    # Candidate proposal, set-based: join the missing numbers to hukou on the
    # normalised name, then compare the first 17 characters position by position.
    diff = "list_filter(range(1, 18), lambda i: substr(m.id_number, i, 1) <> substr(k.id_number, i, 1))"
    one_or_swap = """(len(c.diff) = 1
        OR (len(c.diff) = 2 AND c.diff[2] = c.diff[1] + 1
            AND substr(c.reg_id, c.diff[1], 1) = substr(c.cand_id, c.diff[2], 1)
            AND substr(c.reg_id, c.diff[2], 1) = substr(c.cand_id, c.diff[1], 1)))"""
    reg_gender = (
        "coalesce(m.gender, CASE WHEN CAST(substr(m.id_number, 17, 1) AS INTEGER) % 2 = 1 "
        "THEN '男' ELSE '女' END)"
    )
    return f"""
WITH miss AS (
    SELECT p.* FROM bd_reg p
    WHERE p.id_ok AND NOT EXISTS (SELECT 1 FROM bd_hukou k WHERE k.id_number = p.id_number)
),
cand AS (
    SELECT m.pkey, m.id_number AS reg_id, k.id_number AS cand_id, {diff} AS diff,
           k.birth_date = m.birth_raw AND k.gender = {reg_gender} AS same_bio
    FROM miss m JOIN bd_hukou k ON bd_name(k.name) = bd_name(m.name)
    WHERE k.id_number <> m.id_number
),
near AS (
    SELECT pkey, min(cand_id) AS cand_id, count(DISTINCT cand_id) AS n
    FROM cand c WHERE {one_or_swap} GROUP BY pkey
),
bio AS (
    SELECT pkey, min(cand_id) AS cand_id, count(DISTINCT cand_id) AS n
    FROM cand WHERE same_bio GROUP BY pkey
),
proposal AS (
    SELECT m.pkey,
           CASE WHEN n.n = 1 THEN n.cand_id WHEN b.n = 1 THEN b.cand_id END AS cand_id
    FROM miss m LEFT JOIN near n USING (pkey) LEFT JOIN bio b USING (pkey)
)
SELECT {person_cols("p")},
       {fmt("证件号码 {} 在公安户籍库中无记录", "p.id_number")}
       || coalesce('；疑似正确号码：' || x.cand_id, '') AS description,
       '户籍库：未查到该证件号码' || CASE WHEN x.cand_id IS NOT NULL
            THEN {fmt("；同名人员 {} 的公民身份号码为 {}", "p.name", "x.cand_id")} ELSE '' END
           AS evidence
FROM miss p JOIN proposal x USING (pkey)
"""


def hukou_name_mismatch_sql() -> str:
    return f"""
-- Exact equality first: names are normalised only where they differ (few rows).
WITH k AS (
    SELECT k.id_number, list(DISTINCT k.name) AS names
    FROM bd_hukou k SEMI JOIN bd_reg p ON p.id_ok AND p.id_number = k.id_number
    GROUP BY k.id_number
)
SELECT {person_cols("p")},
       {
        fmt(
            "姓名登记为“{}”，公安户籍库中该证件号码的姓名为“{}”",
            "p.name",
            "array_to_string(list_sort(k.names), '、')",
        )
    } AS description,
       {
        fmt(
            "户籍：公民身份号码 {}，姓名 {}",
            "p.id_number",
            "array_to_string(list_sort(k.names), '、')",
        )
    } AS evidence
FROM bd_reg p JOIN k ON k.id_number = p.id_number
WHERE p.id_ok AND NOT list_contains(k.names, p.name)
  AND NOT list_contains(list_transform(k.names, lambda x: bd_name(x)), bd_name(p.name))
"""


def _hukou_status_sql(status: str, verb: str) -> str:
    """Persons whose hukou status is ``status`` on or before the register's year end."""
    return f"""
WITH k AS (
    SELECT id_number, min(deregistered_on) AS dereg, bool_or(deregistered_on IS NULL) AS any_blank,
           string_agg(DISTINCT address, '；') AS address
    FROM bd_hukou WHERE status = {lit(status)} GROUP BY id_number
)
SELECT {person_cols("p")},
       {
        fmt(
            "公安户籍库登记该人员已" + verb + "（注销日期 {}），{}年度仍登记为家庭成员",
            "coalesce(strftime(k.dereg, '%Y-%m-%d'), '未填')",
            "p.year",
        )
    } AS description,
       {
        fmt(
            "户籍：公民身份号码 {}，人员状态 " + status + "，注销日期 {}",
            "p.id_number",
            "coalesce(strftime(k.dereg, '%Y-%m-%d'), '未填')",
        )
    }
       || coalesce('，住址 ' || k.address, '') AS evidence
FROM bd_reg p JOIN k ON k.id_number = p.id_number
WHERE p.id_ok AND (k.any_blank OR k.dereg <= {YEAR_END})
"""


# --- 公安: vehicles ------------------------------------------------------------------


def owns_car_sql() -> str:
    is_car = (
        "len(list_filter($car_include, lambda t: v.vehicle_type LIKE t)) > 0 "
        "AND len(list_filter($car_exclude, lambda t: v.vehicle_type LIKE t)) = 0"
    )
    return f"""
SELECT {person_cols("p", "v.plate")},
       {fmt("家庭成员 {} 名下有{}（号牌 {}），车辆状态正常", "p.name", "v.vehicle_type", "v.plate")}
       || CASE WHEN p.is_exited AND p.exit_year IS NULL THEN '，该户已脱贫但脱贫年度未填'
               WHEN p.is_exited
               THEN {fmt("，初次登记（{}）早于脱贫年度 {} 年", "bd_date(v.first_registered_on)", "p.exit_year")}
               ELSE '' END AS description,
       {car_evidence("v")} AS evidence
FROM bd_reg p JOIN bd_vehicles v ON v.owner_id_number = p.id_number
WHERE p.id_ok AND v.vehicle_status = '正常' AND {is_car}
  AND (p.is_current
       OR (p.is_exited AND (p.exit_year IS NULL
                            OR v.first_registered_on < make_date(p.exit_year, 1, 1))))
"""


# --- 住建: property, house safety ----------------------------------------------------


def owns_urban_property_sql() -> str:
    return f"""
SELECT {person_cols("p", "r.location")},
       {
        fmt(
            "家庭成员 {} 在城镇有{}（{}）",
            "p.name",
            "CASE WHEN r.property_kind = '商品房' THEN '商品房' ELSE coalesce(r.usage, '') || '用房' END",
            "r.location",
        )
    } AS description,
       {property_evidence("r")} AS evidence
FROM bd_reg p JOIN bd_property r ON r.owner_id_number = p.id_number
WHERE p.id_ok AND p.is_current AND r.area_kind = '城镇'
  AND coalesce(r.property_kind, '') <> '安置房'
  AND (r.property_kind = '商品房' OR r.usage LIKE '%商业%' OR r.usage LIKE '%办公%')
"""


def dangerous_house_unrecorded_sql() -> str:
    return f"""
WITH a AS (
    SELECT * FROM bd_house_safety
    QUALIFY row_number() OVER (PARTITION BY head_id_number
                               ORDER BY appraised_on DESC NULLS LAST, grade DESC) = 1
)
SELECT {household_cols("h")},
       CASE WHEN h.is_exited THEN '疑似错退' ELSE '保障缺失' END AS category,
       {
        fmt(
            "户主住房最近一次安全鉴定为{}（{}），改造状态“{}”，登记“是否危房”为“否”",
            "a.grade",
            "bd_date(a.appraised_on)",
            "coalesce(a.renovation_status, '未填')",
        )
    } AS description,
       {
        fmt(
            "住建：户主 {}，鉴定等级 {}，鉴定日期 {}，改造状态 {}",
            "a.head_name",
            "a.grade",
            "bd_date(a.appraised_on)",
            "coalesce(a.renovation_status, '未填')",
        )
    } AS evidence
FROM bd_hh h JOIN a ON a.head_id_number = h.id_number
WHERE h.id_ok AND h.relation = '户主' AND a.grade IN ('C级', 'D级')
  AND coalesce(a.renovation_status, '') <> '已竣工' AND h.is_dangerous_house = false
"""


# --- 市场监管: business ---------------------------------------------------------------

_OWNER_ROLES = ("法定代表人", "股东", "投资人", "经营者")


def business_owner_sql() -> str:
    return f"""
WITH b AS (
    SELECT id_number, coalesce(credit_code, entity_name) AS ekey,
           min(entity_name) AS entity_name, min(credit_code) AS credit_code,
           min(entity_type) AS entity_type, string_agg(DISTINCT role, '、' ORDER BY role) AS roles,
           max(registered_capital_10k) AS capital, min(registration_status) AS status,
           min(founded_on) AS founded_on
    FROM bd_business
    WHERE role IN {lit_list(_OWNER_ROLES)} AND registration_status IN ('存续', '在业')
      AND (entity_type LIKE '%公司%' OR entity_type IN ('个人独资企业', '合伙企业')
           OR (entity_type = '个体工商户' AND registered_capital_10k >= $capital_min_10k))
    GROUP BY id_number, coalesce(credit_code, entity_name)
)
SELECT {person_cols("p", "b.ekey")},
       {fmt("家庭成员 {} 为{}“{}”的{}", "p.name", "b.entity_type", "b.entity_name", "b.roles")}
           AS description,
       {business_evidence("b")} AS evidence
FROM bd_reg p JOIN b ON b.id_number = p.id_number
WHERE p.id_ok AND p.is_current
"""


# --- 人社: social insurance ------------------------------------------------------------


def public_employee_sql() -> str:
    return f"""
WITH s AS (
    SELECT id_number,
           string_agg(DISTINCT {
        fmt(
            "{}（{}，{}）",
            "coalesce(employer, '单位名称未填')",
            "insurance_kind",
            "coalesce(employer_kind, '单位类型未填')",
        )
    },
                      '；') AS recs
    FROM bd_social_insurance
    WHERE year = $year AND enrolment_status = '参保缴费'
      AND (insurance_kind = '机关事业单位养老保险' OR employer_kind IN ('机关', '事业单位'))
    GROUP BY id_number
)
SELECT {person_cols("p")},
       {fmt("家庭成员 {} {}年在机关事业单位参保缴费，疑似财政供养人员", "p.name", "p.year")}
           AS description,
       {fmt("人社：{}年参保缴费 {}", "p.year", "s.recs")} AS evidence
FROM bd_reg p JOIN s ON s.id_number = p.id_number
WHERE p.id_ok
"""


def _sum_exceeds_sql(amounts: str, base: str, base_zh: str, dept: str, what: str) -> str:
    """One finding per household whose members' amounts add up to more than
    ``base`` by more than the ratio *and* the minimum; names the largest earner.

    ``amounts`` yields (id_number, amt) per person for the working year.
    """
    excess = "m.total - h.base"
    return f"""
WITH amounts AS ({amounts}),
members AS (
    SELECT DISTINCT p.household_id, p.id_number, p.id_out, p.name FROM bd_reg p WHERE p.id_ok
),
m1 AS (
    SELECT mb.*, a.amt,
           row_number() OVER (PARTITION BY mb.household_id ORDER BY a.amt DESC, mb.id_number) AS k
    FROM members mb JOIN amounts a USING (id_number)
),
m AS (
    SELECT household_id, sum(amt) AS total,
           string_agg({fmt("{} {} 元", "name", "bd_num(amt)")}, '；' ORDER BY amt DESC, id_number)
               AS detail,
           min(name) FILTER (WHERE k = 1) AS top_name, min(id_out) FILTER (WHERE k = 1) AS top_id
    FROM m1 GROUP BY household_id
),
h AS (SELECT *, {base} AS base FROM bd_hh)
SELECT {household_cols("h", named="m.top_name", named_id="m.top_id")},
       {
        fmt(
            "家庭成员{}年" + what + "合计 {} 元，高于登记的" + base_zh + " {} 元（超出 {} 元{}）",
            "h.year",
            "bd_num(m.total)",
            "bd_num(h.base)",
            f"bd_num({excess})",
            "CASE WHEN h.base > 0 THEN format('，{:.1f}%', 100 * CAST("
            + excess
            + " AS DOUBLE) / CAST(h.base AS DOUBLE)) ELSE '' END",
        )
    } AS description,
       {lit(dept + "：")} || m.detail AS evidence
FROM h JOIN m USING (household_id)
WHERE m.total > h.base * (1 + $excess_ratio) AND {excess} > $excess_min
"""


def tax_income_exceeds_register_sql() -> str:
    return _sum_exceeds_sql(
        "SELECT id_number, sum(income) AS amt FROM bd_tax WHERE tax_year = $year GROUP BY id_number",
        "coalesce(wage_income, 0) + coalesce(business_income, 0)",
        "工资性收入与生产经营性收入之和",
        "税务",
        "个人所得税收入额",
    )


def wage_exceeds_register_sql() -> str:
    return _sum_exceeds_sql(
        "SELECT id_number, sum(monthly_wage_base * 12) AS amt FROM bd_social_insurance "
        "WHERE year = $year AND insurance_kind = '企业职工基本养老保险' "
        "AND enrolment_status = '参保缴费' GROUP BY id_number",
        "coalesce(wage_income, 0)",
        "工资性收入",
        "人社（缴费基数×12）",
        "企业职工养老保险缴费基数×12",
    )


_PENSION_RECORDS = f"""
    SELECT id_number,
           string_agg(DISTINCT insurance_kind || '（' || enrolment_status || '）', '、') AS recs
    FROM bd_social_insurance
    WHERE year = $year AND insurance_kind IN {lit_list(PENSION_KINDS)}
    GROUP BY id_number
"""


def pension_enrolment_mismatch_sql() -> str:
    return f"""
WITH s AS ({_PENSION_RECORDS})
SELECT {person_cols("p")},
       CASE WHEN p.has_pension_insurance
            THEN {fmt("登记为参加城乡居民基本养老保险，但人社{}年无该人员任何养老保险记录", "p.year")}
            ELSE {fmt("登记为未参加城乡居民基本养老保险，但人社{}年有养老保险记录：{}", "p.year", "s.recs")}
       END AS description,
       CASE WHEN s.recs IS NULL THEN {fmt("人社：{}年无养老保险记录", "p.year")}
            ELSE {fmt("人社：{}年 {}", "p.year", "s.recs")} END AS evidence
FROM bd_reg p LEFT JOIN s ON s.id_number = p.id_number
WHERE p.id_ok
  AND ((p.has_pension_insurance AND s.id_number IS NULL)
       OR (p.has_pension_insurance = false AND s.id_number IS NOT NULL))
"""


def pension_insurance_missing_sql() -> str:
    return f"""
WITH s AS ({_PENSION_RECORDS})
SELECT {person_cols("p")},
       {
        fmt(
            "{}岁（按{}年12月31日计），非在校生，登记和人社{}年均无养老保险参保记录",
            "p.age",
            "p.year",
            "p.year",
        )
    } AS description,
       {
        fmt(
            "登记：是否参加城乡居民基本养老保险 {}；人社：{}年无养老保险记录",
            "CASE p.has_pension_insurance WHEN false THEN '否' ELSE '未填' END",
            "p.year",
        )
    }
           AS evidence
FROM bd_reg p LEFT JOIN s ON s.id_number = p.id_number
WHERE p.id_ok AND p.age BETWEEN $pension_age_min AND $pension_age_max AND NOT p.is_student
  AND NOT coalesce(p.has_pension_insurance, false) AND s.id_number IS NULL
"""


# --- the catalogue, section B ---------------------------------------------------------

_SI_YEAR = (("social_insurance", "year", 0),)

RULES: tuple[Rule, ...] = (
    Rule(
        code="hukou_not_found",
        name_zh="证件号码户籍库无记录",
        category="信息不准",
        severity="medium",
        department="公安",
        feeds=("register", "hukou"),
        level="person",
        prefix="HKN",
        sql=hukou_not_found_sql(),
        coverage="hukou",
        description_zh="证件号码 {号码} 在公安户籍库中无记录；疑似正确号码：{号码}（仅有唯一候选时）",
        requirement_zh="核对户口簿，更正证件号码；号码无误的请协调派出所核实户籍登记。",
    ),
    Rule(
        code="hukou_name_mismatch",
        name_zh="姓名与户籍登记不一致",
        category="信息不准",
        severity="medium",
        department="公安",
        feeds=("register", "hukou"),
        level="person",
        prefix="HKM",
        sql=hukou_name_mismatch_sql(),
        description_zh="姓名登记为“{姓名}”，公安户籍库中该证件号码的姓名为“{户籍姓名}”",
        requirement_zh="核对户口簿，按户籍登记更正姓名或证件号码。",
    ),
    Rule(
        code="deceased_still_registered",
        name_zh="已死亡未减员",
        category="需更新",
        severity="high",
        department="公安",
        feeds=("register", "hukou"),
        level="person",
        prefix="DEC",
        sql=_hukou_status_sql("死亡", "死亡"),
        description_zh="公安户籍库登记该人员已死亡（注销日期 {日期}），{Y}年度仍登记为家庭成员",
        requirement_zh="核实后按程序办理成员减员，并重新核算家庭人口和收入。",
    ),
    Rule(
        code="moved_out_still_registered",
        name_zh="户籍已迁出未处理",
        category="需更新",
        severity="low",
        department="公安",
        feeds=("register", "hukou"),
        level="person",
        prefix="MOV",
        sql=_hukou_status_sql("迁出", "迁出户籍"),
        description_zh="公安户籍库登记该人员已迁出户籍（注销日期 {日期}），{Y}年度仍登记为家庭成员",
        requirement_zh="核实迁出原因和实际居住情况，按政策办理成员变更或说明情况。",
    ),
    Rule(
        code="owns_car",
        name_zh="家庭成员名下有车辆",
        category="疑似错评",
        severity="high",
        department="公安",
        feeds=("register", "vehicles"),
        level="person",
        prefix="OC",
        sql=owns_car_sql(),
        description_zh="家庭成员 {姓名} 名下有{车辆类型}（号牌 {号牌}），车辆状态正常",
        requirement_zh="入户核实车辆实际所有、用途和购置时间，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="owns_urban_property",
        name_zh="家庭成员在城镇有商品房",
        category="疑似错评",
        severity="high",
        department="住建",
        feeds=("register", "property"),
        level="person",
        prefix="OUP",
        sql=owns_urban_property_sql(),
        description_zh="家庭成员 {姓名} 在城镇有商品房（{坐落}）",
        requirement_zh="核实房产来源、购置时间和实际居住情况，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="dangerous_house_unrecorded",
        name_zh="危房未如实标注",
        category="保障缺失",
        severity="high",
        department="住建",
        feeds=("register", "house_safety"),
        level="household",
        prefix="DHU",
        sql=dangerous_house_unrecorded_sql(),
        columns=("is_dangerous_house",),
        description_zh="户主住房最近一次安全鉴定为{等级}（{日期}），改造状态“{状态}”，登记“是否危房”为“否”",
        requirement_zh="入户核实住房安全状况，如实标注是否危房，并落实危房改造或其他住房安全保障措施。",
    ),
    Rule(
        code="business_owner",
        name_zh="家庭成员经营企业",
        category="疑似错评",
        severity="high",
        department="市场监管",
        feeds=("register", "business"),
        level="person",
        prefix="BO",
        sql=business_owner_sql(),
        description_zh="家庭成员 {姓名} 为{主体类型}“{主体名称}”的{人员角色}",
        requirement_zh="核实企业实际经营和收益情况，计入家庭收入，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="public_employee",
        name_zh="家庭成员为财政供养人员",
        category="疑似错评",
        severity="high",
        department="人社",
        feeds=("register", "social_insurance"),
        level="person",
        prefix="PE",
        sql=public_employee_sql(),
        description_zh="家庭成员 {姓名} {Y}年在机关事业单位参保缴费，疑似财政供养人员",
        requirement_zh="核实该成员是否为财政供养人员，按认定标准提出处理意见并说明情况。",
        year_feeds=_SI_YEAR,
    ),
    Rule(
        code="tax_income_exceeds_register",
        name_zh="个税收入高于登记收入",
        category="信息不准",
        severity="medium",
        department="税务",
        feeds=("register", "tax"),
        level="household",
        prefix="TAX",
        sql=tax_income_exceeds_register_sql(),
        columns=("wage_income", "business_income"),
        description_zh="家庭成员{Y}年个人所得税收入额合计 {a} 元，高于登记的工资性收入与生产经营性收入之和 {b} 元（超出 {c} 元，{p}%）",
        requirement_zh="入户核实家庭成员务工和经营收入，重新核算并更正家庭收入。",
        year_feeds=(("tax", "tax_year", 0),),
    ),
    Rule(
        code="wage_exceeds_register",
        name_zh="社保缴费工资高于登记收入",
        category="信息不准",
        severity="medium",
        department="人社",
        feeds=("register", "social_insurance"),
        level="household",
        prefix="WAG",
        sql=wage_exceeds_register_sql(),
        columns=("wage_income",),
        description_zh="家庭成员{Y}年企业职工养老保险缴费基数×12合计 {a} 元，高于登记的工资性收入 {b} 元（超出 {c} 元，{p}%）",
        requirement_zh="入户核实家庭成员务工收入，重新核算并更正工资性收入。",
        year_feeds=_SI_YEAR,
    ),
    Rule(
        code="pension_enrolment_mismatch",
        name_zh="养老保险参保信息不符",
        category="信息不准",
        severity="low",
        department="人社",
        feeds=("register", "social_insurance"),
        level="person",
        prefix="PEM",
        sql=pension_enrolment_mismatch_sql(),
        description_zh="登记为参加城乡居民基本养老保险，但人社{Y}年无该人员任何养老保险记录 / 登记为未参加，但人社有记录：{险种（状态）}",
        requirement_zh="与人社部门核对参保情况，更正“是否参加城乡居民基本养老保险”。",
        year_feeds=_SI_YEAR,
    ),
    Rule(
        code="pension_insurance_missing",
        name_zh="适龄人员未参加养老保险",
        category="保障缺失",
        severity="medium",
        department="人社",
        feeds=("register", "social_insurance"),
        level="person",
        prefix="PIM",
        sql=pension_insurance_missing_sql(),
        description_zh="{n}岁（按{Y}年12月31日计），非在校生，登记和人社{Y}年均无养老保险参保记录",
        requirement_zh="动员符合条件的成员参加城乡居民基本养老保险（按政策落实代缴），已参保的更正登记。",
        year_feeds=_SI_YEAR,
    ),
)
