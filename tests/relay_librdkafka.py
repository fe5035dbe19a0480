"""The bench's raw relay on aiokafka against the same relay on librdkafka, on the same events.

``fengqiao bench`` measures the pipeline against a relay written on aiokafka, the Kafka client
under faust. This asks how much of a relay's CPU is the client's: the same relay (consume,
decode, add a field, encode, produce with acks=all) on confluent-kafka, whose client is
librdkafka, in C. It is an experiment, not a dependency: confluent-kafka must be importable
(``pip install --target DIR confluent-kafka``, then ``PYTHONPATH=DIR``).

    PYTHONPATH=DIR python -m tests.relay_librdkafka --events 30000

Each relay reports its CPU per event (the aiokafka relay's thread; the librdkafka relay's whole
process, its client's C threads included) and its rate, from its first batch to its last
delivery.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from fengqiao import localkafka
from fengqiao.admin import delete_run
from fengqiao.bench import _preload, make_events, run_baseline
from fengqiao.settings import Settings
from tests import apart


def relay_librdkafka(servers: str, src: str, dst: str, n: int, group: str) -> dict[str, float]:
    """Relay ``n`` events from ``src`` to ``dst`` on confluent-kafka; CPU and wall seconds from
    the first batch to the last delivery."""
    from confluent_kafka import Consumer, Producer  # type: ignore[import-not-found]

    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    producer = Producer(
        {"bootstrap.servers": servers, "acks": "all", "linger.ms": 5, "batch.size": 256 * 1024}
    )
    consumer.subscribe([src])
    done = 0
    cpu0 = wall0 = None
    try:
        while done < n:
            msgs = consumer.consume(num_messages=1000, timeout=0.5)
            if msgs and cpu0 is None:
                cpu0, wall0 = time.process_time(), time.monotonic()
            for m in msgs:
                if m.error():
                    raise RuntimeError(str(m.error()))
                obj = json.loads(m.value())
                obj["relayed_at"] = time.time()
                while True:
                    try:
                        producer.produce(dst, value=json.dumps(obj).encode(), key=m.key())
                        break
                    except BufferError:  # the local queue is full: let deliveries drain
                        producer.poll(0.01)
                done += 1
            producer.poll(0)
        if producer.flush(60) != 0:
            raise RuntimeError("librdkafka relay: not every record was delivered")
        assert cpu0 is not None and wall0 is not None
        return {"cpu_s": time.process_time() - cpu0, "wall_s": time.monotonic() - wall0}
    finally:
        consumer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30000)
    ap.add_argument(
        "--child", nargs=4, metavar=("SERVERS", "SRC", "DST", "GROUP"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.child:
        servers, src, dst, group = args.child
        print(json.dumps(relay_librdkafka(servers, src, dst, args.events, group)))
        return
    apart.require("relay_librdkafka", "confluent_kafka", "confluent-kafka")

    configured = Settings()
    broker = localkafka.ensure_broker(configured, progress=print)
    s = broker.settings(configured)
    run = uuid.uuid4().hex[:8]
    s = s.model_copy(update={"topic_prefix": f"{s.topic_prefix}rdk-{run}.", "app_id": f"rdk-{run}"})
    events = make_events(args.events, run)
    src, dst = f"{s.topic_prefix}in", f"{s.topic_prefix}out"
    try:
        cpu: list[float] = []
        rate = run_baseline(s, events, s.topic_partitions, print, cpu)
        aio_us = 1e6 * cpu[0] / args.events
        print(f"aiokafka relay: {rate:,.0f} events/s, {aio_us:.1f} µs CPU an event")

        apart.make_topics(s, [src, dst])
        _preload(s, events, lambda _t: src)
        got = apart.run_child(
            "tests.relay_librdkafka",
            args.events,
            [s.resolved_bootstrap(), src, dst, f"{s.app_id}-rdk"],
        )
        rdk_us = 1e6 * got["cpu_s"] / args.events
        rdk_rate = args.events / got["wall_s"]
        print(f"librdkafka relay: {rdk_rate:,.0f} events/s, {rdk_us:.1f} µs CPU an event")
        print(f"CPU per event, librdkafka / aiokafka: {rdk_us / aio_us:.2f}")
    finally:
        # the relays' topics and groups (every name under the run's prefix and app id)
        delete_run(s, who="relay_librdkafka", run=run, progress=print)
        broker.stop()


if __name__ == "__main__":
    main()
