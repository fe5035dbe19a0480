"""Builders of intake envelopes for the linking tests: one person or employer written several
ways, valid check characters computed, never a real person's number."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.validators import credit_code_check_char, id_number_check_char


def id_number(serial: int) -> str:
    first17 = f"330303199001{serial % 28 + 1:02d}{serial % 1000:03d}"
    return first17 + id_number_check_char(first17)


def credit_code(serial: int) -> str:
    first17 = f"9133030{serial:010d}"
    return first17 + credit_code_check_char(first17)


def mobile(serial: int) -> str:
    return f"139{serial:08d}"


def fullwidth(text: str) -> str:
    """Digits and letters as a Chinese input method types them in full-width mode."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def spaced(phone: str) -> str:
    return f"{phone[:3]} {phone[3:7]} {phone[7:]}"


def env(event_id: str, type_: str, when: datetime, data: dict[str, Any], source: str) -> dict:
    return {
        "id": event_id,
        "source": source,
        "type": type_,
        "time": when.isoformat(),
        "subject": None,
        "data": data,
    }


SOURCES = {
    "hotline": "hotline/12348",
    "miniapp": "miniapp/longwan",
    "walkin": "walkin/yongzhong",
}


def dispute(
    event_id: str,
    when: datetime,
    *,
    channel: str = "hotline",
    phone: str | None = None,
    id_no: str | None = None,
    respondent: str = "温州龙湾某某物业有限公司",
    respondent_code: str | None = None,
    street: str = "yongzhong",
    category: str = "property",
) -> dict:
    applicant: dict[str, Any] = {"role": "applicant", "kind": "person", "name": "王某"}
    if phone:
        applicant["phone"] = phone
    if id_no:
        applicant["id_number"] = id_no
    resp: dict[str, Any] = {"role": "respondent", "kind": "organisation", "name": respondent}
    if respondent_code:
        resp["credit_code"] = respondent_code
    data = {
        "street": street,
        "category": category,
        "parties": [applicant, resp],
        "party_count": 2,
        "channel": channel,
        "summary": "物业费纠纷",
    }
    return env(event_id, "dispute.reported.v1", when, data, SOURCES.get(channel, "web/portal"))


def wage_claim(
    event_id: str,
    when: datetime,
    *,
    employer: str,
    employer_code: str | None = None,
    contact_phone: str | None = None,
    workers: int = 2,
    amount: str = "20000",
    channel: str = "hotline",
    street: str = "haibin",
) -> dict:
    emp: dict[str, Any] = {"name": employer}
    if employer_code:
        emp["credit_code"] = employer_code
    data: dict[str, Any] = {
        "street": street,
        "employer": emp,
        "worker_count": workers,
        "amount_yuan": amount,
        "channel": channel,
        "summary": "拖欠工资",
    }
    if contact_phone:
        data["contact"] = {"name": "李某", "phone": contact_phone}
    return env(event_id, "wage_arrears.reported.v1", when, data, SOURCES.get(channel, "web/portal"))
