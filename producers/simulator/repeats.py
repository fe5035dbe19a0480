"""Repeat reports: the same dispute or wage claim reported again through another channel under
a new id, as people do (a call to 12348, then the walk-in desk), with the ground truth of which
case each repeat belongs to and whether the platform can know it.

The person's phone is written another way (spaces, dashes, +86, full-width digits) or, for a
share of repeats, not given at all (a desk that took no phone); a few come back after the
linking horizon. The ground truth says for each repeat what a correct platform does: join the
case (``link``), or open a case of its own because nothing identifies the person
(``no_identity``) or the case is too old (``past_horizon``). Pure generation, no Kafka.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from producers.simulator.year import SimEvent, Simulation, _source

Expect = Literal["link", "no_identity", "past_horizon"]
OTHER_CHANNELS = ("hotline", "miniapp", "walkin")
HORIZON = timedelta(days=30)


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
    for ev in sim.events:
        if ev.kind not in ("dispute", "wage-arrears") or rng.random() >= share:
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
        if holder is not None and phone and rng.random() < no_phone_share:
            del holder["phone"]
            phone = None
        elif holder is not None and phone:
            written = rng.choice(sorted(WRITINGS))
            holder["phone"] = WRITINGS[written](phone)
        if ev.kind == "wage-arrears" and rng.random() < 0.3:
            data["employer"].pop("credit_code", None)  # the desk wrote the employer's name only
        expect: Expect = "past_horizon" if late else ("link" if phone else "no_identity")
        report_id = f"{env['id']}-again"
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
