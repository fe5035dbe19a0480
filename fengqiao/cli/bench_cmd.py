"""``fengqiao bench``: pipeline vs raw-relay throughput and end-to-end latency, in one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        events: Annotated[int, typer.Option(help="Events in the throughput backlog")] = 20000,
        rate: Annotated[float, typer.Option(help="Offered rate (events/s) for latency")] = 500.0,
        workers: Annotated[int, typer.Option(help="Worker processes sharing the partitions")] = 1,
        seconds: Annotated[float, typer.Option(help="Length of the latency phase")] = 20.0,
        json_file: Annotated[Path | None, typer.Option("--json", help="Write results here")] = None,
        clean: Annotated[
            bool,
            typer.Option(
                "--clean",
                help="Measure nothing: delete the topics and consumer groups that earlier runs "
                "left behind (killed before they could clean up), then exit. Run it while no "
                "other bench runs on this cluster: one still loading its events has no group "
                "yet to show it is alive",
            ),
        ] = False,
    ) -> None:
        """Measure throughput (pipeline and baseline relay, their ratio) and latency p50/p95/p99.

        Uses KAFKA_BOOTSTRAP_SERVERS when set, else the local broker (started if needed and
        stopped afterwards). Topics get a fresh `bench-<run>.` prefix and are deleted when the
        run ends (with the workers' changelogs and the run's consumer groups), and so is the
        run's own SQLite case store; nothing else is touched. A run killed before it could
        clean up leaves them: `--clean` deletes them.
        """
        from rich.console import Console
        from rich.table import Table

        from fengqiao import localkafka
        from fengqiao.bench import run_bench
        from fengqiao.cli import console, settings

        s = settings()
        broker = localkafka.ensure_broker(s, console=console)
        if clean:
            from fengqiao.admin import GroupsNotListed
            from fengqiao.benchclean import clean_leftovers

            try:
                cleaned, busy = clean_leftovers(broker.settings(s), progress=console.print)
            except GroupsNotListed as err:
                console.print(f"[red]bench --clean: nothing deleted: {err}[/]")
                raise typer.Exit(1) from err
            finally:
                broker.stop()
            console.print(f"bench --clean: {cleaned} run(s) cleaned, {busy} left alone")
            return
        try:
            result = run_bench(
                broker.settings(s),
                events=events,
                rate=rate,
                workers=workers,
                latency_seconds=seconds,
                progress=lambda m: console.print(m),
                warm_up=broker.started is not None or broker.fresh(),
            )
        finally:
            broker.stop()
        table = Table(
            title=f"fengqiao bench: {events} events, {workers} worker(s), "
            f"{result.cores} cores, {result.partitions} partitions"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("baseline relay (aiokafka)", f"{result.baseline_eps:,.0f} events/s")
        table.add_row(
            "full pipeline (incidents, risk, SLA done)", f"{result.pipeline_eps:,.0f} events/s"
        )
        table.add_row("  of which to cases.routed", f"{result.routed_eps:,.0f} events/s")
        table.add_row("ratio pipeline / baseline", f"{result.ratio:.2f}")
        if result.cpu_ratio:
            table.add_row(
                "CPU per event: relay / pipeline",
                f"{result.baseline_cpu_us:.0f} / {result.pipeline_cpu_us:.0f} µs "
                f"({result.cpu_ratio:.2f})",
            )
        if result.baseline_after_eps:
            again = f"{result.baseline_after_eps:,.0f} events/s"
            if result.baseline_after_cpu_us:
                again += f", {result.baseline_after_cpu_us:.0f} µs an event"
            table.add_row("  the relay again, after the pipeline", again)
            table.add_row("  ratio to the relay after", f"{result.ratio_after:.2f}")
        table.add_row(f"latency p50 @ {rate:.0f}/s", f"{result.latency_ms['p50']:.0f} ms")
        table.add_row(f"latency p95 @ {rate:.0f}/s", f"{result.latency_ms['p95']:.0f} ms")
        table.add_row(f"latency p99 @ {rate:.0f}/s", f"{result.latency_ms['p99']:.0f} ms")
        if result.to_output_ms:

            def p50_95_99(ms: dict[str, float]) -> str:
                return " / ".join(f"{ms[q]:.0f}" for q in ("p50", "p95", "p99")) + " ms"

            table.add_row("  publish → worker's output p50/p95/p99", p50_95_99(result.to_output_ms))
            table.add_row(
                "  worker's output → read p50/p95/p99", p50_95_99(result.output_to_read_ms)
            )
        if result.latency_worker_cpu:
            table.add_row(
                f"  workers' CPU @ {rate:.0f}/s",
                f"{100 * result.latency_worker_cpu:.0f} % of a core",
            )
        if result.latency_sink_cpu:
            table.add_row(
                f"  the sink's CPU @ {rate:.0f}/s",
                f"{100 * result.latency_sink_cpu:.0f} % of a core",
            )
        for q in ("p50", "p95", "p99"):
            table.add_row(
                f"  to the case store {q} @ {rate:.0f}/s", f"{result.store_latency_ms[q]:.0f} ms"
            )
        Console().print(table)
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}")
        if json_file:
            json_file.write_text(json.dumps(result.to_json(), indent=2))
            console.print(f"wrote {json_file}")
