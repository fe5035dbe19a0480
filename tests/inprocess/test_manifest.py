"""The ground-truth manifest as a typed model: the same seed still gives the same year, and the
JSON file keeps the format ``fengqiao report --manifest`` has always read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengqiao.cli import app as cli
from fengqiao.cli.report_cmd import ManifestUnreadable, read_manifest
from fengqiao.cli.simulate_cmd import write_manifest
from producers.manifest import Manifest, MediatorsRun, Publishing
from producers.simulator import profile, simulate

# Written by the generator before it was split into modules (seed 4, scale 0.02).
OLD_FILE = Path(__file__).parents[1] / "data" / "manifest-lw22-s4-x002.json"
OLD_EVENTS_SHA256 = "db0d0c5be7d589e53efc7ac544b350f5d154e423d21051a41c0a6b570f551586"
TOP_LEVEL = [
    "profile", "generator_version", "seed", "run", "scale", "period", "events", "cases",
    "by_street", "by_category", "by_month", "by_hour", "by_channel", "disputes", "petitions",
    "wage_arrears", "incidents", "consultations", "published_figures", "not_modelled",
    "case_ids",
]  # fmt: skip
PLANTED = [
    "tag", "rule_id", "employer", "employer_key", "credit_code", "street", "claims", "workers",
    "amount_yuan", "trigger", "escalation", "case_ids", "first", "last",
]  # fmt: skip


def test_same_seed_gives_the_year_it_gave_before_the_split() -> None:
    """A deliberate change to the generator bumps GENERATOR_VERSION and these pins."""
    sim = simulate(profile(scale=0.02), 4)
    events = json.dumps(
        [(e.kind, e.time.isoformat(), e.envelope) for e in sim.events], ensure_ascii=False
    )
    assert hashlib.sha256(events.encode()).hexdigest() == OLD_EVENTS_SHA256
    assert sim.manifest.to_json() == OLD_FILE.read_text(encoding="utf-8")


def test_manifest_file_keeps_its_keys_and_reads_back(tmp_path: Path) -> None:
    m = simulate(profile(scale=0.02), 4).manifest
    path = tmp_path / "m.json"
    write_manifest(path, m)
    data = json.loads(path.read_text())
    assert list(data) == TOP_LEVEL
    assert list(data["incidents"]["planted"][0]) == PLANTED
    assert isinstance(data["disputes"]["amount_yuan"], str)  # yuan stay exact decimals
    assert Manifest.from_json(path.read_text()) == m

    published = m.model_copy(update={"publishing": Publishing(sent=10, failed=0, wall_seconds=1.5)})
    write_manifest(path, published)
    data = json.loads(path.read_text())
    assert data["publishing"] == {"sent": 10, "failed": 0, "wall_seconds": 1.5}
    with_crew = published.model_copy(
        update={
            "publishing": published.publishing.model_copy(  # type: ignore[union-attr]
                update={"mediators": MediatorsRun(url="http://inbox", accepted=3)}
            )
        }
    )
    write_manifest(path, with_crew)
    back = read_manifest(path)
    assert back.mediators_ran and back.publishing and back.publishing.mediators
    assert back.publishing.mediators.accepted == 3


def test_a_manifest_written_before_the_model_reads_unchanged() -> None:
    m = read_manifest(OLD_FILE)
    assert m.run == "lw22-s4-x002" and m.incidents.group_wage == 14
    assert m.to_json() == OLD_FILE.read_text(encoding="utf-8")


def test_a_broken_manifest_names_the_field_never_the_value(tmp_path: Path) -> None:
    data = json.loads(OLD_FILE.read_text(encoding="utf-8"))
    employer = data["incidents"]["planted"][0]["employer"]
    data["incidents"]["planted"][0]["employer"] = {"name": employer}
    del data["cases"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    with pytest.raises(ManifestUnreadable) as err:
        read_manifest(path)
    assert "incidents.planted.0.employer" in str(err.value) and "cases" in str(err.value)
    assert employer not in str(err.value)

    result = CliRunner().invoke(cli, ["report", "--manifest", str(path)])
    assert result.exit_code == 1
    assert "incidents.planted.0.employer" in result.output and employer not in result.output
    assert "Traceback" not in result.output

    (tmp_path / "not-json.json").write_text("{nope")
    with pytest.raises(ManifestUnreadable, match="not a simulation manifest: file"):
        read_manifest(tmp_path / "not-json.json")
