"""Routing commands: ``route`` (dry run over a file, no Kafka) and ``replay`` (what-if on history).

``route --bench`` measures decisions per second of the pure router.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from streams.cases import Case

RulesetOpt = Annotated[
    Path | None,
    typer.Option("--ruleset", help="Ruleset file (default: settings, else the packaged default)"),
]
CatalogueOpt = Annotated[
    Path | None,
    typer.Option(
        "--catalogue", help="Catalogue file (default: settings, else the packaged Longwan sample)"
    ),
]


@dataclass
class FileCases:
    cases: list[tuple[int, Case]]
    invalid: list[tuple[int, str]]
    notes: list[tuple[int, str]]


def read_cases(lines: Iterable[str]) -> FileCases:
    """JSON lines of intake envelopes → cases; invalid lines with their number and reason."""
    from schemas.parse import EventRejected, parse_intake_bytes
    from streams.cases import case_from_event

    out = FileCases([], [], [])
    first_line: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            parsed = parse_intake_bytes(line.encode())
        except EventRejected as err:
            out.invalid.append((n, err.reason))
            continue
        eid = parsed.envelope.id
        if eid in first_line:
            out.notes.append((n, f"duplicate of line {first_line[eid]} (same event id), skipped"))
            continue
        first_line[eid] = n
        case = case_from_event(parsed)
        if case is None:
            out.notes.append((n, f"{parsed.type} opens no case, skipped"))
            continue
        out.cases.append((n, case))
    return out


def sample_cases(n: int, seed: int = 7) -> list[Case]:
    """Seeded sample intake events as cases, with a few unknown streets and known communities."""
    from producers.sample import dispute, petition, random_event, wage_arrears
    from schemas.parse import parse_event
    from streams.cases import case_from_event

    rng = random.Random(seed)
    when = datetime(2023, 3, 1, 9, 30, tzinfo=UTC)
    cases = []
    for i in range(n):
        roll = rng.random()
        t = when + timedelta(minutes=i)
        if roll < 0.02:
            ev = dispute(rng, f"bench-{i}", t, street="nowhere")
        elif roll < 0.10:
            ev = dispute(rng, f"bench-{i}", t, community=f"haibin-0{rng.randint(1, 3)}")
        elif roll < 0.12:
            ev = petition(rng, f"bench-{i}", t, repeat_of=["p-1"])
        elif roll < 0.14:
            ev = wage_arrears(rng, f"bench-{i}", t, worker_count=12)
        else:
            _, ev = random_event(rng, i, when=t, run="bench")
        case = case_from_event(parse_event(ev))
        assert case is not None
        cases.append(case)
    return cases


def bench(router: Any, cases: list[Case], seconds: float) -> dict[str, float]:
    from schemas.events import dump

    def run(fn: Any) -> tuple[float, float]:
        """(per wall second, per CPU second): the second is fairer on a shared machine."""
        done, start, cpu = 0, time.perf_counter(), time.process_time()
        while True:
            for c in cases:
                fn(c)
            done += len(cases)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return done / elapsed, done / max(time.process_time() - cpu, 1e-9)

    route_wall, route_cpu = run(router.route)
    event_wall, event_cpu = run(lambda c: dump(router.route(c).to_event(c)))
    return {
        "route_per_s": route_wall,
        "route_per_cpu_s": route_cpu,
        "route_event_per_s": event_wall,
        "route_event_per_cpu_s": event_cpu,
    }


def decision_texts(decision: Any, lang: str, names: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """(reasons, rejected) of a decision in ``lang``, rendered from its explanation; the wire
    sentences (English) when it carries none."""
    from schemas.explain import render_explanation

    if decision.explanation is None:
        return list(decision.reasons), list(decision.rejected)
    return render_explanation(decision.explanation, "en" if lang == "en" else "zh", names)


HEADERS = {
    "zh": ("行", "案件", "街道", "受理机构", "规则", "办结期限", "理由"),
    "en": ("line", "case", "street", "committee", "rule", "deadline", "why"),
}


def _time(value: str | None, flag: str) -> datetime | None:
    from fengqiao.cli import fail

    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError as err:
        raise fail(f"{flag}: not an ISO 8601 time: {value!r}") from err
    if t.tzinfo is None:
        raise fail(f"{flag} needs a timezone, e.g. 2023-03-01T00:00:00+08:00")
    return t


def register(app: typer.Typer) -> None:
    @app.command("route")
    def route(
        file: Annotated[
            Path | None,
            typer.Option("--file", "-f", help="JSON lines of intake envelopes ('-': stdin)"),
        ] = None,
        ruleset: RulesetOpt = None,
        catalogue: CatalogueOpt = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON line per case: case.routed.v1 + id")
        ] = False,
        explain: Annotated[
            bool, typer.Option("--explain", help="Also print every reason and rejected rule")
        ] = False,
        lang: Annotated[
            str, typer.Option("--lang", help="Language of the reasons: zh (default) or en")
        ] = "zh",
        bench_s: Annotated[
            float,
            typer.Option(
                "--bench",
                help="Measure decisions/second for this many seconds (sample cases without --file)",
            ),
        ] = 0.0,
    ) -> None:
        """Route intake events from a file without Kafka and print the decisions."""
        from rich.table import Table

        from fengqiao.cli import console, fail, output_console, settings
        from schemas.events import dump
        from schemas.explain import catalogue_names
        from streams.routing import load_router

        if lang not in HEADERS:
            raise fail("--lang must be zh or en")
        s = settings()
        router = load_router(ruleset or s.ruleset_path, catalogue or s.catalogue_path)
        names = catalogue_names(router.catalogue)
        if file is None and bench_s <= 0:
            raise fail("give --file F (or --bench SECONDS to measure on sample cases)")
        got = FileCases([], [], [])
        if file is not None:
            if str(file) == "-":
                got = read_cases(sys.stdin)
            else:
                try:
                    with file.open(encoding="utf-8") as fh:
                        got = read_cases(fh)
                except OSError as err:
                    raise fail(f"cannot read {file}: {err.strerror}") from err
        for n, why in got.invalid:
            console.print(f"[red]line {n}:[/] {why}", highlight=False, soft_wrap=True)
        for n, note in got.notes:
            console.print(f"[yellow]line {n}:[/] {note}", highlight=False, soft_wrap=True)

        if bench_s > 0:
            cases = [c for _, c in got.cases] or sample_cases(2000)
            r = bench(router, cases, bench_s)
            print(
                json.dumps(
                    {
                        "cases": len(cases),
                        "rules": len(router.rules),
                        "ruleset": router.version,
                        **{k: round(v) for k, v in r.items()},
                    }
                )
            )
            raise typer.Exit(1 if got.invalid else 0)

        out = output_console()
        if as_json:
            for _n, case in got.cases:
                routed = router.route(case).to_event(case)
                line = {"id": case.event_id, **dump(routed)}
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            title = (
                f"规则集 {router.version}（{router.ruleset_hash}）"
                if lang == "zh"
                else f"ruleset {router.version} ({router.ruleset_hash})"
            )
            table = Table(*HEADERS[lang], title=title)
            decisions = []
            for n, case in got.cases:
                d = router.route(case)
                reasons, rejected = decision_texts(d, lang, names)
                decisions.append((n, case, d, reasons, rejected))
                why = ("" if lang == "zh" else " ").join(reasons[1:-2])
                table.add_row(
                    str(n),
                    f"{case.case_id}\n{case.kind} · {case.category}",
                    case.street,
                    f"{d.committee_name}\n{d.committee_id}",
                    d.rule_id,
                    d.deadline.date().isoformat(),
                    why,
                )
            out.print(table)
            if explain:
                for n, case, d, reasons, rejected in decisions:
                    out.print(f"\n[bold]line {n} · {case.case_id}[/] → {d.committee_id}")
                    for reason in reasons:
                        out.print(f"  ✓ {reason}", highlight=False)
                    for rule_id, why in rejected:
                        out.print(f"  ✗ {rule_id}: {why}", highlight=False)
        console.print(
            f"{len(got.cases)} routed, {len(got.invalid)} invalid, {len(got.notes)} skipped"
        )
        if got.invalid:
            raise typer.Exit(1)

    @app.command("replay")
    def replay(
        ruleset: Annotated[
            Path, typer.Option("--ruleset", help="The candidate ruleset to compare")
        ],
        catalogue: Annotated[
            Path | None,
            typer.Option(
                "--catalogue", help="Catalogue for the candidate (default: the current one)"
            ),
        ] = None,
        current: Annotated[
            Path | None,
            typer.Option("--current", help="Current ruleset (default: settings, else packaged)"),
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(help="Only events published at or after this ISO time (broker time)"),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(help="Only events published before this ISO time (broker time)"),
        ] = None,
        examples: Annotated[int, typer.Option(help="Example case ids per move")] = 3,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
        timeout: Annotated[float, typer.Option(help="Give up after this many seconds")] = 300.0,
    ) -> None:
        """What-if: route the intake history with the current and a candidate ruleset.

        Reads the intake topics from Kafka in a consumer group of its own and writes nothing.
        """
        from rich.table import Table

        from fengqiao.cli import console, output_console, settings
        from fengqiao.replay import ReplayStats, intake_cases
        from streams.routing import load_router
        from streams.whatif import RouteDiff

        s = settings()
        gc.set_threshold(*s.replay_gc_threshold)
        t_since, t_until = _time(since, "--since"), _time(until, "--until")
        cur = load_router(current or s.ruleset_path, s.catalogue_path)
        cand = load_router(ruleset, catalogue or s.catalogue_path)
        stats = ReplayStats()
        diff = RouteDiff(cur.version, cur.ruleset_hash, cand.version, cand.ruleset_hash)
        started = time.perf_counter()

        def progress(st: ReplayStats) -> None:
            # on stderr, so that --json keeps stdout to the report
            rate = st.messages / max(time.perf_counter() - started, 1e-9)
            console.print(
                f"read {st.messages:,} of {st.expected:,} messages ({rate:,.0f} events/s), "
                f"{diff.cases:,} cases routed twice"
            )

        for case in intake_cases(
            s, stats, since=t_since, until=t_until, timeout_s=timeout, on_progress=progress
        ):
            diff.add(case, cur.route(case), cand.route(case), examples)
        elapsed = time.perf_counter() - started
        rate = stats.messages / max(elapsed, 1e-9)
        for topic in stats.topics_missing:
            console.print(f"[yellow]topic {topic} does not exist; nothing read from it[/]")
        if as_json:
            report = {
                **diff.to_dict(),
                "read": stats.to_dict(),
                "seconds": round(elapsed, 3),
                "events_per_s": round(rate),
            }
            print(json.dumps(report, ensure_ascii=False))
            return
        out = output_console()
        out.print(
            f"current   {cur.version} ({cur.ruleset_hash})\n"
            f"candidate {cand.version} ({cand.ruleset_hash})\n"
            f"read {stats.messages} messages in {elapsed:.1f}s ({rate:,.0f} events/s): "
            f"{diff.cases} cases, {stats.invalid} invalid, {stats.duplicates} duplicates, "
            f"{stats.no_case} consultations"
        )
        pct = f" ({100 * diff.moved / diff.cases:.1f} %)" if diff.cases else ""
        out.print(
            f"[bold]{diff.moved} cases would move[/]{pct}; "
            f"{diff.rule_only} would stay but be decided by another rule"
        )
        if diff.moves:
            table = Table("cases", "from", "to", "rules", "examples")
            for m in diff.sorted_moves():
                table.add_row(
                    str(m.count),
                    f"{m.from_name}\n{m.from_committee}",
                    f"{m.to_name}\n{m.to_committee}",
                    "\n".join(f"{a} → {b} ({n})" for (a, b), n in m.rules.most_common()),
                    "\n".join(m.examples),
                )
            out.print(table)
