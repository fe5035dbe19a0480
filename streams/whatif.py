"""What-if: route the same cases with two routers and report what would move. Pure code.

``fengqiao replay`` feeds it the intake history from Kafka; tests feed it lists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.cases import Case
from streams.routing import Decision, Router


@dataclass
class Move:
    """Cases that go from one committee to another under the candidate ruleset."""

    from_committee: str
    from_name: str | None
    to_committee: str
    to_name: str | None
    count: int = 0
    rules: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_committee,
            "from_name": self.from_name,
            "to": self.to_committee,
            "to_name": self.to_name,
            "count": self.count,
            "rules": [
                {"from_rule": a, "to_rule": b, "count": n} for (a, b), n in self.rules.most_common()
            ],
            "examples": self.examples,
        }


@dataclass
class RouteDiff:
    current_version: str
    current_hash: str
    candidate_version: str
    candidate_hash: str
    cases: int = 0
    moved: int = 0
    rule_only: int = 0  # same committee, decided by another rule
    moves: dict[tuple[str, str], Move] = field(default_factory=dict)
    by_committee_before: Counter[str] = field(default_factory=Counter)
    by_committee_after: Counter[str] = field(default_factory=Counter)

    def add(self, case: Case, before: Decision, after: Decision, max_examples: int = 3) -> None:
        self.cases += 1
        self.by_committee_before[before.committee_id] += 1
        self.by_committee_after[after.committee_id] += 1
        if before.committee_id == after.committee_id:
            if before.rule_id != after.rule_id:
                self.rule_only += 1
            return
        self.moved += 1
        key = (before.committee_id, after.committee_id)
        move = self.moves.get(key)
        if move is None:
            move = self.moves[key] = Move(
                before.committee_id, before.committee_name, after.committee_id, after.committee_name
            )
        move.count += 1
        move.rules[(before.rule_id, after.rule_id)] += 1
        if len(move.examples) < max_examples:
            move.examples.append(case.case_id)

    def sorted_moves(self) -> list[Move]:
        return sorted(
            self.moves.values(), key=lambda m: (-m.count, m.from_committee, m.to_committee)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": {"version": self.current_version, "hash": self.current_hash},
            "candidate": {"version": self.candidate_version, "hash": self.candidate_hash},
            "cases": self.cases,
            "moved": self.moved,
            "rule_only": self.rule_only,
            "moves": [m.to_dict() for m in self.sorted_moves()],
        }


def compare(
    cases: Iterable[Case], current: Router, candidate: Router, max_examples: int = 3
) -> RouteDiff:
    diff = RouteDiff(
        current.version, current.ruleset_hash, candidate.version, candidate.ruleset_hash
    )
    for case in cases:
        diff.add(case, current.route(case), candidate.route(case), max_examples)
    return diff
