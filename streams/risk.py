"""Stability risk by (street, category): a score that decays with event time, and a colour.

score = Σ weight × 0.5^(age / half-life). Pure code over a ``MutableMapping`` keyed
``street/category``; a change of level is an event for the compacted ``risk.levels`` topic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.events import RiskLevelChanged, dump
from streams.cases import Case
from streams.dueindex import LOOK_EARLY_S
from streams.intake import Out, envelope

RISK_INPUT = "internal.risk-inputs"
LEVELS = ("green", "blue", "yellow", "orange", "red")
RECENT_IDS = 64  # contribution ids remembered per row, so a redelivery is not counted twice


@dataclass(frozen=True)
class RiskConfig:
    half_life: timedelta = timedelta(days=7)
    thresholds: tuple[float, float, float, float] = (5.0, 10.0, 20.0, 40.0)
    dispute: float = 1.0
    dispute_large_amount_yuan: Decimal = Decimal(100_000)
    dispute_large_bonus: float = 1.0
    petition: float = 2.0
    petition_repeat: float = 4.0
    wage_base: float = 2.0
    wage_per_worker: float = 0.1
    incident: float = 10.0
    sla_breach: float = 3.0


def level_for(score: float, cfg: RiskConfig) -> str:
    level = LEVELS[0]
    for name, threshold in zip(LEVELS[1:], cfg.thresholds, strict=True):
        if score >= threshold:
            level = name
    return level


def case_weight(case: Case, cfg: RiskConfig) -> float:
    if case.kind == "dispute":
        big = case.amount_yuan is not None and case.amount_yuan >= cfg.dispute_large_amount_yuan
        return cfg.dispute + (cfg.dispute_large_bonus if big else 0.0)
    if case.kind == "petition":
        return cfg.petition_repeat if case.repeat else cfg.petition
    if case.kind == "wage_arrears":
        return cfg.wage_base + case.head_count * cfg.wage_per_worker
    return 0.0


def risk_key(street: str, category: str) -> str:
    return f"{street}/{category}"


def contribution(
    contrib_id: str, street: str, category: str, weight: float, time: datetime, reason: str
) -> Out:
    """A message for the internal risk topic, keyed like the risk table."""
    return Out(
        RISK_INPUT,
        risk_key(street, category),
        {
            "id": contrib_id,
            "street": street,
            "category": category,
            "weight": weight,
            "time": time.timestamp(),
            "reason": reason,
        },
    )


def case_contribution(case: Case, cfg: RiskConfig) -> Out:
    return contribution(
        f"{case.case_id}/risk",
        case.street,
        case.category,
        case_weight(case, cfg),
        case.time,
        case.kind,
    )


def decayed(row: dict[str, Any], at: float, cfg: RiskConfig) -> float:
    age = max(0.0, at - float(row["as_of"]))
    return float(row["score"]) * 0.5 ** (age / cfg.half_life.total_seconds())


def next_level_drop(row: Any, cfg: RiskConfig) -> float | None:
    """The earliest timestamp at which ``RiskTable.refresh`` can lower the row's level (for
    its due index, ``streams.dueindex``): when the decaying score falls below the threshold
    of its level, a second early. ``None`` for no row or a green one, which decay leaves so."""
    if not isinstance(row, dict):
        return None
    level = row.get("level")
    if level not in LEVELS:
        return float(row["as_of"])  # not a level refresh knows: look, refresh decides
    i = LEVELS.index(level)
    if i == 0:
        return None
    threshold = cfg.thresholds[i - 1]
    score, as_of = float(row["score"]), float(row["as_of"])
    if score < threshold:
        return as_of  # below already: lowered at the first tick after as_of
    # score × 0.5^(age / half-life) < threshold once age > half-life × log2(score / threshold)
    return as_of + cfg.half_life.total_seconds() * math.log2(score / threshold) - LOOK_EARLY_S


class RiskTable:
    """Adds contributions, decays scores, and reports changes of level."""

    def __init__(self, rows: MutableMapping[str, Any], cfg: RiskConfig | None = None):
        self.rows = rows
        self.cfg = cfg or RiskConfig()

    def add(self, c: dict[str, Any]) -> list[Out]:
        key = risk_key(c["street"], c["category"])
        t, w = float(c["time"]), float(c["weight"])
        row = self.rows.get(key)
        if row is not None and c["id"] in row["recent"]:
            return []
        previous = row["level"] if row is not None else None
        if row is None:
            score, as_of, recent, n = w, t, [], 0
        elif t >= float(row["as_of"]):
            score, as_of = decayed(row, t, self.cfg) + w, t
            recent, n = row["recent"], row["events"]
        else:  # late: count it as already decayed to the row's time
            as_of = float(row["as_of"])
            age = as_of - t
            score = float(row["score"]) + w * 0.5 ** (age / self.cfg.half_life.total_seconds())
            recent, n = row["recent"], row["events"]
        new = {
            "street": c["street"],
            "category": c["category"],
            "score": score,
            "as_of": as_of,
            "level": level_for(score, self.cfg),
            "recent": [*recent, c["id"]][-RECENT_IDS:],
            "events": n + 1,
        }
        self.rows[key] = new
        if new["level"] == previous or (previous is None and new["level"] == LEVELS[0]):
            return []
        return [self._changed(key, new, previous)]

    def refresh(self, now: datetime, keys: Iterable[str]) -> list[Out]:
        """Decay the given rows to ``now``; rows whose level drops are written and reported."""
        at = now.timestamp()
        outs = []
        for key in list(keys):
            row = self.rows.get(key)
            if row is None or at <= float(row["as_of"]):
                continue
            score = decayed(row, at, self.cfg)
            level = level_for(score, self.cfg)
            if level == row["level"]:
                continue
            new = {**row, "score": score, "as_of": at, "level": level}
            self.rows[key] = new
            outs.append(self._changed(key, new, row["level"]))
        return outs

    def _changed(self, key: str, row: dict[str, Any], previous: str | None) -> Out:
        event = RiskLevelChanged(
            street=row["street"],
            category=row["category"],
            score=round(row["score"], 3),
            level=row["level"],
            previous_level=previous,
        )
        as_of = datetime.fromtimestamp(float(row["as_of"]), UTC)
        event_id = f"risk:{key}:{id_time(as_of)}:{row['level']}"
        data = {**dump(event), "previous_level": previous}  # null is meaningful: a new row
        return Out("risk.levels", key, envelope(event_id, "risk.level_changed.v1", as_of, data))

    def view(self, now: datetime) -> list[dict[str, Any]]:
        """Every row decayed to ``now`` (read-only), sorted by street and category."""
        at = now.timestamp()
        out = []
        for row in list(self.rows.values()):
            score = decayed(row, max(at, float(row["as_of"])), self.cfg)
            out.append(
                {
                    "street": row["street"],
                    "category": row["category"],
                    "score": round(score, 3),
                    "level": level_for(score, self.cfg),
                    "events": row["events"],
                }
            )
        return sorted(out, key=lambda r: (r["street"], r["category"]))


def id_time(t: datetime) -> str:
    """A UTC time as event ids write it (``20220104T115928Z``, microseconds when there are
    any): an id may hold no "+", so ``isoformat``'s "+00:00" made every level change
    unreadable to the envelope's contract, and the command center never saw one."""
    whole = f"{t:%Y%m%dT%H%M%S}"
    return f"{whole}.{t.microsecond:06d}Z" if t.microsecond else f"{whole}Z"
