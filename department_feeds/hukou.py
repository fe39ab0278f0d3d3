"""hukou — household registration (公安 户籍人口), the whole district population."""

from __future__ import annotations

import datetime as dt

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="hukou",
    title_zh="户籍人口信息",
    department_zh="公安",
    natural_key=("id_number",),
    date_order=(("deregistered_on", "birth_date"),),
    columns=(
        Column("id_number", "公民身份号码", "id", aliases=("身份证号", "证件号码"), required=True),
        Column("name", "姓名", required=True, compact=True),
        Column("gender", "性别", "enum", values=("男", "女")),
        Column("birth_date", "出生日期", "date", earliest=dt.date(1900, 1, 1)),
        Column("hukou_household_no", "户号", header_required=False),
        Column("address", "住址", aliases=("户籍地址",), header_required=False),
        Column(
            "status",
            "人员状态",
            "enum",
            values=("正常", "死亡", "迁出", "注销", "服兵役", "出国(境)"),
            value_aliases={"出国": "出国(境)", "出境": "出国(境)"},
            required=True,
        ),
        Column("deregistered_on", "注销日期", "date", aliases=("变动日期",), header_required=False),
    ),
)
