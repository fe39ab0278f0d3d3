"""tax — individual income tax and taxpayer registration (税务 个人所得税)."""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="tax",
    title_zh="个人所得税信息",
    department_zh="税务",
    natural_key=("id_number", "tax_year", "withholding_agent"),
    columns=(
        Column(
            "id_number",
            "证件号码",
            "id",
            aliases=("纳税人识别号", "身份证件号码"),
            required=True,
        ),
        Column("name", "纳税人姓名", aliases=("姓名",), compact=True),
        # 税款所属期 may read "2024-01至2024-12": the loader takes the year.
        Column(
            "tax_year",
            "所属年度",
            "int",
            aliases=("年度", "税款所属期"),
            required=True,
            parse="year",
        ),
        Column(
            "income", "收入额", "money", aliases=("年度收入额", "综合所得收入额"), required=True
        ),
        Column("tax_paid", "已缴税额", "money", aliases=("已缴纳税额", "实缴税额")),
        Column("withholding_agent", "扣缴义务人", header_required=False),
    ),
)
