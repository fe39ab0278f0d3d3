"""register — poverty register, person level (建档立卡/防返贫监测 人口信息).

One row per person per year; household-level columns repeat on every member's
row. The year comes from 年度 or, when absent, a four-digit year in the file name.
"""

from __future__ import annotations

from department_feeds.spec import (
    OWN_DEPARTMENT,
    YEAR_AND_PLACE_COLUMNS,
    Column,
    FeedSpec,
    Kind,
)

RELATIONS = (
    "户主 配偶 之子 之女 之儿媳 之女婿 之孙子 之孙女 之外孙子 之外孙女 之父 之母 之岳父 之岳母 "
    "之公公 之婆婆 之祖父 之祖母 之兄弟姐妹 其他"
).split()

_GRADES_CN = "一 二 三 四 五 六".split()
SCHOOL_STATUSES = (
    ("非在校生", "学前教育")
    + tuple(f"小学{g}年级" for g in _GRADES_CN)
    + ("七年级", "八年级", "九年级")
    + tuple(f"高中{g}年级" for g in _GRADES_CN[:3])
    + tuple(f"中职{g}年级" for g in _GRADES_CN[:3])
    + tuple(f"高职{g}年级" for g in _GRADES_CN[:3])
    + tuple(f"大专{g}年级" for g in _GRADES_CN[:3])
    + tuple(f"本科{g}年级" for g in _GRADES_CN[:5])
    + ("研究生",)
    + ("小学",)  # 小学, grade not given (some exports)
)
SCHOOL_ALIASES = {
    "初一": "七年级",
    "初二": "八年级",
    "初三": "九年级",
    "初中一年级": "七年级",
    "初中二年级": "八年级",
    "初中三年级": "九年级",
    "高一": "高中一年级",
    "高二": "高中二年级",
    "高三": "高中三年级",
    "学龄前儿童": "学前教育",
    "硕士生及以上": "研究生",
    "硕士研究生": "研究生",
    "博士研究生": "研究生",
    **{f"高职高专{g}年级": f"高职{g}年级" for g in _GRADES_CN[:3]},
}
CURRENT_STATUSES = ("未脱贫", "返贫", "脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
EXITED_STATUSES = ("已脱贫", "风险已消除")
MONITORING_CATEGORIES = ("脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
"""监测对象类别; the same words as 户状态 of the older generation."""
MONITORED_STATUSES = (*MONITORING_CATEGORIES, "风险已消除")
"""户状态 values (older generation) of a 监测对象."""
HOUSEHOLD_KINDS = ("脱贫户", "监测户", "一般农户")
"""户类型 of today's export (the older one holds 一般户/低保户/特困供养户 there)."""
HIGHER_EDUCATION = ("大专", "高职高专", "本科及以上", "本科及研究生及以上", "技师")
"""文化程度 spellings of today's exports, kept as written; all 大专及以上 as a level."""
LABOUR_VALUES = ("普通劳动力", "技能劳动力", "弱劳动力或半劳动力")
"""劳动技能 values of a person who has labour (rules D; blank = no labour)."""

RISKS = (
    "因病",
    "因学",
    "因残",
    "因灾",
    "因意外事故",
    "因产业项目失败",
    "因务工就业不稳",
    "缺劳动力",
    "因安全住房",
    "因安全饮水",
    "其他",
)
"""致贫/返贫风险 words; national codes and other spellings map to them at load."""
_RISK_CODES = {
    "01": "因病",
    "02": "因灾",
    "03": "因残",
    "04": "缺劳动力",
    "05": "因意外事故",
    "06": "因产业项目失败",
    "07": "因务工就业不稳",
    "09": "因学",
    "99": "其他",
}
RISK_ALIASES = {
    **_RISK_CODES,
    **{code.lstrip("0"): word for code, word in _RISK_CODES.items()},
    "因自然灾害": "因灾",
    "因灾害": "因灾",
    "因缺劳动力": "缺劳动力",
    "缺劳力": "缺劳动力",
    "因缺劳力": "缺劳动力",
    "因产业失败": "因产业项目失败",
    "因务工就业不稳定": "因务工就业不稳",
    "因住房安全": "因安全住房",
    "住房安全": "因安全住房",
    "因饮水安全": "因安全饮水",
    "饮水安全": "因安全饮水",
    "因意外": "因意外事故",
}
RISK_PATTERNS = (
    (r"0?2\d{2}", "因灾"),  # 02xx: one kind of natural disaster each
    (r"因.*灾.*", "因灾"),  # 因自然灾害(洪涝), 因洪涝灾害, 因地质灾害…
)
"""Spellings matched by pattern (full match on the squeezed text), tried in order."""

MEASURE_FIELDS = (
    ("measure_industry", "产业帮扶", ()),
    ("measure_employment", "就业帮扶", ()),
    ("measure_finance", "金融帮扶", ()),
    ("measure_public_job", "公益岗位帮扶", ("公益性岗位", "公益性岗位帮扶")),
    ("measure_health", "健康帮扶", ()),
    ("measure_education", "教育帮扶", ()),
    ("measure_housing", "住房安全保障", ()),
    ("measure_water", "饮水安全保障", ()),
    ("measure_compulsory_education", "义务教育保障", ()),
    ("measure_comprehensive", "综合保障", ()),
    ("measure_social", "社会帮扶", ()),
    ("measure_relocation", "搬迁", ("易地扶贫搬迁", "易地搬迁")),
    ("measure_living_conditions", "生产生活条件改善", ()),
    ("measure_infrastructure", "基础设施建设", ()),
)
"""The 14 帮扶措施 columns (text; blank = none): (field, header, aliases)."""
DEVELOPMENT_MEASURES = (
    "measure_industry",
    "measure_employment",
    "measure_finance",
    "measure_public_job",
)
"""开发式帮扶: the measures a household with labour needs one of."""


def _money(field: str, header: str, *aliases: str) -> Column:
    return Column(field, header, "money", aliases=aliases, header_required=False)


def _optional(field: str, header: str, kind: Kind = "text", *aliases: str, **kw: object) -> Column:
    return Column(field, header, kind, aliases=aliases, header_required=False, **kw)  # type: ignore[arg-type]


SPEC = FeedSpec(
    name="register",
    title_zh="建档立卡/防返贫监测人口信息",
    department_zh=OWN_DEPARTMENT,
    natural_key=("year", "household_id", "id_number"),
    year_from_file_name="year",
    once_a_year_key="id_number",
    ids_block_rows=False,
    value_routes=(("household_type", "household_kind"),),
    date_order=(("monitoring_to", "monitoring_from"),),
    columns=(
        *YEAR_AND_PLACE_COLUMNS,
        Column("household_id", "户编号", aliases=("户码",), required=True),
        Column("person_id", "人编号", header_required=False),
        Column("name", "姓名", aliases=("成员姓名",), required=True, compact=True),
        Column(
            "id_number",
            "证件号码",
            "id",
            aliases=("身份证号", "身份证号码", "公民身份号码", "证件号"),
            # A 残疾人证号 (20/22 characters) starts with the person's ID number.
            certificate_when=("id_type", "残疾人证"),
        ),
        Column(
            "id_type",
            "证件类型",
            "enum",
            values=("居民身份证", "残疾人证", "军人证", "其他"),
            value_aliases={"身份证": "居民身份证"},
            header_required=False,
            default="居民身份证",
        ),
        Column("gender", "性别", "enum", values=("男", "女")),
        Column("relation", "与户主关系", "enum", values=tuple(RELATIONS)),
        Column("ethnicity", "民族", header_required=False),
        Column(
            "education",
            "文化程度",
            "enum",
            # 大专 … 技师: kept as written; EDUCATION_LEVELS maps them to 大专及以上.
            values=(
                "文盲或半文盲",
                "小学",
                "初中",
                "高中",
                "中专",
                "大专及以上",
                "学龄前儿童",
                *HIGHER_EDUCATION,
            ),
            header_required=False,
        ),
        Column(
            "school_status",
            "在校生状况",
            "enum",
            values=SCHOOL_STATUSES,
            value_aliases=SCHOOL_ALIASES,
        ),
        Column(
            "health",
            "健康状况",
            "enum",
            values=("健康", "长期慢性病", "患有大病", "残疾"),
            header_required=False,
        ),
        Column(
            "labour_skill",
            "劳动技能",
            "enum",
            values=("普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力"),
            value_aliases={
                "技能劳动能力": "技能劳动力",
                "普通劳动能力": "普通劳动力",
                "丧失劳动能力": "丧失劳动力",
                "无劳动能力": "无劳动力",
            },
            header_required=False,
        ),
        Column(
            "work_status",
            "务工状况",
            "enum",
            values=("乡(镇)内务工", "乡(镇)外县内务工", "县外省内务工", "省外务工", "其他", "无"),
            value_aliases={"乡镇内务工": "乡(镇)内务工", "乡镇外县内务工": "乡(镇)外县内务工"},
            header_required=False,
        ),
        Column("work_months", "务工时间(月)", "int", header_required=False, int_range=(0, 12)),
        Column(
            "has_medical_insurance",
            "是否参加城乡居民基本医疗保险",
            "bool",
            aliases=("参加基本医疗保险", "是否参加医保"),
        ),
        Column("has_critical_illness_insurance", "是否参加大病保险", "bool", header_required=False),
        Column(
            "has_pension_insurance",
            "是否参加城乡居民基本养老保险",
            "bool",
            aliases=("参加养老保险", "是否参加养老保险"),
        ),
        # Person-level columns of today's export (防返贫监测).
        _optional("has_employee_medical_insurance", "是否参加城镇职工基本医疗保险", "bool"),
        _optional("has_employee_pension_insurance", "是否参加城镇职工基本养老保险", "bool"),
        _optional("dibao_status", "享受低保政策情况"),
        _optional("destitute_status", "享受特困供养政策情况", "text", "享受特困政策情况"),
        _money("compliant_self_paid", "合规自付支出", "合规自付医疗费用"),
        _optional("not_in_school_reason", "义务教育阶段未上学原因"),
        _optional("registered_birth_date", "出生日期", "date"),
        Column(
            "household_type",
            "户类型",
            "enum",
            aliases=("贫困户属性",),
            values=("一般户", "低保户", "特困供养户"),
            value_aliases={
                "一般贫困户": "一般户",
                "低保贫困户": "低保户",
                "特困供养贫困户": "特困供养户",
                "五保户": "特困供养户",
                "五保贫困户": "特困供养户",
            },
            header_required=False,
        ),
        Column(
            "household_status",
            "户状态",
            "enum",
            aliases=("脱贫属性", "贫困户状态"),
            values=CURRENT_STATUSES + EXITED_STATUSES,
            header_required=False,
        ),
        # Household-level monitoring record of today's export. 户类型 is read as
        # household_kind when a file's values are these (FeedSpec.value_routes).
        _optional("household_kind", "户类型", "enum", values=HOUSEHOLD_KINDS),
        _optional(
            "monitoring_category",
            "监测对象类别",
            "enum",
            "监测类型",
            values=MONITORING_CATEGORIES,
            value_aliases={
                "脱贫不稳定": "脱贫不稳定户",
                "边缘易致贫": "边缘易致贫户",
                "突发严重困难": "突发严重困难户",
            },
        ),
        _optional("monitoring_from", "识别监测时间", "date", "纳入监测时间"),
        _optional("risk_eliminated", "风险是否已消除", "bool", "是否风险消除", "风险是否消除"),
        _optional("monitoring_to", "消除监测时间", "date", "风险消除时间"),
        _optional("elimination_mode", "风险消除方式", "enum", values=("帮扶消除", "自然消除")),
        *(
            _optional(
                f"risk_{i}",
                f"致贫/返贫风险{i}",
                "enum",
                f"致贫返贫风险{i}",
                values=RISKS,
                value_aliases=RISK_ALIASES,
                value_patterns=RISK_PATTERNS,
            )
            for i in range(1, 6)
        ),
        *(_optional(f, header, "text", *aliases) for f, header, aliases in MEASURE_FIELDS),
        _optional("whole_household_safety_net", "整户无劳动能力兜底保障户", "bool"),
        Column("exit_year", "脱贫年度", "int", header_required=False, parse="year", earliest=2013),
        Column(
            "main_cause",
            "主要致贫原因",
            "enum",
            values=tuple(
                "因病 因残 因学 因灾 缺土地 缺水 缺技术 缺劳力 缺资金 交通条件落后 自身发展动力不足 "
                "因务工就业不稳 因产业项目失败 因意外事故 其他".split()
            ),
            header_required=False,
        ),
        Column("household_size", "家庭人口数", "int", int_range=(1, 30)),
        Column(
            "phone",
            "联系电话",
            aliases=("手机号码", "联系方式", "家庭成员联系电话", "户联系电话"),
            header_required=False,
        ),
        _money("household_net_income", "家庭年纯收入", "家庭纯收入(元)", "家庭纯收入"),
        Column(
            "per_capita_net_income",
            "年人均纯收入",
            "money",
            aliases=("人均纯收入", "家庭人均纯收入(元)", "家庭人均纯收入", "人均纯收入(元)"),
        ),
        _money("wage_income", "工资性收入"),
        _money("business_income", "生产经营性收入"),
        _money("property_income", "财产性收入"),
        _money("transfer_income", "转移性收入"),
        _money("business_expense", "生产经营性支出"),
        _money("dibao_payment", "低保金"),
        _money("destitute_payment", "特困供养金", "五保金"),
        _money("pension_payment", "养老金", "养老保险金"),
        Column(
            "is_dangerous_house",
            "是否危房",
            "bool",
            aliases=("是否危房户",),
            inverted_aliases=("住房是否安全", "住房安全"),
            header_required=False,
        ),
        Column(
            "has_safe_water",
            "饮水是否安全",
            "bool",
            aliases=("饮水安全", "是否解决安全饮用水"),
            header_required=False,
        ),
    ),
)

HOUSEHOLD_FIELDS: tuple[str, ...] = (
    "county",
    "township",
    "village",
    "village_group",
    *(c.field for c in SPEC.columns[[c.field for c in SPEC.columns].index("household_type") :]),
)
"""Household-level fields: the same on every member's row (the place, 户类型 … 饮水是否安全)."""
