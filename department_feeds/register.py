"""register — poverty register, person level (建档立卡/防返贫监测 人口信息).

One row per person per year; household-level columns repeat on every member's
row. The year comes from 年度 or, when absent, a four-digit year in the file name.
"""

from __future__ import annotations

from department_feeds.spec import OWN_DEPARTMENT, YEAR_AND_PLACE_COLUMNS, Column, FeedSpec

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
}
CURRENT_STATUSES = ("未脱贫", "返贫", "脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
EXITED_STATUSES = ("已脱贫", "风险已消除")


def _money(field: str, header: str, *aliases: str) -> Column:
    return Column(field, header, "money", aliases=aliases, header_required=False)


SPEC = FeedSpec(
    name="register",
    title_zh="建档立卡/防返贫监测人口信息",
    department_zh=OWN_DEPARTMENT,
    natural_key=("year", "household_id", "id_number"),
    year_from_file_name="year",
    once_a_year_key="id_number",
    ids_block_rows=False,
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
            values=("文盲或半文盲", "小学", "初中", "高中", "中专", "大专及以上", "学龄前儿童"),
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
        ),
        Column(
            "household_status",
            "户状态",
            "enum",
            aliases=("脱贫属性", "贫困户状态"),
            values=CURRENT_STATUSES + EXITED_STATUSES,
        ),
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
        Column("phone", "联系电话", aliases=("手机号码", "联系方式"), header_required=False),
        _money("household_net_income", "家庭年纯收入", "家庭纯收入(元)", "家庭纯收入"),
        Column(
            "per_capita_net_income",
            "年人均纯收入",
            "money",
            aliases=("人均纯收入", "家庭人均纯收入(元)", "家庭人均纯收入"),
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
            inverted_aliases=("住房是否安全", "住房安全"),
            header_required=False,
        ),
        Column(
            "has_safe_water", "饮水是否安全", "bool", aliases=("饮水安全",), header_required=False
        ),
    ),
)
