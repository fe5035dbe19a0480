"""The stateful steps of the incident, risk and SLA agents: pure logic that gets the state of
each call (the batch's write-back view of its table) passed in, never swapped onto it.

Each call builds the pure object (``IncidentDetector``, ``RiskTable``, ``SlaClocks``) over the
state it is given and adds that object's counters to the step's own, so the counters outlive
the batch while the state does not.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Protocol

from streams.incidents import (
    CaseSets,
    Deferred,
    IncidentConfig,
    IncidentDetector,
    IncidentStats,
)
from streams.intake import Out
from streams.risk import RiskConfig, RiskTable
from streams.sla import SlaClocks, SlaConfig, SlaStats

State = MutableMapping[str, Any]
Clock = Callable[[], datetime]


class TableStep(Protocol):
    """One table's logic: an item of a batch, or a tick with the keys of the partition's rows,
    handled against the ``state`` of that batch."""

    label: ClassVar[str]

    def on_item(self, state: State, item: dict[str, Any]) -> list[Out]: ...

    def on_tick(self, state: State, keys: list[str]) -> list[Out]: ...

    def on_done(self, state: State) -> list[Out]:
        """What the message's items left to publish once all are handled."""
        ...


def add_counts(total: Any, part: Any) -> None:
    """Add the counters of one call's pure object to the step's."""
    for f in fields(total):
        setattr(total, f.name, getattr(total, f.name) + getattr(part, f.name))


def _always() -> bool:
    return True


@dataclass
class IncidentStep:
    label: ClassVar[str] = "incidents"
    cfg: IncidentConfig
    clock: Clock
    stats: IncidentStats = field(default_factory=IncidentStats)
    # the incidents the message's items raised or updated: announced once, in ``on_done``
    deferred: dict[str, Deferred] = field(default_factory=dict)
    # the case ids of large incidents as sets, from item to item (see IncidentDetector._has)
    case_sets: CaseSets = field(default_factory=dict)

    def on_item(self, state: State, item: dict[str, Any]) -> list[Out]:
        detector = IncidentDetector(state, self.cfg, self.deferred, self.case_sets)
        try:
            return detector.handle(item["rule_id"], item["key"], item["member"], self.clock())
        finally:
            add_counts(self.stats, detector.stats)

    def on_done(self, state: State) -> list[Out]:
        try:
            return IncidentDetector(state, self.cfg).announce(self.deferred)
        finally:
            self.deferred.clear()

    def on_tick(self, state: State, keys: list[str]) -> list[Out]:
        IncidentDetector(state, self.cfg).prune(self.clock(), keys)
        return []

    def snapshot(self, state: State) -> list[dict[str, Any]]:
        return IncidentDetector(state, self.cfg).snapshot()


@dataclass
class RiskStep:
    label: ClassVar[str] = "risk"
    cfg: RiskConfig
    clock: Clock
    # ticks wait until the clock is known (stream time: after the first event)
    time_known: Callable[[], bool] = _always

    def on_item(self, state: State, item: dict[str, Any]) -> list[Out]:
        return RiskTable(state, self.cfg).add(item)

    def on_tick(self, state: State, keys: list[str]) -> list[Out]:
        if not self.time_known():
            return []
        return RiskTable(state, self.cfg).refresh(self.clock(), keys)

    def on_done(self, state: State) -> list[Out]:
        return []

    def view(self, state: State) -> list[dict[str, Any]]:
        return RiskTable(state, self.cfg).view(self.clock())


@dataclass
class SlaStep:
    label: ClassVar[str] = "sla"
    cfg: SlaConfig
    clock: Clock
    time_known: Callable[[], bool] = _always
    stats: SlaStats = field(default_factory=SlaStats)

    def _clocks(self, state: State) -> SlaClocks:
        return SlaClocks(state, self.cfg)

    def _counted(self, clocks: SlaClocks) -> None:
        add_counts(self.stats, clocks.stats)

    def on_item(self, state: State, item: dict[str, Any]) -> list[Out]:
        clocks = self._clocks(state)
        try:
            clocks.routed(item["routed"])
        finally:
            self._counted(clocks)
        return []

    def on_tick(self, state: State, keys: list[str]) -> list[Out]:
        if not self.time_known():
            return []
        clocks = self._clocks(state)
        try:
            return clocks.check(self.clock(), keys)
        finally:
            self._counted(clocks)

    def on_done(self, state: State) -> list[Out]:
        return []

    def on_lifecycle(self, state: State, type_: str, data: dict[str, Any], time: datetime) -> None:
        clocks = self._clocks(state)
        try:
            clocks.lifecycle(type_, data, time)
        finally:
            self._counted(clocks)

    def snapshot(self, state: State) -> dict[str, Any]:
        return self._clocks(state).snapshot()
