"""``fengqiao bench`` on the real broker: both rates, their ratio, latency percentiles, JSON.

A small run that proves the command works end to end; the numbers themselves are reported,
not asserted (speed is measured by the benchmark, not by timed tests).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from fengqiao.settings import Settings
from tests.kafkatools import settings_env

pytestmark = pytest.mark.kafka


def test_bench_prints_both_rates_the_ratio_and_latency_and_writes_the_json(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "fengqiao", "bench", "--events", "600", "--rate", "50"]
        + ["--seconds", "2", "--json", str(out)],
        env=settings_env(kafka_settings) | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for label in ("baseline relay", "full pipeline", "cases.routed", "ratio", "latency p99"):
        assert label in proc.stdout
    result = json.loads(out.read_text())
    assert result["events"] == 600 and result["offered_rate"] == 50 and result["cores"] >= 1
    assert result["baseline_eps"] > 0 and result["pipeline_eps"] > 0
    # the JSON rounds the ratio to 4 decimals
    ratio = result["pipeline_eps"] / result["baseline_eps"]
    assert result["ratio"] == pytest.approx(ratio, abs=5e-5)
    # CPU per event of each side, read from the relay thread and the worker process; the
    # pipeline does the relay's work and more, and the ratio is what the JSON's numbers give
    assert 0 < result["baseline_cpu_us"] < result["pipeline_cpu_us"]
    cpu_ratio = result["baseline_cpu_us"] / result["pipeline_cpu_us"]
    assert result["cpu_ratio"] == pytest.approx(cpu_ratio, abs=5e-4)
    assert "CPU per event: relay / pipeline" in proc.stdout
    # the relay again once the workers and the sink have stopped: how far the baseline moved
    # during the run, and the pipeline's ratio to that reading too
    assert result["baseline_after_eps"] > 0 and result["baseline_after_cpu_us"] > 0
    again = result["pipeline_eps"] / result["baseline_after_eps"]
    assert result["ratio_after"] == pytest.approx(again, abs=5e-5)
    assert "the relay again, after the pipeline" in proc.stdout
    # the whole pipeline includes the incident/risk/SLA work, so it is never faster than routing
    assert result["pipeline_eps"] <= result["routed_eps"] * 1.001
    lat = result["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert result["latency_events"] == 100  # every event offered came back routed
    # the two hops of that latency, split at the routed record's timestamp (the worker's
    # clock): each within the whole, and together about the whole (±1 ms per record, the
    # timestamp's resolution, and the reader's one clock read per fetched batch)
    to_out, out_read = result["to_output_ms"], result["output_to_read_ms"]
    assert 0 < to_out["p50"] <= to_out["p95"] <= to_out["p99"] <= lat["p99"] + 2
    assert 0 <= out_read["p50"] <= out_read["p95"] <= out_read["p99"] <= lat["p99"] + 2
    assert to_out["p50"] + out_read["p50"] == pytest.approx(lat["p50"], abs=0.5 * lat["p50"] + 3)
    assert "publish → worker's output" in proc.stdout
    # and every case reached the case store through the sink, never before it was routed
    assert "to the case store p99" in proc.stdout
    # what the offered rate cost the workers and the sink beside them, in cores (the sink
    # wrote 100 cases and their reports meanwhile; /proc counts in 10 ms ticks)
    assert 0 < result["latency_worker_cpu"] <= result["cores"]
    assert 0 < result["latency_sink_cpu"] <= result["cores"]
    assert "the sink's CPU @ 50/s" in proc.stdout
    stored = result["store_latency_ms"]
    assert result["store_latency_events"] == 100
    assert 0 < stored["p50"] <= stored["p95"] <= stored["p99"]
    assert stored["p50"] >= lat["p50"] * 0.5
    # and it took its topics with it: intake, outputs, internal, changelogs, relay; and its
    # consumer groups: the worker's, the sink's, the relay's (progress goes to stderr, the
    # table to stdout)
    deleted = re.findall(
        r"bench: deleted (\d+) topics and (\d+) consumer groups of run ([0-9a-f]{8})", proc.stderr
    )
    assert len(deleted) == 1 and int(deleted[0][0]) > 0, proc.stderr[-2000:]
    assert int(deleted[0][1]) == 3, proc.stderr[-2000:]
    assert "could not delete" not in proc.stderr
    # sending the workers' static members away describes their group, whose faust metadata
    # kafka-python would log whole as a warning
    assert "Unable to decode member_metadata" not in proc.stderr
    run = deleted[0][2]
    # and its own case store, with SQLite's files beside it (400 MB at 30,000 events)
    assert f"bench: removed the case store of run {run}" in proc.stderr
    assert not list(kafka_settings.home.glob(f"fengqiao-bench-{run}.db*"))
    prefixes = (f"{kafka_settings.topic_prefix}bench-", f"fengqiao-bench-{run}-")
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.resolved_bootstrap())
    try:
        deadline = time.monotonic() + 30
        while (left := [t for t in admin.list_topics() if t.startswith(prefixes)]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert left == []
        assert not [g for g in admin.list_groups() if g["group_id"].startswith(prefixes[1][:-1])]
        # the product's topics (here the fixture's) are still there
        assert kafka_settings.topic("cases.routed") in admin.list_topics()
    finally:
        admin.close()
