"""Simulated mediators: they work each committee's inbox through the inbox API, as people do.

Optional and separate from the event generator: ``fengqiao simulate --mediators URL`` runs
them beside the publisher. ``MediatorPlan`` (pure) decides when a case is accepted and
concluded, in simulated time, and with which outcome (the manifest names the disputes that
end without agreement); ``Mediators`` polls ``GET /cases`` per committee with that
committee's bearer token and posts ``accept`` / ``conclude``. A 409 (the case moved on, or
the store has not caught up) is not an error: the case is simply looked at again later.
``CommitteeTokens`` learns the committees from ``cases.routed`` and gets each a token from
the ``mint`` it is given (the composition root decides how tokens are issued).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from producers.manifest import Manifest

log = logging.getLogger("fengqiao.mediators")

# Simulated delays (assumption): acceptance within the 1-day SLA of disputes and wage claims;
# conclusion well inside the 30 / 15 / 60-day SLAs; a spread so cases do not conclude in step.
ACCEPT_AFTER = timedelta(hours=3)
CONCLUDE_AFTER = {
    "dispute": timedelta(days=6),
    "wage_arrears": timedelta(days=4),
    "petition": timedelta(days=20),
}
SPREAD = 0.5  # +- half of the delay, fixed per case by a hash of its id


@dataclass(frozen=True)
class PlannedCase:
    case_id: str
    kind: str
    time: datetime
    amount_yuan: str | None


@dataclass
class MediatorPlan:
    """When and how each planted case is handled."""

    cases: dict[str, PlannedCase]
    no_agreement: frozenset[str]

    @classmethod
    def from_simulation(cls, events: Iterable[Any], manifest: Manifest) -> MediatorPlan:
        kinds = {"dispute": "dispute", "petition": "petition", "wage-arrears": "wage_arrears"}
        cases = {
            e.envelope["id"]: PlannedCase(
                e.envelope["id"], kinds[e.kind], e.time, e.envelope["data"].get("amount_yuan")
            )
            for e in events
            if e.kind in kinds
        }
        return cls(cases, frozenset(manifest.disputes.no_agreement_case_ids))

    @staticmethod
    def _jitter(case_id: str) -> float:
        h = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:4], "big")
        return 1 + SPREAD * (2 * h / 0xFFFFFFFF - 1)

    def accept_due(self, case_id: str) -> datetime | None:
        c = self.cases.get(case_id)
        return None if c is None else c.time + ACCEPT_AFTER * self._jitter(case_id)

    def conclude_due(self, case_id: str) -> datetime | None:
        c = self.cases.get(case_id)
        if c is None:
            return None
        return c.time + CONCLUDE_AFTER[c.kind] * self._jitter(case_id[::-1])

    def conclusion(self, case_id: str) -> dict[str, Any]:
        """The body of ``POST /cases/{id}/conclude``."""
        c = self.cases[case_id]
        if case_id in self.no_agreement:
            return {"outcome": "no_agreement"}
        body: dict[str, Any] = {"outcome": "agreement"}
        if c.amount_yuan is not None and c.kind != "petition":
            body["agreed_amount_yuan"] = c.amount_yuan
        return body


@dataclass
class MediatorStats:
    accepted: int = 0
    concluded: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    errors: int = 0
    committees: int = 0


class Mediators:
    """Polls every committee's inbox and acts when the plan says a case is due.

    ``sim_now`` returns the simulated present (the publisher's cursor), or None once the
    year is published: then everything still open is due."""

    def __init__(
        self,
        client: httpx.Client,  # base_url set to the inbox API
        plan: MediatorPlan,
        tokens: Callable[[], dict[str, str]],
        sim_now: Callable[[], datetime | None],
        page: int = 200,
    ) -> None:
        self.client, self.plan, self.tokens, self.sim_now = client, plan, tokens, sim_now
        self.page = page
        self.grace_s = 600.0  # how long to keep working once ``stop`` is set
        self.stats = MediatorStats()
        self.done: set[str] = set()

    def _list(self, token: str, status: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            r = self.client.get(
                "/cases",
                params={"status": status, "limit": self.page, "offset": offset},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            body = r.json()
            items += body["items"]
            offset += len(body["items"])
            if not body["items"] or offset >= body["total"]:
                return items

    def _post(self, token: str, case_id: str, action: str, body: dict[str, Any] | None) -> bool:
        r = self.client.post(
            f"/cases/{case_id}/{action}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code == 202:
            return True
        if r.status_code == 409:
            self.stats.conflicts += 1
        else:
            self.stats.errors += 1
            log.warning("%s of a case answered %s", action, r.status_code)
        return False

    def step(self) -> int:
        """One pass over every inbox; returns the number of actions taken."""
        now = self.sim_now()
        acted = 0
        tokens = self.tokens()
        self.stats.committees = len(tokens)
        for _committee, token in sorted(tokens.items()):
            for item in self._list(token, "new"):
                due = self.plan.accept_due(item["case_id"])
                ready = due is not None and (now is None or due <= now)
                if ready and self._post(token, item["case_id"], "accept", None):
                    self.stats.accepted += 1
                    acted += 1
            for item in self._list(token, "accepted"):
                cid = item["case_id"]
                due = self.plan.conclude_due(cid)
                if due is not None and (now is None or due <= now):
                    body = self.plan.conclusion(cid)
                    if self._post(token, cid, "conclude", body):
                        self.stats.concluded[body["outcome"]] += 1
                        self.done.add(cid)
                        acted += 1
        return acted

    def finished(self) -> bool:
        return self.done >= set(self.plan.cases)

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        """Step until every planted case is concluded, or ``stop`` is set and ``grace_s``
        has passed since (the store may still be catching up)."""
        stopped_at: float | None = None
        while not self.finished():
            try:
                acted = self.step()
            except Exception as err:  # the API restarting must not end the simulation
                self.stats.errors += 1
                log.warning("inbox API: %s", err)
                acted = 0
            if stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > self.grace_s:
                    return
            if not acted:
                time.sleep(poll_s)


@dataclass(frozen=True)
class RoutedFeed:
    """Where the routing decisions are read: the physical ``cases.routed`` topic and how to
    reach its cluster (security options in kafka-python's spelling, kept out of ``repr``)."""

    topic: str
    bootstrap_servers: tuple[str, ...]
    client_config: Mapping[str, object] = field(default_factory=dict, repr=False)


class CommitteeTokens:
    """Tokens for the committees that received cases of this run: read from a JSON file
    (``{"committee_id": "token"}``), or minted with ``mint`` (committee id -> bearer token)
    for each committee seen on ``cases.routed``."""

    def __init__(
        self,
        feed: RoutedFeed,
        run_ids: Callable[[str], bool],
        mint: Callable[[str], str],
        file: Path | None = None,
    ) -> None:
        self.feed, self.mine, self.mint, self.file = feed, run_ids, mint, file
        self.tokens: dict[str, str] = {}
        self._consumer: Any = None

    def __call__(self) -> dict[str, str]:
        if self.file is not None:
            self.tokens = dict(json.loads(Path(self.file).read_text()))
            return self.tokens
        for committee in self._new_committees():
            self.tokens[committee] = self.mint(committee)
        return self.tokens

    def _new_committees(self) -> set[str]:
        from kafka import KafkaConsumer

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                self.feed.topic,
                bootstrap_servers=list(self.feed.bootstrap_servers),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                group_id=None,
                client_id="fengqiao-mediators",
                **self.feed.client_config,
            )
        found: set[str] = set()
        for msgs in self._consumer.poll(timeout_ms=500, max_records=5000).values():
            for msg in msgs:
                try:
                    data = json.loads(msg.value)["data"]
                except (ValueError, KeyError, TypeError):
                    continue
                if self.mine(data.get("case_id", "")) and data["committee_id"] not in self.tokens:
                    found.add(data["committee_id"])
        return found

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
