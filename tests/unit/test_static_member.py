"""The static-member wrapper asks to rejoin only while it holds nothing of topics that have
partitions, and backs off between requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consumers.static_member import StaticMember


@dataclass
class _Coordinator:
    rejoins: int = 0

    def request_rejoin(self) -> None:
        self.rejoins += 1


@dataclass
class _Cluster:
    partitions: set[int]

    def partitions_for_topic(self, _topic: str) -> set[int] | None:
        return self.partitions or None


@dataclass
class _Consumer:
    """Stands in for kafka-python's consumer: only the calls the wrapper makes."""

    assigned: set[Any] = field(default_factory=set)
    partitions: set[int] = field(default_factory=lambda: {0, 1})
    _coordinator: _Coordinator = field(default_factory=_Coordinator)
    polls: int = 0

    def poll(self, timeout_ms: int = 0) -> dict[Any, Any]:
        self.polls += 1
        return {}

    def assignment(self) -> set[Any]:
        return self.assigned

    def subscription(self) -> set[str]:
        return {"cases.routed"}

    @property
    def _cluster(self) -> _Cluster:
        return _Cluster(self.partitions)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _rejoins_at(times: list[float], consumer: _Consumer) -> int:
    clock = _Clock()
    member = StaticMember(consumer, first_s=5, max_s=20, clock=clock)
    for t in times:
        clock.now = t
        member.poll(timeout_ms=10)
    return consumer._coordinator.rejoins


def test_an_empty_assignment_of_topics_with_partitions_asks_to_rejoin_with_backoff() -> None:
    c = _Consumer()
    # due at 5, then 5 s later (10), then 10 s later (20), then 20 s (40), capped at 20 (60)
    assert _rejoins_at([1, 5, 6, 10, 12, 19, 20, 39, 40, 59, 60], c) == 5
    assert c.polls == 11  # every poll still reaches the consumer


def test_no_rejoin_while_partitions_are_held() -> None:
    assert _rejoins_at([5, 50, 500], _Consumer(assigned={("cases.routed", 0)})) == 0


def test_no_rejoin_while_the_topics_have_no_partitions() -> None:
    assert _rejoins_at([5, 50, 500], _Consumer(partitions=set())) == 0


def test_other_calls_reach_the_consumer() -> None:
    c = _Consumer(assigned={("cases.routed", 1)})
    assert StaticMember(c).assignment() == {("cases.routed", 1)}
