"""education — student records (教育 学籍).

One row per student per school year; 学年 ``2024-2025`` or ``2024`` is the year
in which the school year starts.
"""

from __future__ import annotations

from department_feeds.spec import Column, FeedSpec

STAGES = ("学前", "小学", "初中", "高中", "中职", "高职", "本科")

SPEC = FeedSpec(
    name="education",
    title_zh="学生学籍信息",
    department_zh="教育",
    natural_key=("id_number", "school_year", "school"),
    columns=(
        Column(
            "id_number",
            "身份证件号",
            "id",
            aliases=("证件号码", "学生身份证号", "身份证号"),
            required=True,
        ),
        Column("name", "姓名", aliases=("学生姓名",), compact=True),
        # ``2024-2025`` → 2024: parse="year" takes the first year.
        Column("school_year", "学年", "int", aliases=("学年度",), required=True, parse="year"),
        Column("school", "学校名称", aliases=("学校", "就读学校"), required=True),
        Column(
            "stage",
            "学段",
            "enum",
            values=STAGES,
            value_aliases={
                "幼儿园": "学前",
                "学前教育": "学前",
                "普通高中": "高中",
                "中等职业教育": "中职",
                "高等职业教育": "高职",
                "大学本科": "本科",
            },
            required=True,
        ),
        # 一年级 … 九年级 (初一 = 七年级), 高一 …: combined with 学段 by the rules.
        Column("grade", "年级"),
        Column(
            "status",
            "学籍状态",
            "enum",
            values=("在读", "休学", "辍学", "转出", "毕业", "死亡"),
            value_aliases={"在籍": "在读", "在校": "在读", "正常": "在读", "转学": "转出"},
            required=True,
        ),
    ),
)
