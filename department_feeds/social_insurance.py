"""social_insurance — enrolment and payroll (人社 社保参保缴费).

One row per person per insurance kind per year.
"""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

PENSION_KINDS = ("企业职工基本养老保险", "机关事业单位养老保险", "城乡居民基本养老保险")

SPEC = FeedSpec(
    name="social_insurance",
    title_zh="社会保险参保缴费信息",
    department_zh="人社",
    natural_key=("id_number", "insurance_kind", "year", "employer"),
    columns=(
        Column("id_number", "证件号码", "id", aliases=("公民身份号码", "身份证号"), required=True),
        Column("name", "姓名", compact=True),
        Column(
            "insurance_kind",
            "险种",
            "enum",
            values=(*PENSION_KINDS, "失业保险", "工伤保险"),
            required=True,
        ),
        Column(
            "enrolment_status",
            "参保状态",
            "enum",
            values=("参保缴费", "暂停缴费", "终止参保", "领取待遇"),
            required=True,
        ),
        Column("employer", "单位名称", header_required=False),
        Column(
            "employer_kind",
            "单位类型",
            "enum",
            values=("机关", "事业单位", "企业", "社会团体", "个体", "无"),
            header_required=False,
        ),
        Column("monthly_wage_base", "缴费基数(元/月)", "money", aliases=("月缴费基数", "缴费基数")),
        Column("year", "年度", "int", required=True, parse="year"),
    ),
)
