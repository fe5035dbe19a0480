"""A candidate ruleset for what-if tests: the shipped one with ``large_amount`` from 500,000
yuan, written to a file the ``--candidate`` options read."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

CANDIDATE_VERSION = "candidate-500k"


def write_candidate_500k(folder: Path) -> Path:
    rs = json.loads(resources.files("streams.data").joinpath("ruleset.json").read_text())
    (large,) = [r for r in rs["rules"] if r["id"] == "large_amount"]
    large["when"] = {"amount_gte": "500000"}
    rs["version"] = CANDIDATE_VERSION
    candidate = folder / "candidate.json"
    candidate.write_text(json.dumps(rs))
    return candidate
