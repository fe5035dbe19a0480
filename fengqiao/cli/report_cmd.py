"""``fengqiao report``: read the pipeline's output back from Kafka and compare it with a
simulation's ground-truth manifest and the bureau's published figures."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from producers.groundtruth import INTAKE_TOPIC_KIND, Observed
from producers.manifest import Manifest

if TYPE_CHECKING:
    from fengqiao.settings import Settings

READ_TOPICS = (*INTAKE_TOPIC_KIND, "cases.routed", "incidents", "escalations",
               "intake.deadletter", "cases.lifecycle")  # fmt: skip


class Readback:
    """Reads the topics from the beginning, incrementally, into an ``Observed``."""

    def __init__(self, settings: Settings, obs: Observed) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.settings, self.obs = settings, obs
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.resolved_bootstrap().split(","),
            enable_auto_commit=False,
            group_id=None,
            client_id="fengqiao-report",
            **settings.kafka_client_config(),
        )
        parts = []
        for name in READ_TOPICS:
            for p in self.consumer.partitions_for_topic(settings.topic(name)) or ():
                parts.append(TopicPartition(settings.topic(name), p))
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.parts = parts
        self.messages = 0

    def poll_to_end(self, budget_s: float = 30.0) -> int:
        """Consume up to the current end of every partition; returns messages read."""
        ends = self.consumer.end_offsets(self.parts)
        read, deadline = 0, time.monotonic() + budget_s
        while time.monotonic() < deadline:
            if all(self.consumer.position(tp) >= ends[tp] for tp in self.parts):
                break
            for tp, msgs in self.consumer.poll(timeout_ms=500, max_records=5000).items():
                name = tp.topic[len(self.settings.topic_prefix) :]
                for msg in msgs:
                    read += 1
                    self._add(name, msg.value)
        self.messages += read
        return read

    def _add(self, topic: str, value: bytes | None) -> None:
        try:
            env = json.loads(value or b"")
        except ValueError:
            return
        if not isinstance(env, dict):
            return
        o = self.obs
        if topic in INTAKE_TOPIC_KIND:
            o.add_intake(topic, env)
        elif topic == "cases.routed":
            o.add_routed(env)
        elif topic == "incidents":
            o.add_incident(env)
        elif topic == "escalations":
            o.add_escalation(env)
        elif topic == "intake.deadletter":
            o.add_dead_letter(env)
        elif topic == "cases.lifecycle":
            o.add_lifecycle(env)

    def close(self) -> None:
        self.consumer.close()


def worker_consultations(url: str | None) -> int | None:
    if not url:
        return None
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(json.loads(resp.read()).get("consultations"))
    except (OSError, ValueError, TypeError):
        return None


def incident_detection_present() -> bool:
    """Whether this build has an incident agent (issue 5); until then incidents are info."""
    import pkgutil

    import streams.agents as pkg

    return any("incident" in m.name for m in pkgutil.iter_modules(pkg.__path__))


def collect(
    settings: Settings,
    manifest: Manifest,
    *,
    wait_s: float = 0.0,
    settle_s: float = 5.0,
    stats_url: str | None = None,
) -> Observed:
    """Read back until every planted case is routed and nothing new came for ``settle_s``,
    or ``wait_s`` has passed (0: one pass to the current end)."""
    obs = Observed(run=manifest.run, incident_agent=incident_detection_present())
    expected = manifest.cases.total
    reader = Readback(settings, obs)
    try:
        deadline = time.monotonic() + wait_s
        last_new = time.monotonic()
        while True:
            if reader.poll_to_end():
                last_new = time.monotonic()
            now = time.monotonic()
            complete = obs.routed_total() >= expected
            if now >= deadline or (complete and now - last_new >= settle_s):
                break
            time.sleep(1.0)
    finally:
        reader.close()
    obs.consultations_counted = worker_consultations(stats_url)
    return obs


class ManifestUnreadable(Exception):
    """The manifest file cannot be read, or is not a manifest; the message names the field."""


def read_manifest(path: Path) -> Manifest:
    from pydantic import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestUnreadable(f"cannot read the manifest {path}: {err.strerror}") from err
    try:
        return Manifest.from_json(text)
    except ValidationError as err:
        # Name the fields, never the values: a manifest holds employers' names.
        fields = sorted({".".join(str(p) for p in e["loc"]) or "file" for e in err.errors()})
        shown = ", ".join(fields[:5]) + (f" and {len(fields) - 5} more" if len(fields) > 5 else "")
        raise ManifestUnreadable(
            f"the manifest {path} is not a simulation manifest: {shown}"
        ) from err


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        manifest: Annotated[Path, typer.Option(help="The simulation's manifest (JSON)")],
        wait: Annotated[
            float, typer.Option(help="Seconds to wait for the pipeline to catch up")
        ] = 0.0,
        settle: Annotated[
            float, typer.Option(help="Quiet seconds after the last case before counting")
        ] = 5.0,
        stats_url: Annotated[
            str | None,
            typer.Option(help="The worker's /stats (default: the local worker's web port)"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON")] = False,
    ) -> None:
        """Compare the pipeline's counts with the ground truth and the 2022 report.

        Exits 1 when any ground-truth check disagrees."""
        from rich.console import Console
        from rich.table import Table

        from fengqiao.cli import console, fail, settings
        from producers.groundtruth import INFO, MISMATCH, compare, ok

        try:
            m = read_manifest(manifest)
        except ManifestUnreadable as err:
            raise fail(str(err)) from err
        s = settings()
        url = stats_url or f"http://127.0.0.1:{s.worker_web_port}/stats"
        obs = collect(s, m, wait_s=wait, settle_s=settle, stats_url=url)
        rows = compare(m, obs)
        if as_json:
            typer.echo(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=1))
        else:
            table = Table(
                title=f"simulation {m.run} ({m.profile}, seed {m.seed}, scale {m.scale:g})"
            )
            for col, just in (
                ("check", "left"),
                ("2022 report", "right"),
                ("ground truth", "right"),
                ("pipeline", "right"),
                ("", "left"),
            ):
                table.add_column(col, justify=just)  # type: ignore[arg-type]
            style = {MISMATCH: "bold red", INFO: "dim"}
            for r in rows:
                table.add_row(
                    r.check, r.published, r.truth, r.counted, f"[{style.get(r.status, 'green')}]"
                    f"{r.status}[/]"
                )  # fmt: skip
            Console(width=max(120, console.width)).print(table)
            if not obs.incident_agent:
                console.print(
                    "[yellow]no incident agent in this build yet: incident rows are info[/]"
                )
            if obs.routed_other or obs.dead_letters_other:
                console.print(
                    f"[dim]ignored: {obs.routed_other:,} routed and "
                    f"{obs.dead_letters_other:,} dead letters of other runs[/]"
                )
        if not ok(rows):
            console.print("[bold red]the pipeline disagrees with the ground truth[/]")
            raise typer.Exit(1)
        console.print("[green]the pipeline agrees with the ground truth[/]")
