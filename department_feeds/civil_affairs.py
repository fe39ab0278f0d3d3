"""civil_affairs — social assistance (民政 低保、特困、临时救助).

One row per assistance record. A record is active at a date when it started on or
before it, has not ended before it and reads 在保.
"""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

ASSISTANCE_KINDS = ("农村低保", "城市低保", "特困供养", "临时救助", "低保边缘")

SPEC = FeedSpec(
    name="civil_affairs",
    title_zh="社会救助对象信息",
    department_zh="民政",
    natural_key=("id_number", "assistance_kind", "start_on"),
    date_order=(("end_on", "start_on"),),
    columns=(
        Column(
            "id_number",
            "证件号码",
            "id",
            aliases=("身份证号", "救助对象身份证号", "公民身份号码"),
            required=True,
        ),
        Column("name", "姓名", aliases=("救助对象姓名",), compact=True),
        Column(
            "assistance_kind",
            "救助类型",
            "enum",
            aliases=("救助类别", "保障类型"),
            values=ASSISTANCE_KINDS,
            value_aliases={
                "低保": "农村低保",
                "特困": "特困供养",
                "特困人员": "特困供养",
                "特困人员救助供养": "特困供养",
                "低保边缘家庭": "低保边缘",
            },
            required=True,
        ),
        Column("head_id_number", "户主证件号码", aliases=("户主身份证号",), header_required=False),
        Column("covered_persons", "保障人数", "int", int_range=(1, 20), header_required=False),
        # 临时救助: the one-off amount.
        Column("monthly_amount", "月保障金额", "money", aliases=("保障金额", "救助金额")),
        Column("start_on", "起始日期", "date", aliases=("批准日期", "开始日期"), required=True),
        # Blank: still active.
        Column("end_on", "终止日期", "date", aliases=("结束日期",), header_required=False),
        Column(
            "status",
            "状态",
            "enum",
            aliases=("保障状态", "救助状态"),
            values=("在保", "停保", "终止"),
            value_aliases={"正常": "在保", "暂停": "停保", "停发": "停保", "退保": "终止"},
            required=True,
        ),
        Column("township", "乡(镇)", aliases=("乡镇", "乡(镇、街道)"), header_required=False),
        Column("village", "行政村", aliases=("村", "村(社区)"), header_required=False),
    ),
)
