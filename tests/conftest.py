"""Shared fixtures: one real Kafka broker per test process (``make test`` runs two), isolated
topics per test, and real worker processes.

Set KAFKA_BOOTSTRAP_SERVERS to run against an existing cluster instead of starting one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fengqiao import localkafka
from fengqiao.settings import Settings
from tests.conftest_cluster import kafka_cluster, secure_broker  # noqa: F401  (cluster tier)
from tests.conftest_pg import pg_server, pg_url  # noqa: F401  (PostgreSQL fixtures)
from tests.kafkatools import WorkerProcess


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real broker: the given cluster, or a single-node KRaft broker started for the run."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    base = Settings()
    data_dir = tmp_path_factory.mktemp("kafka")
    bootstrap, _ = localkafka.start(
        data_dir=data_dir,
        cache_dir=base.cache_dir,
        version=base.kafka_version,
        port=localkafka.free_port(),
        partitions=4,
    )
    try:
        yield bootstrap
    finally:
        localkafka.stop(data_dir)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings with a unique topic prefix and app id: tests never see each other's events."""
    from fengqiao.admin import create_topics

    tag = uuid.uuid4().hex[:10]
    s = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{tag}.",
        app_id=f"fq-test-{tag}",
        home=tmp_path / "home",
        worker_web_port=localkafka.free_port(),
        topic_partitions=2,
    )
    create_topics(s)
    return s


@pytest.fixture
def worker(kafka_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real ``fengqiao worker`` process on the test's topics, ready to consume."""
    proc = WorkerProcess(kafka_settings, tmp_path / "worker.log")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed real-tier test's report ends with its workers' logs (tails), after the live
    ones have logged their threads and tasks: the broker and the test's temporary directory
    are gone by the time anyone reads a CI run."""
    report = yield
    if call.when == "call" and report.failed:
        funcargs = getattr(item, "funcargs", {})
        live = funcargs.get("worker")
        if isinstance(live, WorkerProcess):
            live.dump_tasks()
        tmp = funcargs.get("tmp_path")
        if isinstance(tmp, Path):
            for log in sorted(tmp.glob("**/worker*.log")):
                text = log.read_text(errors="replace")
                report.sections.append((f"worker log {log.name} (last 30000 chars)", text[-30000:]))
    return report
