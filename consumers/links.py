"""Reports linked to a case in the case store: each linked or unlinked report is an entry of
the case's history, and this module says it in words ("also reported via the 12348 hotline on
1 March"), Chinese first. A report's personal data never reaches the lifecycle topic, so the
entry holds the report id, channel, time and the names of the keys that matched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.explain import BEIJING, CHANNEL_ZH

LINK_TYPES = ("case.linked.v1", "case.unlinked.v1")

CHANNEL_EN = {
    "hotline": "the 12348 hotline",
    "miniapp": "the mini-program",
    "walkin": "the walk-in desk",
    "referral": "a referral",
    "web": "the website",
    "letter": "a letter",
    "visit": "a visit",
}
KEY_ZH = {
    "applicant_id": "申请人身份证号",
    "applicant_phone": "申请人电话",
    "petitioner_id": "信访人身份证号",
    "petitioner_phone": "信访人电话",
    "contact_phone": "联系人电话",
}
KEY_EN = {
    "applicant_id": "the applicant's id number",
    "applicant_phone": "the applicant's phone",
    "petitioner_id": "the petitioner's id number",
    "petitioner_phone": "the petitioner's phone",
    "contact_phone": "the contact's phone",
}


def _key_words(matched: list[Any], words: dict[str, str]) -> list[str]:
    out: list[str] = []
    for name in matched:
        # "employer_uscc+contact_phone" is said by its identity part
        part = str(name).rsplit("+", 1)[-1]
        word = words.get(part)
        if word and word not in out:
            out.append(word)
    return out


def link_sentence(type_: str, data: dict[str, Any], time: datetime, lang: str = "zh") -> str:
    """The history line for a linked or unlinked report, in ``lang`` (zh or en)."""
    report = str(data.get("report_id", ""))
    channel = str(data.get("channel") or "")
    when_dt = data.get("reported_at") or time
    when = (datetime.fromisoformat(when_dt) if isinstance(when_dt, str) else when_dt).astimezone(
        BEIJING
    )
    matched = list(data.get("matched") or [])
    if lang == "zh":
        day = f"{when.month}月{when.day}日"
        if type_ == "case.unlinked.v1":
            return f"报告 {report} 经核实不属同一事项，已另立案件"
        via = "12348热线" if channel == "hotline" else CHANNEL_ZH.get(channel, "其他渠道")
        keys = "、".join(_key_words(matched, KEY_ZH))
        return f"{day}也经{via}反映（报告 {report}" + (f"，{keys}相同）" if keys else "）")
    day = when.strftime("%-d %B %Y")
    if type_ == "case.unlinked.v1":
        return f"report {report} is not the same matter: it became a case of its own"
    via = CHANNEL_EN.get(channel, "another channel")
    keys = " and ".join(_key_words(matched, KEY_EN))
    return f"also reported via {via} on {day} (report {report}" + (
        f", matched by {keys})" if keys else ")"
    )
