"""The year put together: every draft in event-time order gets its id and its envelope, and
the counts taken on the way become the ground-truth manifest. Same profile and seed, same
year: one ``random.Random(seed)`` is drawn from in a fixed order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from producers.manifest import Manifest
from producers.simulator.background import background_wage, consultations, disputes, petitions
from producers.simulator.calibration import Profile
from producers.simulator.counts import CASE_KINDS, Counts, manifest_of
from producers.simulator.moments import Calendar
from producers.simulator.names import Names
from producers.simulator.planted import planted_incidents
from schemas.events import INTAKE_KINDS

KIND_PREFIX = {"dispute": "d", "petition": "p", "wage-arrears": "w", "consultation": "c"}
TYPES = {kind: type_ for kind, (type_, _topic) in INTAKE_KINDS.items()}


@dataclass(frozen=True, slots=True)
class SimEvent:
    kind: str  # SDK kind: dispute | petition | wage-arrears | consultation
    time: datetime
    envelope: dict[str, Any]


@dataclass
class Simulation:
    profile: Profile
    seed: int
    run: str
    events: list[SimEvent]
    manifest: Manifest

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, envelope) in event-time order."""
        for ev in self.events:
            yield ev.kind, ev.envelope


def _source(channel: str, street: str | None) -> str:
    return {
        "hotline": "hotline/12348",
        "miniapp": "miniapp/longwan",
        "web": "web/zjzwfw",
        "letter": "letter/longwan-xinfang",
        "referral": "referral/longwan-police",
    }.get(channel, f"{channel}/{street or 'district'}")


def _envelope(
    event_id: str, source: str, type_: str, when: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": source,
        "type": type_,
        "time": when.isoformat(),
        "subject": None,
        "data": data,
    }


def default_run(p: Profile, seed: int) -> str:
    scale = "" if p.scale == 1 else f"-x{str(p.scale).replace('.', '')}"
    return f"lw{p.year % 100}-s{seed}{scale}"


def simulate(p: Profile, seed: int = 1, run: str | None = None) -> Simulation:
    """Generate the year: every intake event in event-time order, and the manifest."""
    rng = random.Random(seed)
    run = run or default_run(p, seed)
    cal = Calendar(p.year)
    names = Names(rng)
    drafts = disputes(rng, p, cal, names)
    drafts += petitions(rng, p, cal)
    drafts += background_wage(rng, p, cal, names)
    group_drafts, planted = planted_incidents(rng, p, names)
    drafts += group_drafts
    drafts += consultations(rng, p, cal)
    drafts.sort(key=lambda d: (d.time, d.kind))

    numbers: dict[str, int] = {}
    events: list[SimEvent] = []
    counts = Counts()
    by_tag = {g.tag: g for g in planted}
    for d in drafts:
        numbers[d.kind] = numbers.get(d.kind, 0) + 1
        event_id = d.event_id = f"{run}-{KIND_PREFIX[d.kind]}{numbers[d.kind]:05d}"
        if d.repeat_of is not None:
            d.data["repeat_of"] = [d.repeat_of.event_id]  # earlier, so already numbered
        street = d.data.get("street")
        env = _envelope(event_id, _source(d.channel, street), TYPES[d.kind], d.time, d.data)
        events.append(SimEvent(d.kind, d.time, env))
        if d.tag:
            by_tag[d.tag].case_ids.append(event_id)
        counts.add(d.kind, event_id, d.time, d.channel, d.data)

    # The disputes that end without agreement (the other 99.96 % settle), chosen at random
    # among those that name no amount: then the agreements' amounts, which is what the case
    # store keeps, add up to the year's amount at stake exactly.
    all_disputes = counts.case_ids[CASE_KINDS["dispute"]]
    unpriced = [
        e.envelope["id"]
        for e in events
        if e.kind == "dispute" and "amount_yuan" not in e.envelope["data"]
    ]
    pool = unpriced if len(unpriced) >= p.no_agreement else all_disputes
    no_agreement = sorted(rng.sample(pool, p.no_agreement))
    return Simulation(
        p, seed, run, events, manifest_of(p, seed, run, counts, planted, no_agreement)
    )
