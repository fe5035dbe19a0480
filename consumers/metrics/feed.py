"""The thin kafka-python loop that feeds the monitoring sink, measures the worker's lag
meanwhile, and tells ``ConsumerHealth`` how it goes.

No consumer group: each sink process rebuilds its state from the topics (or starts at the end,
if ``from_beginning`` is off), so several dashboards never share offsets.
"""

from __future__ import annotations

import logging
import threading
import time

from consumers.fetching import FULLER_FETCHES
from consumers.metrics.config import FeedConfig
from consumers.metrics.fold import MetricsSink
from consumers.metrics.health import ConsumerHealth
from consumers.metrics.lag import LagProbe
from consumers.metrics.topics import TOPICS

log = logging.getLogger("fengqiao.metrics")

POLL_MS = 200
MAX_RECORDS = 2000
LAG_TIMEOUT_MS = 5000  # a broker that does not answer in 5 s is reported, not waited for


def run_consumer(
    config: FeedConfig, sink: MetricsSink, stop: threading.Event, health: ConsumerHealth
) -> None:
    """Read every monitored topic into ``sink`` until ``stop`` is set."""
    from kafka import KafkaConsumer

    kafka = config.kafka
    consumer = KafkaConsumer(
        *[kafka.topic(t) for t in TOPICS],
        bootstrap_servers=list(kafka.bootstrap_servers),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if config.from_beginning else "latest",
        client_id="fengqiao-metrics",
        **FULLER_FETCHES,  # a restart reads every topic again from the beginning
        **kafka.client_config,
    )
    probe: LagProbe | None = None
    next_lag = 0.0
    failures = 0  # in a row: logged when they start and when they end, not at every attempt
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            for tp, records in batches.items():
                topic = kafka.logical(tp.topic)
                for rec in records:
                    sink.handle(topic, rec.value, rec.timestamp)
            health.polled(assigned=bool(consumer.assignment()))
            if time.monotonic() >= next_lag:
                next_lag = time.monotonic() + config.lag_interval_s
                try:
                    probe = probe or LagProbe(kafka, config.worker_group, LAG_TIMEOUT_MS)
                    sink.set_lag(config.worker_group, probe.measure())
                except Exception as err:  # noqa: BLE001 - lag is best effort, counted
                    sink.m.lag_errors.inc()
                    health.broker_failed(err)
                    if not failures:
                        log.warning("consumer lag not measured: %s", err)
                    failures += 1
                else:
                    health.broker_answered()
                    if failures:
                        log.warning("consumer lag measured again after %d failures", failures)
                    failures = 0
    finally:
        consumer.close()
        if probe is not None:
            probe.close()
