"""The codes a metric label or a dashboard key may take, and the names a person reads for them.

Streets and committees (community committees included) come from the district's catalogue;
categories, kinds, channels and tiers from the contracts' enums; rules from the known rule set.
Every other value becomes ``unknown``: a field sent with an id number or a phone number in it
must never reach ``/metrics``, the dashboard or Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from consumers import labels
from schemas.events import (
    CaseKind,
    Channel,
    ConsultationCategory,
    DisputeCategory,
    PetitionCategory,
    Tier,
)
from schemas.reference.catalogue import Catalogue, load_catalogue

UNKNOWN = "unknown"
UNKNOWN_NAME = "未知"

CATEGORIES: frozenset[str] = frozenset(
    get_args(DisputeCategory) + get_args(PetitionCategory) + get_args(ConsultationCategory)
)
KINDS: frozenset[str] = frozenset(get_args(CaseKind))
CHANNELS: frozenset[str] = frozenset(get_args(Channel))
TIERS: frozenset[str] = frozenset(get_args(Tier))
RULES: frozenset[str] = frozenset(labels.INCIDENT_RULES)


def _only(allowed: frozenset[str] | Mapping[str, str], value: object) -> str:
    return value if isinstance(value, str) and value in allowed else UNKNOWN


@dataclass(frozen=True)
class Vocabulary:
    """Allowed codes per label dimension; ``streets`` and ``committees`` map code to name."""

    streets: Mapping[str, str]  # in the catalogue's order, which is the dashboard's row order
    committees: Mapping[str, str]
    categories: frozenset[str] = field(default=CATEGORIES)
    kinds: frozenset[str] = field(default=KINDS)
    channels: frozenset[str] = field(default=CHANNELS)
    tiers: frozenset[str] = field(default=TIERS)
    rules: frozenset[str] = field(default=RULES)

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue) -> Vocabulary:
        # The dashboard shows the short street names (永中, not 永中街道) where it has them.
        streets = {
            code: labels.STREETS.get(code, street.name)
            for code, street in catalogue.streets.items()
        }
        committees = {cid: c.name for cid, c in catalogue.committees.items()}
        return cls(streets=streets, committees=committees)

    @classmethod
    def default(cls) -> Vocabulary:
        """The packaged Longwan catalogue: what tests and a district without its own file use."""
        return cls.from_catalogue(load_catalogue())

    def street(self, value: object) -> str:
        return _only(self.streets, value)

    def committee(self, value: object) -> str:
        return _only(self.committees, value)

    def category(self, value: object) -> str:
        return _only(self.categories, value)

    def kind(self, value: object) -> str:
        return _only(self.kinds, value)

    def channel(self, value: object) -> str:
        return _only(self.channels, value)

    def tier(self, value: object) -> str:
        return _only(self.tiers, value)

    def rule(self, value: object) -> str:
        return _only(self.rules, value)

    def street_name(self, code: str) -> str:
        return self.streets.get(code, UNKNOWN_NAME)

    def committee_name(self, code: str) -> str:
        return self.committees.get(code, UNKNOWN_NAME)

    def category_name(self, code: str) -> str:
        return labels.CATEGORIES.get(code, UNKNOWN_NAME)
