"""``fengqiao bench --clean``: delete what earlier bench runs left on the broker.

A run deletes its topics and consumer groups when it ends (``fengqiao.admin.delete_run``), but
a run killed before that (``kill -9``, a timeout of the whole process) leaves them behind, and
a broker holding thousands of partitions answers more slowly. This finds the runs from their
names (``<prefix>bench-<run>.…`` topics, ``fengqiao-bench-<run>…`` topics and groups) and
deletes each, except a run whose consumer groups still have members: it may be running. A run
still loading its events has no group yet, so run this while no other bench runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from fengqiao.admin import IDLE_GROUP_STATES, admin_client, delete_run, list_groups, run_groups
from fengqiao.bench import RUN_APP_ID, RUN_TOPIC_PREFIX, run_settings
from fengqiao.settings import Settings

Progress = Callable[[str], None]

_RUN = "[0-9a-f]{8}"


def leftover_runs(topics: Iterable[str], groups: Iterable[str], topic_prefix: str) -> list[str]:
    """The ids of the bench runs that ``topics`` and ``groups`` name, sorted: topics under
    ``<topic_prefix>bench-<run>.``, topics and groups of the app id ``fengqiao-bench-<run>``."""
    prefixed = re.compile(re.escape(f"{topic_prefix}{RUN_TOPIC_PREFIX}") + f"({_RUN})\\.")
    own = re.compile(re.escape(RUN_APP_ID) + f"({_RUN})(?:-|$)")
    runs = set()
    for name in topics:
        if m := prefixed.match(name) or own.match(name):
            runs.add(m.group(1))
    for name in groups:
        if m := own.match(name):
            runs.add(m.group(1))
    return sorted(runs)


def clean_leftovers(base: Settings, progress: Progress) -> tuple[int, int]:
    """Delete the topics and groups of every bench run left on the cluster whose groups have
    no members; returns (runs cleaned, runs left alone as possibly running)."""
    admin = admin_client(base)
    try:
        topics = admin.list_topics()
        listed = list_groups(admin)
    finally:
        admin.close()
    cleaned = busy = 0
    runs = leftover_runs(topics, listed, base.topic_prefix)
    if not runs:
        progress("bench --clean: no earlier bench run left anything on the broker")
    for run in runs:
        s = run_settings(base, run)
        live = [g for g in run_groups(listed, s.app_id) if listed[g] not in IDLE_GROUP_STATES]
        if live:
            busy += 1
            progress(
                f"bench --clean: run {run} left alone: its group {live[0]} still has members "
                "(a run in progress, or one killed less than a session timeout ago)"
            )
            continue
        delete_run(s, who="bench --clean", run=run, progress=progress)
        cleaned += 1
    return cleaned, busy
