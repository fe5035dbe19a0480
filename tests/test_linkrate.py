"""The link rate on a simulated year with planted repeat reports, against its ground truth."""

from __future__ import annotations

from fengqiao.linkrate import measure
from producers.simulator import profile, simulate
from producers.simulator.repeats import with_repeats


def test_repeats_are_planted_reproducibly_with_their_truth() -> None:
    sim = simulate(profile(scale=0.05), 3)
    a, b = with_repeats(sim, 3, share=0.2), with_repeats(sim, 3, share=0.2)
    assert [e.envelope for e in a.events] == [e.envelope for e in b.events]
    assert len(a.events) == len(sim.events) + len(a.repeats)
    assert {r.expect for r in a.repeats} == {"link", "no_identity", "past_horizon"}
    assert {r.written for r in a.repeats if r.expect == "link"} >= {
        "exact",
        "spaced",
        "dashed",
        "plus86",
        "fullwidth",
    }
    times = [e.time for e in a.events]
    assert times == sorted(times)


def test_every_linkable_repeat_joins_its_case_and_nothing_else_links() -> None:
    sim = simulate(profile(scale=0.05), 3)
    year = with_repeats(sim, 3, share=0.2)
    rate = measure(year)
    assert rate.dead_letters == 0
    assert rate.linkable == sum(1 for r in year.repeats if r.expect == "link") > 0
    assert (rate.found, rate.missed, rate.wrong) == (rate.linkable, 0, 0)
    assert rate.rightly_apart == rate.repeats - rate.linkable
    assert rate.cases == rate.reports - rate.found
