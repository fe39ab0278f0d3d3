"""A generated prefecture: several demo counties side by side, with cross-county cases.

``generate_prefecture(out, counties, households, seed, …)`` writes

- ``out/inbox/<county>/<feed>/…``: each county a full demo county (as
  :func:`demo.generate` makes one) with its own name and 6-digit code, its own
  townships and villages, and people of its own (no ID number is shared by two
  counties except the planted cross-county cases);
- with ``prefecture_wide=True``, one hukou export of all counties in
  ``out/inbox/_prefecture/hukou/`` instead of the counties' own hukou files
  (every 住址 names the person's county);
- ``out/<county>/truth.csv`` and ``out/<county>/near_misses.csv``: each county's
  single-county truth, as :func:`demo.generate` writes it (the cross-county cases
  trip no single-county rule);
- ``out/truth_cross_county.csv``: the cross-county cases, one row per county list
  that must get the finding (a person registered in two counties: two rows);
- ``out/prefecture.json``: the counties (name, code, households, seed, capital).

Cross-county cases (:data:`CROSS_COUNTY_CODES`), ``cross_cases`` of each per county:
a person in the registers of two counties in the working year; a car and a flat
filed in the prefecture capital (the first county) for a member of a household in
帮扶 (current) of another county; a company, a tax record and a 机关事业单位 pension
filed in another county for a few more. The people are planned here: their numbers,
names and birth dates are given to the counties, which put them on a clean register
member of theirs before any record is made, so every county can be generated in its
own process at the same time.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import resource
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from demo import pools as P
from demo.county import PENSION_PUBLIC, Builder, County, Household, Person
from demo.ids import make_id, plate
from demo.inject import Injector
from demo.model import age_dec31
from demo.single import EXPORT_FORMATS, GenerateResult, generate_county

log = logging.getLogger(__name__)

CROSS_COUNTY_CODES = {
    "duplicate": "id_duplicate_cross_county",
    "car": "owns_car_cross_county",
    "flat": "owns_urban_property_cross_county",
    "business": "business_owner_cross_county",
    "tax": "tax_income_exceeds_register_cross_county",
    "public": "public_employee_cross_county",
}
"""Kind of cross-county case → the rule code its truth rows carry."""

CROSS_TRUTH_COLUMNS = (
    "rule_code",
    "county",
    "id_number",
    "name",
    "other_county",
    "household_id",
    "township",
    "village",
    "note",
)
"""``county``: the county whose list gets the finding (the person's register);
``other_county``: the county of the other register or of the department record."""

# 6-digit codes python-stdnum accepts for every birth year (so every number is
# valid); the capital borrows 个旧市, the second county keeps the demo county's 红河县.
COUNTY_CODES = tuple(
    """532501 532529 530124 532322 532323 532324 532325 532326 532327 532328 532329 532523
    532525 532527 532528 532530 532531 532532 532622 532623 532624 532625 532626 532627
    532628 532822 532823 532922 532923 532924 532925 532926 532927 532928 532929 532930
    532931 532932 533122 533123 533124 533323 533324 533325 533422 533423 520201 520203
    522323 522324 522325 522326 522327 522328 522622 522623 522624 522625 522626 522627
    522628 522629 522630 522631 522632 522633 522634 522635 522636 522701 522722 522723
    522725 522726 522727 522728 522729 522730 522731 522732 510121 510321 510421 510422
    513221 513222 513223 513224 513225 513226 513227 513228 513230 513231 513232 513233
    513322 513323 513324 513325""".split()
)
# Codes valid for births before 1988 (the "old" code some older people carry).
OLD_CODES = tuple(
    """532522 532524 530121 530122 530123 532101 532122 532123 532124 532125 532126 532127
    532128 532129 532130 532131 532223 532224 532225 532226 532227 532228 532231 532233
    532331 532422 532423 532424 532425 532426 532427 532428 532429 532526 532621 532721
    532722 532723 532724 532725 532726 532727 532728 532729 532730 532821 533022 533023
    533024 533025 533121 533125 533221 533222 533223 533224 533321 533421 533521 533522
    533523 533524 533525 533526 533527 533528 520202 522101 522121 522122 522123 522124
    522125 522126 522127 522128 522129 522130 522131 522132 522221 522222 522223 522224
    522225 522226 522227 522228 522229 522230 522321 522322 522421 522422 522423 522424
    522425 522426 522427 522428""".split()
)
# Born elsewhere, valid in every year, no county's code: stand in for the ones removed.
SPARE_AREA_CODES = ("513326", "513327", "513328", "513329")
COUNTY_LIMIT = len(COUNTY_CODES)
"""Most counties a prefecture can have (one code each)."""

_NAME_A = "云 澜 雾 鹤 岚 碧 翠 霞 苍 枫 雁 鹭 玉 银 丹 紫 松 星 晴 烟".split()
_NAME_B = "岭 溪 峰 川 湾 屏 源 泉 坪 江".split()


def county_names(n: int) -> list[str]:
    """``n`` fictional county names: the capital ``滇阳市``, then ``云岭县`` (the demo
    county's), then two syllables + 县; none contains another."""
    rest = [a + b for a in _NAME_A for b in _NAME_B if a + b != "云岭"]
    random.Random(14).shuffle(rest)
    names = ["滇阳市", "云岭县"] + [x + "县" for x in rest]
    if n > len(names):
        raise ValueError(f"at most {len(names)} county names")
    return names[:n]


@dataclass(frozen=True)
class CountySpec:
    """One county of the prefecture."""

    index: int
    name: str
    code: str
    old_code: str
    seed: int
    households: int

    @property
    def capital(self) -> bool:
        return self.index == 0


def county_specs(n: int, seed: int, households: int | Sequence[int]) -> list[CountySpec]:
    """The counties: names, codes, seeds and sizes (``households`` per county or one
    number for all)."""
    if not 1 <= n <= COUNTY_LIMIT:
        raise ValueError(f"counties must be 1 to {COUNTY_LIMIT}, not {n}")
    sizes = [households] * n if isinstance(households, int) else list(households)
    if len(sizes) != n:
        raise ValueError(f"{len(sizes)} household counts for {n} counties")
    return [
        CountySpec(i, name, COUNTY_CODES[i], OLD_CODES[i], seed * 1009 + i * 7 + 1, sizes[i])
        for i, name in enumerate(county_names(n))
    ]


@contextlib.contextmanager
def county_pools(spec: CountySpec, prefecture_codes: frozenset[str]) -> Iterator[None]:
    """The word pools as this county's: its name and codes, and no other county's code
    for people born elsewhere. Restored on exit (not thread-safe: one county at a time
    per process)."""
    names = ("COUNTY", "COUNTY_CODE", "OLD_COUNTY_CODE", "OTHER_AREA_CODES_YN")
    names += ("OTHER_AREA_CODES_CN",)
    saved = {n: getattr(P, n) for n in names}
    yn = [c for c in saved["OTHER_AREA_CODES_YN"] if c not in prefecture_codes]
    cn = [c for c in saved["OTHER_AREA_CODES_CN"] if c not in prefecture_codes]
    P.COUNTY, P.COUNTY_CODE, P.OLD_COUNTY_CODE = spec.name, spec.code, spec.old_code
    P.OTHER_AREA_CODES_YN = yn + list(SPARE_AREA_CODES)
    P.OTHER_AREA_CODES_CN = cn
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(P, n, v)


@dataclass(frozen=True)
class Identity:
    """A person of a cross-county case, planned before the counties are made.

    ``home``: the county whose register gets the person (and whose list gets the
    finding); ``other``: the county of the second register (``duplicate``) or where
    the department record is filed."""

    key: str
    kind: str
    id: str
    name: str
    gender: str
    birth: dt.date
    ethnicity: str
    home: int
    other: int


def plan_identities(
    specs: list[CountySpec], seed: int, working_year: int, cross_cases: int
) -> list[Identity]:
    """The cross-county people: ``cross_cases`` of each kind per county."""
    n = len(specs)
    if n < 2:
        return []
    names = Builder(0, seed * 7919 + 101, working_year)  # its name and birth helpers only
    rng = names.rng
    used: set[str] = set()
    out: list[Identity] = []

    def add(kind: str, home: int, other: int, c: int) -> None:
        gender = "男" if rng.random() < 0.5 else "女"
        birth = names.birth(rng.randint(28, 50))
        spec = specs[home]
        area = spec.old_code if birth.year < 1988 and rng.random() < 0.3 else spec.code
        number = make_id(rng, area, birth, gender == "男", used)
        eth = rng.choices(names.eth, cum_weights=names.eth_w)[0]
        name = names.surname() + names.given(gender)
        key = f"{kind}-{home}-{other}-{c}"
        out.append(Identity(key, kind, number, name, gender, birth, eth, home, other))

    for c in range(cross_cases):
        for i in range(n):
            add("duplicate", i, (i + 1) % n, c)
            if i != 0:
                add("car", i, 0, c)
                add("flat", i, 0, c)
            add("business", i, (i + 1) % n, c)
            add("tax", i, (i + 2) % n if n > 2 else (i + 1) % n, c)
            add("public", i, (i - 1) % n, c)
    return out


@dataclass
class CountyJob:
    """What one worker makes: a county with its share of the cross-county cases."""

    spec: CountySpec
    truth_dir: Path
    inbox: Path
    problems_per_rule: int
    working_year: int
    export_format: str
    mixed: bool
    run_date: dt.date | None
    counties: int
    prefecture_codes: frozenset[str]
    identities: tuple[Identity, ...]
    hukou_part: Path | None = None


@dataclass
class Adopted:
    """Where a planned person was put in a county's register (working year)."""

    household_id: str
    township: str
    village: str


@dataclass
class CountyOutcome:
    """What a worker reports back."""

    spec: CountySpec
    result: GenerateResult
    adopted: dict[str, Adopted]
    """Identity key → where it sits in this county's register."""
    filed: dict[str, str]
    """Identity key → note of the department record filed here for it."""
    register_ids: frozenset[str]
    """Valid ID numbers of the working year's register."""
    record_ids: frozenset[str]
    """ID numbers of records a cross-county department rule could flag: any vehicle,
    company or tax row, urban property, 机关事业单位 pension."""
    peak_rss_mb: float


def _candidate(hh: Household, ident: Identity, Y: int) -> Person | None:
    """A clean register member of ``hh`` who can take the person's identity: same
    gender, not the head, in every year, 25–55, healthy, not in school, no records
    of wages or tax (so nothing of theirs is flagged in another county)."""
    if hh.used or hh.first_year != Y - 2 or Y not in hh.years:
        return None
    if ident.kind != "duplicate" and not hh.current:
        return None
    if ident.kind == "tax" and hh.years[Y].wage > 100000:
        return None
    for ms in hh.members:
        p = ms.person
        if ms.relation == "户主" or p.gender != ident.gender:
            continue
        if ms.first_year > Y - 2 or ms.last_year != Y or p.status != "正常":
            continue
        if not 25 <= age_dec31(p.birth, Y) <= 55 or p.health != "健康":
            continue
        if p.enterprise_si or p.taxed:
            continue
        rows = [m for hy in hh.years.values() for m in hy.members if m.person is p]
        if len(rows) != 3 or any(m.school_status != "非在校生" for m in rows):
            continue
        return p
    return None


def _adopt(b: Builder, hhs: list[Household], job: CountyJob) -> dict[str, Adopted]:
    """Put the planned people this county registers on clean members (before any of
    their records are made) and keep their households free of planted problems."""
    Y = job.working_year
    idx = job.spec.index
    rng = random.Random(job.spec.seed * 31 + 7)
    pool = list(hhs)
    rng.shuffle(pool)
    out: dict[str, Adopted] = {}
    for ident in job.identities:
        if not (ident.home == idx or (ident.kind == "duplicate" and ident.other == idx)):
            continue
        for hh in pool:
            p = _candidate(hh, ident, Y)
            if p is None:
                continue
            p.id, p.name, p.birth, p.ethnicity = ident.id, ident.name, ident.birth, ident.ethnicity
            p.hukou_name = None
            for hy in hh.years.values():
                for m in hy.members:
                    if m.person is p:
                        m.id_number = m.id_raw = ident.id
                        m.name = ident.name
                        m.person_id = f"{ident.id[:6]}{p.pid:08d}"
            hh.used = True
            hy = hh.years[Y]
            out[ident.key] = Adopted(hh.hid, hy.township, hy.village)
            break
        else:
            log.warning("%s: no register member fits %s", job.spec.name, ident.key)
    return out


def _file_records(county: County, b: Builder, job: CountyJob) -> dict[str, str]:
    """The department records filed here for people of other counties."""
    Y = job.working_year
    idx = job.spec.index
    rng = random.Random(job.spec.seed * 37 + 11)
    town = county.towns[0]
    out: dict[str, str] = {}
    for ident in job.identities:
        if ident.kind == "duplicate" or ident.other != idx:
            continue
        day = dt.date(Y - 1, rng.randint(1, 12), rng.randint(1, 28))
        if ident.kind == "car":
            vt = rng.choice(["小型轿车", "小型普通客车", "小型越野客车"])
            pl = plate(rng, P.PLATE_PREFIX, b.used_plates)
            county.vehicles.append([ident.id, ident.name, pl, vt, "非营运", day, "正常"])
            out[ident.key] = f"{P.COUNTY}登记{vt} {pl}"
        elif ident.kind == "flat":
            loc = (
                f"{P.COUNTY}{town}{rng.choice(P.STREETS)}{rng.randint(1, 200)}号"
                f"{rng.randint(1, 18)}幢{rng.randint(1, 6)}单元{rng.randint(1, 30)}0{rng.randint(1, 4)}室"
            )
            area = round(rng.uniform(70, 140), 2)
            county.property_.append(
                [ident.id, ident.name, loc, area, "住宅", "商品房", "城镇", day]
            )
            out[ident.key] = f"{P.COUNTY}城镇商品房 {loc}"
        elif ident.kind == "business":
            firm = (
                f"{P.COUNTY}{rng.choice(P.COMPANY_WORDS_A)}{rng.choice(P.COMPANY_WORDS_B)}有限公司"
            )
            county.business.append(
                [ident.id, ident.name, firm, b.credit("1"), "有限责任公司", "法定代表人", 50]
                + [day, "存续"]
            )
            out[ident.key] = f"有限责任公司“{firm}”法定代表人，注册资本50万元"
        elif ident.kind == "tax":
            firm = (
                f"{P.COUNTY}{rng.choice(P.COMPANY_WORDS_A)}{rng.choice(P.COMPANY_WORDS_B)}有限公司"
            )
            income = rng.randint(15, 20) * 10000
            paid = round((income - 60000) * 0.1, 2)
            county.tax.append([ident.id, ident.name, Y, income, paid, firm])
            out[ident.key] = f"{P.COUNTY}{Y}年个人所得税收入{income}元（{firm}）"
        elif ident.kind == "public":
            body, kind = rng.choice(P.PUBLIC_BODIES)
            employer = body.format(county=P.COUNTY, town=town)
            for year in (Y - 1, Y):
                county.social_insurance.append(
                    [ident.id, ident.name, PENSION_PUBLIC, "参保缴费", employer, kind, 3600, year]
                )
            out[ident.key] = f"{employer}机关事业单位养老保险参保缴费"
    return out


def _scrub_duplicates(county: County, job: CountyJob, adopted: dict[str, Adopted]) -> None:
    """People registered in two counties keep no vehicle, company or tax row (another
    county's cross-county rules would flag them beside the duplicate)."""
    ids = {i.id for i in job.identities if i.kind == "duplicate" and i.key in adopted}
    for rows in (county.vehicles, county.business, county.tax):
        for row in rows:
            if row[0] in ids:
                row[0] = None


def _flaggable(county: County, Y: int) -> frozenset[str]:
    ids = {r[0] for r in county.vehicles if r[0] is not None}
    ids |= {r[0] for r in county.business if r[0] is not None}
    ids |= {r[0] for r in county.tax if r[0] is not None}
    ids |= {r[0] for r in county.property_ if r[0] is not None and r[6] == "城镇"}
    ids |= {
        r[0]
        for r in county.social_insurance
        if r[0] is not None
        and r[7] == Y
        and (r[2] == PENSION_PUBLIC or r[5] in ("机关", "事业单位"))
    }
    return frozenset(ids)


def run_county(job: CountyJob) -> CountyOutcome:
    """Generate one county of the prefecture (in a worker process or in this one)."""
    spec = job.spec
    Y = job.working_year
    state: dict[str, object] = {}

    def after_households(b: Builder, hhs: list[Household]) -> None:
        state["adopted"] = _adopt(b, hhs, job)

    def after_inject(county: County, b: Builder, inj: Injector) -> None:
        adopted = state["adopted"]
        assert isinstance(adopted, dict)
        _scrub_duplicates(county, job, adopted)
        state["filed"] = _file_records(county, b, job)
        reg = {
            m.id_number
            for hh in county.households
            if Y in hh.years
            for m in hh.years[Y].members
            if m.id_problem is None
        }
        state["register_ids"] = frozenset(reg)
        state["record_ids"] = _flaggable(county, Y)

    with county_pools(spec, job.prefecture_codes):
        result = generate_county(
            job.truth_dir,
            spec.households,
            spec.seed,
            job.problems_per_rule,
            Y,
            job.export_format,
            job.mixed,
            job.run_date,
            inbox=job.inbox,
            hukou_part=job.hukou_part,
            reserved_ids=[i.id for i in job.identities],
            id_slot=(spec.index, job.counties),
            after_households=after_households,
            after_inject=after_inject,
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return CountyOutcome(
        spec=spec,
        result=result,
        adopted=state["adopted"],  # type: ignore[arg-type]
        filed=state["filed"],  # type: ignore[arg-type]
        register_ids=state["register_ids"],  # type: ignore[arg-type]
        record_ids=state["record_ids"],  # type: ignore[arg-type]
        peak_rss_mb=rss,
    )


@dataclass
class PrefectureResult:
    """What :func:`generate_prefecture` wrote."""

    out_dir: Path
    inbox: Path
    counties: list[GenerateResult]
    """Per county, in order (the capital first); ``out_dir`` is ``out/<county>``."""
    names: list[str]
    codes: list[str]
    cross_truth_csv: Path
    cross_rows: int
    cross_by_rule: dict[str, int]
    prefecture_wide: bool
    seconds: float
    jobs: int
    peak_rss_mb: float
    """Largest peak resident memory of a worker (MB)."""
    disk_bytes: int
    unplanned: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(rule, county, ID number, other county) cross-county overlaps of the files that
    are not in the truth file, or truth rows the files do not bear out: a generator
    bug if any."""
    unfitted: list[str] = field(default_factory=list)
    """Planned cases left out because no register member of a county fitted (tiny
    counties only; not in the truth file)."""

    def __str__(self) -> str:
        hh = sum(c.households for c in self.counties)
        return (
            f"{len(self.counties)} counties ({', '.join(self.names)}), {hh} households, "
            f"{sum(c.persons for c in self.counties)} register members; "
            f"{sum(c.truth_rows for c in self.counties)} county problems, "
            f"{self.cross_rows} cross-county findings"
            f"{', prefecture-wide hukou' if self.prefecture_wide else ''}; "
            f"{self.disk_bytes / 1e6:.0f} MB ({self.seconds:.1f}s, {self.jobs} processes)"
        )


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _check(outcomes: list[CountyOutcome], rows: list[list[str]]) -> list[tuple[str, ...]]:
    """Cross-county overlaps of the files against the planned rows (IDs only)."""
    planned = {(r[0], r[1], r[2], r[4]) for r in rows}
    seen: set[tuple[str, str, str, str]] = set()
    for a in outcomes:
        for b in outcomes:
            if a is b:
                continue
            for i in a.register_ids & b.register_ids:
                seen.add((CROSS_COUNTY_CODES["duplicate"], a.spec.name, i, b.spec.name))
            for i in a.register_ids & b.record_ids:
                seen.add(("department", a.spec.name, i, b.spec.name))
    dept = {(c, i, o) for r, c, i, o in planned if r != CROSS_COUNTY_CODES["duplicate"]}
    bad = [s for s in seen if s[0] != "department" and s not in planned]
    bad += [s for s in seen if s[0] == "department" and s[1:] not in dept]
    found = {s if s[0] != "department" else s[1:] for s in seen}
    for r, c, i, o in planned:
        if (r == CROSS_COUNTY_CODES["duplicate"] and (r, c, i, o) not in found) or (
            r != CROSS_COUNTY_CODES["duplicate"] and (c, i, o) not in found
        ):
            bad.append(("missing " + r, c, i, o))
    return sorted(bad)


def generate_prefecture(
    out: str | Path,
    counties: int = 3,
    households: int | Sequence[int] = 2000,
    seed: int = 0,
    problems_per_rule: int = 3,
    working_year: int = 2025,
    export_format: str = "today",
    mixed: bool = False,
    run_date: dt.date | None = None,
    prefecture_wide: bool = False,
    cross_cases: int = 1,
    jobs: int | None = None,
) -> PrefectureResult:
    """Generate a prefecture of ``counties`` demo counties into ``out`` (its ``inbox/``
    is replaced); see the module docstring for the layout.

    ``households`` is per county (one number, or one per county). ``cross_cases``:
    cases of each cross-county kind per county. ``jobs``: counties made at once, each
    in its own process (default: the cores, at most the counties; 1 = in this process).
    The other arguments are :func:`demo.generate`'s, for every county.
    Deterministic for a seed.
    """
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {EXPORT_FORMATS}, not {export_format!r}")
    t0 = time.perf_counter()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root / "inbox", ignore_errors=True)
    specs = county_specs(counties, seed, households)
    identities = tuple(plan_identities(specs, seed, working_year, cross_cases))
    codes = frozenset(s.code for s in specs) | frozenset(s.old_code for s in specs)
    part_dir = root / "inbox" / "_prefecture" / "hukou"
    jobs_ = [
        CountyJob(
            spec=s,
            truth_dir=root / s.name,
            inbox=root / "inbox" / s.name,
            problems_per_rule=problems_per_rule,
            working_year=working_year,
            export_format=export_format,
            mixed=mixed,
            run_date=run_date,
            counties=counties,
            prefecture_codes=codes,
            identities=identities,
            hukou_part=part_dir / f".part-{s.index:03d}.csv" if prefecture_wide else None,
        )
        for s in specs
    ]
    n_jobs = max(1, min(jobs or os.cpu_count() or 1, counties))
    if n_jobs == 1:
        outcomes = [run_county(j) for j in jobs_]
    else:
        # spawn: a clean interpreter per county (no inherited locks or DuckDB threads),
        # a fresh one per county so its memory is returned
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n_jobs, mp_context=ctx, max_tasks_per_child=1) as pool:
            outcomes = list(pool.map(run_county, jobs_))
    if prefecture_wide:
        _join_hukou(part_dir, specs, working_year)
    rows = _cross_rows(outcomes, identities)
    cross = root / "truth_cross_county.csv"
    with cross.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(CROSS_TRUTH_COLUMNS)
        w.writerows(rows)
    unplanned = _check(outcomes, rows)
    for u in unplanned:
        log.warning("cross-county case not as planned: %s", u)
    (root / "prefecture.json").write_text(
        json.dumps(
            {
                "prefecture": P.PREFECTURE,
                "working_year": working_year,
                "seed": seed,
                "prefecture_wide_hukou": prefecture_wide,
                "counties": [
                    {
                        "name": s.name,
                        "code": s.code,
                        "capital": s.capital,
                        "households": s.households,
                        "seed": s.seed,
                        "truth_csv": f"{s.name}/truth.csv",
                    }
                    for s in specs
                ],
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    by_rule: dict[str, int] = {}
    for r in rows:
        by_rule[r[0]] = by_rule.get(r[0], 0) + 1
    res = PrefectureResult(
        out_dir=root,
        inbox=root / "inbox",
        counties=[o.result for o in outcomes],
        names=[s.name for s in specs],
        codes=[s.code for s in specs],
        cross_truth_csv=cross,
        cross_rows=len(rows),
        cross_by_rule=by_rule,
        prefecture_wide=prefecture_wide,
        seconds=time.perf_counter() - t0,
        jobs=n_jobs,
        peak_rss_mb=max(o.peak_rss_mb for o in outcomes),
        disk_bytes=_du(root / "inbox"),
        unplanned=unplanned,  # type: ignore[arg-type]
        unfitted=[
            i.key
            for i in identities
            if i.key not in outcomes[i.home].adopted
            or (i.kind == "duplicate" and i.key not in outcomes[i.other].adopted)
        ],
    )
    log.info("generated prefecture %s", res)
    return res


def _cross_rows(outcomes: list[CountyOutcome], identities: tuple[Identity, ...]) -> list[list[str]]:
    """Truth rows of the cases that fitted: every county that registers the person
    and, for a department case, the record filed in the other county."""
    names = [o.spec.name for o in outcomes]
    rows: list[list[str]] = []
    for ident in identities:
        code = CROSS_COUNTY_CODES[ident.kind]
        home = outcomes[ident.home].adopted.get(ident.key)
        other = outcomes[ident.other]
        if ident.kind == "duplicate":
            there = other.adopted.get(ident.key)
            if home is None or there is None:
                continue
            for a, b, where, elsewhere in (
                (ident.home, ident.other, home, there),
                (ident.other, ident.home, there, home),
            ):
                note = f"同时登记在{names[b]}户 {elsewhere.household_id}"
                rows.append(
                    [code, names[a], ident.id, ident.name, names[b], where.household_id]
                    + [where.township, where.village, note]
                )
            continue
        note = other.filed.get(ident.key)
        if home is None or note is None:
            continue
        rows.append(
            [code, names[ident.home], ident.id, ident.name, names[ident.other]]
            + [home.household_id, home.township, home.village, note]
        )
    rows.sort(key=lambda r: (names.index(r[1]), r[0], r[2]))
    return rows


def _join_hukou(part_dir: Path, specs: list[CountySpec], working_year: int) -> None:
    """The counties' hukou rows as one prefecture-wide export (UTF-8, a title row)."""
    target = part_dir / "全州户籍人口信息.csv"
    header = ["公民身份号码", "姓名", "性别", "出生日期", "户号", "住址", "人员状态", "注销日期"]
    with target.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(
            [f"{P.PREFECTURE}公安局户籍人口信息（全州，导出日期：{working_year + 1}-01-06）"]
        )
        w.writerow(header)
        for s in specs:
            part = part_dir / f".part-{s.index:03d}.csv"
            with part.open(encoding="utf-8", newline="") as src:
                shutil.copyfileobj(src, f, 1 << 20)
            part.unlink()


__all__ = [
    "COUNTY_LIMIT",
    "CROSS_COUNTY_CODES",
    "CROSS_TRUTH_COLUMNS",
    "CountySpec",
    "PrefectureResult",
    "county_names",
    "county_specs",
    "generate_prefecture",
]
