"""Routing: one explained decision per case. Pure code, no Kafka.

Placeholder policy until the ruleset-as-data router lands: every case goes to its street
committee. The interface (``Decision``, ``Router.route``, ``load_router``) is the one the
stream worker and the CLI call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from schemas.events import CaseRouted, RejectedRule
from streams.cases import Case


@dataclass(frozen=True, slots=True)
class Decision:
    committee_id: str
    committee_type: str
    tier: str
    rule_id: str
    ruleset_version: str
    reasons: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]
    deadline: datetime

    def to_event(self, case: Case) -> CaseRouted:
        return CaseRouted(
            case_id=case.case_id,
            kind=case.kind,
            street=case.street,
            category=case.category,
            committee_id=self.committee_id,
            committee_type=self.committee_type,
            tier=self.tier,
            rule_id=self.rule_id,
            ruleset_version=self.ruleset_version,
            reasons=list(self.reasons),
            rejected=[RejectedRule(rule_id=r, reason=why) for r, why in self.rejected],
            deadline=self.deadline,
        )


class Router:
    version = "placeholder-0"

    def route(self, case: Case) -> Decision:
        return Decision(
            committee_id=f"{case.street}-street",
            committee_type="street",
            tier="street",
            rule_id="default",
            ruleset_version=self.version,
            reasons=(f"Placeholder rule: every case goes to the {case.street} street committee.",),
            rejected=(),
            deadline=case.time + timedelta(days=30),
        )


def load_router(ruleset: Path | None = None, catalogue: Path | None = None) -> Router:
    return Router()
