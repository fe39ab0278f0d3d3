"""The working set every rule reads: macros, the working year's register, feed views.

Prepared once per run on the engine's connection (temp objects, invisible to
other connections):

- macros ``bd_num`` (numbers, money as ``5,230`` / ``5,230.50``), ``bd_date``, ``bd_age``,
  ``bd_name`` (names compared without spaces and full-/half-width differences),
  ``bd_id_out`` (the ID to print: normalised when it could be, else the raw value);
- ``bd_reg``: register rows of the working year with derived columns (``id_ok``,
  ``birth_date``, ``age`` at 31 Dec, ``age_sep`` at 1 Sep, ``is_current``,
  ``is_exited``, ``is_student``, ``pkey`` the person's natural key, ``head_name``,
  ``hh_rank`` = 1 on the row that represents the household, the 户主's);
- ``bd_hh``: one row per household of the working year (its representative row);
- ``bd_hh_all``: the representative row of every household in every year;
- ``bd_<feed>``: each department feed restricted to valid ID numbers;
- ``bd_grade_age``: typical age range of each 在校生状况 grade;
- ``bd_resident``: the county's residents by hukou (monitoring.md §4), one row per
  person, placed by their 住址 into the register's townships and villages (only
  people outside the register are placed; empty without hukou rows).

``bd_reg.standing`` is 是否在册 of the 监测预警核实清单 (监测对象, 脱贫户,
监测对象(已消除), 一般农户); people outside the register are ``不在册``.
"""

from __future__ import annotations

import duckdb

from checks.rules.base import lit, lit_list
from department_feeds import DEPARTMENT_FEEDS, SPECS
from department_feeds.register import (
    CURRENT_STATUSES,
    DEVELOPMENT_MEASURES,
    LABOUR_VALUES,
    MEASURE_FIELDS,
    MONITORED_STATUSES,
)
from rectification.form import UNPLACED_TOWNSHIP

_CN = "一二三四五六"

# rules.md age_school_mismatch: 小学一年级 = 6, +1 per grade; 七年级 = 12;
# 高中/中职一年级 = 15; 高职/大专/本科一年级 = 18; 学前教育 = 3–6. 研究生: no typical age.
GRADE_AGES: tuple[tuple[str, int, int], ...] = (
    ("学前教育", 3, 6),
    *((f"小学{c}年级", 6 + i, 6 + i) for i, c in enumerate(_CN)),
    ("七年级", 12, 12),
    ("八年级", 13, 13),
    ("九年级", 14, 14),
    *((f"{k}{c}年级", 15 + i, 15 + i) for k in ("高中", "中职") for i, c in enumerate(_CN[:3])),
    *((f"{k}{c}年级", 18 + i, 18 + i) for k in ("高职", "大专") for i, c in enumerate(_CN[:3])),
    *((f"本科{c}年级", 18 + i, 18 + i) for i, c in enumerate(_CN[:5])),
)

# Full-width ASCII (U+FF01–U+FF5E) → half-width; middle-dot variants → '·'. translate()
# is slow (0.3 s per 40k names), so bd_name only calls it on names that need it.
_FULL = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "・･•‧∙"
_HALF = "".join(chr(c) for c in range(0x21, 0x7F)) + "·····"

# Problems after which the cleaned value is still the 18-character number a person
# typed (wrong, but readable); otherwise print the raw value as received.
_READABLE_PROBLEMS = ("checksum", "birth_date", "province")

# Department feeds and their ID column: rules join only rows with a valid number.
FEED_ID_COLUMNS: dict[str, str] = {feed: SPECS[feed].join_id for feed in DEPARTMENT_FEEDS}

MACROS = f"""
CREATE OR REPLACE TEMP MACRO bd_num(x) AS
    CASE WHEN x IS NULL THEN '（空）'
         WHEN x = trunc(x) THEN format('{{:,}}', x::HUGEINT)
         ELSE format('{{:,.2f}}', x::DOUBLE) END;
CREATE OR REPLACE TEMP MACRO bd_date(d) AS coalesce(strftime(d, '%Y-%m-%d'), '（日期空）');
CREATE OR REPLACE TEMP MACRO bd_age(b, d) AS
    year(d) - year(b)
    - CASE WHEN month(b) > month(d) OR (month(b) = month(d) AND day(b) > day(d))
           THEN 1 ELSE 0 END;
CREATE OR REPLACE TEMP MACRO bd_name(s) AS
    CASE WHEN regexp_matches(s, '[\\s\u3000\u00a0\uff01-\uff5e・･•‧∙]')
         THEN translate(regexp_replace(s, '[\\s\u3000\u00a0]+', '', 'g'), {lit(_FULL)}, {lit(_HALF)})
         ELSE s END;
CREATE OR REPLACE TEMP MACRO bd_id_out(id, raw, problem) AS
    CASE WHEN problem IS NULL OR problem IN {lit_list(_READABLE_PROBLEMS)} THEN id
         ELSE coalesce(raw, id) END;
"""

# 是否在册 (interface decision 2), in this order of precedence.
STANDING_MONITORED = "监测对象"
STANDING_POOR_EXITED = "脱贫户"
STANDING_ELIMINATED = "监测对象(已消除)"
STANDING_ORDINARY = "一般农户"
STANDING_OUTSIDE = "不在册"

_RISKS = ", ".join(f"r.risk_{i}" for i in range(1, 6))
_MEASURES_BLANK = " AND ".join(f"r.{f} IS NULL" for f, _, _ in MEASURE_FIELDS)
_DEV_MEASURE = " OR ".join(f"r.{f} IS NOT NULL" for f in DEVELOPMENT_MEASURES)

REGISTER_SQL = f"""
CREATE OR REPLACE TEMP TABLE bd_reg AS
WITH year_rows AS (SELECT * FROM register WHERE year = $year),
-- One 户编号 in two townships (a typo) is two households, one per township: taken
-- as one, each township's list would name and describe the other's members.
shared_hh AS (
    SELECT household_id FROM year_rows GROUP BY household_id
    HAVING count(DISTINCT township) > 1
),
base AS (
    SELECT r.* REPLACE (
               CASE WHEN r.household_id IN (SELECT household_id FROM shared_hh)
                    THEN r.household_id || '（' || coalesce(r.township, '') || '）'
                    ELSE r.household_id END AS household_id
           ),
           r.id_number_problem IS NULL AND r.id_number IS NOT NULL AS id_ok,
           -- ID numbers other than a 居民身份证 (or the one inside a 残疾人证) carry
           -- no birth date: 出生日期 stands in.
           CASE WHEN r.id_number_problem IS NULL
                THEN try_strptime(substr(r.id_number, 7, 8), '%Y%m%d')::DATE
                WHEN coalesce(r.id_type, '居民身份证') NOT IN ('居民身份证', '残疾人证')
                THEN r.registered_birth_date END AS birth_raw,
           bd_id_out(r.id_number, r.id_number_raw, r.id_number_problem) AS id_out,
           -- monitoring.md §1, either generation (today's export: 户类型 + 监测对象类别
           -- + 风险是否已消除; the 建档立卡 years: 户状态).
           coalesce(r.household_kind = '脱贫户', false)
               OR coalesce(r.household_status = '已脱贫', false) AS is_poor_exited,
           r.monitoring_category IS NOT NULL
               OR coalesce(r.household_status IN {lit_list(MONITORED_STATUSES)}, false)
               AS is_monitored,
           coalesce(r.risk_eliminated, false)
               OR coalesce(r.household_status = '风险已消除', false) AS eliminated,
           coalesce(r.labour_skill IN {lit_list(LABOUR_VALUES)}, false) AS has_labour,
           coalesce(r.dibao_status <> '未享受', false)
               OR coalesce(r.household_type = '低保户', false) AS enjoys_dibao,
           coalesce(r.destitute_status <> '未享受', false)
               OR coalesce(r.household_type = '特困供养户', false) AS enjoys_destitute,
           list_filter([{_RISKS}], x -> x IS NOT NULL) AS risks,
           {_MEASURES_BLANK} AS measures_blank,
           {_DEV_MEASURE} AS dev_measure,
           -- A student: 在校生状况 other than 非在校生 (blank: not known to be one).
           coalesce(r.school_status <> '非在校生', false) AS is_student
    FROM year_rows r
),
monitored AS (
    SELECT base.* EXCLUDE (eliminated),
           is_monitored AND NOT eliminated AS risk_open,
           is_monitored AND eliminated AS risk_closed
    FROM base
),
derived AS (
    SELECT m.*,
           -- Section A: "current" = 未消除风险 (and 户状态 未脱贫/返贫 of the older
           -- generation); "exited" = 脱贫户 or 已消除风险, and not current.
           coalesce(m.household_status IN {lit_list(CURRENT_STATUSES)}, false) OR m.risk_open
               AS is_current,
           (m.is_poor_exited OR m.risk_closed) AND NOT m.risk_open AS is_exited,
           -- A birth date after the register year is id_invalid, not an age.
           CASE WHEN birth_raw <= make_date(year, 12, 31) THEN birth_raw END AS birth_date,
           household_id || chr(31) || CASE WHEN id_ok THEN id_number
                ELSE 'raw:' || coalesce(id_number_raw, '') || chr(31) || coalesce(name, '') END
               AS pkey,
           row_number() OVER (
               PARTITION BY household_id
               ORDER BY coalesce(relation = '户主', false) DESC, source_file, sheet,
                        row_number, name, id_number
           ) AS hh_rank,
           count(*) OVER (PARTITION BY household_id) AS n_members,
           sum(CASE WHEN relation = '户主' THEN 1 ELSE 0 END)
               OVER (PARTITION BY household_id) AS n_heads,
           NOT bool_or(has_labour) OVER (PARTITION BY household_id) AS hh_no_labour,
           bool_or(enjoys_dibao) OVER (PARTITION BY household_id) AS hh_any_dibao,
           bool_or(enjoys_destitute) OVER (PARTITION BY household_id) AS hh_any_destitute
    FROM monitored m
)
SELECT d.*,
       bd_age(d.birth_date, make_date(d.year, 12, 31)) AS age,
       bd_age(d.birth_date, make_date(d.year, 9, 1)) AS age_sep,
       h.head_name,
       CASE WHEN d.risk_open THEN {lit(STANDING_MONITORED)}
            WHEN d.is_poor_exited THEN {lit(STANDING_POOR_EXITED)}
            WHEN d.risk_closed THEN {lit(STANDING_ELIMINATED)}
            ELSE {lit(STANDING_ORDINARY)} END AS standing
FROM derived d
LEFT JOIN (
    SELECT household_id, CASE WHEN relation = '户主' THEN name END AS head_name
    FROM derived WHERE hh_rank = 1
) h USING (household_id)
"""

HOUSEHOLD_SQL = """
CREATE OR REPLACE TEMP TABLE bd_hh AS SELECT * FROM bd_reg WHERE hh_rank = 1;
CREATE OR REPLACE TEMP VIEW bd_hh_all AS
SELECT * EXCLUDE (hh_rank) FROM (
    SELECT r.*, row_number() OVER (
        PARTITION BY r.year, r.household_id
        ORDER BY coalesce(r.relation = '户主', false) DESC, r.source_file, r.sheet,
                 r.row_number, r.name, r.id_number
    ) AS hh_rank
    FROM register r
) WHERE hh_rank = 1;
"""


RESIDENT_COLUMNS = (
    ("id_number", "VARCHAR"),
    ("name", "VARCHAR"),
    ("address", "VARCHAR"),
    ("in_register", "BOOLEAN"),
    ("township", "VARCHAR"),
    ("village", "VARCHAR"),
    ("placed", "BOOLEAN"),
    ("county", "VARCHAR"),
)
"""``bd_resident``: a county resident (monitoring.md §4) per valid ID number. For a
person outside the register named by a warning feed (民政, 医保, 残联),
``township``/``village`` place them by the hukou 住址 (``township`` = 未能定位 and
``placed`` false when they cannot be placed; village blank when only the township
is known); NULL for register persons (their register row places them) and for
people no warning feed names (not placed: no rule reports them). ``county``: the working year's register county (most frequent)."""

RESIDENT_SQL = f"""
CREATE OR REPLACE TEMP TABLE bd_resident AS
WITH county AS (
    SELECT county FROM bd_reg WHERE county IS NOT NULL
    GROUP BY county ORDER BY count(*) DESC, county LIMIT 1
),
-- 人员状态 正常, or another status deregistered after the working year end. Several
-- rows of one person: resident if any row is, at the smallest address of those rows.
res AS (
    SELECT id_number, min(name) AS name, min(address) AS address
    FROM bd_hukou
    WHERE status = '正常' OR deregistered_on > make_date($year, 12, 31)
    GROUP BY id_number
),
reg_ids AS (SELECT DISTINCT id_number FROM bd_reg WHERE id_ok),
-- Placed: only people outside the register whom a warning feed names (the address
-- matching is the costly part; a county has ~10 hukou residents per register member).
named AS (
    SELECT id_number FROM bd_civil_affairs UNION SELECT id_number FROM bd_medical
    UNION SELECT id_number FROM bd_disability
),
outside AS (
    SELECT r.id_number, r.address FROM res r ANTI JOIN reg_ids USING (id_number)
    SEMI JOIN named USING (id_number)
    WHERE r.address IS NOT NULL
),
towns AS (SELECT DISTINCT township FROM bd_reg WHERE coalesce(township, '') <> ''),
-- Exactly one of the register's townships in the address; none or several: not placed.
town_hit AS (
    SELECT o.id_number, min(t.township) AS township
    FROM outside o JOIN towns t ON contains(o.address, t.township)
    GROUP BY o.id_number HAVING count(*) = 1
),
villages AS (
    SELECT DISTINCT township, village FROM bd_reg
    WHERE coalesce(township, '') <> '' AND coalesce(village, '') <> ''
),
vil_hit AS (
    SELECT h.id_number, v.village
    FROM town_hit h JOIN outside o USING (id_number)
    JOIN villages v ON v.township = h.township AND contains(o.address, v.village)
),
-- Several villages of the township in the address: the matches not inside another
-- match, then the longest of them; still a tie: blank village.
vil_max AS (
    SELECT a.* FROM vil_hit a
    WHERE NOT EXISTS (
        SELECT 1 FROM vil_hit b
        WHERE b.id_number = a.id_number AND b.village <> a.village
          AND contains(b.village, a.village)
    )
),
vil_pick AS (
    SELECT id_number, village FROM vil_max
    QUALIFY length(village) = max(length(village)) OVER (PARTITION BY id_number)
        AND count(*) OVER (PARTITION BY id_number, length(village)) = 1
)
SELECT r.id_number, r.name, r.address, g.id_number IS NOT NULL AS in_register,
       CASE WHEN g.id_number IS NULL AND n.id_number IS NOT NULL
            THEN coalesce(t.township, {lit(UNPLACED_TOWNSHIP)}) END AS township,
       v.village,
       CASE WHEN g.id_number IS NULL AND n.id_number IS NOT NULL
            THEN t.township IS NOT NULL END AS placed,
       c.county
FROM res r
LEFT JOIN reg_ids g USING (id_number)
LEFT JOIN named n USING (id_number)
LEFT JOIN town_hit t USING (id_number)
LEFT JOIN vil_pick v USING (id_number)
LEFT JOIN county c ON true
"""


def feed_views_sql() -> str:
    """``bd_<feed>``: the feed's rows whose ID number is valid (joinable)."""
    return "\n".join(
        f'CREATE OR REPLACE TEMP VIEW "bd_{feed}" AS SELECT * FROM "{feed}" '
        f'WHERE "{col}_problem" IS NULL AND "{col}" IS NOT NULL;'
        for feed, col in FEED_ID_COLUMNS.items()
    )


def prepare(con: duckdb.DuckDBPyConnection, year: int) -> None:
    """Create the working set for ``year`` on this connection."""
    con.execute(MACROS)
    con.execute(REGISTER_SQL, {"year": year})
    con.execute(HOUSEHOLD_SQL)
    con.execute(feed_views_sql())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE bd_grade_age "
        "(school_status VARCHAR, age_min INTEGER, age_max INTEGER)"
    )
    con.executemany("INSERT INTO bd_grade_age VALUES (?, ?, ?)", [list(g) for g in GRADE_AGES])
    # Placement reads the whole district population: only when hukou has rows.
    if con.execute("SELECT EXISTS (SELECT 1 FROM hukou)").fetchone()[0]:
        con.execute(RESIDENT_SQL, {"year": year})
    else:
        cols = ", ".join(f"{c} {t}" for c, t in RESIDENT_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP TABLE bd_resident ({cols})")
