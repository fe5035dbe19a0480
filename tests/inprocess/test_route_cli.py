"""``fengqiao route``: a file of intake events in, the default policy's decisions out, no Kafka."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fengqiao.cli import app
from producers.sample import dispute, petition, wage_arrears

CST = timezone(timedelta(hours=8))
T0 = datetime(2023, 3, 1, 9, 30, tzinfo=CST)


def events() -> list[tuple[dict[str, Any], str, str]]:
    """(event, committee, rule): one per default rule."""
    rng = random.Random(5)

    def d(i: str, **kw: Any) -> dict[str, Any]:
        kw.setdefault("amount_yuan", "0")
        return dispute(rng, i, T0, **kw)

    return [
        (d("e-unknown", street="atlantis", category="contract"), "longwan-center",
         "unknown_jurisdiction"),
        (d("e-group", street="haibin", category="land", collective=True), "longwan-center",
         "group"),
        (petition(rng, "e-repeat", T0, street="yaoxi", repeat_of=["p-0"]),
         "longwan-petition-bureau", "petition_repeat"),
        (petition(rng, "e-petition", T0, street="yaoxi"), "yaoxi-petition-desk", "petition"),
        (d("e-medical", street="puzhou", category="medical"), "longwan-medical", "medical"),
        (d("e-traffic", street="puzhou", category="traffic"), "longwan-traffic", "traffic"),
        (wage_arrears(rng, "e-labor", T0, street="tianhe", worker_count=4), "longwan-labor",
         "labor"),
        (wage_arrears(rng, "e-labor-small", T0, street="tianhe", worker_count=1,
                      amount_yuan="3000"), "tianhe-street", "labor_small"),
        (d("e-large", street="haibin", category="contract", amount_yuan="1500000"),
         "longwan-center", "large_amount"),
        (d("e-medium", street="haibin", category="contract", amount_yuan="150000"),
         "haibin-street", "medium_amount"),
        (d("e-family", street="haibin", category="family"), "longwan-family", "family"),
        (d("e-default", street="xinghai", category="neighbourhood", community="xinghai-02"),
         "xinghai-02-community", "default"),
    ]  # fmt: skip


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "cases.jsonl"
    lines = [json.dumps(e, ensure_ascii=False) for e, _, _ in events()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_route_json_gives_the_default_policy(events_file: Path) -> None:
    result = CliRunner().invoke(app, ["route", "--file", str(events_file), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    expected = {e["id"]: (committee, rule) for e, committee, rule in events()}
    assert {x["id"]: (x["committee_id"], x["rule_id"]) for x in lines} == expected
    for x in lines:
        assert x["case_id"] == x["id"]
        assert x["ruleset_version"] == "longwan-default-2023.1"
        assert x["reasons"][0].startswith(f"Rule {x['rule_id']}: ")
        assert any(r.startswith("It applies because ") for r in x["reasons"])
        assert all(r["reason"] for r in x["rejected"])
        assert x["tier"] in ("community", "street", "district")
    by_id = {x["id"]: x for x in lines}
    assert by_id["e-petition"]["deadline"] == (T0 + timedelta(days=60)).isoformat()
    assert by_id["e-labor"]["deadline"] == (T0 + timedelta(days=15)).isoformat()
    assert "unknown jurisdiction" in " ".join(by_id["e-unknown"]["reasons"]).lower()
    assert "No community is given" in " ".join(by_id["e-family"]["reasons"])


def test_route_table_and_invalid_lines(events_file: Path) -> None:
    good = events_file.read_text(encoding="utf-8").splitlines()
    bad = json.loads(good[0])
    bad["id"] = "e-bad"
    bad["data"]["party_count"] = 0
    text = "\n".join([good[0], "{oops", json.dumps(bad), good[0], ""]) + "\n"
    events_file.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["route", "--file", str(events_file)])
    assert result.exit_code == 1
    out = result.output
    assert "line 2: message is not valid JSON" in out
    assert "line 3: data.party_count" in out
    assert "line 4: duplicate of line 1" in out
    assert "龙湾区矛盾纠纷调处化解中心" in out and "unknown_jurisdiction" in out
    assert "1 routed, 2 invalid, 1 skipped" in out


def test_route_with_a_broken_ruleset_names_the_rule(tmp_path: Path, events_file: Path) -> None:
    (tmp_path / "r.json").write_text(
        json.dumps(
            {
                "format": "fengqiao.ruleset/1",
                "version": "x",
                "deadlines_days": {"dispute": 1, "petition": 1, "wage_arrears": 1},
                "rules": [
                    {
                        "id": "only",
                        "description": "d",
                        "description_zh": "唯一",
                        "target": ["clinic"],
                    }
                ],
            }
        )
    )
    result = CliRunner().invoke(
        app, ["route", "--file", str(events_file), "--ruleset", str(tmp_path / "r.json")]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "rule #1 (only) > target: target 'clinic' is not a committee type" in str(
        result.exception
    )


def test_route_bench_reports_a_rate() -> None:
    result = CliRunner().invoke(app, ["route", "--bench", "0.2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["cases"] == 2000 and report["route_per_s"] > 0


def test_route_explains_in_chinese_by_default_and_in_english_on_request(events_file: Path) -> None:
    zh = CliRunner().invoke(app, ["route", "--file", str(events_file), "--explain"])
    assert zh.exit_code == 0, zh.output
    assert "适用本规则，因为所报街道不在龙湾区目录中。" in zh.output
    assert "规则 unknown_jurisdiction：管辖不明" in zh.output
    assert "✗ petition_repeat: 不适用：案件类型为矛盾纠纷，不是信访。" in zh.output
    assert "It applies because" not in zh.output
    en = CliRunner().invoke(app, ["route", "--file", str(events_file), "--explain", "--lang", "en"])
    assert en.exit_code == 0, en.output
    assert "It applies because the street is not in the 龙湾区 catalogue." in en.output
    assert "适用本规则" not in en.output
    assert "atlantis" not in "".join(
        line for line in en.output.splitlines() if "✓" in line or "✗" in line
    )
    bad = CliRunner().invoke(app, ["route", "--file", str(events_file), "--lang", "fr"])
    assert bad.exit_code == 1 and "--lang must be zh or en" in bad.output
