"""medical — basic medical insurance enrolment and annual costs (医保).

One row per insured person per year.
"""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="medical",
    title_zh="医疗保障参保及费用信息",
    department_zh="医保",
    natural_key=("id_number", "year", "insurance_kind"),
    # One row per insured person per year: a revised file of a year replaces the older.
    once_a_year_key="id_number",
    columns=(
        Column("id_number", "证件号码", "id", aliases=("公民身份号码", "身份证号"), required=True),
        Column("name", "姓名", aliases=("参保人姓名",), compact=True),
        Column("year", "年度", "int", aliases=("参保年度",), required=True, parse="year"),
        Column(
            "insurance_kind",
            "参保类型",
            "enum",
            aliases=("险种",),
            values=("城乡居民基本医疗保险", "职工基本医疗保险", "未参保"),
            value_aliases={
                "城乡居民医保": "城乡居民基本医疗保险",
                "居民医保": "城乡居民基本医疗保险",
                "职工医保": "职工基本医疗保险",
                "城镇职工基本医疗保险": "职工基本医疗保险",
            },
            required=True,
        ),
        Column(
            "enrolment_status",
            "参保状态",
            "enum",
            values=("正常参保", "暂停", "终止"),
            value_aliases={"正常": "正常参保", "参保": "正常参保", "暂停参保": "暂停"},
            required=True,
        ),
        # Blank: no subsidy (脱贫人口, 监测对象, 低保对象, 特困人员 …).
        Column("premium_subsidy", "资助参保类别", aliases=("资助类别",), header_required=False),
        Column("total_cost", "医疗总费用", "money", aliases=("总费用",)),
        Column("fund_paid", "基金支付", "money", aliases=("统筹支付", "基金支付金额")),
        Column("self_paid", "个人自付", "money", aliases=("合规自付", "个人负担")),
    ),
)
