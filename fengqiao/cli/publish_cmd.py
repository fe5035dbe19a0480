"""``fengqiao publish KIND --file F`` and ``fengqiao import hotline FILE``.

Every row is validated by the same gate as the SDK, the gateway and the worker. Rejected rows
are reported with their line number and the fields at fault (never the values); the exit
status is 1 when anything was rejected or not acknowledged, so scripts notice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from producers.files import Row


class Kind(StrEnum):
    dispute = "dispute"
    petition = "petition"
    wage_arrears = "wage-arrears"
    consultation = "consultation"


class Format(StrEnum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"


@dataclass
class Outcome:
    total: int = 0
    sent: int = 0
    valid: int = 0
    rejected: list[tuple[int, list[str]]] = field(default_factory=list)


def _fill_type(row: Row, kind: str | None) -> None:
    from schemas.events import INTAKE_KINDS

    if row.event is not None and kind is not None and "type" not in row.event:
        row.event["type"] = INTAKE_KINDS[kind][0]


def process(
    rows: Iterable[Row],
    kind: str | None,
    *,
    publisher: Any | None,
    now: datetime,
    max_future: timedelta,
    advance: Any = lambda: None,
) -> Outcome:
    """Validate every row, send the valid ones (unless ``publisher`` is None), wait for acks."""
    from schemas.errors import ContractError
    from schemas.events import INTAKE_KINDS
    from schemas.parse import parse_event

    out = Outcome()
    first_line: dict[str, int] = {}
    pending: list[tuple[int, Any]] = []
    for row in rows:
        out.total += 1
        advance()
        row_kind = row.kind or kind
        _fill_type(row, row_kind)
        if row.event is None:
            out.rejected.append((row.line, [str(p) for p in row.problems]))
            continue
        want = INTAKE_KINDS[row_kind][0] if row_kind else None
        try:
            parsed = parse_event(row.event, now=now, max_future=max_future)
        except ContractError as err:
            out.rejected.append((row.line, [str(p) for p in err.problems]))
            continue
        if want is not None and parsed.type != want:
            out.rejected.append((row.line, [f"type: a {row_kind} event must have type {want}"]))
            continue
        if parsed.envelope.id in first_line:
            out.rejected.append(
                (row.line, [f"id: the same event id as line {first_line[parsed.envelope.id]}"])
            )
            continue
        first_line[parsed.envelope.id] = row.line
        out.valid += 1
        if publisher is not None:
            pending.append((row.line, publisher.send_parsed(parsed)[1]))
    if publisher is not None:
        publisher.flush(timeout_s=60)
        for line, fut in pending:
            try:
                fut.get(timeout=30)
                out.sent += 1
            except Exception as err:
                out.rejected.append((line, [f"Kafka did not acknowledge ({type(err).__name__})"]))
    out.rejected.sort()
    return out


def _count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def run(rows: Iterable[Row], kind: str | None, path: Path, dry_run: bool) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from fengqiao.cli import console, settings
    from producers.sdk import Publisher

    s = settings()
    publisher = None if dry_run else Publisher(s, client_id="fengqiao-cli")
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    try:
        with progress:
            task = progress.add_task("validating" if dry_run else "publishing", total=_count(path))
            out = process(
                rows,
                kind,
                publisher=publisher,
                now=datetime.now(UTC),
                max_future=timedelta(minutes=s.max_future_skew_minutes),
                advance=lambda: progress.advance(task),
            )
            progress.update(task, total=out.total, completed=out.total)
    finally:
        if publisher is not None:
            publisher.close(timeout_s=30)
    if out.rejected:
        console.print(f"[bold red]rejected rows of {path.name}[/] (line: field: problem)")
        for line, problems in out.rejected:
            for problem in problems:
                console.print(Text(f"line {line}: {problem}"), soft_wrap=True)
    verb = f"valid {out.valid}" if dry_run else f"sent {out.sent}"
    colour = "red" if out.rejected else "green"
    console.print(
        f"[bold {colour}]{verb}, rejected {len(out.rejected)}[/] of {out.total} "
        + ("(dry run: nothing sent)" if dry_run else f"to {s.resolved_bootstrap()}")
    )
    return 1 if out.rejected else 0


def register(app: typer.Typer) -> None:
    @app.command("publish")
    def publish(
        kind: Annotated[Kind, typer.Argument(help="dispute, petition, wage-arrears, consultation")],
        file: Annotated[
            Path,
            typer.Option(
                "--file",
                "-f",
                exists=True,
                dir_okay=False,
                help="JSON lines of envelopes, or CSV (see README)",
            ),
        ],
        fmt: Annotated[
            Format, typer.Option("--format", help="auto: by extension/content")
        ] = Format.auto,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Validate only, send nothing")
        ] = False,
    ) -> None:
        """Publish a file of KIND events; reports rejected lines, exits 1 if any."""
        from fengqiao.cli import fail
        from producers.files import LayoutError, read_events

        try:
            rows = list(read_events(file, fmt.value))
        except (LayoutError, UnicodeDecodeError) as err:
            raise fail(f"{file}: {err}") from err
        raise typer.Exit(run(rows, kind.value, file, dry_run))

    imp = typer.Typer(help="Import exports of other systems.", no_args_is_help=True)
    app.add_typer(imp, name="import")

    @imp.command("hotline")
    def import_hotline(
        file: Annotated[
            Path,
            typer.Argument(exists=True, dir_okay=False, help="CSV export of 12348 call records"),
        ],
        source: Annotated[str, typer.Option(help="Event source")] = "hotline/12348",
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Validate only, send nothing")
        ] = False,
    ) -> None:
        """Map 12348 hotline call records to consultation or dispute events and publish them."""
        from fengqiao.cli import fail
        from producers.hotline import read_hotline

        try:
            rows = list(read_hotline(file, source))
        except (ValueError, UnicodeDecodeError) as err:
            raise fail(f"{file}: {err}") from err
        raise typer.Exit(run(rows, None, file, dry_run))
