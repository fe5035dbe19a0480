"""``fengqiao report``: the bureau's figures for a period, read from the case store
(``--from/--to``, as text, HTML, PDF or JSON), or with ``--manifest`` alone the pipeline's
output read back from Kafka and compared with a simulation's ground truth."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

        from consumers.fetching import FULLER_FETCHES

        self.settings, self.obs = settings, obs
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.resolved_bootstrap().split(","),
            enable_auto_commit=False,
            group_id=None,
            client_id="fengqiao-report",
            **FULLER_FETCHES,
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
    # Incidents are always checked: the worker's oversight agents detect them in every build.
    obs = Observed(run=manifest.run)
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


def store_report(s: Settings, first: str, last: str, intake: bool) -> tuple[Any, dict[str, Any]]:
    """The annual figures from the case store (and the intake topics when ``intake``), and
    the monthly success series for the HTML page's chart."""
    from datetime import date, timedelta, timezone

    from consumers.db import make_engine
    from consumers.figures import annual, trends
    from consumers.figures.window import Window

    tz = timezone(timedelta(hours=s.metrics_utc_offset_hours))
    try:
        d0, d1 = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as err:
        raise ReportInputError("--from and --to must be dates, YYYY-MM-DD") from err
    if d1 < d0:
        raise ReportInputError("--to must not be before --from")
    w = Window(d0, d1, tz)
    engine = make_engine(s.effective_database_url())
    try:
        rep = annual.build(engine, w)
        monthly = trends.success_rate(engine, w)
    finally:
        engine.dispose()
    # Consultations open no case and leave no report row: only the intake topics know them.
    if intake:
        from fengqiao.intake_counts import count_intake, intake_topics

        topics = {k: s.topic(t) for k, t in intake_topics().items() if k == "consultation"}
        got = count_intake(
            s.resolved_bootstrap().split(","), topics, w.start, w.end, s.kafka_client_config()
        )
        how = (
            f"-- not in the case store: consultation events on {', '.join(got.topics)} read "
            f"from the beginning, counted where {w.start.isoformat()} <= envelope time < "
            f"{w.end.isoformat()}"
        )
        value = got.by_kind["consultation"]
    else:
        how = (
            "-- not in the case store (a consultation opens no case and no report): "
            "run with --intake to count the intake topic"
        )
        value = None
    note = (
        "咨询不立案、不存来件，由咨询主题计数 / a consultation opens no case: counted from its "
        "intake topic"
    )
    rep.figures.append(annual.Figure("consultations", "法律咨询", "consultations", value, how,
                                     unit="人次", note=note if intake else ""))  # fmt: skip
    return rep, monthly


class ReportInputError(Exception):
    """A bad option value; the message names the option."""


def against_manifest(rep: Any, m: Manifest) -> list[tuple[str, str, str, bool]]:
    """(figure, from the store, ground truth, equal) for every figure the manifest knows."""
    from decimal import Decimal

    from consumers.figures import annual

    kinds = m.cases.by_kind
    truth: list[tuple[str, Any]] = [
        ("disputes_mediated", m.disputes.count),
        ("disputes_settled", m.disputes.count - len(m.disputes.no_agreement_case_ids)),
        ("amount_yuan", Decimal(m.disputes.amount_yuan).quantize(Decimal("1"))),
        ("success_rate", m.disputes.settled_pct),
        ("disputes_received", kinds.get("dispute", 0)),
        ("petitions", kinds.get("petition", 0)),
        ("wage_claims", kinds.get("wage_arrears", 0)),
        ("group_wage_incidents", m.incidents.group_wage),
        ("group_wage_people", m.incidents.group_wage_workers),
        ("by_kind", {k: n for k, n in sorted(kinds.items()) if n}),
    ]
    if m.repeats is None:
        # Without planted repeats every case-opening event is one case, so the manifest's
        # channels of those events are the cases' channels.
        chans: dict[str, int] = {}
        for kind, by in m.by_channel.items():
            if kind != "consultation":
                for ch, n in by.items():
                    chans[ch] = chans.get(ch, 0) + n
        total = sum(chans.values())
        online = sum(n for ch, n in chans.items() if ch in annual.ONLINE_CHANNELS)
        truth.append(("by_channel", dict(sorted(chans.items()))))
        truth.append(("online_share", round(100 * online / total, 2) if total else None))
    if any(f.key == "consultations" and f.value is not None for f in rep.figures):
        truth.append(("consultations", m.consultations))
    out = []
    for key, want in truth:
        got = rep.get(key)
        if isinstance(got, Decimal | int) and not isinstance(want, dict):
            got = type(want)(got) if not isinstance(want, float) else got
        if isinstance(got, float) and isinstance(want, float):
            # Both rounded to 0.01, the store's by its SQL ROUND: a tie may round either way.
            same = abs(got - want) < 0.0051
        else:
            same = got == want
        out.append((key, str(got), str(want), same))
    return out


def write_store_report(
    s: Settings,
    first: str,
    last: str,
    fmt: str,
    out: Path | None,
    intake: bool,
    m: Manifest | None,
) -> None:
    from consumers.figures import render
    from fengqiao.cli import console, fail

    if fmt not in ("text", "html", "pdf", "json"):
        raise fail("--format must be text, html, pdf or json")
    if fmt == "pdf" and out is None:
        raise fail("--format pdf needs --out FILE.pdf")
    try:
        rep, monthly = store_report(s, first, last, intake)
    except ReportInputError as err:
        raise fail(str(err)) from err
    checks = against_manifest(rep, m) if m is not None else []
    if fmt == "json":
        body = rep.as_dict()
        if m is not None:
            body["ground_truth"] = [
                {"figure": k, "store": g, "truth": t, "ok": e} for k, g, t, e in checks
            ]
        text = json.dumps(body, ensure_ascii=False, indent=1)
    elif fmt == "text":
        text = render.as_text(rep)
        if checks:
            text += "\n与模拟真值核对 (against the manifest):\n" + "\n".join(
                f"  {'ok' if e else 'MISMATCH'} {k}: store {g}, truth {t}" for k, g, t, e in checks
            )
    else:
        text = render.as_html(rep, monthly)
    if fmt == "pdf":
        assert out is not None
        print_pdf(text, out)
        console.print(f"wrote {out}")
    elif out is not None:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
    else:
        typer.echo(text)
    if not all(e for *_, e in checks):
        console.print("[bold red]the case store disagrees with the ground truth[/]")
        raise typer.Exit(1)


def print_pdf(page: str, out: Path, chromium: str = "/usr/bin/chromium") -> None:
    """Chromium's print-to-PDF of the HTML page (its charts drawn by the inlined ECharts)."""
    import subprocess
    import tempfile

    from fengqiao.cli import fail

    with tempfile.TemporaryDirectory(prefix="fengqiao-report-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page, encoding="utf-8")
        done = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu",
                f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
                "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw",
                f"--print-to-pdf={out.resolve()}", src.as_uri(),
            ],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not out.exists():
            raise fail(f"chromium could not print the PDF (exit {done.returncode})")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        manifest: Annotated[
            Path | None, typer.Option(help="The simulation's manifest (JSON): ground truth")
        ] = None,
        first: Annotated[
            str | None, typer.Option("--from", help="First day, YYYY-MM-DD (local time)")
        ] = None,
        last: Annotated[
            str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (included)")
        ] = None,
        fmt: Annotated[
            str, typer.Option("--format", help="text, html, pdf or json (with --from/--to)")
        ] = "text",
        out: Annotated[
            Path | None, typer.Option(help="Write the report here (needed for pdf)")
        ] = None,
        intake: Annotated[
            bool,
            typer.Option(help="Count consultations (they open no case) from the intake topic"),
        ] = False,
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
        """The bureau's figures from the case store (--from/--to), or with --manifest alone
        the pipeline's counts read back from Kafka against the ground truth.

        Exits 1 when any ground-truth check disagrees."""
        from rich.console import Console
        from rich.table import Table

        from fengqiao.cli import console, fail, settings
        from producers.groundtruth import INFO, MISMATCH, compare, ok

        try:
            m = read_manifest(manifest) if manifest is not None else None
        except ManifestUnreadable as err:
            raise fail(str(err)) from err
        s = settings()
        if first is not None or last is not None:
            if first is None or last is None:
                raise fail("--from and --to go together")
            write_store_report(s, first, last, fmt, out, intake, m)
            return
        if m is None:
            raise fail("give --from and --to (figures from the case store) or --manifest")
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
            if obs.routed_other or obs.dead_letters_other:
                console.print(
                    f"[dim]ignored: {obs.routed_other:,} routed and "
                    f"{obs.dead_letters_other:,} dead letters of other runs[/]"
                )
        if not ok(rows):
            console.print("[bold red]the pipeline disagrees with the ground truth[/]")
            raise typer.Exit(1)
        console.print("[green]the pipeline agrees with the ground truth[/]")
