"""`fengqiao publish` and `fengqiao import hotline`: dry runs without a broker, real sends."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fengqiao.settings import Settings
from producers.hotline import map_call
from producers.sample import dispute
from tests.kafkatools import drain_topic, settings_env

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "producers" / "samples"
WHEN = datetime.now(UTC) - timedelta(hours=1)
NAME, PHONE, ID_NUMBER = "欧阳娜娜", "13612345678", "440524188001010014"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fengqiao", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def mixed_jsonl(path: Path, prefix: str = "mx") -> Path:
    rng = random.Random(5)
    good1 = dispute(rng, f"{prefix}-1", WHEN)
    bad_fields = dispute(
        rng,
        f"{prefix}-2",
        WHEN,
        street="Yong Zhong",
        parties=[
            {
                "role": "applicant",
                "kind": "person",
                "name": NAME,
                "phone": PHONE + "1",
                "id_number": ID_NUMBER[:-1] + "5",
            }
        ],
    )
    good2 = dispute(rng, f"{prefix}-3", WHEN)
    future = dispute(rng, f"{prefix}-4", datetime.now(UTC) + timedelta(days=2))
    petition_in_dispute_file = {**dispute(rng, f"{prefix}-5", WHEN), "type": "petition.filed.v1"}
    lines = [
        json.dumps(good1, ensure_ascii=False),  # line 1
        json.dumps(bad_fields, ensure_ascii=False),  # line 2
        "",  # line 3: blank lines are skipped
        '{"id": "broken", ' + NAME,  # line 4: not JSON
        json.dumps(good2, ensure_ascii=False),  # line 5
        json.dumps(future),  # line 6
        json.dumps(good1),  # line 7: the same id again
        json.dumps(petition_in_dispute_file),  # line 8: wrong type for the kind
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_dry_run_reports_each_bad_jsonl_line_and_exits_non_zero(tmp_path: Path) -> None:
    done = cli(
        "publish", "dispute", "--file", str(mixed_jsonl(tmp_path / "mixed.jsonl")), "--dry-run"
    )
    out = done.stderr
    assert done.returncode == 1, out
    assert "line 2: data.street:" in out
    assert "line 2: data.parties[0].phone:" in out
    assert "line 2: data.parties[0].id_number:" in out
    assert "line 4: not valid JSON" in out
    assert "line 6: time: event time is more than" in out
    assert "line 7: id: the same event id as line 1" in out
    assert "line 8: data." in out  # a dispute payload does not fit the petition type
    assert "line 1:" not in out and "line 5:" not in out
    assert "valid 2, rejected 5 of 7" in out and "dry run" in out
    for value in (NAME, PHONE, ID_NUMBER[:-1]):
        assert value not in out + done.stdout


def test_dry_run_reports_bad_csv_rows_by_line(tmp_path: Path) -> None:
    sample = (SAMPLES / "disputes.csv").read_text(encoding="utf-8").splitlines()
    header, good = sample[0], sample[1]
    bad = good.replace("wk-yz-20230301-001", "wk-bad").replace(",2,,false,", ",0,,maybe,")
    quoted = good.replace("wk-yz-20230301-001", "wk-q").replace(
        "water leaking from the flat above", '"leak,\nsecond line of notes"'
    )
    missing_street = good.replace("wk-yz-20230301-001", "wk-ns").replace(",yongzhong,,", ",,,")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([header, good, bad, quoted, missing_street]) + "\n", encoding="utf-8")
    done = cli("publish", "dispute", "--file", str(path), "--dry-run")
    out = done.stderr
    assert done.returncode == 1, out
    assert "line 3: data.party_count:" in out
    assert "line 3: data.collective:" in out
    assert "line 6: data.street: required field is missing" in out  # after a 2-line cell
    assert "valid 2, rejected 2 of 4" in out


def test_shipped_samples_are_valid(tmp_path: Path) -> None:
    done = cli("publish", "dispute", "--file", str(SAMPLES / "disputes.csv"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "valid 2, rejected 0 of 2" in done.stderr
    done = cli("import", "hotline", str(SAMPLES / "hotline-12348.csv"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "valid 6, rejected 0 of 6" in done.stderr


def test_hotline_calls_map_to_consultations_or_disputes() -> None:
    advice = {
        "call_id": "1",
        "call_start": "2023-03-01 08:42:10",
        "duration_s": "312",
        "disposition": "咨询",
        "category": "劳动争议",
        "street": "永中街道",
        "caller_name": NAME,
        "caller_phone": PHONE,
        "summary": "询问",
    }
    kind, ev = map_call(advice)
    assert kind == "consultation" and ev["type"] == "consultation.recorded.v1"
    assert ev["id"] == "hl-1" and ev["time"] == "2023-03-01T08:42:10+08:00"
    assert ev["data"] == {
        "category": "labor",
        "channel": "hotline",
        "summary": "询问",
        "street": "yongzhong",
        "duration_s": "312",
    }
    assert NAME not in json.dumps(ev, ensure_ascii=False)  # advice calls carry no caller data
    mediation = {
        **advice,
        "disposition": "mediation",
        "category": "labor",
        "street": "haibin",
        "respondent_kind": "单位",
        "respondent_name": "某公司",
        "respondent_credit_code": "91330100716105852F",
        "party_count": "6",
        "amount_yuan": "86000",
        "collective": "是",
    }
    kind, ev = map_call(mediation)
    assert kind == "dispute" and ev["type"] == "dispute.reported.v1"
    d = ev["data"]
    assert d["parties"][0] == {"role": "applicant", "kind": "person", "name": NAME, "phone": PHONE}
    assert d["parties"][1]["kind"] == "organisation"
    assert d["collective"] is True and d["party_count"] == "6" and d["street"] == "haibin"
    with pytest.raises(ValueError, match="disposition"):
        map_call({**advice, "disposition": "hung up"})
    with pytest.raises(ValueError, match="summary"):
        map_call({**advice, "summary": ""})


def test_import_hotline_reports_bad_rows(tmp_path: Path) -> None:
    rows = (SAMPLES / "hotline-12348.csv").read_text(encoding="utf-8").splitlines()
    bad_time = rows[1].replace("2023-03-01 08:42:10", "yesterday")
    bad_street = rows[2].replace("20230301-000102", "x-2").replace("蒲州街道", "")
    bad_phone = rows[2].replace("20230301-000102", "x-3").replace("13857712345", "138577")
    path = tmp_path / "calls.csv"
    path.write_text(
        "\n".join([rows[0], rows[1], bad_time, bad_street, bad_phone]) + "\n", encoding="utf-8"
    )
    done = cli("import", "hotline", str(path), "--dry-run")
    out = done.stderr
    assert done.returncode == 1, out
    assert "line 3: call_start:" in out
    assert "line 4: data.street: required field is missing" in out
    assert "line 5: data.parties[0].phone:" in out
    assert "138577" not in out


@pytest.mark.kafka
def test_publish_and_import_send_good_rows_to_kafka(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    env = settings_env(kafka_settings)
    done = cli(
        "publish", "dispute", "--file", str(mixed_jsonl(tmp_path / "m.jsonl", "pk")), env=env
    )
    assert done.returncode == 1, done.stderr
    assert "sent 2, rejected 5 of 7" in done.stderr
    done = cli("import", "hotline", str(SAMPLES / "hotline-12348.csv"), env=env)
    assert done.returncode == 0, done.stderr
    assert "sent 6, rejected 0 of 6" in done.stderr
    disputes = {m["id"]: m for m in drain_topic(kafka_settings, "intake.disputes", quiet_s=2.0)}
    assert set(disputes) == {
        "pk-1",
        "pk-3",
        "hl-20230301-000102",
        "hl-20230301-000104",
        "hl-20230301-000105",
    }
    consultations = drain_topic(kafka_settings, "intake.consultations", quiet_s=2.0)
    assert {m["id"] for m in consultations} == {
        "hl-20230301-000101",
        "hl-20230301-000103",
        "hl-20230301-000106",
    }
    # what goes on the wire is the canonical form: counts are numbers, phones normalised
    hl = disputes["hl-20230301-000105"]["data"]
    assert hl["party_count"] == 2 and hl["parties"][0]["phone"] == "13957712345"
