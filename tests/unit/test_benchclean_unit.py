"""Which bench runs left something on the broker, from the names of its topics and groups:
what ``fengqiao bench --clean`` deletes. Never the product's topics, another prefix's runs, or
a name that only looks like a run."""

from __future__ import annotations

from fengqiao.benchclean import leftover_runs

TOPICS = [
    # the product's own and its worker's
    "intake.disputes",
    "cases.routed",
    "fengqiao-seen-changelog",
    "__consumer_offsets",
    # run 1a2b3c4d: prefixed outputs and relay, its workers' changelogs
    "bench-1a2b3c4d.intake.disputes",
    "bench-1a2b3c4d.relay-in-9f8e7d6c",
    "fengqiao-bench-1a2b3c4d-seen-changelog",
    # run 5e6f7a8b: only a changelog left
    "fengqiao-bench-5e6f7a8b-risk-changelog",
    # not runs: no separator, a short id, upper case, another tool's name
    "bench-1a2b3c4dintake.disputes",
    "bench-1a2b3c4.intake.disputes",
    "bench-1A2B3C4D.intake.disputes",
    "mybench-0a0b0c0d.intake.disputes",
]
GROUPS = [
    "fengqiao",
    "fengqiao-sink",
    "fengqiao-bench-00ff00ff",  # run 00ff00ff: only its workers' group left
    "fengqiao-bench-1a2b3c4d-sink",
    "fengqiao-bench-1a2b3c4dx",  # no separator: not a run's
    "relay-deadbeef",  # an old relay group, named before runs named it under their app id
]


def test_the_runs_are_those_their_topics_and_groups_name() -> None:
    assert leftover_runs(TOPICS, GROUPS, "") == ["00ff00ff", "1a2b3c4d", "5e6f7a8b"]


def test_under_a_base_prefix_only_that_prefixs_runs_are_found_by_prefix() -> None:
    topics = ["longwan.bench-0a0b0c0d.intake.disputes", "bench-1a2b3c4d.intake.disputes"]
    assert leftover_runs(topics, [], "longwan.") == ["0a0b0c0d"]
    assert leftover_runs(topics, [], "") == ["1a2b3c4d"]


def test_a_broker_without_runs_gives_none() -> None:
    assert leftover_runs(TOPICS[:4], GROUPS[:2], "") == []
