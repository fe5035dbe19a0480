"""A simulated year with repeat reports through the real pipeline: ``fengqiao simulate
--repeats`` plants reports of cases already reported, under new ids through other channels,
and ``fengqiao report`` finds every linkable one joined to its case, no wrong link, and the
rest (no identity, past the horizon) routed as cases of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fengqiao.settings import Settings
from tests.kafkatools import WorkerProcess, settings_env

pytestmark = pytest.mark.kafka
# CI: a twentieth of the year; FENGQIAO_TEST_SIM_SCALE=1 runs the whole year
SCALE = os.environ.get("FENGQIAO_TEST_SIM_SCALE", "0.05")


def test_repeat_reports_are_linked_as_the_ground_truth_says(
    kafka_settings: Settings, replay_worker: WorkerProcess, tmp_path: Path
) -> None:
    env = settings_env(kafka_settings)
    manifest = tmp_path / "manifest.json"
    cli = [sys.executable, "-m", "fengqiao"]
    args = ["--seed", "5", "--scale", SCALE, "--repeats", "0.2", "--manifest", str(manifest)]
    sim = subprocess.run(
        [*cli, "simulate", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert sim.returncode == 0, sim.stderr
    m = json.loads(manifest.read_text())
    planted = m["repeats"]["planted"]
    linkable = sum(1 for r in planted if r["expect"] == "link")
    apart = len(planted) - linkable
    assert linkable > 0 and apart > 0
    rep = subprocess.run(
        [
            *cli,
            "report",
            "--manifest",
            str(manifest),
            "--wait",
            "240" if SCALE != "1" else "1200",
            "--settle",
            "3",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=700,
    )
    rows = {r["check"]: r for r in json.loads(rep.stdout)}
    print(f"\nrepeats at scale {SCALE}: {len(planted)} planted, {linkable} linkable, {apart} apart")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    expected = {
        "repeat reports linked to their case": linkable,
        "links the truth does not name": 0,
        "repeats with no identity or past the horizon, routed as cases": apart,
    }
    for check, n in expected.items():
        assert rows[check]["counted"] == f"{n:,}", (check, rows[check])
        assert rows[check]["status"] == "ok", check
    for check in ("planted cases never routed", "routed cases not planted", "dead letters"):
        assert rows[check]["counted"] == "0", check
    # the cases routed are the manifest's: the first reports and the repeats kept apart
    for check in ("disputes routed", "wage claims routed", "dispute events on intake"):
        assert rows[check]["status"] == "ok", check
