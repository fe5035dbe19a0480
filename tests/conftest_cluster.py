"""Fixtures for the cluster tier: a secure single broker (SASL_SSL, SCRAM-SHA-512, client
certificate required) and a three-node KRaft cluster, each started once per test module that
asks for it and stopped after it, with nothing left running."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fengqiao import localcluster, localkafka, localsecurity
from fengqiao.localsecurity import LocalSecurity
from fengqiao.settings import Settings


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    security: LocalSecurity

    def settings(self, tmp: Path, **overrides: object) -> Settings:
        """Settings as a component sees them from the variables of ``client_env()``."""
        tag = uuid.uuid4().hex[:10]
        fields: dict[str, object] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "topic_prefix": f"s{tag}.",
            "app_id": f"fq-sasl-{tag}",
            "home": tmp / "home",
            "worker_web_port": localkafka.free_port(),
            "topic_partitions": 2,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": localsecurity.MECHANISM,
            "kafka_sasl_username": self.security.username,
            "kafka_sasl_password": self.security.password,
            "kafka_ssl_cafile": self.security.ca_file,
            "kafka_ssl_certfile": self.security.client_cert,
            "kafka_ssl_keyfile": self.security.client_key,
        }
        return Settings(**(fields | overrides))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    base = Settings()
    data_dir = tmp_path_factory.mktemp("kafka-secure")
    security = localsecurity.ensure(data_dir / "security")
    bootstrap, _ = localkafka.start(
        data_dir=data_dir,
        cache_dir=base.cache_dir,
        version=base.kafka_version,
        port=localkafka.free_port(),
        heap="384m",
        partitions=2,
        security=security,
    )
    try:
        yield SecureBroker(bootstrap, security)
    finally:
        localkafka.stop(data_dir)


@dataclass(frozen=True)
class Cluster:
    data_dir: Path
    bootstrap: str

    def leader_pid(self, node_id: int) -> int | None:
        return localcluster.pid_of(self.data_dir, node_id)


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = Settings()
    data_dir = tmp_path_factory.mktemp("kafka-cluster")
    servers, _ = localcluster.start(
        data_dir=data_dir, cache_dir=base.cache_dir, version=base.kafka_version, brokers=3
    )
    try:
        yield Cluster(data_dir, servers)
    finally:
        localcluster.stop(data_dir)
