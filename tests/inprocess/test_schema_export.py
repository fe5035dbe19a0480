"""``fengqiao schemas export``: the JSON Schemas and the AsyncAPI document parse and cover all."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from producers.sample import dispute, petition, wage_arrears
from schemas.events import ALL_TYPES, DERIVED_TYPES, INTAKE_TYPES
from schemas.topics import TOPICS

WHEN = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    done = subprocess.run(
        [sys.executable, "-m", "fengqiao", "schemas", "export", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_one_valid_json_schema_per_event_type(exported: Path) -> None:
    files = sorted(p.name for p in exported.glob("*.schema.json"))
    assert files == sorted(f"{t}.schema.json" for t in ALL_TYPES)
    assert set(INTAKE_TYPES) | set(DERIVED_TYPES) == set(ALL_TYPES)
    for type_ in ALL_TYPES:
        schema = json.loads((exported / f"{type_}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["type"]["const"] == type_
        assert {"id", "source", "type", "time", "data"} <= set(schema["required"])
        for ref in _refs(schema):
            _resolve(schema, ref)


def test_json_schemas_accept_valid_and_reject_invalid_events(exported: Path) -> None:
    rng = random.Random(3)
    samples = {
        "dispute.reported.v1": dispute(rng, "d-1", WHEN),
        "petition.filed.v1": petition(rng, "p-1", WHEN),
        "wage_arrears.reported.v1": wage_arrears(rng, "w-1", WHEN),
    }
    for type_, event in samples.items():
        schema = json.loads((exported / f"{type_}.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)
        assert list(validator.iter_errors(event)) == []
        event["data"]["extra_field_kept"] = "yes"  # unknown fields allowed
        assert list(validator.iter_errors(event)) == []
        bad = {**event, "data": {**event["data"], "channel": "pigeon"}}
        assert list(validator.iter_errors(bad))
    schema = json.loads((exported / "wage_arrears.reported.v1.schema.json").read_text())
    bad = wage_arrears(rng, "w-2", WHEN, amount_yuan="-3", worker_count=0)
    paths = {
        tuple(e.absolute_path) for e in jsonschema.Draft202012Validator(schema).iter_errors(bad)
    }
    assert ("data", "amount_yuan") in paths and ("data", "worker_count") in paths


def test_asyncapi_covers_every_topic_key_and_message(exported: Path) -> None:
    doc = json.loads((exported / "asyncapi.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    channels = doc["channels"]
    by_address = {c["address"]: c for c in channels.values()}
    assert set(by_address) == {spec.name for spec in TOPICS}
    for spec in TOPICS:
        channel = by_address[spec.name]
        assert spec.key in channel["description"]
        names = {_resolve(doc, m["$ref"])["name"] for m in channel["messages"].values()}
        assert names == set(spec.messages)
        assert channel["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == [
            spec.cleanup_policy
        ]
    messages = doc["components"]["messages"]
    assert set(messages) == set(ALL_TYPES)
    for type_, msg in messages.items():
        assert msg["bindings"]["kafka"]["key"]["type"] == "string"
        payload = _resolve(doc, msg["payload"]["$ref"])
        assert payload["properties"]["type"]["const"] == type_
    assert {op["action"] for op in doc["operations"].values()} == {"send", "receive"}
    for op in doc["operations"].values():
        assert _resolve(doc, op["channel"]["$ref"]) in channels.values()
    for ref in _refs(doc):  # every reference in the document resolves
        _resolve(doc, ref)
