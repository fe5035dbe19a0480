"""The link index through a wave of reports on one matter: µs a decision, by thousands.

``python -m tests.profile_link_wave [--reports 3000]``

A group petition brings hundreds of reports sharing one weak key (the matter) within days,
each with an applicant phone of its own: every one opens a case related to the earliest ten
open on that matter. Prints the µs a decision over each thousand reports, the collector off.
A decision that read every open case of the matter grew with the wave (254, 969 and 1,955 µs
over the first three thousand); one that reads them in opened order stays flat.
"""

from __future__ import annotations

import argparse
import gc
import time

from streams.linking import LinkConfig, LinkIndex
from streams.linkkeys import LinkKeys

T0 = 1.65e9  # 2022-04-15, epoch seconds
DAY = 86400.0


def wave(reports: int, span_days: float = 3.0) -> list[float]:
    """µs a decision over each thousand reports of a wave spread over ``span_days``."""
    rows: dict[str, object] = {}
    index = LinkIndex(rows, LinkConfig())
    step = span_days * DAY / reports
    marks: list[float] = []
    start = time.perf_counter()
    for i in range(reports):
        keys = LinkKeys((f"applicant_phone:{i}",), ("matter:one",))
        index.decide(f"p{i}", "petition", keys, T0 + i * step, "hotline", 0)
        for key, row in index.take():
            rows[key] = row
        if (i + 1) % 1000 == 0:
            now = time.perf_counter()
            marks.append((now - start) / 1000 * 1e6)
            start = now
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=3000)
    args = ap.parse_args()
    gc.disable()
    marks = wave(args.reports)
    print("µs a decision, by thousands of the wave:", ", ".join(f"{m:.0f}" for m in marks))


if __name__ == "__main__":
    main()
