"""``fengqiao risk``: the stability-risk table as a coloured street × category heat map.

Reads the worker's ``/risk`` page (each worker serves the partitions it owns; give several
``--url`` to merge them), or with ``--kafka`` the risk table's changelog, which holds every row
whatever the number of workers.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

LEVEL_STYLE = {
    "green": "green",
    "blue": "bright_blue",
    "yellow": "yellow",
    "orange": "dark_orange",
    "red": "bold red",
}


def heat_table(rows: list[dict[str, Any]], title: str = "Stability risk") -> Table:
    """Streets down, categories across; each cell the decayed score and its level, coloured."""
    streets = sorted({r["street"] for r in rows})
    categories = sorted({r["category"] for r in rows})
    cells = {(r["street"], r["category"]): r for r in rows}
    table = Table(title=title, caption="green < 5 ≤ blue < 10 ≤ yellow < 20 ≤ orange < 40 ≤ red")
    table.add_column("street", style="bold")
    for c in categories:
        table.add_column(c, justify="right")
    for s in streets:
        line = []
        for c in categories:
            r = cells.get((s, c))
            if r is None:
                line.append("")
            else:
                style = LEVEL_STYLE.get(r["level"], "")
                line.append(f"[{style}]{r['score']:.1f} {r['level']}[/]")
        table.add_row(s, *line)
    return table


def rows_from_worker(urls: list[str]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for url in urls:
        with urllib.request.urlopen(url, timeout=10) as resp:
            for r in json.loads(resp.read())["rows"]:
                rows[(r["street"], r["category"])] = r
    return list(rows.values())


def rows_from_changelog(settings: Any, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Replay the risk table's changelog (compacted) and decay every row to now.

    Reads every partition to the end it had when the read began, at most ``timeout_s``: an
    empty changelog (no risk recorded yet) returns at once, not after the timeout."""
    from kafka import KafkaConsumer, TopicPartition

    from consumers.fetching import FULLER_FETCHES
    from streams.risk import RiskTable
    from streams.watch import risk_config

    topic = f"{settings.app_id}-risk-changelog"
    consumer = KafkaConsumer(
        bootstrap_servers=settings.resolved_bootstrap().split(","),
        enable_auto_commit=False,
        group_id=None,
        # a read from the beginning: partitions read to their end must not hold the rest
        **{**FULLER_FETCHES, **settings.kafka_client_config()},
    )
    latest: dict[str, Any] = {}
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        # ends on the positions, never on a quiet fetch: one that waits for records past the
        # end (kafka-python's consumer_timeout_ms) kept an empty changelog waiting 10 s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch = consumer.poll(timeout_ms=int(min(left, 0.5) * 1000), max_records=5000)
            for msgs in batch.values():
                for msg in msgs:
                    key = json.loads(msg.key)
                    latest[key] = json.loads(msg.value) if msg.value is not None else None
    finally:
        consumer.close()
    table = {k: v for k, v in latest.items() if v is not None}
    now = datetime.now(UTC)
    if settings.clock == "stream" and table:  # stream time: the newest row's time
        now = datetime.fromtimestamp(max(float(v["as_of"]) for v in table.values()), UTC)
    return RiskTable(table, risk_config(settings)).view(now)


def register(app: typer.Typer) -> None:
    @app.command("risk")
    def risk(
        url: Annotated[
            list[str] | None, typer.Option(help="Worker /risk URL(s); default: the local worker")
        ] = None,
        kafka: Annotated[
            bool, typer.Option("--kafka", help="Read the table's changelog from Kafka instead")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON")] = False,
    ) -> None:
        """Print the stability-risk table: street × category, decayed score, colour level."""
        from rich.console import Console

        from fengqiao.cli import fail, settings

        s = settings()
        try:
            if kafka:
                rows = rows_from_changelog(s)
            else:
                rows = rows_from_worker(url or [f"http://127.0.0.1:{s.worker_web_port}/risk"])
        except OSError as err:
            raise fail(f"cannot read the risk table ({err}); is the worker running?") from err
        if as_json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            Console().print("no risk recorded yet")
            return
        Console().print(heat_table(rows))
