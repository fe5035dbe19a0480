"""The HTTP ingest gateway over real HTTP: 202 after Kafka's ack, 401/403/413/422/503."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fengqiao import localkafka
from fengqiao.cli.gateway_cmd import gateway_config
from fengqiao.settings import Settings
from producers.gateway import create_app
from producers.keystore import KeyStore, hash_key
from producers.sample import dispute, petition
from tests.httptools import serve
from tests.kafkatools import drain_topic, settings_env

WHEN = datetime.now(UTC) - timedelta(minutes=5)
SOURCE = "hotline/12348"
NAME, PHONE, ID_NUMBER = "李四光", "13912345678", "11010519491231002X"


def event(n: int, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("street", "puzhou")
    ev = dispute(random.Random(n), f"gw-{n}", WHEN, **overrides)
    ev["source"] = SOURCE
    return ev


@pytest.fixture
def gateway_settings(kafka_settings: Settings) -> Settings:
    return kafka_settings.model_copy(update={"gateway_max_body_bytes": 20_000})


@pytest.fixture
def api_key(gateway_settings: Settings) -> str:
    """A key created with the real CLI: printed once on stdout, stored hashed."""
    done = subprocess.run(
        [sys.executable, "-m", "fengqiao", "keys", "create", "--source", SOURCE],
        capture_output=True,
        text=True,
        env=settings_env(gateway_settings),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("fq_") and len(key) > 40
    db = Path(gateway_settings.effective_gateway_db_url().removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))  # with the WAL
    assert key.encode() not in stored and hash_key(key).encode() in stored  # only the hash
    return key


@pytest.fixture
def base_url(gateway_settings: Settings) -> Iterator[str]:
    with serve(create_app(gateway_config(gateway_settings))) as url:
        yield url


def _ids_on(settings: Settings, topic: str) -> list[str]:
    return [m["id"] for m in drain_topic(settings, topic, quiet_s=2.0)]


@pytest.mark.kafka
def test_gateway_statuses_over_http(
    gateway_settings: Settings, api_key: str, base_url: str
) -> None:
    other_key = KeyStore(gateway_settings.effective_gateway_db_url()).create("miniapp/longwan")[1]
    auth = {"X-API-Key": api_key}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        # 202 only after the broker acknowledged: the event is on the topic right away
        r = http.post("/v1/events/dispute", json=event(1), headers=auth)
        assert r.status_code == 202, r.text
        assert r.json() == {"id": "gw-1", "duplicate": False}
        # bearer form works too
        r = http.post(
            "/v1/events/dispute", json=event(2), headers={"Authorization": f"Bearer {api_key}"}
        )
        assert r.status_code == 202 and r.json()["id"] == "gw-2"

        # 401: no key, unknown key
        assert http.post("/v1/events/dispute", json=event(3)).status_code == 401
        r = http.post("/v1/events/dispute", json=event(3), headers={"X-API-Key": "fq_nope"})
        assert r.status_code == 401
        # 403: a valid key of another source
        r = http.post("/v1/events/dispute", json=event(3), headers={"X-API-Key": other_key})
        assert r.status_code == 403 and "source" in r.json()["detail"]

        # 422 with field paths, no personal values
        bad = event(
            4,
            street="Not a street",
            channel="pigeon",
            parties=[
                {
                    "role": "applicant",
                    "kind": "person",
                    "name": NAME,
                    "phone": PHONE + "0",
                    "id_number": ID_NUMBER[:-1] + "1",
                }
            ],
        )
        r = http.post("/v1/events/dispute", json=bad, headers=auth)
        assert r.status_code == 422
        paths = {e["path"] for e in r.json()["errors"]}
        assert {
            "data.street",
            "data.channel",
            "data.parties[0].phone",
            "data.parties[0].id_number",
        } <= paths
        for value in (NAME, PHONE, ID_NUMBER[:-1]):
            assert value not in r.text
        r = http.post("/v1/events/petition", json=event(5), headers=auth)  # wrong kind
        assert r.status_code == 422 and [e["path"] for e in r.json()["errors"]] == ["type"]
        r = http.post("/v1/events/dispute", content=b"{oops", headers=auth)
        assert r.status_code == 422

        # 413 above the size limit (declared or streamed)
        big = event(
            6,
            summary="x" * 3900,
            parties=[{"role": "applicant", "kind": "person"}] * 600,
            party_count=600,
        )
        r = http.post("/v1/events/dispute", json=big, headers=auth)
        assert r.status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(30):
                yield b" " * 1000

        r = http.post("/v1/events/dispute", content=chunks(), headers=auth)
        assert r.status_code == 413

        # idempotency: the same envelope id twice, the same Idempotency-Key twice
        r = http.post("/v1/events/dispute", json=event(1), headers=auth)
        assert r.status_code == 202 and r.json() == {"id": "gw-1", "duplicate": True}
        r1 = http.post(
            "/v1/events/dispute", json=event(7), headers={**auth, "Idempotency-Key": "retry-abc"}
        )
        r2 = http.post(
            "/v1/events/dispute", json=event(8), headers={**auth, "Idempotency-Key": "retry-abc"}
        )
        assert r1.status_code == r2.status_code == 202
        assert r2.json() == {"id": "gw-7", "duplicate": True}

        # batch: all valid → every id; one invalid → 422 naming its index, nothing written
        batch = [event(10), event(11), event(10)]
        r = http.post("/v1/events/dispute/batch", json=batch, headers=auth)
        assert r.status_code == 202, r.text
        assert r.json() == {"ids": ["gw-10", "gw-11", "gw-10"], "duplicates": 1}
        r = http.post(
            "/v1/events/dispute/batch", json=[event(12), event(13, street="Bad")], headers=auth
        )
        assert r.status_code == 422
        assert [e["path"] for e in r.json()["errors"]] == ["[1].data.street"]
        r = http.post(
            "/v1/events/petition/batch",
            headers=auth,
            json=[{**petition(random.Random(1), "gw-p1", WHEN), "source": SOURCE}],
        )
        assert r.status_code == 202 and r.json()["ids"] == ["gw-p1"]

    ids = _ids_on(gateway_settings, "intake.disputes")
    assert sorted(ids) == ["gw-1", "gw-10", "gw-11", "gw-2", "gw-7"]
    assert _ids_on(gateway_settings, "intake.petitions") == ["gw-p1"]


@pytest.mark.kafka
def test_revoked_key_gets_401(gateway_settings: Settings, base_url: str) -> None:
    store = KeyStore(gateway_settings.effective_gateway_db_url())
    record, key = store.create(SOURCE)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        assert (
            http.post("/v1/events/dispute", json=event(20), headers={"X-API-Key": key}).status_code
            == 202
        )
        store.revoke(record.id)
        assert (
            http.post("/v1/events/dispute", json=event(21), headers={"X-API-Key": key}).status_code
            == 401
        )


def test_gateway_answers_503_when_kafka_is_unreachable(tmp_path: Path) -> None:
    closed = localkafka.free_port()  # nothing listens there
    s = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed}",
        home=tmp_path,
        gateway_kafka_timeout_s=1.0,
        gateway_retry_after_s=7,
    )
    key = KeyStore(s.effective_gateway_db_url()).create(SOURCE)[1]
    app = create_app(gateway_config(s))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/v1/events/dispute", json=event(30), headers={"X-API-Key": key})
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "7"
        started = time.monotonic()
        r = http.post("/v1/events/dispute", json=event(30), headers={"X-API-Key": key})
        assert r.status_code == 503 and time.monotonic() - started < 0.5  # fails fast meanwhile
        # nothing was recorded as accepted, so a retry later is written
        assert KeyStore(s.effective_gateway_db_url()).accepted(SOURCE, "gw-30") is None
        # invalid events are still told apart from an outage
        r = http.post(
            "/v1/events/dispute", json=event(31, street="Bad"), headers={"X-API-Key": key}
        )
        assert r.status_code == 422


def test_openapi_describes_every_kind_and_status(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    with serve(create_app(gateway_config(s))) as url:
        doc = httpx.get(f"{url}/openapi.json", timeout=30).json()
        assert httpx.get(f"{url}/docs", timeout=30).status_code == 200
    for kind in ("dispute", "petition", "wage-arrears", "consultation"):
        for path in (f"/v1/events/{kind}", f"/v1/events/{kind}/batch"):
            op = doc["paths"][path]["post"]
            assert {"202", "401", "403", "413", "422", "503"} <= set(op["responses"])
            assert op["requestBody"]["content"]["application/json"]["schema"]
            assert op.get("security")
    schemas = doc["components"]["schemas"]
    for name in (
        "DisputeReportedEvent",
        "PetitionFiledEvent",
        "WageArrearsReportedEvent",
        "ConsultationRecordedEvent",
        "Party",
        "Problem",
    ):
        assert name in schemas
    refs = json.dumps(doc)
    for ref in {r.split('"')[0] for r in refs.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in schemas, ref


def test_key_store_hashes_binds_revokes_and_remembers(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    record, key = store.create(SOURCE)
    other = store.create("miniapp/longwan")[1]
    assert key != other and store.lookup(key) == record and store.lookup("fq_x") is None
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))  # with the WAL
    assert key.encode() not in stored and hash_key(key).encode() in stored
    assert [k.source for k in store.all_keys()] == [SOURCE, "miniapp/longwan"]
    assert store.revoke(record.id) and store.lookup(key) is None and not store.revoke(999)
    # the first event id holds an idempotency key; later writers get it back
    assert store.remember(SOURCE, "k1", "ev-1") == "ev-1"
    assert store.remember(SOURCE, "k1", "ev-2") == "ev-1"
    assert store.remember_many(SOURCE, [("k1", "ev-3"), ("k2", "ev-4")]) == {
        "k1": "ev-1",
        "k2": "ev-4",
    }
    assert store.accepted_many(SOURCE, ["k1", "k2", "k3"]) == {"k1": "ev-1", "k2": "ev-4"}
    assert store.accepted("miniapp/longwan", "k1") is None  # keys are per source
    assert store.forget_older_than(timedelta(days=-1)) == 2
    assert store.accepted(SOURCE, "k1") is None


@pytest.mark.kafka
def test_hostile_bodies_leave_the_connection_and_the_broker_path_working(
    gateway_settings: Settings, api_key: str, base_url: str
) -> None:
    """Before, these answered 500 and the client's next request on the connection was reset."""
    hostile = [
        ("/v1/events/dispute", b"null"),
        ("/v1/events/dispute", b'"hello"'),
        ("/v1/events/dispute", b"42"),
        ("/v1/events/dispute", b"true"),
        ("/v1/events/dispute/batch", b'[1, "a", null]'),
        ("/v1/events/dispute", b"[" * 100_000 + b"]" * 100_000),
        (
            "/v1/events/dispute",
            json.dumps(event(40, summary="P")).replace('"P"', "[" * 5000 + "]" * 5000).encode(),
        ),
    ]
    with httpx.Client(base_url=base_url, timeout=30, headers={"X-API-Key": api_key}) as http:
        for n, (path, body) in enumerate(hostile):
            r = http.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code in (413, 422), (body[:20], r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["errors"], r.text
            # the same keep-alive connection serves a good event, acknowledged by the broker
            r = http.post("/v1/events/dispute", json=event(50 + n))
            assert r.status_code == 202, r.text
    assert sorted(_ids_on(gateway_settings, "intake.disputes")) == sorted(
        f"gw-{50 + n}" for n in range(len(hostile))
    )


@pytest.mark.kafka
def test_probes_on_the_real_broker(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz", timeout=10).json() == {"status": "ok"}
    r = httpx.get(f"{base_url}/readyz", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_says_why_not_ready(tmp_path: Path) -> None:
    closed = localkafka.free_port()
    s = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed}", home=tmp_path, gateway_kafka_timeout_s=1.0
    )
    with serve(create_app(gateway_config(s))) as url:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # alive all the same
        r = httpx.get(f"{url}/readyz", timeout=30)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("Kafka is not reachable")


def test_readyz_503_when_the_key_database_is_gone(tmp_path: Path) -> None:
    import shutil

    from tests.gatewaytools import memory_gateway

    gw = memory_gateway(tmp_path / "home")
    with serve(gw.app) as url:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        gw.store.close()  # every connection, the kept one of the request path too
        shutil.rmtree(tmp_path / "home")
        r = httpx.get(f"{url}/readyz", timeout=10)
        published = httpx.post(
            f"{url}/v1/events/dispute", json=event(60), headers={"X-API-Key": gw.key}, timeout=10
        )
    assert r.status_code == 503
    assert r.json()["detail"].startswith("The key and idempotency database does not answer")
    assert published.status_code == 503, published.text
    assert published.headers["content-type"] == "application/problem+json"
    assert "retrying is safe" in published.json()["detail"]


@pytest.mark.kafka
def test_bench_publish_measures_both_cases(gateway_settings: Settings, base_url: str) -> None:
    """The bench's numbers come from real acknowledged writes: every event is on the topic."""
    from producers.bench import SOURCE as BENCH_SOURCE
    from producers.bench import bench_gateway

    key = KeyStore(gateway_settings.effective_gateway_db_url()).create(BENCH_SOURCE)[1]
    results = bench_gateway(base_url, key, 120, concurrency=4, batch=30)
    assert [r.events for r in results] == [120, 120]
    single, batched = results
    assert len(single.latencies) == 120 and len(batched.latencies) == 4
    for r in results:
        p50, p99 = r.percentile(50), r.percentile(99)
        assert r.rate > 0 and p50 is not None and p99 is not None and 0 < p50 <= p99
    ids = _ids_on(gateway_settings, "intake.disputes")
    assert len(ids) == len(set(ids)) == 4 * 4 + 120 + 120  # warm-up, singles, batches


def test_key_store_group_calls_agree_with_the_single_ones(tmp_path: Path) -> None:
    """The gateway's group reads and writes (plain DB-API on SQLite) see and write the same
    rows as the ORM methods the CLI uses."""
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    record, key = store.create(SOURCE)
    revoked, revoked_key = store.create(SOURCE)
    store.revoke(revoked.id)
    assert store.lookup_many([key, "fq_nope", revoked_key, key]) == [record, None, None, record]
    assert store.remember(SOURCE, "orm", "ev-0") == "ev-0"
    assert store.remember_pairs([(SOURCE, "a", "ev-1"), ("miniapp/longwan", "a", "ev-2")]) == {
        (SOURCE, "a"): "ev-1",
        ("miniapp/longwan", "a"): "ev-2",
    }
    # a taken key falls back to first-wins, row by row
    assert store.remember_pairs([(SOURCE, "a", "ev-3"), (SOURCE, "b", "ev-4")]) == {
        (SOURCE, "a"): "ev-1",
        (SOURCE, "b"): "ev-4",
    }
    assert store.accepted(SOURCE, "b") == "ev-4"
    assert store.accepted_pairs([(SOURCE, "orm"), (SOURCE, "a"), ("miniapp/longwan", "orm")]) == {
        (SOURCE, "orm"): "ev-0",
        (SOURCE, "a"): "ev-1",
    }
    store.ping()
    assert store.forget_older_than(timedelta(days=-1), chunk=2) == 4  # in chunks of two
    assert store.accepted_pairs([(SOURCE, "a"), (SOURCE, "b")]) == {}
