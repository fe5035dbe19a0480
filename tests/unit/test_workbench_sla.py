"""The SLA clock on each inbox row: which deadline runs, time left, and its colour."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.web.sla import case_clock, colour, human
from tests.casetools import T0

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(0), "green"),
        (timedelta(hours=19, minutes=11), "green"),  # 79.9 % of a day
        (timedelta(hours=19, minutes=12), "amber"),  # exactly 80 %
        (timedelta(hours=23, minutes=59), "amber"),
        (DAY, "amber"),  # due now: not yet breached
        (DAY + timedelta(seconds=1), "red"),
        (30 * DAY, "red"),
    ],
)
def test_colour_turns_amber_at_80_percent_and_red_once_breached(
    elapsed: timedelta, expected: str
) -> None:
    assert colour(T0, T0 + DAY, T0 + elapsed, 0.8) == expected


def test_a_new_case_runs_the_accept_clock() -> None:
    c = case_clock("new", T0, DAY, T0 + 30 * DAY, T0 + timedelta(hours=3))
    assert c.clock == "accept" and c.due == T0 + DAY and c.left == timedelta(hours=21)
    assert c.colour == "green"


def test_an_accepted_case_runs_the_conclude_clock() -> None:
    c = case_clock("accepted", T0, DAY, T0 + 30 * DAY, T0 + 25 * DAY)
    assert c.clock == "conclude" and c.due == T0 + 30 * DAY and c.colour == "amber"
    late = case_clock("accepted", T0, DAY, T0 + 30 * DAY, T0 + 31 * DAY)
    assert late.colour == "red" and late.left == -DAY


def test_a_kind_without_an_accept_period_runs_the_conclude_clock_from_the_start() -> None:
    c = case_clock("new", T0, None, T0 + 10 * DAY, T0 + DAY)
    assert c.clock == "conclude" and c.colour == "green"


@pytest.mark.parametrize("status", ["concluded", "closed"])
def test_no_clock_runs_once_the_case_is_concluded(status: str) -> None:
    c = case_clock(status, T0, DAY, T0 + DAY, T0 + 40 * DAY)
    assert c.clock is None and c.colour == "none" and c.left is None


def test_colour_uses_the_configured_warning_fraction() -> None:
    assert colour(T0, T0 + DAY, T0 + timedelta(hours=13), 0.5) == "amber"
    assert colour(T0, T0 + DAY, T0 + timedelta(hours=11), 0.5) == "green"


@pytest.mark.parametrize(
    ("left", "zh", "en"),
    [
        (timedelta(days=3, hours=4), "剩 3 天 4 小时", "3 d 4 h left"),
        (timedelta(days=2), "剩 2 天", "2 d left"),
        (timedelta(hours=5, minutes=7), "剩 5 小时 7 分", "5 h 7 min left"),
        (timedelta(seconds=20), "剩 1 分钟", "1 min left"),
        (-timedelta(hours=2), "超时 2 小时", "2 h overdue"),
        (-timedelta(days=1, hours=1), "超时 1 天 1 小时", "1 d 1 h overdue"),
    ],
)
def test_time_left_reads_naturally(left: timedelta, zh: str, en: str) -> None:
    assert human(left, "zh") == zh
    assert human(left, "en") == en
