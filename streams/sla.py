"""SLA clocks per routed case: accept and conclude deadlines, warnings, breaches.

Pure code over a ``MutableMapping`` keyed by case id. A routed case starts both clocks from its
event time; lifecycle events stop them (accepted stops "accept", concluded or closed stop both,
a transfer restarts "accept" for the new committee). ``check(now)`` warns at a fraction of a
period and, past the deadline, reports a breach that escalates one tier and adds risk.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import EscalationRaised, SlaBreached, SlaWarning, dump
from streams.intake import Out, envelope
from streams.risk import contribution

NEXT_TIER = {"community": "street", "street": "district", "district": "city"}
CLOCKS = ("accept", "conclude")


def _days(n: float) -> timedelta:
    return timedelta(days=n)


@dataclass(frozen=True)
class SlaConfig:
    # kind -> (accept within, conclude within)
    periods: dict[str, tuple[timedelta, timedelta]] = field(
        default_factory=lambda: {
            "dispute": (_days(1), _days(30)),
            "petition": (_days(15), _days(60)),
            "wage_arrears": (_days(1), _days(15)),
        }
    )
    warn_fraction: float = 0.8
    retention: timedelta = _days(7)  # how long a finished case is remembered
    breach_risk_weight: float = 3.0
    street_committee: str = "{street}-street"
    district_committee: str = "district-center"
    city_committee: str = "city"

    def committee_for(self, tier: str, street: str) -> str:
        if tier == "street":
            return self.street_committee.format(street=street)
        if tier == "district":
            return self.district_committee
        return self.city_committee


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _clock(start: float, period: timedelta) -> dict[str, Any]:
    return {
        "start": start,
        "due": start + period.total_seconds(),
        "state": "running",
        "warned": False,
    }


@dataclass
class SlaStats:
    routed: int = 0
    lifecycle: int = 0
    warnings: int = 0
    breaches: int = 0


class SlaClocks:
    def __init__(self, rows: MutableMapping[str, Any], cfg: SlaConfig | None = None):
        self.rows = rows
        self.cfg = cfg or SlaConfig()
        self.stats = SlaStats()

    def routed(self, info: dict[str, Any]) -> None:
        """Start the clocks of a routed case (``case_id, kind, street, category, committee_id,
        tier, time``). A redelivery changes nothing; lifecycle events seen first still count."""
        cid = info["case_id"]
        row = self.rows.get(cid)
        if row is not None and row.get("routed"):
            return
        periods = self.cfg.periods.get(info["kind"])
        if periods is None:
            return
        self.stats.routed += 1
        t = float(info["time"])
        new = {
            "case_id": cid,
            "kind": info["kind"],
            "street": info["street"],
            "category": info["category"],
            "committee_id": info["committee_id"],
            "tier": info["tier"],
            "routed": True,
            "done_at": None,
            "clocks": {name: _clock(t, p) for name, p in zip(CLOCKS, periods, strict=True)},
        }
        if row is not None:  # lifecycle arrived before the routing decision
            new["committee_id"] = row.get("committee_id") or new["committee_id"]
            new["done_at"] = row.get("done_at")
            for name in row.get("stopped", []):
                new["clocks"][name]["state"] = "stopped"
        self.rows[cid] = new

    def lifecycle(self, type_: str, data: dict[str, Any], time: datetime) -> None:
        cid = data.get("case_id")
        if not cid:
            return
        self.stats.lifecycle += 1
        t = time.timestamp()
        row = self.rows.get(cid)
        if row is None or not row.get("routed"):
            early = dict(row or {"case_id": cid, "routed": False, "stopped": [], "done_at": None})
            stopped = set(early.get("stopped", []))
            if type_ == "case.accepted.v1":
                stopped.add("accept")
            elif type_ in ("case.concluded.v1", "case.closed.v1"):
                stopped |= set(CLOCKS)
                early["done_at"] = t
            elif type_ == "case.transferred.v1":
                early["committee_id"] = data.get("to_committee_id")
            early["stopped"] = sorted(stopped)
            self.rows[cid] = early
            return
        row = {**row, "clocks": {k: dict(v) for k, v in row["clocks"].items()}}
        clocks = row["clocks"]
        if type_ == "case.accepted.v1":
            self._stop(clocks["accept"])
        elif type_ in ("case.concluded.v1", "case.closed.v1"):
            for c in clocks.values():
                self._stop(c)
            row["done_at"] = t
        elif type_ == "case.transferred.v1":
            row["committee_id"] = data.get("to_committee_id") or row["committee_id"]
            periods = self.cfg.periods[row["kind"]]
            if clocks["conclude"]["state"] != "stopped" and row["done_at"] is None:
                clocks["accept"] = _clock(t, periods[0])  # the new committee must accept
        else:
            return
        self.rows[cid] = row

    @staticmethod
    def _stop(c: dict[str, Any]) -> None:
        if c["state"] == "running":
            c["state"] = "stopped"

    def check(self, now: datetime, keys: Iterable[str]) -> list[Out]:
        """Warnings and breaches due at ``now`` for the given cases; forgets finished ones."""
        at = now.timestamp()
        outs: list[Out] = []
        for cid in list(keys):
            row = self.rows.get(cid)
            if row is None:
                continue
            done = row.get("done_at")
            if done is not None and at - float(done) > self.cfg.retention.total_seconds():
                del self.rows[cid]
                continue
            if not row.get("routed"):
                continue
            new: dict[str, Any] | None = None  # copied only when a clock changes
            for name in CLOCKS:
                c = row["clocks"][name]
                if c["state"] != "running":
                    continue
                frac = (at - c["start"]) / max(1.0, c["due"] - c["start"])
                breach = at >= c["due"]
                if not breach and (c["warned"] or frac < self.cfg.warn_fraction):
                    continue
                if new is None:
                    new = {**row, "clocks": {k: dict(v) for k, v in row["clocks"].items()}}
                c = new["clocks"][name]
                if breach:
                    outs += self._breach(new, name, c)
                    c["state"], c["warned"] = "breached", True
                else:
                    outs.append(self._warning(new, name, c, frac))
                    c["warned"] = True
            if new is not None:
                self.rows[cid] = new
        return outs

    def _warning(self, row: dict[str, Any], name: str, c: dict[str, Any], frac: float) -> Out:
        self.stats.warnings += 1
        due = _dt(c["due"])
        ev = SlaWarning(
            case_id=row["case_id"],
            committee_id=row["committee_id"],
            clock=name,
            due=due,
            fraction=round(min(frac, 1.0), 3),
        )
        at = _dt(c["start"] + (c["due"] - c["start"]) * self.cfg.warn_fraction)
        eid = f"sla:{row['case_id']}:{name}:{due:%Y%m%dT%H%M%SZ}:warning"
        return Out(
            "sla.alerts",
            row["case_id"],
            envelope(eid, "sla.warning.v1", at, dump(ev), subject=row["case_id"]),
        )

    def _breach(self, row: dict[str, Any], name: str, c: dict[str, Any]) -> list[Out]:
        self.stats.breaches += 1
        due = _dt(c["due"])
        base = f"sla:{row['case_id']}:{name}:{due:%Y%m%dT%H%M%SZ}"
        to_tier = NEXT_TIER.get(row["tier"])
        ev = SlaBreached(
            case_id=row["case_id"],
            committee_id=row["committee_id"],
            clock=name,
            due=due,
            escalated_to_tier=to_tier,
        )
        cid = row["case_id"]
        outs = [
            Out(
                "sla.alerts", cid, envelope(f"{base}:breach", "sla.breached.v1", due, dump(ev), cid)
            )
        ]
        if to_tier is not None:
            esc = EscalationRaised(
                escalation_id=f"{base}:escalation",
                level=to_tier,
                to_committee_id=self.cfg.committee_for(to_tier, row["street"]),
                reason=(
                    f"The {name} deadline of a {row['kind'].replace('_', ' ')} case passed "
                    f"at the {row['tier']} tier; escalated to the {to_tier} tier"
                ),
                case_id=cid,
            )
            outs.append(
                Out(
                    "escalations",
                    esc.escalation_id,
                    envelope(esc.escalation_id, "escalation.raised.v1", due, dump(esc), cid),
                )
            )
            row["tier"] = to_tier
            row["committee_id"] = esc.to_committee_id
        outs.append(
            contribution(
                f"{base}:risk",
                row["street"],
                row["category"],
                self.cfg.breach_risk_weight,
                due,
                "sla_breach",
            )
        )
        return outs

    def snapshot(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Clock states by case id (no personal data is ever stored here)."""
        out = {}
        for cid in list(keys if keys is not None else self.rows.keys()):
            row = self.rows.get(cid)
            if row is None:
                continue
            out[cid] = {
                "tier": row.get("tier"),
                "committee_id": row.get("committee_id"),
                "done": row.get("done_at") is not None,
                "clocks": {
                    k: {"state": v["state"], "due": _dt(v["due"]).isoformat()}
                    for k, v in row.get("clocks", {}).items()
                },
            }
        return out
