"""Which topics and consumer groups belong to a bench or profiling run: what ``delete_run``
deletes when the run ends. Exactly the run's prefix and its workers' app id; never another run's
or the product's topics and groups."""

from __future__ import annotations

import pytest

from fengqiao.admin import run_groups, run_topics

RUN = "bench-1a2b3c4d."
APP = "fengqiao-bench-1a2b3c4d"

# what one bench run leaves on a broker (prefix "" as by default)
MINE = [
    f"{RUN}intake.disputes",
    f"{RUN}intake.wage-arrears",
    f"{RUN}cases.routed",
    f"{RUN}internal.risk-inputs",
    f"{RUN}relay-in-9f8e7d6c",
    f"{RUN}relay-out-9f8e7d6c",
    f"{APP}-seen-changelog",
    f"{APP}-risk-changelog",
    f"{APP}-__assignor-__leader",
]

OTHERS = [
    # the product's own topics and its worker's changelogs
    "intake.disputes",
    "cases.routed",
    "internal.risk-inputs",
    "fengqiao-seen-changelog",
    "fengqiao-__assignor-__leader",
    "__consumer_offsets",
    # other runs: a different id, one that extends this run's id, one this id extends
    "bench-5e6f7a8b.intake.disputes",
    "fengqiao-bench-5e6f7a8b-seen-changelog",
    "bench-1a2b3c4d9.intake.disputes",
    "fengqiao-bench-1a2b3c4d9-seen-changelog",
    "bench-1a2b3c4.intake.disputes",
    "fengqiao-bench-1a2b3c4-seen-changelog",
    # a profiling run with the same id, and the bench's bare names without their separator
    "prof-1a2b3c4d.intake.disputes",
    "fengqiao-prof-1a2b3c4d-seen-changelog",
    "bench-1a2b3c4dintake.disputes",
    "fengqiao-bench-1a2b3c4dseen-changelog",
]


def test_a_run_takes_exactly_its_prefix_and_its_workers_topics() -> None:
    assert run_topics(MINE + OTHERS, RUN, APP) == sorted(MINE)


def test_under_a_base_prefix_the_run_leaves_the_products_topics_under_that_prefix() -> None:
    base = "longwan."
    mine = [f"{base}{RUN}intake.disputes", f"{base}{RUN}relay-in-9f8e7d6c", f"{APP}-x-changelog"]
    product = [f"{base}intake.disputes", f"{base}cases.routed", "longwan.bench-5e6f7a8b.incidents"]
    assert run_topics(product + mine + OTHERS, f"{base}{RUN}", APP) == sorted(mine)


def test_nothing_of_the_run_on_the_broker_takes_nothing() -> None:
    assert run_topics(OTHERS, RUN, APP) == []
    assert run_topics([], RUN, APP) == []


@pytest.mark.parametrize("prefix", ["", "bench-1a2b3c4d", "longwan"])
def test_a_prefix_that_could_take_other_topics_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError) as err:
        run_topics(MINE + OTHERS, prefix, APP)
    assert "topic_prefix" in str(err.value)


def test_an_empty_app_id_is_refused() -> None:
    # "-x" topics are nobody's in particular; an empty app id must not make them the run's
    with pytest.raises(ValueError) as err:
        run_topics(MINE + OTHERS + ["-x-changelog"], RUN, "")
    assert "app_id" in str(err.value)


# the groups a bench run leaves: its workers, its sink, its relay
MY_GROUPS = [APP, f"{APP}-sink", f"{APP}-relay"]

OTHER_GROUPS = [
    # the product's worker and sink, an operator's console group
    "fengqiao",
    "fengqiao-sink",
    "console-consumer-1234",
    # other runs: a different id, one that extends this run's id, one this id extends
    "fengqiao-bench-5e6f7a8b",
    "fengqiao-bench-5e6f7a8b-sink",
    "fengqiao-bench-1a2b3c4d9",
    "fengqiao-bench-1a2b3c4d9-sink",
    "fengqiao-bench-1a2b3c4",
    # a group named like the run without the separator
    "fengqiao-bench-1a2b3c4dsink",
]


def test_a_run_takes_exactly_its_workers_group_and_its_own_groups() -> None:
    assert run_groups(MY_GROUPS + OTHER_GROUPS, APP) == sorted(MY_GROUPS)
    assert run_groups(OTHER_GROUPS, APP) == []


def test_an_empty_app_id_takes_no_group() -> None:
    # "-sink" is nobody's in particular; an empty app id must not make every group the run's
    with pytest.raises(ValueError) as err:
        run_groups(MY_GROUPS + OTHER_GROUPS + ["-sink"], "")
    assert "app_id" in str(err.value)
