"""vehicles — motor-vehicle registration (公安 交警/车管 机动车登记)."""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

SPEC = FeedSpec(
    name="vehicles",
    title_zh="机动车登记信息",
    department_zh="公安",
    natural_key=("plate",),
    columns=(
        Column(
            "owner_id_number",
            "所有人证件号码",
            "id",
            aliases=("证件号码", "身份证明号码"),
            required=True,
        ),
        Column("owner_name", "所有人", aliases=("机动车所有人", "姓名"), compact=True),
        Column("plate", "号牌号码", required=True),
        Column("vehicle_type", "车辆类型", required=True),
        Column("use_nature", "使用性质", header_required=False),
        Column("first_registered_on", "初次登记日期", "date"),
        Column(
            "vehicle_status",
            "机动车状态",
            "enum",
            values=("正常", "注销", "报废", "转出", "被盗抢", "查封"),
            required=True,
        ),
    ),
)
