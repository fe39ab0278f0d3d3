"""business — market-entity registration (市场监管 市场主体登记)."""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="business",
    title_zh="市场主体登记信息",
    department_zh="市场监管",
    natural_key=("credit_code", "id_number", "role"),
    columns=(
        Column(
            "id_number", "证件号码", "id", aliases=("身份证号", "投资人证件号码"), required=True
        ),
        Column("name", "姓名", aliases=("投资人姓名",), compact=True),
        Column("entity_name", "主体名称", aliases=("企业名称",), required=True),
        Column("credit_code", "统一社会信用代码"),
        Column(
            "entity_type",
            "主体类型",
            "enum",
            values=(
                "有限责任公司",
                "股份有限公司",
                "个人独资企业",
                "合伙企业",
                "个体工商户",
                "农民专业合作社",
            ),
            value_aliases={"个体户": "个体工商户", "专业合作社": "农民专业合作社"},
            required=True,
        ),
        Column(
            "role",
            "人员角色",
            "enum",
            values=("法定代表人", "股东", "投资人", "经营者", "负责人", "成员"),
            required=True,
        ),
        Column(
            "registered_capital_10k",
            "注册资本(万元)",
            "decimal",
            aliases=("注册资本",),
            sql_type="DECIMAL(14,4)",
            parse="wan",
        ),
        Column("founded_on", "成立日期", "date", header_required=False),
        Column(
            "registration_status",
            "登记状态",
            "enum",
            values=("存续", "在业", "吊销", "注销", "迁出"),
            required=True,
        ),
    ),
)
