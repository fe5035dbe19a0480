"""Map a CSV export of 12348 hotline call records to consultation or dispute events.

The export has one row per call, UTF-8, with this header (order free, extra columns ignored):

| column | required | meaning |
| --- | --- | --- |
| call_id | yes | the hotline system's call id; the event id becomes ``hl-<call_id>`` |
| call_start | yes | ``YYYY-MM-DD HH:MM:SS`` China time (UTC+8), or ISO 8601 with an offset |
| duration_s | no | length of the call in seconds |
| disposition | yes | ``advice``/咨询 (answered, no case) or ``mediation``/转调解 (a dispute) |
| category | yes | a category code (``labor``) or its Chinese label (劳动争议) |
| street | for mediation | street code (``yongzhong``) or name (永中街道 / 永中) |
| community | no | community code |
| caller_name, caller_phone, caller_id_number | no | the applicant, disputes only |
| respondent_kind | no | ``person`` / 个人 or ``organisation`` / 单位 (default person) |
| respondent_name, respondent_credit_code | no | the other side |
| party_count | no | people involved (default: the parties listed) |
| amount_yuan | no | the sum in dispute |
| collective | no | ``yes``/``no`` or 是/否: a group dispute |
| summary | yes | the operator's notes |

An advice call becomes ``consultation.recorded.v1`` and carries no caller data (it opens no
case, so it needs none); a mediation call becomes ``dispute.reported.v1`` with the caller as
applicant. ``producers/samples/hotline-12348.csv`` is a sample export.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from producers.files import Row
from schemas.errors import FieldProblem

CHINA = timezone(timedelta(hours=8), "CST")
DEFAULT_SOURCE = "hotline/12348"
REQUIRED = ("call_id", "call_start", "disposition", "category", "summary")

DISPOSITIONS = {
    "advice": "consultation",
    "咨询": "consultation",
    "法律咨询": "consultation",
    "mediation": "dispute",
    "转调解": "dispute",
    "调解": "dispute",
}
CATEGORIES = {
    "邻里纠纷": "neighbourhood",
    "邻里": "neighbourhood",
    "婚姻家庭纠纷": "family",
    "婚姻家庭": "family",
    "物业纠纷": "property",
    "物业": "property",
    "土地纠纷": "land",
    "土地": "land",
    "劳动争议": "labor",
    "劳动": "labor",
    "医疗纠纷": "medical",
    "交通事故": "traffic",
    "消费纠纷": "consumer",
    "合同纠纷": "contract",
    "建设工程纠纷": "construction",
    "住房": "housing",
    "社会保障": "social_security",
    "环境": "environment",
    "行政执法": "law_enforcement",
    "法律援助": "legal_aid",
    "其他": "other",
}
STREETS = {
    "永中": "yongzhong",
    "蒲州": "puzhou",
    "海滨": "haibin",
    "永兴": "yongxing",
    "海城": "haicheng",
    "状元": "zhuangyuan",
    "瑶溪": "yaoxi",
    "沙城": "shacheng",
    "天河": "tianhe",
    "星海": "xinghai",
}
KINDS = {
    "person": "person",
    "个人": "person",
    "organisation": "organisation",
    "单位": "organisation",
    "organization": "organisation",
    "企业": "organisation",
}
YES = {"yes", "y", "true", "1", "是"}
NO = {"no", "n", "false", "0", "否", ""}


def _street(value: str) -> str:
    v = value.strip()
    return STREETS.get(v.removesuffix("街道"), v)


def _time(value: str) -> datetime:
    v = value.strip()
    try:
        when = datetime.fromisoformat(v)
    except ValueError:
        raise ValueError("call_start must be YYYY-MM-DD HH:MM:SS or ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=CHINA)


def map_call(rec: dict[str, str], source: str = DEFAULT_SOURCE) -> tuple[str, dict[str, Any]]:
    """(kind, envelope) for one call record; ValueError naming the column when it cannot."""
    get = {k.strip(): (v or "").strip() for k, v in rec.items() if k}
    missing = [c for c in REQUIRED if not get.get(c)]
    if missing:
        raise ValueError(f"{', '.join(missing)}: required column is empty")
    kind = DISPOSITIONS.get(get["disposition"].lower())
    if kind is None:
        raise ValueError("disposition: must be advice/咨询 or mediation/转调解")
    try:
        when = _time(get["call_start"])
    except ValueError as err:
        raise ValueError(f"call_start: {err}") from None
    category = CATEGORIES.get(get["category"], get["category"])
    envelope: dict[str, Any] = {
        "id": f"hl-{get['call_id']}",
        "source": source,
        "time": when.isoformat(),
        "subject": None,
    }
    if kind == "consultation":
        data: dict[str, Any] = {
            "category": category,
            "channel": "hotline",
            "summary": get["summary"],
        }
        if get.get("street"):
            data["street"] = _street(get["street"])
        if get.get("duration_s"):
            data["duration_s"] = get["duration_s"]
        return "consultation", {**envelope, "type": "consultation.recorded.v1", "data": data}

    applicant: dict[str, Any] = {"role": "applicant", "kind": "person"}
    for col, key in (
        ("caller_name", "name"),
        ("caller_phone", "phone"),
        ("caller_id_number", "id_number"),
    ):
        if get.get(col):
            applicant[key] = get[col]
    rkind = KINDS.get(get.get("respondent_kind", "").lower() or "person")
    if rkind is None:
        raise ValueError("respondent_kind: must be person/个人 or organisation/单位")
    respondent: dict[str, Any] = {"role": "respondent", "kind": rkind}
    if get.get("respondent_name"):
        respondent["name"] = get["respondent_name"]
    if get.get("respondent_credit_code"):
        respondent["credit_code"] = get["respondent_credit_code"]
    collective = get.get("collective", "").lower()
    if collective not in YES | NO:
        raise ValueError("collective: must be yes/no or 是/否")
    data = {
        "category": category,
        "parties": [applicant, respondent],
        "party_count": get.get("party_count") or 2,
        "collective": collective in YES,
        "channel": "hotline",
        "summary": get["summary"],
    }
    if get.get("street"):
        data["street"] = _street(get["street"])
    if get.get("community"):
        data["community"] = get["community"]
    if get.get("amount_yuan"):
        data["amount_yuan"] = get["amount_yuan"]
    if get.get("duration_s"):
        data["call_duration_s"] = get["duration_s"]  # kept as an unknown field
    return "dispute", {**envelope, "type": "dispute.reported.v1", "data": data}


def read_hotline(path: Path, source: str = DEFAULT_SOURCE) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        absent = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if absent:
            raise ValueError(f"the hotline export lacks the column(s) {', '.join(absent)}")
        for rec in reader:
            if not any((v or "").strip() for v in rec.values() if isinstance(v, str)):
                continue
            try:
                kind, event = map_call(rec, source)
            except ValueError as err:
                path_, _, problem = str(err).partition(": ")
                yield Row(reader.line_num, None, [FieldProblem(path_, problem)])
                continue
            yield Row(reader.line_num, event, kind=kind)
