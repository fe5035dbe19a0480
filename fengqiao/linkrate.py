"""The link rate on a simulated year: the year with repeat reports planted (ground truth in
``producers.simulator.repeats``) goes through the intake decisions in event-time order, and the
links made are held against the truth: found, missed, wrong.

In process and without Kafka: the intake processor and the link index are the worker's own
code over dicts. No case is concluded during the year (the mediators are not simulated
here), so every case stays open for its horizon.

    python -m fengqiao.linkrate [--scale 1.0] [--seed 1] [--share 0.1] [--json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from producers.simulator import profile, simulate
from producers.simulator.repeats import RepeatedYear, with_repeats
from streams.intake import IntakeProcessor
from streams.linking import LinkConfig, LinkIndex
from streams.routing import load_router

TOPIC = {
    "dispute": "intake.disputes",
    "petition": "intake.petitions",
    "wage-arrears": "intake.wage-arrears",
    "consultation": "intake.consultations",
}


@dataclass
class LinkRate:
    reports: int = 0  # reports that open or join a case
    cases: int = 0  # cases opened
    repeats: int = 0
    linkable: int = 0  # repeats the truth says must join their case
    found: int = 0  # linkable repeats joined to their own case
    missed: int = 0  # linkable repeats that opened a case of their own
    wrong: int = 0  # links the truth does not name (to another case, or of a first report)
    # repeats that must not link (no identity, past the horizon) and rightly opened a case
    rightly_apart: int = 0
    by_expect: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.linkable if self.linkable else 1.0

    @property
    def precision(self) -> float:
        made = self.found + self.wrong
        return self.found / made if made else 1.0


def measure(year: RepeatedYear, cfg: LinkConfig | None = None) -> LinkRate:
    processor = IntakeProcessor(load_router(), {}, links=LinkIndex({}, cfg or LinkConfig()))
    truth = year.truth
    rate = LinkRate(repeats=len(truth))
    for r in truth.values():
        rate.by_expect[r.expect] = rate.by_expect.get(r.expect, 0) + 1
    rate.linkable = rate.by_expect.get("link", 0)
    for offset, ev in enumerate(year.events):
        raw = json.dumps(ev.envelope, ensure_ascii=False).encode()
        now = ev.time + timedelta(minutes=1)  # received just after it happened
        result = processor.handle(raw, TOPIC[ev.kind], 0, offset, now)
        if result.rejected is not None:
            rate.dead_letters += 1
            continue
        if result.case is None and result.linked is None:
            continue  # a consultation
        rate.reports += 1
        report_id = ev.envelope["id"]
        expected = truth.get(report_id)
        if result.linked is not None:
            if expected is not None and expected.expect == "link":
                if result.linked.case_id == expected.case_id:
                    rate.found += 1
                else:
                    rate.wrong += 1
            else:
                rate.wrong += 1
        else:
            rate.cases += 1
            if expected is not None:
                if expected.expect == "link":
                    rate.missed += 1
                else:
                    rate.rightly_apart += 1
    return rate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = datetime.now()
    sim = simulate(profile(scale=args.scale), args.seed)
    rate = measure(with_repeats(sim, args.seed, args.share))
    out = {
        **asdict(rate),
        "recall": round(rate.recall, 4),
        "precision": round(rate.precision, 4),
        "seconds": round((datetime.now() - started).total_seconds(), 1),
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(
        f"reports {rate.reports}, cases opened {rate.cases}; repeats planted {rate.repeats} "
        f"({rate.by_expect}); links found {rate.found} of {rate.linkable}, missed "
        f"{rate.missed}, wrong {rate.wrong}; repeats rightly kept apart {rate.rightly_apart}; "
        f"recall {rate.recall:.4f}, precision {rate.precision:.4f}; {out['seconds']} s"
    )


if __name__ == "__main__":
    main()
