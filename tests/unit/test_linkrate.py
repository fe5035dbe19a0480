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


def test_the_manifest_counts_the_repeats_and_keeps_its_format_without_them() -> None:
    from producers.manifest import Manifest
    from producers.simulator.repeats import plant_repeats

    sim = simulate(profile(scale=0.05), 3)
    assert "repeats" not in sim.manifest.to_dict()
    planted = plant_repeats(sim, 3, 0.2)
    m = planted.manifest
    assert m.repeats is not None and Manifest.from_json(m.to_json()) == m
    apart = [r.report_id for r in m.repeats.planted if r.expect != "link"]
    assert m.events.total == sim.manifest.events.total + len(m.repeats.planted)
    assert m.cases.total == sim.manifest.cases.total + len(apart)
    ids = {cid for v in m.case_ids.values() for cid in v}
    assert set(apart) <= ids
    assert not {r.report_id for r in m.repeats.planted if r.expect == "link"} & ids
    assert len(planted.events) == len(sim.events) + len(m.repeats.planted)
