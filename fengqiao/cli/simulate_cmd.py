"""``fengqiao simulate``: publish a synthetic year of Longwan, paced in simulated time.

The events and the ground-truth manifest come from ``producers.simulator`` (pure); this module
only writes the manifest, paces, publishes with the SDK and shows progress.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fengqiao.settings import Settings
    from producers.manifest import Manifest
    from producers.mediators import CommitteeTokens, Mediators
    from producers.simulator import SimEvent, Simulation

FLUSH_EVERY = 500
LINE_EVERY_S = 5.0
# Batches of up to 256 KiB instead of kafka-python's 16 KiB: at full speed a year's events
# (about 600 bytes each) fill a default batch every ~27 sends, and each new batch wakes the
# sender thread, which costs the publisher a fifth of its time in GIL hand-overs.
BATCH_BYTES = 256 * 1024


def parse_speed(value: str) -> float | None:
    """``max`` (or 0): as fast as possible; else simulated seconds per wall second."""
    if value.strip().lower() in ("max", "0", "inf"):
        return None
    speed = float(value)
    if speed <= 0:
        raise typer.BadParameter("speed must be positive, or 'max'")
    return speed


def default_manifest_path(home: Path, run: str) -> Path:
    return home / "simulations" / f"{run}.json"


def write_manifest(path: Path, manifest: Manifest) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(manifest.to_json())
    tmp.replace(path)


class Pacer:
    """Maps event time to wall time: ``speed`` simulated seconds pass per wall second."""

    def __init__(
        self,
        speed: float | None,
        origin: datetime,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.speed, self.origin, self.clock, self.sleep = speed, origin, clock, sleep
        self.wall0 = clock()

    def wait_s(self, when: datetime) -> float:
        if self.speed is None:
            return 0.0
        due = self.wall0 + (when - self.origin).total_seconds() / self.speed
        return max(0.0, due - self.clock())


def publish(
    settings: Settings,
    events: list[SimEvent],
    speed: float | None,
    on_progress: Callable[[int, datetime], None],
) -> tuple[int, int]:
    """Send every event in order, paced; returns (sent, failed). Flushes at least every
    FLUSH_EVERY events and before every pause, so the pipeline sees events when they happen."""
    from producers.sdk import Publisher

    sent = failed = 0
    pending: list[Any] = []

    def settle(pub: Publisher) -> None:
        nonlocal failed
        pub.flush()
        failed += sum(1 for f in pending if f.failed())
        pending.clear()

    if not events:
        return 0, 0
    pacer = Pacer(speed, events[0].time)
    with Publisher(
        settings, linger_ms=20, client_id="fengqiao-simulator", batch_size=BATCH_BYTES
    ) as pub:
        for ev in events:
            pause = pacer.wait_s(ev.time)
            if pause > 0:
                if pending:
                    settle(pub)
                on_progress(sent, ev.time)
                pacer.sleep(pause)
            _id, fut = pub.send(ev.envelope, ev.kind)
            pending.append(fut)
            sent += 1
            if len(pending) >= FLUSH_EVERY:
                settle(pub)
                on_progress(sent, ev.time)
        settle(pub)
        on_progress(sent, events[-1].time)
    return sent, failed


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        profile: Annotated[str, typer.Option(help="Calibration profile")] = "longwan-2022",
        speed: Annotated[
            str,
            typer.Option(help="Simulated seconds per wall second, or 'max' (as fast as possible)"),
        ] = "max",
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same year")] = 1,
        scale: Annotated[
            float, typer.Option(help="Shrink background volumes (0-1]; the 14 incidents stay")
        ] = 1.0,
        run: Annotated[
            str | None,
            typer.Option(help="Tag at the start of every event id (default: lw22-s<seed>)"),
        ] = None,
        manifest: Annotated[
            Path | None,
            typer.Option(
                help="Where to write the ground truth (default: ~/.fengqiao/simulations/<run>.json)"
            ),
        ] = None,
        mediators: Annotated[
            str | None,
            typer.Option(help="Inbox API URL: simulated mediators accept and conclude cases"),
        ] = None,
        tokens: Annotated[
            Path | None,
            typer.Option(
                help="JSON {committee: token} for --mediators (default: mint with tokens create)"
            ),
        ] = None,
        mediators_timeout: Annotated[
            float, typer.Option(help="Seconds the mediators may work on after the last event")
        ] = 600.0,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Write the manifest, publish nothing")
        ] = False,
        repeats: Annotated[
            float,
            typer.Option(
                help="Share of disputes and wage claims reported again through another channel "
                "under a new id (0-1; the manifest names them and the report checks the links)"
            ),
        ] = 0.0,
    ) -> None:
        """Publish a synthetic year calibrated on the bureau's 2022 report; write its manifest."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from fengqiao.cli import console, fail, settings
        from producers.manifest import MediatorsRun, Publishing
        from producers.simulator import profile as load_profile
        from producers.simulator import simulate as generate

        pace = parse_speed(speed)
        if run is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,80}", run):
            raise fail("--run must be letters, digits and . _ : - (it starts every event id)")
        try:
            prof = load_profile(profile, scale)
        except (KeyError, ValueError) as err:
            raise fail(str(err)) from err
        if not 0 <= repeats <= 1:
            raise fail("--repeats must be a share between 0 and 1")
        if repeats and mediators:
            # a case the mediators conclude before its repeat arrives rightly takes no more
            # reports, which the manifest cannot foresee
            raise fail("--repeats and --mediators cannot be combined")
        sim = generate(prof, seed, run)
        if repeats:
            from producers.simulator.repeats import plant_repeats

            sim = plant_repeats(sim, seed, repeats)
        s = settings()
        path = manifest or default_manifest_path(s.home, sim.run)
        write_manifest(path, sim.manifest)
        m = sim.manifest
        console.print(
            f"simulation [bold]{sim.run}[/]: {m.events.total:,} events "
            f"({m.cases.by_kind.get('dispute', 0):,} disputes, "
            f"{m.consultations:,} consultations, "
            f"{m.incidents.group_wage} group wage incidents / "
            f"{m.incidents.group_wage_workers} workers) "
            f"at speed {'max' if pace is None else f'{pace:g}x'}"
        )
        console.print(f"manifest: {path}")
        if dry_run:
            return
        total = len(sim.events)
        started = time.monotonic()
        last_line = 0.0
        cursor: list[datetime | None] = [sim.events[0].time if sim.events else None]
        crew = _start_mediators(s, sim, mediators, tokens, cursor) if mediators else None

        if console.is_terminal:
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                console=console,
            )
            task = progress.add_task("simulated 2022-01-01", total=total, rate="")

            def on_progress(sent: int, when: datetime) -> None:
                cursor[0] = when
                rate = sent / max(time.monotonic() - started, 1e-3)
                progress.update(
                    task,
                    completed=sent,
                    description=f"simulated {when:%Y-%m-%d %H:%M}",
                    rate=f"{rate:,.0f} ev/s",
                )

            with progress:
                sent, failed = publish(s, sim.events, pace, on_progress)
        else:

            def on_progress(sent: int, when: datetime) -> None:
                nonlocal last_line
                cursor[0] = when
                now = time.monotonic()
                if now - last_line >= LINE_EVERY_S or sent == total:
                    last_line = now
                    rate = sent / max(now - started, 1e-3)
                    console.print(
                        f"simulated {when:%Y-%m-%d %H:%M}  sent {sent:,}/{total:,}"
                        f"  ({rate:,.0f} events/s)"
                    )

            sent, failed = publish(s, sim.events, pace, on_progress)
        elapsed = time.monotonic() - started
        published = Publishing(sent=sent, failed=failed, wall_seconds=round(elapsed, 2))
        m = m.model_copy(update={"publishing": published})
        write_manifest(path, m)
        console.print(
            f"published {sent:,} events in {elapsed:.1f} s ({sent / max(elapsed, 1e-3):,.0f}/s)"
            + (f", [red]{failed} failed[/]" if failed else "")
        )
        if crew is not None:
            cursor[0] = None  # the year is out: everything still open is due
            console.print("mediators finishing the year's cases …")
            worked = crew.finish(mediators_timeout)
            st = crew.mediators.stats
            worked_run = MediatorsRun(
                url=mediators,
                accepted=st.accepted,
                concluded=dict(st.concluded),
                conflicts=st.conflicts,
                errors=st.errors,
                committees=st.committees,
                finished=worked,
                wall_seconds=round(time.monotonic() - started, 2),
            )
            m = m.model_copy(
                update={"publishing": published.model_copy(update={"mediators": worked_run})}
            )
            write_manifest(path, m)
            console.print(
                f"mediators: {st.accepted:,} accepted, "
                + ", ".join(f"{n:,} {o}" for o, n in st.concluded.most_common())
                + f" concluded in {st.committees} committees"
                + ("" if worked else " [red](not finished)[/]")
            )
            if not worked:
                failed += 1
        if failed:
            raise typer.Exit(1)


class _Crew:
    """The mediators' thread."""

    def __init__(self, mediators: Mediators, tokens: CommitteeTokens) -> None:
        import threading

        self.mediators, self.tokens = mediators, tokens
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mediators", daemon=True)

    def _run(self) -> None:
        self.mediators.run(self.stop)

    def finish(self, timeout_s: float) -> bool:
        self.mediators.grace_s = timeout_s
        self.stop.set()
        self.thread.join(timeout_s + 30)
        self.tokens.close()
        self.mediators.client.close()
        return self.mediators.finished()


def store_mint(settings: Settings) -> Callable[[str], str]:
    """Mints a committee's bearer token straight into the case store (a ``fengqiao tokens
    create`` subprocess per committee would cost seconds each)."""
    from consumers.db import SqlStore
    from consumers.tokens import hash_token, new_token

    def mint(committee: str) -> str:
        store = SqlStore.open(settings.effective_database_url())
        try:
            token = new_token()
            store.add_token(committee, hash_token(token), "simulated mediators")
        finally:
            store.close()
        return token

    return mint


def _start_mediators(
    settings: Settings,
    sim: Simulation,
    url: str,
    tokens_file: Path | None,
    cursor: list[datetime | None],
) -> _Crew:
    import httpx

    from fengqiao.metrics_wiring import kafka_access
    from producers.groundtruth import run_pattern
    from producers.mediators import CommitteeTokens, MediatorPlan, Mediators, RoutedFeed

    pattern = run_pattern(sim.run)
    kafka = kafka_access(settings)
    feed = RoutedFeed(kafka.topic("cases.routed"), kafka.bootstrap_servers, kafka.client_config)
    tokens = CommitteeTokens(
        feed, lambda cid: bool(pattern.match(cid)), store_mint(settings), tokens_file
    )
    crew = _Crew(
        Mediators(
            httpx.Client(base_url=url, timeout=30.0),
            MediatorPlan.from_simulation(sim.events, sim.manifest),
            tokens,
            lambda: cursor[0],
        ),
        tokens,
    )
    crew.thread.start()
    return crew
