"""Chinese display names of the contract's codes that every page and sentence shares: the
categories of disputes, petitions and consultations, in the order pages list them."""

from __future__ import annotations

CATEGORY_ZH: dict[str, str] = {
    "neighbourhood": "邻里",
    "family": "婚姻家庭",
    "property": "物业",
    "land": "土地",
    "labor": "劳动",
    "medical": "医疗",
    "traffic": "交通",
    "consumer": "消费",
    "contract": "合同",
    "construction": "工程建设",
    "housing": "住房",
    "social_security": "社会保障",
    "environment": "环境",
    "law_enforcement": "执法",
    "legal_aid": "法律援助",
    "other": "其他",
}
