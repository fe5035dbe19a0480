"""The bench's CPU reading: a process's own CPU seconds from /proc, None for one that is gone,
and the CPU between two readings in cores."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from fengqiao.bench import process_cpu_s


def test_a_process_cpu_grows_with_its_work_and_a_gone_one_reads_none() -> None:
    before = process_cpu_s(os.getpid())
    assert before is not None
    end = time.process_time() + 0.3
    while time.process_time() < end:  # burn 0.3 s of CPU
        pass
    after = process_cpu_s(os.getpid())
    assert after is not None and after - before >= 0.2
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert process_cpu_s(proc.pid) is None  # reaped: no /proc entry


def test_cpu_between_two_readings_is_given_in_cores_and_zero_when_one_failed() -> None:
    from fengqiao.bench import cores

    assert cores(1.0, 1.5, 2.0) == 0.25
    assert cores(10.0, 13.0, 2.0) == 1.5  # two cores' worth, from two processes together
    assert cores(None, 1.5, 2.0) == 0.0 and cores(1.0, None, 2.0) == 0.0


def test_cpu_per_event_is_the_first_reading_in_microseconds_and_zero_without_one() -> None:
    from fengqiao.bench import per_event_us

    assert per_event_us([0.6, 9.0], 30_000) == 20.0
    assert per_event_us([], 30_000) == 0.0
