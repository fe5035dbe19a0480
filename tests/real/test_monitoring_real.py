"""The command center against real components: Kafka, the worker, the exporter process,
a Prometheus server, promtool and headless Chromium.

One worker and one exporter serve the whole module (they are the slow parts); each test
plants what it needs on its own street/category cell. Missing tools fail, never skip.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from fengqiao import localkafka
from fengqiao.admin import create_topics
from fengqiao.settings import Settings
from producers.sample import dispute, petition, wage_arrears
from producers.sdk import Publisher
from tests.chromium import Chromium
from tests.kafkatools import WorkerProcess, settings_env
from tests.monitoring_events import every_kind, risk

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DASHBOARD = ROOT / "deploy" / "grafana" / "fengqiao-command-center.json"
ARTIFACTS = ROOT / "test-artifacts"
METRIC_RE = re.compile(r"\bfengqiao_[a-z0-9_]+")
ID_NUMBER = "330303198304131033"  # shaped like a resident id number
HOSTILE_CODES = (ID_NUMBER, "di", "r")


def http_get(url: str, timeout_s: float = 5.0, session: str | None = None) -> str:
    req = urllib.request.Request(url)
    if session is not None:
        req.add_header("Cookie", f"fq_session={session}")
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return str(resp.read().decode())


def command_session(s: Settings) -> str:
    """A command account's live workbench session in the exporter's database (its cookie)."""
    from consumers.db import SqlStore
    from fengqiao.workbench import account_service

    store = SqlStore.open(s.effective_database_url())
    try:
        accounts = account_service(s, store.engine)
        acc, one_time = accounts.create("zhihui", "command")
        accounts.change_password(acc, one_time, "Command-2026!", "Command-2026!", None)
        token, _rec = accounts.start_session(accounts.account("zhihui"))
        return token
    finally:
        store.close()


def wait_until(check, timeout_s: float, what: str, every_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as err:
            last = err
        else:
            if last:
                return last
        time.sleep(every_s)
    raise TimeoutError(f"{what} not reached in {timeout_s}s (last: {last!r})")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install it (Debian: apt-get install -y prometheus)")
    return path


class ServerProcess:
    """A child process in its own session, stopped by process group."""

    def __init__(self, args: list[str], env: dict[str, str] | None, log_path: Path) -> None:
        log = log_path.open("ab")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        import os

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


class Exporter:
    def __init__(self, settings: Settings, proc: ServerProcess, worker: WorkerProcess) -> None:
        self.settings = settings
        self.proc = proc
        self.worker = worker
        self.base = f"http://127.0.0.1:{settings.metrics_port}"
        self.session = command_session(settings)

    def metrics(self) -> str:
        return http_get(f"{self.base}/metrics")

    def sample(self, name: str, **labels: str) -> float | None:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total, found = 0.0, False
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
                found = True
        return total if found else None

    def publish_derived(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.settings.resolved_bootstrap().split(","), acks="all"
        )
        try:
            futures = [
                producer.send(
                    self.settings.topic(topic),
                    key=str(env["id"]).encode(),
                    value=json.dumps(env, ensure_ascii=False).encode(),
                )
                for topic, env in events
            ]
            for fut in futures:
                fut.get(timeout=30)
        finally:
            producer.close()


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exporter]:
    """Worker + exporter on their own topics, fed one event of every kind through the worker."""
    tmp = tmp_path_factory.mktemp("monitoring")
    tag = uuid.uuid4().hex[:10]
    s = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"m{tag}.",
        app_id=f"fq-mon-{tag}",
        home=tmp / "home",
        worker_web_port=localkafka.free_port(),
        metrics_port=localkafka.free_port(),
        topic_partitions=2,
        metrics_lag_interval_s=1.0,
        database_url=f"sqlite:///{tmp / 'cases.db'}",
    )
    create_topics(s)
    worker = WorkerProcess(s, tmp / "worker.log")
    env = settings_env(s) | {
        "FENGQIAO_METRICS_PORT": str(s.metrics_port),
        "FENGQIAO_METRICS_LAG_INTERVAL_S": "1",
        "FENGQIAO_DATABASE_URL": s.effective_database_url(),
    }
    exporter_proc = ServerProcess(
        [sys.executable, "-m", "fengqiao", "metrics"], env, tmp / "exporter.log"
    )
    exporter = Exporter(s, exporter_proc, worker)
    try:
        worker.start()
        wait_until(
            lambda: json.loads(http_get(f"{exporter.base}/healthz"))["consuming"],
            30,
            f"exporter consuming:\n{exporter_proc.log_tail()}",
        )
        # readiness says the same, with its reason
        assert json.loads(http_get(f"{exporter.base}/readyz")) == {
            "ready": True,
            "reason": "consuming",
        }
        now = datetime.now(UTC) - timedelta(seconds=5)
        rng = random.Random(11)
        with Publisher(s) as pub:
            pub.publish("dispute", dispute(rng, f"{tag}-d1", now, street="yaoxi", category="land"))
            pub.publish("dispute", dispute(rng, f"{tag}-d1", now, street="yaoxi", category="land"))
            pub.publish("petition", petition(rng, f"{tag}-p1", now))
            pub.publish("wage-arrears", wage_arrears(rng, f"{tag}-w1", now))
            pub.publish(
                "consultation",
                {
                    "id": f"{tag}-c1",
                    "source": "hotline/12348",
                    "type": "consultation.recorded.v1",
                    "time": now.isoformat(),
                    "data": {"category": "legal_aid", "channel": "hotline", "summary": "x"},
                },
            )
            pub.send_raw("intake.disputes", b"{this is not json", key=b"yaoxi").get(timeout=30)
            # Codes outside the catalogue, sent past the SDK's checks as a hostile client would:
            # the worker routes them (unknown jurisdiction); no label may carry them.
            for i, code in enumerate(HOSTILE_CODES):
                env = dispute(rng, f"{tag}-x{i}", now, street=code, category="land")
                raw = json.dumps(env, ensure_ascii=False).encode()
                pub.send_raw("intake.disputes", raw, key=code.encode()).get(timeout=30)
        # derived events whose producers live elsewhere, published as their contracts say
        exporter.publish_derived(
            [(t, e) for t, e in every_kind(now, tag) if not t.startswith("intake.")]
        )
        yield exporter
    finally:
        exporter_proc.stop()
        worker.stop()
    # SIGTERM stops the HTTP server and the consumer thread cleanly, no SIGKILL needed
    assert exporter_proc.proc.returncode == 0, exporter_proc.log_tail()


# --- the exporter on the real pipeline ------------------------------------------------------


@pytest.mark.kafka
def test_exporter_counts_the_real_pipeline(stack: Exporter) -> None:
    def routed() -> float | None:
        # 3 cases routed by the worker + 2 planted routing decisions
        n = stack.sample("fengqiao_cases_routed_total")
        return n if n is not None and n >= 5 else None

    try:
        wait_until(routed, 90, "routed cases counted")
    except TimeoutError as err:
        raise AssertionError(
            f"{err}\nrouted={stack.sample('fengqiao_cases_routed_total')} "
            f"events={[ln for ln in stack.metrics().splitlines() if 'sink_events' in ln]}\n"
            f"worker={stack.worker.stats()}\n{stack.proc.log_tail()}"
        ) from err
    assert stack.sample("fengqiao_cases_received_total", kind="dispute", street="yaoxi") == 1
    assert stack.sample("fengqiao_intake_duplicates_total", topic="intake.disputes") == 1
    wait_until(
        lambda: (
            stack.sample(
                "fengqiao_dead_letters_total", topic="intake.disputes", reason_class="decode"
            )
            == 1
        ),
        30,
        "dead letter from the worker counted",
    )
    latency = stack.sample("fengqiao_routing_latency_seconds_count")
    assert latency is not None and latency >= 3
    assert stack.sample("fengqiao_incidents_total", rule="wage_employer") == 1
    assert stack.sample("fengqiao_risk_level", street="haibin", category="labor") == 3
    # the worker's own group has committed its intake offsets: lag is measured and drains
    group = stack.settings.app_id
    wait_until(
        lambda: (
            stack.sample("fengqiao_consumer_lag_messages", group=group) == 0
            and stack.sample("fengqiao_consumer_lag_messages", group=group, topic="intake.disputes")
            is not None
        ),
        60,
        "worker lag measured and drained",
    )


@pytest.mark.kafka
def test_codes_outside_the_catalogue_never_become_labels(stack: Exporter) -> None:
    wait_until(
        lambda: (stack.sample("fengqiao_cases_received_total", street="unknown") or 0) >= 2,
        60,
        "disputes from streets outside the catalogue counted as unknown",
    )
    wait_until(
        lambda: (stack.sample("fengqiao_cases_routed_total") or 0) >= 5 + len(HOSTILE_CODES) - 1,
        60,
        "the hostile disputes routed",
    )
    metrics = stack.metrics()
    dashboard = http_get(f"{stack.base}/api/dashboard", session=stack.session)
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_get(f"{stack.base}/api/dashboard")  # no session: refused
    assert refused.value.code == 401
    assert ID_NUMBER not in metrics and ID_NUMBER not in dashboard
    for code in HOSTILE_CODES:
        assert f'="{code}"' not in metrics, code
        assert f'"{code}"' not in dashboard and f'"{code}/' not in dashboard, code


@pytest.mark.kafka
def test_every_grafana_and_alert_metric_is_exported(stack: Exporter) -> None:
    wait_until(
        lambda: (
            stack.sample("fengqiao_consumer_lag_messages") is not None
            and (stack.sample("fengqiao_routing_latency_seconds_count") or 0) >= 3
        ),
        60,
        "exporter populated",
    )
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in stack.metrics().splitlines()
        if line and not line.startswith("#")
    }
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"]]
    panels += [c for p in dashboard["panels"] for c in p.get("panels", [])]
    assert len(panels) >= 15
    for panel in panels:
        exprs = [t["expr"] for t in panel.get("targets", [])]
        assert exprs, f"panel {panel['title']!r} has no query"
        for expr in exprs:
            names = METRIC_RE.findall(expr)
            assert names, f"panel {panel['title']!r} queries no fengqiao_ metric: {expr}"
            missing = [n for n in names if n not in exported]
            assert not missing, f"panel {panel['title']!r}: {missing} not exported"
    # the case-store sink exports its own counters (consumers.sink.SinkCollector)
    from consumers.sink import SinkCollector, SinkStats

    sink_exported = {
        s.name for family in SinkCollector(SinkStats()).collect() for s in family.samples
    }
    rules = (PROM_DIR / "alerts.yml").read_text()
    rule_metrics = set(METRIC_RE.findall(rules))
    assert len(rule_metrics) >= 6
    assert rule_metrics <= exported | sink_exported, rule_metrics - exported - sink_exported


# --- Prometheus ------------------------------------------------------------------------------


@pytest.mark.prometheus
def test_promtool_checks_config_rules_and_rule_tests() -> None:
    promtool = tool("promtool")
    for args in (
        ["check", "config", str(PROM_DIR / "prometheus.yml")],
        ["check", "rules", str(PROM_DIR / "alerts.yml")],
        ["test", "rules", str(PROM_DIR / "alerts_test.yml")],
    ):
        out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
        assert "SUCCESS" in out.stdout + out.stderr


@pytest.mark.prometheus
@pytest.mark.kafka
def test_real_prometheus_scrapes_the_exporter_and_fires_red_street(
    stack: Exporter, tmp_path: Path
) -> None:
    binary = tool("prometheus")
    conf_dir = tmp_path / "prom"
    conf_dir.mkdir()
    shutil.copy(PROM_DIR / "alerts.yml", conf_dir / "alerts.yml")
    config = (PROM_DIR / "prometheus.yml").read_text()
    assert "127.0.0.1:9464" in config
    config = (
        config.replace("127.0.0.1:9464", f"127.0.0.1:{stack.settings.metrics_port}")
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
    )
    (conf_dir / "prometheus.yml").write_text(config)
    port = localkafka.free_port()
    server = ServerProcess(
        [
            binary,
            f"--config.file={conf_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        None,
        tmp_path / "prometheus.log",
    )
    api = f"http://127.0.0.1:{port}/api/v1"

    def query(expr: str) -> list[dict[str, Any]]:
        body = json.loads(http_get(f"{api}/query?" + urllib.parse.urlencode({"query": expr})))
        assert body["status"] == "success"
        return list(body["data"]["result"])

    try:
        routed = wait_until(
            lambda: query("sum(fengqiao_cases_routed_total)"),
            60,
            "Prometheus answering for fengqiao_cases_routed_total",
        )
        assert float(routed[0]["value"][1]) >= 3
        assert query('up{job="fengqiao"}')[0]["value"][1] == "1"
        stack.publish_derived(
            [("risk.levels", risk("zhuangyuan", "land", "red", 44.0, datetime.now(UTC), "orange"))]
        )

        def red_alert() -> list[dict[str, Any]]:
            body = json.loads(http_get(f"{api}/alerts"))
            return [
                a
                for a in body["data"]["alerts"]
                if a["labels"]["alertname"] == "FengqiaoStreetRiskRed"
                and a["labels"].get("street") == "zhuangyuan"
                and a["state"] == "firing"
            ]

        wait_until(red_alert, 30, "FengqiaoStreetRiskRed firing for zhuangyuan")
    finally:
        server.stop()
    assert not server.alive()


# --- the dashboard in headless Chromium -------------------------------------------------------


@pytest.mark.browser
@pytest.mark.kafka
def test_dashboard_shows_a_planted_red_cell_without_reload(stack: Exporter, tmp_path: Path) -> None:
    browser = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        browser.start()
        url = f"{stack.base}/dashboard"
        # The command account's session, as the workbench's login would have set it.
        browser.call("Network.setCookie", name="fq_session", value=stack.session, url=stack.base)
        browser.navigate(url)
        browser.wait_for("Number(document.body.dataset.updates || 0) >= 1", 20)
        assert browser.evaluate("document.title").startswith("枫桥")
        assert browser.evaluate("document.querySelectorAll('#heat tbody tr').length") >= 10
        street_names = browser.evaluate(
            "[...document.querySelectorAll('#heat tbody th')].map(t => t.textContent)"
        )
        assert street_names[:3] == ["永中", "蒲州", "海滨"]
        cell = "document.getElementById('cell-xinghai-environment')"
        assert browser.evaluate(f"{cell}.dataset.level") == "none"
        browser.evaluate("window.__plantedMarker = 'same-page'")

        planted = time.monotonic()
        stack.publish_derived(
            [("risk.levels", risk("xinghai", "environment", "red", 52.5, datetime.now(UTC)))]
        )
        try:
            browser.wait_for(f"{cell}.dataset.level === 'red'", 10, every_s=0.05)
        except TimeoutError as err:
            browser.screenshot(ARTIFACTS / "dashboard-red-cell-FAILED.png")
            api = json.loads(http_get(f"{stack.base}/api/dashboard", session=stack.session))
            updates = browser.evaluate("document.body.dataset.updates")
            status = browser.evaluate("document.getElementById('status').textContent")
            raise AssertionError(
                f"{err}\nupdates={updates} status={status} api risk={api['risk']}"
            ) from err
        seen_after = time.monotonic() - planted
        assert browser.evaluate("window.__plantedMarker") == "same-page", "the page reloaded"
        assert browser.evaluate(f"getComputedStyle({cell}).backgroundColor") == "rgb(198, 40, 40)"
        assert seen_after < 5.0, f"red cell took {seen_after:.2f}s"
        print(f"red cell visible {seen_after:.2f}s after publishing")
        # the feed, today's counts and committees are drawn from the same JSON
        browser.wait_for("document.querySelectorAll('#feed li.incident').length >= 1", 10)
        assert browser.evaluate("document.querySelector('[data-count=dispute] b').textContent")
        shot = browser.screenshot(ARTIFACTS / "dashboard-red-cell.png")
        assert shot.stat().st_size > 10_000
        # every request stayed on the exporter: no CDN, no remote fonts
        origin = stack.base
        foreign = [u for u in browser.requested_urls() if not u.startswith(origin)]
        assert not foreign, foreign
    finally:
        browser.stop()
