"""Repeat reports: the same dispute or wage claim reported again through another channel under
a new id, as people do (a call to 12348, then the walk-in desk), with the ground truth of which
case each repeat belongs to and whether the platform can know it.

The person's phone is written another way (spaces, dashes, +86, full-width digits) or, for a
share of disputes' repeats, not given at all (a desk that took no phone); a few come back
after the linking horizon. The claims of the planted incidents are never repeated, and a wage
claim's repeat always names its contact: a repeat the platform cannot link opens a case of its
own, which would change the incidents the manifest expects. The ground truth says for each
repeat what a correct platform does: join the case (``link``), or open a case of its own
because nothing identifies the person (``no_identity``) or the case is too old
(``past_horizon``). Pure generation, no Kafka.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from producers.manifest import Repeats, RepeatTruth, Tally
from producers.simulator.counts import CASE_KINDS
from producers.simulator.year import KIND_PREFIX, SimEvent, Simulation, _source

Expect = Literal["link", "no_identity", "past_horizon"]
OTHER_CHANNELS = ("hotline", "miniapp", "walkin")
REPEAT_NUMBERS_FROM = 50_001


@dataclass(frozen=True, slots=True)
class Repeat:
    report_id: str
    case_id: str
    expect: Expect
    written: str  # how the identity was written again: exact, spaced, dashed, plus86, fullwidth


@dataclass
class RepeatedYear:
    """The year with its repeats, in event-time order, and their ground truth."""

    events: list[SimEvent]
    repeats: list[Repeat] = field(default_factory=list)

    @property
    def truth(self) -> dict[str, Repeat]:
        return {r.report_id: r for r in self.repeats}


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


WRITINGS = {
    "exact": lambda p: p,
    "spaced": lambda p: f"{p[:3]} {p[3:7]} {p[7:]}",
    "dashed": lambda p: f"{p[:3]}-{p[3:7]}-{p[7:]}",
    "plus86": lambda p: f"+86 {p}",
    "fullwidth": _fullwidth,
}


def _phone_holder(data: dict[str, Any]) -> dict[str, Any] | None:
    """The dict holding the person's phone: a dispute's applicant, a wage claim's contact."""
    if "contact" in data:
        contact: dict[str, Any] = data["contact"]
        return contact
    for party in data.get("parties") or ():
        if party.get("role") == "applicant":
            applicant: dict[str, Any] = party
            return applicant
    return None


def with_repeats(
    sim: Simulation,
    seed: int = 1,
    share: float = 0.1,
    no_phone_share: float = 0.1,
    late_share: float = 0.05,
) -> RepeatedYear:
    """``share`` of the year's disputes and wage claims reported once more. Same simulation
    and seed, same repeats."""
    rng = random.Random(seed)
    out = list(sim.events)
    repeats: list[Repeat] = []
    numbers: dict[str, int] = {}
    in_incidents = {cid for g in sim.manifest.incidents.planted for cid in g.case_ids}
    for ev in sim.events:
        if ev.kind not in ("dispute", "wage-arrears") or rng.random() >= share:
            continue
        if ev.envelope["id"] in in_incidents:
            continue
        env = ev.envelope
        data = copy.deepcopy(env["data"])
        channel = rng.choice([c for c in OTHER_CHANNELS if c != data["channel"]])
        data["channel"] = channel
        late = rng.random() < late_share
        lag = timedelta(days=rng.uniform(31, 60)) if late else timedelta(hours=rng.uniform(2, 600))
        holder = _phone_holder(data)
        phone = holder.get("phone") if holder else None
        written = "none"
        drop = ev.kind == "dispute" and rng.random() < no_phone_share
        if holder is not None and phone and drop:
            del holder["phone"]
            phone = None
        elif holder is not None and phone:
            written = rng.choice(sorted(WRITINGS))
            holder["phone"] = WRITINGS[written](phone)
        # The employer keeps its credit code: a claim naming it by name only goes to another
        # intake partition (the SDK keys claims by credit code, else name), and the worker may
        # read it before the first claim, which then joins the repeat's case instead.
        expect: Expect = "past_horizon" if late else ("link" if phone else "no_identity")
        # the run's id shape (``<run>-d12345``), numbered past any year's own events
        numbers[ev.kind] = numbers.get(ev.kind, REPEAT_NUMBERS_FROM - 1) + 1
        report_id = f"{env['id'].rsplit('-', 1)[0]}-{KIND_PREFIX[ev.kind]}{numbers[ev.kind]:05d}"
        when = ev.time + lag
        again = {
            **env,
            "id": report_id,
            "source": _source(channel, data.get("street")),
            "time": when.isoformat(),
            "data": data,
        }
        out.append(SimEvent(ev.kind, when, again))
        repeats.append(Repeat(report_id, env["id"], expect, written))
    out.sort(key=lambda e: (e.time, e.kind))
    return RepeatedYear(out, repeats)


def plant_repeats(sim: Simulation, seed: int = 1, share: float = 0.1) -> Simulation:
    """The simulation with its repeat reports, and a manifest that counts them: every repeat
    is an intake event; one the platform must not link is a case of its own; the truth of
    each is in ``manifest.repeats``."""
    year = with_repeats(sim, seed, share)
    m = sim.manifest
    kind_of = {ev.envelope["id"]: ev.kind for ev in year.events}
    events = dict(m.events.by_kind)
    case_ids = {k: list(v) for k, v in m.case_ids.items()}
    for r in year.repeats:
        kind = kind_of[r.report_id]
        events[kind] = events.get(kind, 0) + 1
        if r.expect != "link":
            case_ids.setdefault(CASE_KINDS[kind], []).append(r.report_id)
    by_kind = {k: len(v) for k, v in sorted(case_ids.items())}
    manifest = m.model_copy(
        update={
            "events": Tally(total=sum(events.values()), by_kind=dict(sorted(events.items()))),
            "cases": Tally(total=sum(by_kind.values()), by_kind=by_kind),
            "case_ids": {k: tuple(v) for k, v in sorted(case_ids.items())},
            "repeats": Repeats(
                share=share,
                planted=tuple(
                    RepeatTruth(
                        report_id=r.report_id, case_id=r.case_id, expect=r.expect, written=r.written
                    )
                    for r in year.repeats
                ),
            ),
        }
    )
    return Simulation(sim.profile, sim.seed, sim.run, year.events, manifest)
