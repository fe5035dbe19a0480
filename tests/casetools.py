"""Test helpers for the case store: derived-event builders, a sink process, publishing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from consumers.reports import REPORT_TOPICS
from consumers.sink import decode, decode_report
from consumers.store import Incoming
from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, settings_env

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def routed(
    case_id: str,
    committee_id: str = "yongzhong-street",
    *,
    kind: str = "dispute",
    category: str = "contract",
    time: datetime = T0,
    deadline: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": f"{case_id}/routed",
        "source": "fengqiao/worker",
        "type": "case.routed.v1",
        "time": time.isoformat(),
        "subject": case_id,
        "data": {
            "case_id": case_id,
            "kind": kind,
            "street": "yongzhong",
            "category": category,
            "committee_id": committee_id,
            "committee_type": "street",
            "tier": "street",
            "rule_id": "default",
            "ruleset_version": "test-1",
            "reasons": [f"Test rule: every case goes to {committee_id}."],
            "rejected": [{"rule_id": "family", "reason": "not a family dispute"}],
            "deadline": (deadline or time + timedelta(days=30)).isoformat(),
        },
    }


def lifecycle(
    case_id: str, action: str, version: int, committee_id: str, time: datetime = T0, **extra: Any
) -> dict[str, Any]:
    from consumers.casefile import ACTION_TYPES, action_event_id

    return {
        "id": action_event_id(case_id, action, version),
        "source": "fengqiao/inbox",
        "type": ACTION_TYPES[action],
        "time": time.isoformat(),
        "subject": case_id,
        "data": {"case_id": case_id, "committee_id": committee_id, "version": version, **extra},
    }


def incident(incident_id: str, case_ids: list[str], people: int, time: datetime = T0) -> dict:
    return {
        "id": f"{incident_id}/v{len(case_ids)}",
        "source": "fengqiao/worker",
        "type": "incident.detected.v1",
        "time": time.isoformat(),
        "subject": None,
        "data": {
            "incident_id": incident_id,
            "rule_id": "wage_employer",
            "key": "uscc:91330300MA2ABCDE1X",
            "window_start": (time - timedelta(days=7)).isoformat(),
            "window_end": time.isoformat(),
            "case_ids": case_ids,
            "people": people,
            "amount_yuan": "120000.00",
        },
    }


def escalation(escalation_id: str, incident_id: str, time: datetime = T0) -> dict[str, Any]:
    return {
        "id": escalation_id,
        "source": "fengqiao/worker",
        "type": "escalation.raised.v1",
        "time": time.isoformat(),
        "subject": None,
        "data": {
            "escalation_id": escalation_id,
            "level": "district",
            "to_committee_id": "district-center",
            "reason": "group incident",
            "incident_id": incident_id,
        },
    }


# A planted party: valid (check digits and all), so the contracts accept it, and unmistakable
# on a page or in a log.
PARTY_NAME = "陈晓梅"
PARTY_PHONE = "13857712345"
PARTY_ID = "330303198506123410"
EMPLOYER_CODE = "91330303MA2CDE1238"


def dispute_report(
    report_id: str,
    *,
    subject: str | None = None,
    time: datetime = T0,
    source: str = "hotline/12348",
    channel: str = "hotline",
    summary: str = "楼上漏水，多次协商未果",
) -> dict[str, Any]:
    return {
        "id": report_id,
        "source": source,
        "type": "dispute.reported.v1",
        "time": time.isoformat(),
        "subject": subject,
        "data": {
            "street": "yongzhong",
            "community": "yongzhong-01",
            "category": "neighbourhood",
            "parties": [
                {
                    "role": "applicant",
                    "kind": "person",
                    "name": PARTY_NAME,
                    "phone": PARTY_PHONE,
                    "id_number": PARTY_ID,
                },
                {
                    "role": "respondent",
                    "kind": "organisation",
                    "name": "温州永安物业服务有限公司",
                    "credit_code": EMPLOYER_CODE,
                },
            ],
            "party_count": 2,
            "amount_yuan": "3500",
            "channel": channel,
            "summary": summary,
        },
    }


def wage_report(report_id: str, *, time: datetime = T0) -> dict[str, Any]:
    return {
        "id": report_id,
        "source": "miniapp/longwan",
        "type": "wage_arrears.reported.v1",
        "time": time.isoformat(),
        "subject": None,
        "data": {
            "street": "haibin",
            "employer": {"name": "龙湾建工集团", "credit_code": EMPLOYER_CODE},
            "project": {"name": "海滨安置房二期", "code": "hb-2026-07"},
            "worker_count": 12,
            "amount_yuan": "186000.50",
            "months_owed": 3,
            "contact": {"name": "王建国", "phone": "0577-86901234"},
            "channel": "miniapp",
            "summary": "12 名工人三个月工资未发",
        },
    }


def petition_report(report_id: str, *, time: datetime = T0) -> dict[str, Any]:
    return {
        "id": report_id,
        "source": "letter/longwan-xinfang",
        "type": "petition.filed.v1",
        "time": time.isoformat(),
        "subject": None,
        "data": {
            "street": "puzhou",
            "category": "housing",
            "petitioner_count": 5,
            "target_agency": "区住房和城乡建设局",
            "channel": "letter",
            "summary": "安置房交付延期",
        },
    }


REPORT_TOPIC = {t: topic for topic, t in REPORT_TOPICS.items()}


def item(topic: str, env: dict[str, Any], offset: int = 0) -> Incoming:
    """An envelope as the sink would hand it to the store (an intake report must be valid)."""
    raw = json.dumps(env).encode()
    if topic in REPORT_TOPICS:
        got = decode_report(topic, 0, offset, raw)
        assert got is not None, "an intake report the contracts refuse"
        return got
    return decode(topic, 0, offset, raw)


def publish(
    settings: Settings, topic: str, values: Iterable[bytes | dict[str, Any]], key: str = "k"
) -> int:
    """Send values to a (logical) topic with acks=all; returns how many were sent."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.resolved_bootstrap().split(","), acks="all", linger_ms=5
    )
    n = 0
    try:
        for v in values:
            raw = v if isinstance(v, bytes) else json.dumps(v).encode()
            k = key if isinstance(v, bytes) else v["data"].get("committee_id", key)
            producer.send(settings.topic(topic), key=k.encode(), value=raw)
            n += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return n


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(poll_s)
    raise TimeoutError(f"not reached in {timeout_s}s: {what}")


class SinkProcess(WorkerProcess):
    """``python -m fengqiao sink`` as a child process (no readiness port: tests watch the DB)."""

    def start(self, timeout_s: float = 60.0) -> None:
        env = settings_env(self.settings) | self.extra_env
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fengqiao", "sink"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def sink_env(batch: int = 500, instance: str = "sink-1") -> dict[str, str]:
    return {
        "FENGQIAO_SINK_BATCH_SIZE": str(batch),
        "FENGQIAO_SINK_INSTANCE_ID": instance,
        "FENGQIAO_SINK_RETRY_MAX_S": "1.0",
    }


def log_path(tmp: Path, name: str) -> Path:
    return tmp / f"{name}.log"
