"""Display names for the command-center dashboard (Chinese), and the fixed row/column order.

Codes stay the wire contract; these are only what a person reads. A code outside the catalogue
and the contracts reaches the page as ``unknown`` (未知), never as the value that was sent.
"""

from __future__ import annotations

from schemas.reference.labels import CATEGORY_ZH

STREETS: dict[str, str] = {
    "yongzhong": "永中",
    "puzhou": "蒲州",
    "haibin": "海滨",
    "yongxing": "永兴",
    "haicheng": "海城",
    "zhuangyuan": "状元",
    "yaoxi": "瑶溪",
    "shacheng": "沙城",
    "tianhe": "天河",
    "xinghai": "星海",
}

# Dispute categories first, then the ones only petitions and consultations use.
CATEGORIES: dict[str, str] = dict(CATEGORY_ZH)

LEVELS: dict[str, str] = {
    "green": "绿",
    "blue": "蓝",
    "yellow": "黄",
    "orange": "橙",
    "red": "红",
}
LEVEL_ORDER: tuple[str, ...] = tuple(LEVELS)

INCIDENT_RULES: dict[str, str] = {
    "wage_employer": "同一用人单位集体欠薪",
    "dispute_collective": "群体性纠纷",
    "dispute_respondent": "同一被申请单位多起纠纷",
    "petition_collective": "集体访",
    "petition_matter": "同一事项多次信访",
}

ESCALATION_LEVELS: dict[str, str] = {"district": "区级", "city": "市级"}

OUTCOMES: dict[str, str] = {
    "agreement": "调解成功",
    "no_agreement": "调解不成",
    "withdrawn": "撤回",
    "referred": "移交",
}

KINDS: dict[str, str] = {
    "dispute": "矛盾纠纷",
    "petition": "信访",
    "wage_arrears": "欠薪",
    "consultation": "法律咨询",
}
