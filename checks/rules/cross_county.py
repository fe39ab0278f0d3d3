"""Cross-county rules (issue 14): the county's register against the other counties
of the prefecture. NOT in ``ALL_RULES``: a county office running alone sees no change;
a county run of a prefecture (``Settings.county`` set) runs ``ALL_RULES +
CROSS_COUNTY_RULES``.

They read the temp views :func:`checks.cross_county.attach_other_counties` makes over
the other counties' Parquet exports (names in :data:`checks.cross_county.XC_VIEWS`).
Each rule needs the other counties' rows of the working year (``year_feeds`` on the
view): with no other county exported, it does not run and says so, never "0".

Every finding's evidence starts with ``【<other county>】``: the prefecture report
reads the county from there. Of the other county's register only the ID number and
the name appear (issue 14: no other personal data of that county).
"""

from __future__ import annotations

from checks.cross_county import XC_VIEWS
from checks.rules import ALL_RULES
from checks.rules.base import Rule, fmt, household_cols, lit_list, person_cols
from checks.rules.departments import (
    _OWNER_ROLES,
    business_evidence,
    car_evidence,
    property_evidence,
)


def _v(table: str) -> str:
    return '"' + XC_VIEWS[table] + '"'


def _src(alias: str) -> str:
    """Evidence prefix naming the county a record is filed in."""
    return f"'【' || {alias}.src_county || '】'"


def _year(table: str, col: str = "working_year") -> tuple[tuple[str, str, int], ...]:
    return ((XC_VIEWS[table], col, 0),)


def id_duplicate_cross_county_sql() -> str:
    return f"""
WITH o AS (
    SELECT id_number, src_county, string_agg(DISTINCT name, '、' ORDER BY name) AS names
    FROM {_v("register")} WHERE year = $year GROUP BY id_number, src_county
)
SELECT {person_cols("p", "o.src_county")},
       {
        fmt(
            "证件号码 {} 同时登记在{}{}年度建档立卡/防返贫监测名单中（姓名 {}），疑似重复享受",
            "p.id_number",
            "o.src_county",
            "p.year",
            "o.names",
        )
    } AS description,
       {_src("o")} || {fmt("{}年度登记：证件号码 {}，姓名 {}", "p.year", "p.id_number", "o.names")}
           AS evidence
FROM bd_reg p JOIN o ON o.id_number = p.id_number
WHERE p.id_ok
"""


def owns_car_cross_county_sql() -> str:
    is_car = (
        "len(list_filter($car_include, lambda t: v.vehicle_type LIKE t)) > 0 "
        "AND len(list_filter($car_exclude, lambda t: v.vehicle_type LIKE t)) = 0"
    )
    return f"""
SELECT {person_cols("p", "v.plate")},
       {
        fmt(
            "家庭成员 {} 名下有{}（号牌 {}），登记在{}，车辆状态正常",
            "p.name",
            "v.vehicle_type",
            "v.plate",
            "v.src_county",
        )
    }
       || CASE WHEN p.is_exited AND p.exit_year IS NULL THEN '，该户已脱贫但脱贫年度未填'
               WHEN p.is_exited
               THEN {
        fmt("，初次登记（{}）早于脱贫年度 {} 年", "bd_date(v.first_registered_on)", "p.exit_year")
    }
               ELSE '' END AS description,
       {_src("v")}
       || {car_evidence("v")} AS evidence
FROM bd_reg p JOIN {_v("vehicles")} v ON v.owner_id_number = p.id_number
WHERE p.id_ok AND NOT v.in_own_feed AND v.vehicle_status = '正常' AND {is_car}
  AND (p.is_current
       OR (p.is_exited AND (p.exit_year IS NULL
                            OR v.first_registered_on < make_date(p.exit_year, 1, 1))))
"""


def owns_urban_property_cross_county_sql() -> str:
    return f"""
SELECT {person_cols("p", "r.location")},
       {
        fmt(
            "家庭成员 {} 在{}城镇有{}（{}）",
            "p.name",
            "r.src_county",
            "CASE WHEN r.property_kind = '商品房' THEN '商品房' ELSE coalesce(r.usage, '') || '用房' END",
            "r.location",
        )
    } AS description,
       {_src("r")}
       || {property_evidence("r")} AS evidence
FROM bd_reg p JOIN {_v("property")} r ON r.owner_id_number = p.id_number
WHERE p.id_ok AND NOT r.in_own_feed AND p.is_current AND r.area_kind = '城镇'
  AND coalesce(r.property_kind, '') <> '安置房'
  AND (r.property_kind = '商品房' OR r.usage LIKE '%商业%' OR r.usage LIKE '%办公%')
"""


def business_owner_cross_county_sql() -> str:
    return f"""
WITH b AS (
    SELECT id_number, coalesce(credit_code, entity_name) AS ekey, min(src_county) AS src_county,
           min(entity_name) AS entity_name, min(credit_code) AS credit_code,
           min(entity_type) AS entity_type, string_agg(DISTINCT role, '、' ORDER BY role) AS roles,
           max(registered_capital_10k) AS capital, min(registration_status) AS status,
           min(founded_on) AS founded_on
    FROM {_v("business")}
    WHERE NOT in_own_feed AND role IN {
        lit_list(_OWNER_ROLES)
    } AND registration_status IN ('存续', '在业')
      AND (entity_type LIKE '%公司%' OR entity_type IN ('个人独资企业', '合伙企业')
           OR (entity_type = '个体工商户' AND registered_capital_10k >= $capital_min_10k))
    GROUP BY id_number, coalesce(credit_code, entity_name)
)
SELECT {person_cols("p", "b.ekey")},
       {
        fmt(
            "家庭成员 {} 为{}{}“{}”的{}",
            "p.name",
            "b.src_county",
            "b.entity_type",
            "b.entity_name",
            "b.roles",
        )
    } AS description,
       {_src("b")}
       || {business_evidence("b")} AS evidence
FROM bd_reg p JOIN b ON b.id_number = p.id_number
WHERE p.id_ok AND p.is_current
"""


def public_employee_cross_county_sql() -> str:
    rec = fmt(
        "{}（{}，{}）",
        "coalesce(employer, '单位名称未填')",
        "insurance_kind",
        "coalesce(employer_kind, '单位类型未填')",
    )
    return f"""
WITH s AS (
    SELECT id_number, min(src_county) AS src_county, string_agg(DISTINCT {rec}, '；') AS recs
    FROM {_v("social_insurance")}
    WHERE NOT in_own_feed AND year = $year AND enrolment_status = '参保缴费'
      AND (insurance_kind = '机关事业单位养老保险' OR employer_kind IN ('机关', '事业单位'))
    GROUP BY id_number
)
SELECT {person_cols("p")},
       {
        fmt(
            "家庭成员 {} {}年在{}机关事业单位参保缴费，疑似财政供养人员",
            "p.name",
            "p.year",
            "s.src_county",
        )
    } AS description,
       {_src("s")} || {fmt("人社：{}年参保缴费 {}", "p.year", "s.recs")} AS evidence
FROM bd_reg p JOIN s ON s.id_number = p.id_number
WHERE p.id_ok
"""


def tax_income_cross_county_sql() -> str:
    # The household's income with the other counties' tax records added exceeds the
    # register, while the county's own records alone do not (that is
    # tax_income_exceeds_register's finding already).
    over = "{t} > h.base * (1 + $excess_ratio) AND {t} - h.base > $excess_min"
    return f"""
WITH other AS (
    SELECT id_number, min(src_county) AS src_county, sum(income) AS amt
    FROM {_v("tax")} WHERE NOT in_own_feed AND tax_year = $year GROUP BY id_number
),
own AS (SELECT id_number, sum(income) AS amt FROM bd_tax WHERE tax_year = $year GROUP BY id_number),
members AS (
    SELECT DISTINCT p.household_id, p.id_number, p.id_out, p.name FROM bd_reg p WHERE p.id_ok
),
m1 AS (
    SELECT mb.*, o.src_county, coalesce(o.amt, 0) AS other_amt, coalesce(w.amt, 0) AS own_amt
    FROM members mb LEFT JOIN other o USING (id_number) LEFT JOIN own w USING (id_number)
    WHERE o.amt IS NOT NULL OR w.amt IS NOT NULL
),
m AS (
    SELECT household_id, sum(other_amt + own_amt) AS total, sum(own_amt) AS own_total,
           sum(other_amt) AS other_total,
           string_agg({fmt("{} {}：{} 元", "name", "src_county", "bd_num(other_amt)")}, '；'
                      ORDER BY other_amt DESC, id_number) FILTER (WHERE other_amt > 0) AS detail,
           string_agg(DISTINCT src_county, '、') AS counties,
           arg_max(name, other_amt) AS top_name, arg_max(id_out, other_amt) AS top_id
    FROM m1 GROUP BY household_id
),
h AS (SELECT *, coalesce(wage_income, 0) + coalesce(business_income, 0) AS base FROM bd_hh)
SELECT {household_cols("h", named="m.top_name", named_id="m.top_id")},
       {
        fmt(
            "家庭成员{}年个人所得税收入额（含{}记录 {} 元）合计 {} 元，"
            "高于登记的工资性收入与生产经营性收入之和 {} 元",
            "h.year",
            "m.counties",
            "bd_num(m.other_total)",
            "bd_num(m.total)",
            "bd_num(h.base)",
        )
    } AS description,
       '【' || m.counties || '】税务：' || m.detail AS evidence
FROM h JOIN m USING (household_id)
WHERE m.other_total > 0 AND {over.format(t="m.total")} AND NOT ({over.format(t="m.own_total")})
"""


_REQ_DUP = "与相关县（市、区）核实该人员实际户籍和居住地，只保留一地登记，已重复享受的按规定处理。"

CROSS_COUNTY_RULES: tuple[Rule, ...] = (
    Rule(
        code="id_duplicate_cross_county",
        name_zh="证件号码跨县重复登记",
        category="信息不准",
        severity="high",
        department="本系统",
        feeds=("register",),
        level="person",
        prefix="XID",
        sql=id_duplicate_cross_county_sql(),
        year_feeds=_year("register", "year"),
        description_zh="证件号码 {号码} 同时登记在{外县}{Y}年度建档立卡/防返贫监测名单中（姓名 {姓名}），疑似重复享受",
        requirement_zh=_REQ_DUP,
    ),
    Rule(
        code="owns_car_cross_county",
        name_zh="家庭成员在外县名下有车辆",
        category="疑似错评",
        severity="high",
        department="公安",
        feeds=("register",),
        level="person",
        prefix="XOC",
        sql=owns_car_cross_county_sql(),
        year_feeds=_year("vehicles"),
        description_zh="家庭成员 {姓名} 名下有{车辆类型}（号牌 {号牌}），登记在{外县}，车辆状态正常",
        requirement_zh="入户核实车辆实际所有、用途和购置时间，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="owns_urban_property_cross_county",
        name_zh="家庭成员在外县城镇有商品房",
        category="疑似错评",
        severity="high",
        department="住建",
        feeds=("register",),
        level="person",
        prefix="XOUP",
        sql=owns_urban_property_cross_county_sql(),
        year_feeds=_year("property"),
        description_zh="家庭成员 {姓名} 在{外县}城镇有商品房（{坐落}）",
        requirement_zh="核实房产来源、购置时间和实际居住情况，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="business_owner_cross_county",
        name_zh="家庭成员在外县经营企业",
        category="疑似错评",
        severity="high",
        department="市场监管",
        feeds=("register",),
        level="person",
        prefix="XBO",
        sql=business_owner_cross_county_sql(),
        year_feeds=_year("business"),
        description_zh="家庭成员 {姓名} 为{外县}{主体类型}“{主体名称}”的{人员角色}",
        requirement_zh="核实企业实际经营和收益情况，计入家庭收入，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="public_employee_cross_county",
        name_zh="家庭成员在外县为财政供养人员",
        category="疑似错评",
        severity="high",
        department="人社",
        feeds=("register",),
        level="person",
        prefix="XPE",
        sql=public_employee_cross_county_sql(),
        year_feeds=_year("social_insurance", "year"),
        description_zh="家庭成员 {姓名} {Y}年在{外县}机关事业单位参保缴费，疑似财政供养人员",
        requirement_zh="核实该成员是否为财政供养人员，按认定标准提出处理意见并说明情况。",
    ),
    Rule(
        code="tax_income_exceeds_register_cross_county",
        name_zh="外县个税收入高于登记收入",
        category="信息不准",
        severity="medium",
        department="税务",
        feeds=("register",),
        level="household",
        prefix="XTAX",
        sql=tax_income_cross_county_sql(),
        columns=("wage_income", "business_income"),
        year_feeds=_year("tax", "tax_year"),
        description_zh="家庭成员{Y}年个人所得税收入额（含{外县}记录 {a} 元）合计 {b} 元，高于登记的工资性收入与生产经营性收入之和 {c} 元",
        requirement_zh="入户核实家庭成员在外县务工和经营收入，重新核算并更正家庭收入。",
    ),
)
CROSS_COUNTY_CODES: frozenset[str] = frozenset(r.code for r in CROSS_COUNTY_RULES)

assert len(CROSS_COUNTY_CODES) == len(CROSS_COUNTY_RULES), "duplicate cross-county rule code"
assert not CROSS_COUNTY_CODES & {r.code for r in ALL_RULES}, "cross-county code in ALL_RULES"
assert len({r.prefix for r in ALL_RULES + CROSS_COUNTY_RULES}) == len(ALL_RULES) + len(
    CROSS_COUNTY_RULES
), "duplicate problem-id prefix"

__all__ = ["CROSS_COUNTY_CODES", "CROSS_COUNTY_RULES"]
