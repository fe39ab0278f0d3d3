"""Tiny hand-made warehouses for the rule tests.

A :class:`Builder` collects rows (register households and their members, and
rows of any department feed) and writes them into a real DuckDB file created by
``warehouse.schema.create_all``. ID numbers go through the real normaliser
(``core.idcard.normalise_frame``), so ``id_number``/``_raw``/``_problem`` are
what ingest would have produced.

By default a household is *clean*: consistent incomes, one 户主, a unique valid
phone, members in hukou (status 正常) and, when they say they have pension
insurance, a 城乡居民基本养老保险 record in 人社. A test makes one thing wrong
(or almost wrong) and asserts that exactly the intended rule fires (or not).

Rule modules declare cases with :func:`case`: a function that adds households
to the builder, with the household ids that must fire the rule and the ones
that must not (near misses). One warehouse per module holds every case, and the
rules run once on it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from core.idcard import check_digit, normalise_frame
from department_feeds import SPECS
from department_feeds.disability import CATEGORIES as DISABILITY_CATEGORIES
from department_feeds.disability import LEVELS as DISABILITY_LEVELS
from warehouse.schema import create_all

YEAR = 2024
RUN_DATE = date(2025, 3, 1)
REGION = "530102"


def make_id(birth: str, male: bool, n: int, region: str = REGION) -> str:
    """A valid 18-digit number: ``birth`` YYYYMMDD, gender by the 17th digit."""
    digits = "13579" if male else "02468"
    body = f"{region}{birth}{(n // 5) % 100:02d}{digits[n % 5]}"
    return body + check_digit(body)


@dataclass
class Person:
    name: str
    id_number: str | None
    fields: dict[str, Any]

    @property
    def birth(self) -> date | None:
        try:
            s = self.id_number[6:14]
            return date(int(s[:4]), int(s[4:6]), int(s[6:]))
        except (TypeError, ValueError):
            return None


@dataclass
class Household:
    household_id: str
    members: list[Person] = field(default_factory=list)

    @property
    def head(self) -> Person:
        return self.members[0]


_MONEY = (
    "household_net_income",
    "per_capita_net_income",
    "wage_income",
    "business_income",
    "property_income",
    "transfer_income",
    "business_expense",
    "dibao_payment",
    "destitute_payment",
    "pension_payment",
)
_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


class Builder:
    """Collects rows; :meth:`write` puts them into a DuckDB file."""

    def __init__(self, year: int = YEAR, auto_hukou: bool = True, auto_pension: bool = True):
        self.year = year
        self.auto_hukou = auto_hukou
        self.auto_pension = auto_pension
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._n = itertools.count(1)
        self._phone = itertools.count(10000001)
        self._names = (a + b + c for a, b, c in itertools.product(_SURNAMES, _GIVEN, _GIVEN))

    # --- register -----------------------------------------------------------------

    def new_id(self, birth: str = "19800505", male: bool = True) -> str:
        return make_id(birth, male, next(self._n))

    def household(
        self,
        household_id: str,
        members: list[dict[str, Any]] | None = None,
        *,
        year: int | None = None,
        township: str = "城关镇",
        village: str = "红星村",
        village_group: str = "一组",
        **hh: Any,
    ) -> Household:
        """A household of the register; ``members`` are dicts of register fields plus
        ``birth`` (YYYYMMDD, for a generated number), ``id_raw`` (a raw number as
        received), ``id_numeric`` (the raw value was an Excel number), ``hukou``
        (False: not in hukou) and ``pension_record`` (False: no 人社 record)."""
        members = members if members is not None else [{}]
        year = year or self.year
        w = Decimal(str(hh.pop("wage_income", 30000)))
        b = Decimal(str(hh.pop("business_income", 0)))
        p = Decimal(str(hh.pop("property_income", 0)))
        t = Decimal(str(hh.pop("transfer_income", 0)))
        e = Decimal(str(hh.pop("business_expense", 0)))
        size = hh.pop("household_size", len(members))
        net = hh.pop("household_net_income", w + b + p + t - e)
        per_capita = hh.pop(
            "per_capita_net_income", (Decimal(net) / size).quantize(Decimal("0.01")) if size else 0
        )
        hh_fields = {
            "household_type": "一般户",
            "household_status": "未脱贫",
            "exit_year": None,
            "main_cause": "缺技术",
            "household_size": size,
            "phone": hh.pop("phone", f"139{next(self._phone):08d}"),
            "household_net_income": net,
            "per_capita_net_income": per_capita,
            "wage_income": w,
            "business_income": b,
            "property_income": p,
            "transfer_income": t,
            "business_expense": e,
            "dibao_payment": 0,
            "destitute_payment": 0,
            "pension_payment": 0,
            "is_dangerous_house": False,
            "has_safe_water": True,
        }
        unknown = set(hh) - set(hh_fields)
        assert not unknown, f"unknown household fields {unknown}"
        hh_fields.update(hh)
        for k in _MONEY:
            if hh_fields[k] is not None:
                hh_fields[k] = Decimal(str(hh_fields[k]))
        house = Household(household_id)
        for i, m in enumerate(members):
            m = dict(m)
            hukou = m.pop("hukou", True)
            pension_record = m.pop("pension_record", True)
            numeric = m.pop("id_numeric", False)
            male = m.get("gender", "男") == "男"
            if "id_raw" in m:
                raw = m.pop("id_raw")
                m.pop("birth", None)
            else:
                raw = self.new_id(m.pop("birth", "19800505"), male)
            name = m.pop("name", None) or next(self._names)
            row = {
                "load_id": "test",
                "source_file": f"register/{year}.xlsx",
                "sheet": "Sheet1",
                "row_number": len(self.rows["register"]) + 2,
                "year": year,
                "county": "云岭县",
                "township": township,
                "village": village,
                "village_group": village_group,
                "household_id": household_id,
                "person_id": None,
                "name": name,
                "id_number_raw": raw,
                "_numeric": numeric,
                "id_type": "居民身份证",
                "gender": "男" if male else "女",
                "relation": "户主" if i == 0 else "之子",
                "ethnicity": "汉族",
                "education": "初中",
                "school_status": "非在校生",
                "health": "健康",
                "labour_skill": "普通劳动力",
                "work_status": "省外务工",
                "work_months": 6,
                "has_medical_insurance": True,
                "has_critical_illness_insurance": True,
                "has_pension_insurance": True,
                **hh_fields,
            }
            unknown = set(m) - set(row)
            assert not unknown, f"unknown member fields {unknown}"
            row.update(m)
            self.rows["register"].append(row)
            person = Person(name, raw, row)
            house.members.append(person)
            valid_raw = raw is not None and len(raw) == 18 and raw[:17].isdigit()
            if year == self.year and valid_raw and raw[17] == check_digit(raw[:17]):
                if hukou and self.auto_hukou:
                    self.hukou(person)
                if pension_record and self.auto_pension and row["has_pension_insurance"]:
                    self.social_insurance(person, insurance_kind="城乡居民基本养老保险")
        return house

    def copy_year(
        self, house: Household, year: int, members: list[dict] | None = None, **hh: Any
    ) -> None:
        """The same household (same numbers and names) in another register year,
        with household fields ``hh`` and per-member fields ``members`` changed."""
        members = members or [{}] * len(house.members)
        src = [r for r in self.rows["register"] if r["household_id"] == house.household_id]
        src = [r for r in src if r["year"] == self.year]
        for r, change in zip(src, members, strict=True):
            row = dict(r) | hh | change
            row["year"] = year
            row["source_file"] = f"register/{year}.xlsx"
            row["row_number"] = len(self.rows["register"]) + 2
            self.rows["register"].append(row)

    # --- department feeds ---------------------------------------------------------

    def _add(self, feed: str, id_col: str, id_number: str, **values: Any) -> None:
        row = {
            "load_id": "test",
            "source_file": f"{feed}/data.xlsx",
            "sheet": "Sheet1",
            "row_number": len(self.rows[feed]) + 2,
            f"{id_col}_raw": id_number,
            **values,
        }
        self.rows[feed].append(row)

    def hukou(self, who: Person | str, **values: Any) -> None:
        idn = who.id_number if isinstance(who, Person) else who
        birth = date(int(idn[6:10]), int(idn[10:12]), int(idn[12:14]))
        base = {
            "name": who.name if isinstance(who, Person) else None,
            "gender": "男" if int(idn[16]) % 2 else "女",
            "birth_date": birth,
            "hukou_household_no": "H" + idn[-6:],
            "address": "云岭县城关镇红星村",
            "status": "正常",
            "deregistered_on": None,
        }
        self._add("hukou", "id_number", idn, **(base | values))

    def set_hukou(self, who: Person, **values: Any) -> None:
        """Change the auto-added hukou row of ``who``."""
        for row in self.rows["hukou"]:
            if row["id_number_raw"] == who.id_number:
                row.update(values)
                return
        raise KeyError(who.id_number)

    def drop(self, feed: str, who: Person) -> None:
        """Remove every auto-added row of ``who`` from ``feed``."""
        self.rows[feed] = [
            r for r in self.rows[feed] if who.id_number not in (r.get("id_number_raw"),)
        ]

    def vehicle(self, who: Person, **values: Any) -> None:
        base = {
            "owner_name": who.name,
            "plate": f"云A·{next(self._n):05d}",
            "vehicle_type": "小型轿车",
            "use_nature": "非营运",
            "first_registered_on": date(2022, 5, 10),
            "vehicle_status": "正常",
        }
        self._add("vehicles", "owner_id_number", who.id_number, **(base | values))

    def tax(self, who: Person, income: Any, **values: Any) -> None:
        base = {
            "name": who.name,
            "tax_year": self.year,
            "income": Decimal(str(income)),
            "tax_paid": 0,
            "withholding_agent": "某公司",
        }
        self._add("tax", "id_number", who.id_number, **(base | values))

    def property(self, who: Person, **values: Any) -> None:
        base = {
            "owner_name": who.name,
            "location": f"云岭县城关镇幸福小区{next(self._n)}栋",
            "floor_area_m2": 98.5,
            "usage": "住宅",
            "property_kind": "商品房",
            "area_kind": "城镇",
            "registered_on": date(2021, 3, 1),
        }
        self._add("property", "owner_id_number", who.id_number, **(base | values))

    def house_safety(self, who: Person, **values: Any) -> None:
        base = {
            "head_name": who.name,
            "grade": "C级",
            "appraised_on": date(2023, 6, 1),
            "renovation_status": "未改造",
            "renovated_on": None,
        }
        self._add("house_safety", "head_id_number", who.id_number, **(base | values))

    def business(self, who: Person, **values: Any) -> None:
        n = next(self._n)
        base = {
            "name": who.name,
            "entity_name": f"云岭县某某商贸{n}有限公司",
            "credit_code": f"91530102MA{n:08d}",
            "entity_type": "有限责任公司",
            "role": "法定代表人",
            "registered_capital_10k": Decimal("50"),
            "founded_on": date(2020, 1, 1),
            "registration_status": "存续",
        }
        self._add("business", "id_number", who.id_number, **(base | values))

    def social_insurance(self, who: Person, **values: Any) -> None:
        base = {
            "name": who.name,
            "insurance_kind": "城乡居民基本养老保险",
            "enrolment_status": "参保缴费",
            "employer": None,
            "employer_kind": "无",
            "monthly_wage_base": None,
            "year": self.year,
        }
        self._add("social_insurance", "id_number", who.id_number, **(base | values))

    # The early-warning feeds take a register Person or a bare ID number (someone
    # outside the register), with the person's name in ``name`` then.

    @staticmethod
    def _who(who: Person | str) -> tuple[str, str | None]:
        return (who.id_number, who.name) if isinstance(who, Person) else (who, None)

    def civil_affairs(self, who: Person | str, **values: Any) -> None:
        idn, name = self._who(who)
        base = {
            "name": name,
            "assistance_kind": "农村低保",
            "head_id_number": None,
            "covered_persons": 1,
            "monthly_amount": Decimal("450"),
            "start_on": date(2022, 3, 1),
            "end_on": None,
            "status": "在保",
            "township": None,
            "village": None,
        }
        self._add("civil_affairs", "id_number", idn, **(base | values))

    def medical(self, who: Person | str, **values: Any) -> None:
        idn, name = self._who(who)
        base = {
            "name": name,
            "year": self.year,
            "insurance_kind": "城乡居民基本医疗保险",
            "enrolment_status": "正常参保",
            "premium_subsidy": None,
            "total_cost": Decimal("0"),
            "fund_paid": Decimal("0"),
            "self_paid": Decimal("0"),
        }
        values = base | values
        for k in ("total_cost", "fund_paid", "self_paid"):
            values[k] = Decimal(str(values[k]))
        self._add("medical", "id_number", idn, **values)

    def education(self, who: Person | str, **values: Any) -> None:
        idn, name = self._who(who)
        base = {
            "name": name,
            "school_year": self.year,
            "school": "红星小学",
            "stage": "小学",
            "grade": "三年级",
            "status": "在读",
        }
        self._add("education", "id_number", idn, **(base | values))

    def disability(self, who: Person | str, **values: Any) -> None:
        """A certificate: 残疾人证号 = the ID number + category and level digits."""
        idn, name = self._who(who)
        base = {
            "name": name,
            "category": "肢体",
            "level": "二级",
            "issued_on": date(2020, 5, 1),
            "status": "有效",
        }
        values = base | values
        cert = idn + str(DISABILITY_CATEGORIES.index(values["category"]) + 1)
        cert += str(DISABILITY_LEVELS.index(values["level"]) + 1)
        values.setdefault("certificate_no", cert)
        self._add("disability", "id_number", idn, **values)

    def villages(self, **values: Any) -> None:
        base = {
            "load_id": "test",
            "source_file": "villages/v.xlsx",
            "sheet": "Sheet1",
            "row_number": len(self.rows["villages"]) + 2,
            "year": self.year,
            "county": "云岭县",
            "township": "城关镇",
            "village": "红星村",
            "village_group": None,
            "is_total": False,
        }
        self.rows["villages"].append(base | values)

    # --- writing ------------------------------------------------------------------

    def write(
        self, path: Path | str, feeds: tuple[str, ...] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Create the warehouse at ``path`` with the collected rows of ``feeds``
        (default: every feed that has rows). Returns an open connection."""
        con = duckdb.connect(str(path))
        create_all(con)
        for feed, rows in self.rows.items():
            if feeds is not None and feed not in feeds or not rows:
                continue
            insert_rows(con, feed, rows)
        return con


def insert_rows(con: duckdb.DuckDBPyConnection, feed: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows into ``feed``'s table, normalising ID columns like ingest does."""
    spec = SPECS[feed]
    types = dict(spec.normalised_columns())
    frame = pl.DataFrame(rows, infer_schema_length=None, strict=False)
    for col in spec.id_columns:
        raw = f"{col.field}_raw"
        numeric = "_numeric" if "_numeric" in frame.columns else None
        frame = normalise_frame(
            frame,
            raw,
            stored_as_number=numeric,
            id_number=col.field,
            problem=f"{col.field}_problem",
        )
    frame = frame.drop([c for c in frame.columns if c not in types])
    con.register("bd_test_rows", frame.to_arrow())
    cols = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in frame.columns)
    con.execute(f'INSERT INTO "{feed}" BY NAME SELECT {cols} FROM bd_test_rows')
    con.unregister("bd_test_rows")


# --- cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    code: str
    build: Callable[[Builder], None]
    fires: tuple[str, ...]
    quiet: tuple[str, ...]


def case(code: str, fires: tuple[str, ...] | str = (), quiet: tuple[str, ...] | str = ()):
    """Decorator registering a case: households ``fires`` must raise ``code``,
    households ``quiet`` must not (near misses)."""

    def wrap(fn: Callable[[Builder], None]) -> Case:
        return Case(
            code,
            fn,
            (fires,) if isinstance(fires, str) else tuple(fires),
            (quiet,) if isinstance(quiet, str) else tuple(quiet),
        )

    return wrap


def expectations(cases: list[Case]) -> list[tuple[str, str, bool]]:
    """(rule code, household id, must fire) for pytest parametrisation."""
    out = [(c.code, h, True) for c in cases for h in c.fires]
    out += [(c.code, h, False) for c in cases for h in c.quiet]
    hids = [h for _, h, _ in out]
    assert len(hids) == len(set(hids)), "household ids must be unique across a module's cases"
    return out


def findings_by_household(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[dict]]:
    """(rule code, household id) → findings rows as dicts."""
    cur = con.execute("SELECT * FROM findings")
    cols = [d[0] for d in cur.description]
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in cur.fetchall():
        r = dict(zip(cols, row, strict=True))
        out[(r["rule_code"], r["household_id"])].append(r)
    return out
