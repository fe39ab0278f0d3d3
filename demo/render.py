"""Write the county as the files departments really send (data-contract.md).

The model holds clean values; messiness is added here and only in ways the
ingest can undo (title rows, alias headers, full-width brackets, a trailing 合计
row, GB18030 CSV, thousands separators, dates in several styles, ID numbers in
full-width digits, with spaces, an apostrophe, a lowercase ``x`` or the old
15-digit form, 15-digit numbers stored as Excel numbers). The only damage that
cannot be undone (18-digit numbers stored as Excel numbers, scientific notation)
is put on background people of department feeds, whose rows the ingest rejects,
and on the register rows of injected ``id_invalid`` problems.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from demo import pools as P
from demo.county import County, Household
from demo.ids import FULLWIDTH, damage, to_15
from demo.model import HouseholdYear, Member, age_dec31
from demo.xlsx import cells, write_fast, write_openpyxl
from department_feeds import FEEDS
from department_feeds.disability import CATEGORIES, LEVELS
from department_feeds.register import MEASURE_FIELDS

OLD_SCHOOL = {
    "七年级": "初一",
    "八年级": "初二",
    "九年级": "初三",
    "高中一年级": "高一",
    "高中二年级": "高二",
    "高中三年级": "高三",
}
OLD_TYPE = {"一般户": "一般贫困户", "低保户": "低保贫困户", "特困供养户": "特困供养贫困户"}


LEGACY_FIELDS = frozenset(
    """year county township village village_group household_id person_id name id_type id_number
    gender relation ethnicity education school_status health labour_skill work_status work_months
    has_medical_insurance has_critical_illness_insurance has_pension_insurance household_type
    household_status exit_year main_cause household_size phone household_net_income
    per_capita_net_income wage_income business_income property_income transfer_income
    business_expense dibao_payment destitute_payment pension_payment is_dangerous_house
    has_safe_water""".split()
)
"""Register fields the legacy 建档立卡 export of the working year has (its columns)."""


def _money_text(v: int) -> str:
    return f"{v:,.2f}"


def _date_text(d: dt.date | None, style: int) -> str:
    if d is None:
        return ""
    if style == 0:
        return d.isoformat()
    if style == 1:
        return f"{d.year}/{d.month}/{d.day}"
    if style == 2:
        return d.strftime("%Y%m%d")
    return f"{d.year}年{d.month}月{d.day}日"


Write = Callable[["Renderer"], None]
WRITERS: dict[str, Write] = {}
"""Feed name → the :class:`Renderer` method that writes its files (``@writes``)."""


def writes(feed: str) -> Callable[[Write], Write]:
    """``@writes("tax")``: register the method that writes a feed's files."""

    def register(fn: Write) -> Write:
        if feed not in FEEDS:
            raise KeyError(f"{fn.__name__}: {feed!r} is not a feed of department_feeds.SPECS")
        if feed in WRITERS:
            raise ValueError(f"two writers for feed {feed!r}")
        WRITERS[feed] = fn
        return fn

    return register


def missing_writers() -> list[str]:
    """Feeds of the registry the generator writes no file for (must be none)."""
    return [f for f in FEEDS if f not in WRITERS]


class Renderer:
    def __init__(
        self,
        county: County,
        out: Path,
        seed: int,
        village_overrides: Sequence[tuple[int, int, str | None, str, int]] = (),
        export_format: str = "today",
        inbox: Path | None = None,
        hukou_part: Path | None = None,
    ) -> None:
        self.c = county
        self.export_format = export_format
        self.village_overrides = list(village_overrides)
        self.inbox = inbox if inbox is not None else out / "inbox"
        self.hukou_part = hukou_part
        """A prefecture-wide hukou export: this county's rows go to this part file
        (no title, no header, ISO dates) instead of one file per township."""
        self.rng = random.Random(seed * 7919 + 17)
        self.files: dict[str, list[str]] = defaultdict(list)
        self.rows: dict[str, int] = defaultdict(int)

    # ------------------------------------------------------------------ IDs
    def messy_id(self, number: str, p: float, allow_number: bool) -> object:
        """Recoverable damage with probability ``p``; 15-digit numbers may be numbers."""
        r = self.rng
        if r.random() >= p:
            return number
        if allow_number and number[6:8] == "19" and r.random() < 0.25:
            return int(to_15(number))
        return damage(r, number)

    def broken_id(self, number: str, xlsx: bool) -> object:
        """Unrecoverable: an 18-digit number as an Excel number or in scientific notation."""
        if number.endswith("X"):
            return number[:-1] + "x"  # recoverable after all: X cannot be a number
        if xlsx:
            return int(number)
        return f"{float(number):.14E}"

    def dept_id(self, number: str, register: bool, xlsx: bool) -> object:
        r = self.rng
        if not register and r.random() < 0.002:
            return self.broken_id(number, xlsx)
        return self.messy_id(number, 0.03, xlsx)

    # ------------------------------------------------------------------ register
    @writes("register")
    def register(self) -> None:
        Y = self.c.working_year
        write = self._register_year if self.export_format == "legacy" else self._register_today
        for year, variant in ((Y - 2, "old"), (Y - 1, "mid"), (Y, "new")):
            write(year, variant)

    def _register_year(self, year: int, variant: str) -> None:
        r = self.rng
        c = self.c
        old, mid, new = variant == "old", variant == "mid", variant == "new"

        def col(canon: str, o: str | None = None, mi: str | None = None) -> str:
            return (o or canon) if old else ((mi or canon) if mid else canon)

        yn = (lambda b: "√" if b else None) if old else (lambda b: "是" if b else "否")
        headers = []
        getters = []

        def add(h: str, g) -> None:  # noqa: ANN001
            headers.append(h)
            getters.append(g)

        if not old:
            add(col("年度", mi="统计年度"), lambda hy, m: year if new else f"{year}年")
        add(col("县(市、区)", "县", "县（市、区）"), lambda hy, m: P.COUNTY)
        add(col("乡(镇)", "乡镇", "乡（镇）"), lambda hy, m: hy.township)
        add(col("行政村", "村"), lambda hy, m: hy.village)
        add(col("自然村(组)", "组", "自然村（组）"), lambda hy, m: hy.group)
        add(col("户编号", "户码"), lambda hy, m: hy.hid)
        if new:
            add("人编号", lambda hy, m: m.person_id)
        add(col("姓名", "成员姓名"), lambda hy, m: m.name)
        if new:
            add("证件类型", lambda hy, m: m.id_type)
        add(col("证件号码", "身份证号", "公民身份号码"), self._reg_id)
        add("性别", lambda hy, m: m.gender)
        add("与户主关系", lambda hy, m: m.relation)
        add("民族", lambda hy, m: m.person.ethnicity)
        add("文化程度", lambda hy, m: m.education)
        add(
            "在校生状况",
            lambda hy, m: (
                OLD_SCHOOL.get(m.school_status, m.school_status) if old else m.school_status
            ),
        )
        add("健康状况", lambda hy, m: m.health)
        add("劳动技能", lambda hy, m: m.labour_skill)
        add("务工状况", lambda hy, m: m.work_status)
        add(
            col("务工时间(月)", mi="务工时间（月）"),
            lambda hy, m: (
                f"{m.work_months}个月"
                if mid and m.work_months and r.random() < 0.2
                else m.work_months
            ),
        )
        add(
            col("是否参加城乡居民基本医疗保险", "参加基本医疗保险", "是否参加医保"),
            lambda hy, m: yn(m.med),
        )
        # some systems export Y/N for this one
        add("是否参加大病保险", lambda hy, m: ("Y" if m.crit else "N") if mid else yn(m.crit))
        add(
            col("是否参加城乡居民基本养老保险", "参加养老保险", "是否参加养老保险"),
            lambda hy, m: yn(m.pension),
        )
        add(
            col("户类型", "贫困户属性"),
            lambda hy, m: (
                OLD_TYPE[self._hv(hy, m, "household_type")]
                if old
                else self._hv(hy, m, "household_type")
            ),
        )
        add(col("户状态", "贫困户状态"), lambda hy, m: self._hv(hy, m, "status"))
        add(
            "脱贫年度",
            lambda hy, m: (f"{hy.exit_year}年" if old else hy.exit_year) if hy.exit_year else None,
        )
        add("主要致贫原因", lambda hy, m: self._hv(hy, m, "cause"))
        add("家庭人口数", lambda hy, m: hy.size)
        add(col("联系电话", "手机号码", "联系方式"), lambda hy, m: self._hv(hy, m, "phone"))
        if old:
            money = _money_text
        elif new:
            # a few cells typed as text with the unit, as clerks do
            money = lambda v: f"{v}元" if v and r.random() < 0.03 else v  # noqa: E731
        else:
            money = lambda v: v  # noqa: E731
        add(col("家庭年纯收入", "家庭纯收入(元)", "家庭纯收入（元）"), lambda hy, m: money(hy.net))
        add(
            col("年人均纯收入", "家庭人均纯收入(元)", "人均纯收入"),
            lambda hy, m: money(hy.per_capita),
        )
        yuan = "（元）" if mid else ""
        add("工资性收入" + yuan, lambda hy, m: money(hy.wage))
        add("生产经营性收入" + yuan, lambda hy, m: money(hy.business))
        add("财产性收入" + yuan, lambda hy, m: money(hy.prop))
        add("转移性收入" + yuan, lambda hy, m: money(hy.transfer))
        add("生产经营性支出" + yuan, lambda hy, m: money(hy.expense))
        add(col("低保金") + yuan, lambda hy, m: money(hy.dibao))
        add(col("特困供养金", "五保金") + yuan, lambda hy, m: money(hy.destitute))
        add(col("养老金", "养老保险金") + yuan, lambda hy, m: money(hy.pension_pay))
        if old:
            add("住房是否安全", lambda hy, m: "否" if hy.dangerous else "是")
            add("饮水安全", lambda hy, m: "是" if hy.safe_water else "否")
        else:
            add("是否危房", lambda hy, m: "是" if hy.dangerous else "否")
            add("饮水是否安全", lambda hy, m: "是" if hy.safe_water else "否")

        rows: list[list[object]] = [
            [f"{P.COUNTY}{year}年建档立卡人口信息表"] + [None] * (len(headers) - 1),
            [f"填报单位：{P.COUNTY}乡村振兴局", None, None, None, None, "单位：元、人"]
            + [None] * (len(headers) - 6),
        ]
        if mid:
            # two header rows, as the national system exports: income components under
            # a merged parent cell "其中：收入构成(元)", everything else in the top row
            parts = {
                "工资性收入",
                "生产经营性收入",
                "财产性收入",
                "转移性收入",
                "生产经营性支出",
                "低保金",
                "特困供养金",
                "养老金",
            }
            top: list[object] = []
            sub: list[object] = []
            for h in headers:
                if h.replace("（元）", "") in parts:
                    top.append(
                        None
                        if any(t == "其中：收入构成(元)" for t in top)
                        else "其中：收入构成(元)"
                    )
                    sub.append(h.replace("（元）", ""))
                else:
                    top.append(h)
                    sub.append(None)
            rows += [top, sub]
        else:
            rows.append(headers)
        n = 0
        for hh in c.households:
            hy = hh.years.get(year)
            if hy is None:
                continue
            for m in hy.members:
                rows.append([g(hy, m) for g in getters])
                n += 1
        self._write_register_file(year, old, headers, rows, n)

    def _write_register_file(self, year: int, old: bool, headers: list, rows: list, n: int) -> None:
        """A blank row and the 合计 row under ``n`` person rows, then the file (either export)."""
        rows.append([None] * len(headers))
        total = ["合计"] + [None] * (len(headers) - 1)
        total[headers.index("家庭人口数")] = n
        rows.append(total)
        name = f"register/{year}年{'建档立卡' if not old else '脱贫'}人口.xlsx"
        write_fast(self.inbox / name, rows, sheet=f"{year}年", merge_first_row=len(headers))
        self.files["register"].append(name)
        self.rows["register"] += n

    # ------------------------------------------------------------------ register, today
    def _register_today(self, year: int, variant: str) -> None:
        """One year of today's 防返贫监测 export (monitoring.md §1): the person's
        columns, then the household's monitoring record, 帮扶措施 and income, the
        same on every member's row. ``variant`` varies the spellings and the layout
        (old: no 年度, short headers, √, money as text; mid: a second header row
        under 帮扶措施 and 收入构成, codes and the other aliases; new: canonical)."""
        r = self.rng
        old, mid, new = variant == "old", variant == "mid", variant == "new"

        def col(canon: str, o: str | None = None, mi: str | None = None) -> str:
            return (o or canon) if old else ((mi or canon) if mid else canon)

        def yn(b: bool | None) -> str | None:
            if b is None:
                return None
            return ("√" if b else None) if old else ("是" if b else "否")

        if old:
            money = _money_text
            date = lambda d: _date_text(d, 2)  # noqa: E731
        elif mid:
            money = lambda v: v  # noqa: E731
            date = lambda d: _date_text(d, 1 if r.random() < 0.7 else 3)  # noqa: E731
        else:
            # a few cells typed as text with the unit, as clerks do
            money = lambda v: f"{v}元" if v and r.random() < 0.03 else v  # noqa: E731
            date = lambda d: d  # noqa: E731

        person: list[tuple[str, Callable[[HouseholdYear, Member], object]]] = []
        if not old:
            person.append((col("年度", mi="统计年度"), lambda hy, m: year if new else f"{year}年"))
        person += [
            (col("县(市、区)", "县", "县（市、区）"), lambda hy, m: P.COUNTY),
            (col("乡(镇)", "乡镇", "乡（镇）"), lambda hy, m: hy.township),
            (col("行政村", "村"), lambda hy, m: hy.village),
            (col("自然村(组)", "组", "自然村（组）"), lambda hy, m: hy.group),
            (col("户编号", "户码"), lambda hy, m: hy.hid),
        ]
        if not old:
            person.append(("人编号", lambda hy, m: m.person_id))
        person += [
            (col("姓名", "成员姓名"), lambda hy, m: m.name),
            ("证件类型", lambda hy, m: m.id_type),
            (col("证件号码", "身份证号", "公民身份号码"), self._reg_id),
        ]
        if new:
            person.append(("出生日期", lambda hy, m: m.person.birth))
        person += [
            ("性别", lambda hy, m: m.gender),
            ("与户主关系", lambda hy, m: m.relation),
            ("民族", lambda hy, m: m.person.ethnicity),
            ("文化程度", lambda hy, m: m.education),
            (
                "在校生状况",
                lambda hy, m: (
                    OLD_SCHOOL.get(m.school_status, m.school_status) if old else m.school_status
                ),
            ),
        ]
        if new:
            person.append(("义务教育阶段未上学原因", lambda hy, m: None))
        person += [
            ("健康状况", lambda hy, m: m.health),
            ("劳动技能", lambda hy, m: m.labour_skill),
            ("务工状况", lambda hy, m: m.work_status),
            (
                col("务工时间(月)", mi="务工时间（月）"),
                lambda hy, m: (
                    f"{m.work_months}个月"
                    if mid and m.work_months and r.random() < 0.2
                    else m.work_months
                ),
            ),
            (
                col("是否参加城乡居民基本医疗保险", "参加基本医疗保险", "是否参加医保"),
                lambda hy, m: yn(m.med),
            ),
            (
                "是否参加大病保险",
                lambda hy, m: ("Y" if m.crit else "N") if mid else yn(m.crit),
            ),
            ("是否参加城镇职工基本医疗保险", lambda hy, m: yn(m.emp_med)),
            (
                col("是否参加城乡居民基本养老保险", "参加养老保险", "是否参加养老保险"),
                lambda hy, m: yn(m.pension),
            ),
            ("是否参加城镇职工基本养老保险", lambda hy, m: yn(m.emp_pension)),
            ("享受低保政策情况", lambda hy, m: m.dibao_status),
            (col("享受特困供养政策情况", mi="享受特困政策情况"), lambda hy, m: m.destitute_status),
            (
                col("合规自付支出", mi="合规自付医疗费用"),
                lambda hy, m: None if m.self_paid is None else money(m.self_paid),
            ),
        ]
        yuan = "（元）" if mid else ""
        measure_headers = [
            col(h, mi={"公益岗位帮扶": "公益性岗位", "搬迁": "易地扶贫搬迁"}.get(h))
            for _, h, _ in MEASURE_FIELDS
        ]
        house = [
            "户类型",
            "监测对象类别",
            col("识别监测时间", mi="纳入监测时间"),
            "风险是否已消除",
            col("消除监测时间", mi="风险消除时间"),
            "风险消除方式",
            *(col(f"致贫/返贫风险{i}", mi=f"致贫返贫风险{i}") for i in range(1, 6)),
            *measure_headers,
            "整户无劳动能力兜底保障户",
            "脱贫年度",
            "主要致贫原因",
            "家庭人口数",
            col("联系电话", "手机号码", "户联系电话"),
            col("家庭年纯收入", "家庭纯收入(元)", "家庭纯收入（元）"),
            col("年人均纯收入", "家庭人均纯收入(元)", "人均纯收入（元）"),
            *(
                h + yuan
                for h in (
                    "工资性收入",
                    "生产经营性收入",
                    "财产性收入",
                    "转移性收入",
                    "生产经营性支出",
                    "低保金",
                    "特困供养金",
                    "养老金",
                )
            ),
            col("是否危房", "住房是否安全", "是否危房户"),
            col("饮水是否安全", "饮水安全", "是否解决安全饮用水"),
        ]
        cause_at = house.index("主要致贫原因")
        phone_at = house.index(col("联系电话", "手机号码", "户联系电话"))

        def household(hy: HouseholdYear, hh: Household) -> list[object]:
            mon = hh.mon
            assert mon is not None
            kind, category, eliminated = mon.view(year, hh.exit_year)
            monitored = category is not None
            done = eliminated is True
            risks: list[object] = [self._risk(w, mon.codes) for w in mon.risks] if monitored else []
            risks += [None] * (5 - len(risks))
            return [
                kind,
                category,
                date(mon.mon_from) if monitored else None,
                yn(eliminated) if monitored else None,
                date(mon.mon_to) if done else None,
                mon.mode if done else None,
                *risks,
                *(mon.measures.get(f) or None for f, _, _ in MEASURE_FIELDS),
                yn(mon.safety_net),
                (f"{hy.exit_year}年" if old else hy.exit_year) if hy.exit_year else None,
                hy.cause,
                hy.size,
                hy.phone,
                money(hy.net),
                money(hy.per_capita),
                money(hy.wage),
                money(hy.business),
                money(hy.prop),
                money(hy.transfer),
                money(hy.expense),
                money(hy.dibao),
                money(hy.destitute),
                money(hy.pension_pay),
                ("否" if hy.dangerous else "是") if old else ("是" if hy.dangerous else "否"),
                "是" if hy.safe_water else "否",
            ]

        headers = [h for h, _ in person] + house
        # the place columns (up to 户编号) are the household's too: rendered once
        n_place = [h for h, _ in person].index(col("户编号", "户码")) + 1
        place = [g for _, g in person[:n_place]]
        getters = [g for _, g in person[n_place:]]
        title = (
            f"{P.COUNTY}{year}年脱贫户和监测对象家庭成员信息表"
            if not mid
            else f"全国防返贫监测信息系统  {P.COUNTY}{year}年度脱贫人口和监测对象信息"
        )
        rows: list[list[object]] = [
            [title] + [None] * (len(headers) - 1),
            [f"填报单位：{P.COUNTY}乡村振兴局", None, None, None, None, "单位：元、人"]
            + [None] * (len(headers) - 6),
        ]
        if mid:
            # two header rows, as the national system exports: the measures under a
            # merged 帮扶措施, the income components under 其中：收入构成(元)
            parents = {h: "帮扶措施" for h in measure_headers} | {
                h + yuan: "其中：收入构成(元)"
                for h in ("工资性收入", "生产经营性收入", "财产性收入", "转移性收入")
                + ("生产经营性支出", "低保金", "特困供养金", "养老金")
            }
            top: list[object] = []
            sub: list[object] = []
            for h in headers:
                parent = parents.get(h)
                if parent is None:
                    top.append(h)
                    sub.append(None)
                else:
                    top.append(None if parent in top else parent)
                    sub.append(h.replace("（元）", ""))
            rows += [top, sub]
        else:
            rows.append(headers)
        n = 0
        for hh in self.c.households:
            hy = hh.years.get(year)
            if hy is None:
                continue
            values = household(hy, hh)
            shared = cells(values)  # rendered once for all members
            head = [cells(g(hy, hy.members[0]) for g in place)] if hy.members else []
            for m in hy.members:
                tail = shared
                if m.overrides:
                    own = list(values)
                    own[cause_at] = m.overrides.get("cause", hy.cause)
                    own[phone_at] = m.overrides.get("phone", hy.phone)
                    tail = cells(own)
                rows.append(head + [g(hy, m) for g in getters] + [tail])
                n += 1
        self._write_register_file(year, old, headers, rows, n)

    def _risk(self, word: str, codes: bool) -> str:
        """A risk type as the export writes it: a national code or a word."""
        r = self.rng
        if codes and word == "因灾":
            return r.choice(P.DISASTER_CODES)
        if codes and word in P.RISK_CODES:
            code = P.RISK_CODES[word]
            return code.lstrip("0") if r.random() < 0.1 else code
        return r.choice(P.RISK_SPELLINGS.get(word, (word,)))

    def _reg_id(self, hy: HouseholdYear, m: Member) -> object:
        if m.id_problem is not None or m.id_raw != m.id_number:
            return m.id_raw
        return self.messy_id(m.id_number, 0.04, True)

    @staticmethod
    def _hv(hy: HouseholdYear, m: Member, attr: str) -> object:
        if m.overrides and attr in m.overrides:
            return m.overrides[attr]
        return getattr(hy, attr)

    # ------------------------------------------------------------------ villages
    @writes("villages")
    def villages(self) -> None:
        overrides = self.village_overrides
        c = self.c
        for year in c.years:
            stats: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
            for hh in c.households:
                hy = hh.years.get(year)
                if hy is None:
                    continue
                s = stats[(hh.village, hy.group)]
                s[0] += 1
                s[1] += len(hy.members)
                s[2] += 1
                s[3] += len(hy.members)
                s[4] += hy.household_type == "低保户"
                s[5] += sum(
                    1
                    for m in hy.members
                    if 16 <= age_dec31(m.person.birth, year) <= 64 and m.school_status == "非在校生"
                )
            for v in c.villages:
                for g in v.groups:
                    s = stats[(v.idx, g)]
                    s[0] += v.bg_households.get(g, 0)
                    s[1] += v.bg_persons.get(g, 0)
                    s[5] += v.bg_labour.get(g, 0)
            # village totals from the groups, then the injected disagreements
            group_vals = {k: list(s) for k, s in stats.items()}
            totals: dict[int, list[int]] = {}
            for v in c.villages:
                totals[v.idx] = [
                    sum(group_vals.get((v.idx, g), [0] * 6)[i] for g in v.groups) for i in range(6)
                ]
            fields = [
                "households_total",
                "persons_total",
                "registered_households",
                "registered_persons",
                "dibao_households",
                "labour_force",
            ]
            for oy, vidx, group, fld, delta in overrides:
                if oy != year:
                    continue
                i = fields.index(fld)
                if group is None:
                    totals[vidx][i] += delta
                else:
                    group_vals.setdefault((vidx, group), [0] * 6)[i] += delta
            old = year == c.working_year - 2
            headers = [
                "年度",
                "县(市、区)",
                "乡(镇)",
                "行政村",
                "自然村(组)",
                "总户数",
                "总人口数",
                "脱贫户数" if old else "建档立卡户数",
                "脱贫人口数" if old else "建档立卡人口数",
                "低保户数",
                "劳动力人数",
            ]
            rows: list[list[object]] = [
                [f"{P.COUNTY}{year}年村组基本情况统计表"] + [None] * 10,
                headers,
            ]
            grand = [0] * 6
            for v in c.villages:
                town = c.towns[v.town]
                for g in v.groups:
                    rows.append(
                        [year, P.COUNTY, town, v.name, g, *group_vals.get((v.idx, g), [0] * 6)]
                    )
                t = totals[v.idx]
                rows.append([year, P.COUNTY, town, v.name, None if old else "合计", *t])
                grand = [a + b for a, b in zip(grand, t, strict=True)]
            rows.append([None, "合计", None, None, None, *grand])
            name = f"villages/{year}年村组统计.xlsx"
            write_openpyxl(self.inbox / name, rows, sheet="村组统计", merge_first_row=11)
            self.files["villages"].append(name)
            self.rows["villages"] += len(rows) - 3

    # ------------------------------------------------------------------ hukou
    @writes("hukou")
    def hukou(self) -> None:
        c = self.c
        r = self.rng
        by_town: dict[int, list] = defaultdict(list)
        for p in c.persons:
            if p.in_hukou:
                by_town[p.town].append(p)
        part = io.StringIO() if self.hukou_part is not None else None
        for t, persons in sorted(by_town.items()):
            gb = t % 3 != 2
            style = 0 if part is not None else t % 4
            alias = t % 2 == 1
            header = (
                ["身份证号", "姓名", "性别", "出生日期", "户号", "户籍地址", "人员状态", "变动日期"]
                if alias
                else [
                    "公民身份号码",
                    "姓名",
                    "性别",
                    "出生日期",
                    "户号",
                    "住址",
                    "人员状态",
                    "注销日期",
                ]
            )
            buf = part if part is not None else io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            if part is None and gb:
                w.writerow(
                    [
                        f"{P.COUNTY}公安局户籍人口信息（{c.towns[t]}，导出日期：{c.working_year + 1}-01-06）"
                    ]
                )
            if part is None:
                w.writerow(header)
            for p in persons:
                name = p.hukou_name or p.name
                if len(name) == 2 and r.random() < 0.05:
                    name = name[0] + "  " + name[1]  # how some systems pad two-character names
                status = p.status
                if status == "出国(境)":
                    status = r.choice(["出国(境)", "出国（境）", "出国"])
                pid = self.dept_id(p.id, p.register or p.watched, False)
                w.writerow(
                    [
                        pid,
                        name,
                        p.gender,
                        _date_text(p.birth, style),
                        p.hukou_no,
                        p.address,
                        status,
                        _date_text(p.dereg, style),
                    ]
                )
            if part is not None:
                self.rows["hukou"] += len(persons)
                continue
            name = f"hukou/户籍人口_{c.towns[t]}.csv"
            data = buf.getvalue().encode("gb18030") if gb else buf.getvalue().encode("utf-8-sig")
            path = self.inbox / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self.files["hukou"].append(name)
            self.rows["hukou"] += len(persons)
        if part is not None and self.hukou_part is not None:
            self.hukou_part.parent.mkdir(parents=True, exist_ok=True)
            self.hukou_part.write_text(part.getvalue(), encoding="utf-8")

    # ------------------------------------------------------------------ departments
    def _live(self, rows: list[list]) -> list[list]:
        return [x for x in rows if x[0] is not None]

    @writes("vehicles")
    def vehicles(self) -> None:
        reg = self._register_ids()
        headers = [
            "序号",
            "所有人",
            "身份证明号码",
            "号牌号码",
            "号牌种类",
            "车辆类型",
            "使用性质",
            "初次登记日期",
            "机动车状态",
        ]
        rows: list[list[object]] = [
            [f"{P.COUNTY}机动车登记信息（公安交警大队车管所）"] + [None] * 8,
            headers,
        ]
        live = self._live(self.c.vehicles)
        for i, v in enumerate(live, 1):
            kind = "小型汽车" if "摩托" not in v[3] else "普通摩托车"
            rows.append(
                [i, v[1], self.dept_id(v[0], v[0] in reg, True), v[2], kind, v[3], v[4], v[5], v[6]]
            )
        name = "vehicles/机动车登记信息.xlsx"
        write_fast(self.inbox / name, rows, sheet="机动车", merge_first_row=9)
        self.files["vehicles"].append(name)
        self.rows["vehicles"] += len(live)

    @writes("tax")
    def tax(self) -> None:
        reg = self._register_ids()
        live = self._live(self.c.tax)
        by_year: dict[int, list] = defaultdict(list)
        for t in live:
            by_year[t[2]].append(t)
        for year, items in sorted(by_year.items()):
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(
                ["纳税人识别号", "纳税人姓名", "税款所属期", "收入额(元)", "已缴税额", "扣缴义务人"]
            )
            for t in items:
                w.writerow(
                    [
                        self.dept_id(t[0], t[0] in reg, False),
                        t[1],
                        f"{year}-01至{year}-12",
                        _money_text(t[3]),
                        f"{t[4]:.2f}",
                        t[5],
                    ]
                )
            name = f"tax/{year}年个人所得税明细.csv"
            path = self.inbox / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(buf.getvalue().encode("utf-8-sig"))
            self.files["tax"].append(name)
            self.rows["tax"] += len(items)

    @writes("property")
    def property(self) -> None:
        reg = self._register_ids()
        r = self.rng
        headers = [
            "权利人",
            "权利人证件号码",
            "坐落",
            "建筑面积(㎡)",
            "规划用途",
            "房屋性质",
            "区域",
            "登记日期",
        ]
        rows: list[list[object]] = [
            [f"{P.COUNTY}不动产登记信息"] + [None] * 7,
            ["单位：平方米"],
            headers,
        ]
        live = self._live(self.c.property_)
        for x in live:
            d = x[7] if r.random() < 0.7 else _date_text(x[7], 3)
            rows.append(
                [x[1], self.dept_id(x[0], x[0] in reg, True), x[2], x[3], x[4], x[5], x[6], d]
            )
        name = "property/不动产登记信息.xlsx"
        write_fast(self.inbox / name, rows, sheet="不动产", merge_first_row=8)
        self.files["property"].append(name)
        self.rows["property"] += len(live)

    @writes("house_safety")
    def house_safety(self) -> None:
        reg = self._register_ids()
        r = self.rng
        headers = ["户主姓名", "户主证件号码", "鉴定等级", "鉴定日期", "改造状态", "竣工日期"]
        rows: list[list[object]] = [[f"{P.COUNTY}农村住房安全性鉴定台账"] + [None] * 5, headers]
        live = self._live(self.c.house_safety)
        for x in live:
            grade = x[2][0] if r.random() < 0.2 else x[2]
            rows.append([x[1], self.dept_id(x[0], x[0] in reg, True), grade, x[3], x[4], x[5]])
        name = "house_safety/农村住房安全鉴定.xlsx"
        if len(rows) > 3000:
            write_fast(self.inbox / name, rows, sheet="鉴定台账", merge_first_row=6)
        else:
            write_openpyxl(self.inbox / name, rows, sheet="鉴定台账", merge_first_row=6)
        self.files["house_safety"].append(name)
        self.rows["house_safety"] += len(live)

    @writes("business")
    def business(self) -> None:
        reg = self._register_ids()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow([f"{P.COUNTY}市场主体登记信息（市场监督管理局）"])
        w.writerow(
            [
                "投资人姓名",
                "投资人证件号码",
                "企业名称",
                "统一社会信用代码",
                "主体类型",
                "人员角色",
                "注册资本(万元)",
                "成立日期",
                "登记状态",
            ]
        )
        live = self._live(self.c.business)
        for b in live:
            cap = b[6]
            cap_text = f"{cap:g}" if isinstance(cap, float) else str(cap)
            w.writerow(
                [
                    b[1],
                    self.dept_id(b[0], b[0] in reg, False),
                    b[2],
                    b[3],
                    b[4],
                    b[5],
                    cap_text,
                    _date_text(b[7], 1),
                    b[8],
                ]
            )
        name = "business/市场主体登记信息.csv"
        path = self.inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue().encode("gb18030"))
        self.files["business"].append(name)
        self.rows["business"] += len(live)

    @writes("social_insurance")
    def social_insurance(self) -> None:
        reg = self._register_ids()
        live = self._live(self.c.social_insurance)
        by_year: dict[int, list] = defaultdict(list)
        for s in live:
            by_year[s[7]].append(s)
        for year, items in sorted(by_year.items()):
            headers = [
                "证件号码",
                "姓名",
                "险种",
                "参保状态",
                "单位名称",
                "单位类型",
                "缴费基数(元/月)",
                "年度",
            ]
            rows: list[list[object]] = [
                [f"{P.COUNTY}{year}年社会保险参保缴费明细"] + [None] * 7,
                headers,
            ]
            for s in items:
                rows.append(
                    [
                        self.dept_id(s[0], s[0] in reg, True),
                        s[1],
                        s[2],
                        s[3],
                        s[4] or None,
                        s[5],
                        s[6],
                        year,
                    ]
                )
            name = f"social_insurance/{year}年社保参保缴费.xlsx"
            write_fast(self.inbox / name, rows, sheet="参保缴费", merge_first_row=8)
            self.files["social_insurance"].append(name)
            self.rows["social_insurance"] += len(items)

    # ------------------------------------------------------------------ early-warning feeds
    # The records are the model's (demo.early_warning, demo.inject_warnings); here they
    # only get the files' messiness: title rows, aliases, GB18030, dates in several
    # styles, recoverable ID damage (unrecoverable only on rows marked ``broken``).
    def ew_id(self, number: str, broken: bool, xlsx: bool) -> object:
        return self.broken_id(number, xlsx) if broken else self.messy_id(number, 0.03, False)

    @writes("civil_affairs")
    def civil_affairs(self) -> None:
        r = self.rng
        headers = ["序号", "救助对象姓名", "救助对象身份证号", "救助类型", "户主身份证号"]
        headers += ["保障人数", "月保障金额", "批准日期", "终止日期", "状态", "乡(镇)", "行政村"]
        rows: list[list[object]] = [
            [f"{P.COUNTY}社会救助对象名册（民政局）"] + [None] * 11,
            headers,
        ]
        for a in self.c.civil_affairs:
            rows.append(
                [
                    len(rows) - 1,
                    a.name,
                    self.ew_id(a.id, a.broken, True),
                    a.kind,
                    a.head_id,
                    a.persons,
                    _money_text(a.amount),
                    _date_text(a.start, r.randrange(4)),
                    _date_text(a.end, r.randrange(4)) or None,
                    a.status,
                    a.township,
                    a.village,
                ]
            )
        name = "civil_affairs/社会救助对象名册.xlsx"
        write_fast(self.inbox / name, rows, sheet="救助对象", merge_first_row=12)
        self.files["civil_affairs"].append(name)
        self.rows["civil_affairs"] += len(rows) - 2

    @writes("medical")
    def medical(self) -> None:
        by_year: dict[int, list] = defaultdict(list)
        for x in self.c.medical:
            by_year[x.year].append(x)
        for y, items in sorted(by_year.items()):
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(
                ["公民身份号码", "姓名", "参保年度", "参保类型", "参保状态", "资助参保类别"]
                + ["医疗总费用", "统筹支付", "个人自付"]
            )
            for x in items:
                w.writerow(
                    [self.ew_id(x.id, x.broken, False), x.name, y, x.kind, x.status, x.subsidy]
                    + [_money_text(x.fund + x.self_paid), f"{x.fund:.2f}", f"{x.self_paid:.2f}"]
                )
            name = f"medical/{y}年医保参保及费用明细.csv"
            path = self.inbox / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(buf.getvalue().encode("gb18030"))
            self.files["medical"].append(name)
            self.rows["medical"] += len(items)

    @writes("education")
    def education(self) -> None:
        by_year: dict[int, list] = defaultdict(list)
        for x in self.c.education:
            by_year[x.school_year].append(x)
        for y, items in sorted(by_year.items()):
            headers = ["学生姓名", "身份证件号", "学年", "学校名称", "学段", "年级", "学籍状态"]
            rows: list[list[object]] = [
                [f"{P.COUNTY}{y}-{y + 1}学年学生学籍信息（教育体育局）"] + [None] * 6,
                headers,
            ]
            for x in items:
                rows.append(
                    [x.name, self.ew_id(x.id, x.broken, True), f"{y}-{y + 1}", x.school]
                    + [x.stage, x.grade, x.status]
                )
            name = f"education/{y}学年学籍信息.xlsx"
            write_fast(self.inbox / name, rows, sheet="学籍", merge_first_row=7)
            self.files["education"].append(name)
            self.rows["education"] += len(rows) - 2

    @writes("disability")
    def disability(self) -> None:
        r = self.rng
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow([f"{P.COUNTY}持证残疾人名册（残联）"])
        w.writerow(
            ["残疾人证号", "姓名", "证件号码", "残疾类别", "残疾等级", "发证日期", "证件状态"]
        )
        for x in self.c.disability:
            # Half the rows leave 证件号码 blank: the ID number is read from the certificate;
            # some spell out 残疾类别 / 残疾等级, the others leave them to its digits.
            spelled = r.random() < 0.3
            w.writerow(
                [
                    x.certificate_no,
                    x.name,
                    x.id if r.random() < 0.5 else "",
                    CATEGORIES[x.category - 1] if spelled else "",
                    LEVELS[x.level - 1] if spelled else "",
                    _date_text(x.issued, r.randrange(4)),
                    x.status,
                ]
            )
        name = "disability/持证残疾人名册.csv"
        path = self.inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue().encode("gb18030"))
        self.files["disability"].append(name)
        self.rows["disability"] += len(self.c.disability)

    _reg_cache: set[str] | None = None

    def _register_ids(self) -> set[str]:
        if self._reg_cache is None:
            self._reg_cache = {p.id for p in self.c.persons if p.register}
        return self._reg_cache


def render(
    county: County,
    out: Path,
    seed: int,
    village_overrides: list,
    export_format: str = "today",
    inbox: Path | None = None,
    hukou_part: Path | None = None,
) -> Renderer:
    """Write every feed of the registry, in its order (the random draws follow it),
    into ``inbox`` (default ``out/inbox``); ``hukou_part``: see :class:`Renderer`."""
    missing = missing_writers()
    if missing:
        raise RuntimeError(f"no writer (@writes) for feeds: {', '.join(missing)}")
    rd = Renderer(county, out, seed, village_overrides, export_format, inbox, hukou_part)
    for feed in FEEDS:
        WRITERS[feed](rd)
    return rd


_ = FULLWIDTH
