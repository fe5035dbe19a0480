"""The incident table through a wave of claims against one employer: µs a claim, by thousands.

``python -m tests.profile_incident_wave [--claims 3000] [--batch 100]``

A factory that stops paying brings thousands of wage claims against one employer within days,
all in one incident window. Feeds them to the incident agent's step in messages of ``--batch``
items (as the intake forwards them), announcing each message's incidents when it is done, and
prints the µs a claim over each thousand, the bytes of the window's table row and of the last
announcement, the collector off. ``--batch 1`` announces every claim.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime

import orjson

from streams.incidents import IncidentConfig
from streams.tablelogic import IncidentStep
from streams.writeback import WriteBack

T0 = 1.65e9  # 2022-04-15, epoch seconds
DAY = 86400.0


def wave(claims: int, batch: int) -> tuple[list[float], int, int, int]:
    """(µs a claim over each thousand, the row's bytes, the last announcement's bytes, the
    announcements) for ``claims`` claims over six days, ``batch`` to a message."""
    rows: dict[str, object] = {}
    now = datetime.fromtimestamp(T0 + 6 * DAY, UTC)
    step = IncidentStep(IncidentConfig(), lambda: now)
    marks: list[float] = []
    last = b""
    announced = 0
    start = time.perf_counter()
    for first in range(0, claims, batch):
        state = WriteBack(rows)
        for i in range(first, min(first + batch, claims)):
            member = {
                "case_id": f"wage-{i:05d}",
                "t": T0 + i * 6 * DAY / claims,
                "people": 1,
                "amount": "3000",
                "street": "haibin",
                "category": "labor",
            }
            step.on_item(state, {"rule_id": "wage_employer", "key": "uscc:A", "member": member})
            if (i + 1) % 1000 == 0:
                now_t = time.perf_counter()
                marks.append((now_t - start) / 1000 * 1e6)
                start = now_t
        for out in step.on_done(state):
            if out.topic == "incidents":
                last = orjson.dumps(out.value)
                announced += 1
        for key, value, _ in state.changes():
            rows[key] = value
    row = orjson.dumps(rows["wage_employer|uscc:A"])
    return marks, len(row), len(last), announced


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    gc.disable()
    marks, row, last, announced = wave(args.claims, args.batch)
    print(
        f"µs a claim, by thousands: {', '.join(f'{m:.0f}' for m in marks)}; "
        f"the row {row:,} bytes, the last announcement {last:,} bytes, {announced} announced"
    )


if __name__ == "__main__":
    main()
