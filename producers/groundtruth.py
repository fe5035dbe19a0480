"""Compare what the pipeline counted with a simulation's manifest and the report's figures.

Pure code: ``Observed`` is filled by whoever reads the topics back (``fengqiao report`` does it
from Kafka); ``compare`` turns manifest + observation into rows a person can read, each
``ok``, ``MISMATCH`` or ``info``. Only ground-truth checks can fail; the published figures are
context (the simulator is calibrated on them, the pipeline cannot be held to them).
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, get_args

from producers.manifest import Manifest
from schemas.events import INTAKE_KINDS, CaseKind

OK, MISMATCH, INFO = "ok", "MISMATCH", "info"
CASE_KINDS: tuple[str, ...] = get_args(CaseKind)
INTAKE_TOPIC_KIND = {topic: kind for kind, (_type, topic) in INTAKE_KINDS.items()}
INCIDENT_RULES = (
    "wage_employer",
    "dispute_collective",
    "dispute_respondent",
    "petition_collective",
    "petition_matter",
)


def run_pattern(run: str) -> re.Pattern[str]:
    """Event ids of one run, and only that run (``lw22-s7`` must not match ``lw22-s7-x01``)."""
    return re.compile(rf"^{re.escape(run)}-[dpwc]\d{{5}}$")


@dataclass
class Observed:
    """What the pipeline produced for one run, read back from its output topics."""

    run: str
    intake: Counter[str] = field(default_factory=Counter)  # SDK kind -> events of the run
    routed: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> case id -> msgs
    routed_other: int = 0  # routed messages of other runs or producers
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> latest data
    escalations: Counter[str] = field(default_factory=Counter)  # level -> count (run's)
    dead_letters: int = 0  # of the run
    dead_letters_other: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # concluded outcome -> count
    dispute_outcomes: Counter[str] = field(default_factory=Counter)  # the same, disputes only
    accepted: int = 0
    consultations_counted: int | None = None  # from the worker, when it answers
    incident_agent: bool = True  # False: no incident detection in this build yet
    links: dict[str, str] = field(default_factory=dict)  # linked report id -> the case it joined

    def __post_init__(self) -> None:
        self._pattern = run_pattern(self.run)
        self._case_ids: set[str] = set()
        self._incident_ids: set[str] = set()

    def mine(self, event_id: str | None) -> bool:
        return bool(event_id) and bool(self._pattern.match(event_id or ""))

    # --- feeding, one envelope at a time -----------------------------------------------------

    def add_intake(self, topic: str, env: dict[str, Any]) -> None:
        if self.mine(env.get("id")):
            self.intake[INTAKE_TOPIC_KIND.get(topic, topic)] += 1

    def add_routed(self, env: dict[str, Any]) -> None:
        data = env.get("data", {})
        case_id = data.get("case_id")
        if not self.mine(case_id):
            self.routed_other += 1
            return
        self.routed.setdefault(data.get("kind", "?"), Counter())[case_id] += 1
        self._case_ids.add(case_id)

    def add_incident(self, env: dict[str, Any]) -> None:
        data = env.get("data", {})
        if any(self.mine(c) for c in data.get("case_ids", [])):
            # The latest message of an incident is its current state (same key, same partition).
            self.incidents[data["incident_id"]] = data
            self._incident_ids.add(data["incident_id"])

    def add_escalation(self, env: dict[str, Any]) -> None:
        data = env.get("data", {})
        if data.get("incident_id") in self._incident_ids or self.mine(data.get("case_id")):
            self.escalations[data.get("level", "?")] += 1

    def add_dead_letter(self, env: dict[str, Any]) -> None:
        try:
            original = json.loads(base64.b64decode(env["data"]["original_b64"]))
            event_id = original.get("id") if isinstance(original, dict) else None
        except (KeyError, ValueError, TypeError):
            event_id = None
        if self.mine(event_id):
            self.dead_letters += 1
        else:
            self.dead_letters_other += 1

    def add_lifecycle(self, env: dict[str, Any]) -> None:
        data = env.get("data", {})
        if not self.mine(data.get("case_id")):
            return
        if env.get("type") == "case.concluded.v1":
            self.outcomes[data.get("outcome", "?")] += 1
            if data["case_id"][len(self.run) + 1] == "d":
                self.dispute_outcomes[data.get("outcome", "?")] += 1
        elif env.get("type") == "case.accepted.v1":
            self.accepted += 1
        elif env.get("type") == "case.linked.v1" and not data.get("actor"):
            self.links[str(data.get("report_id"))] = data["case_id"]

    def routed_total(self) -> int:
        return sum(len(c) for c in self.routed.values())


@dataclass(frozen=True)
class Row:
    check: str
    published: str
    truth: str
    counted: str
    status: str


def _n(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _row(check: str, published: Any, truth: Any, counted: Any, status: str | None = None) -> Row:
    if status is None:
        status = OK if truth == counted else MISMATCH
    return Row(check, _n(published), _n(truth), _n(counted), status)


def compare(manifest: Manifest, obs: Observed) -> list[Row]:
    """Rows of the report; any MISMATCH means the pipeline disagrees with the ground truth."""
    pub = manifest.published_figures
    full = manifest.scale == 1
    rows: list[Row] = []
    by_kind = manifest.cases.by_kind
    events_by_kind = manifest.events.by_kind
    labels = {"dispute": "disputes", "petition": "petitions", "wage_arrears": "wage claims"}
    for kind in CASE_KINDS:
        counted = len(obs.routed.get(kind, {}))
        published = pub.get("disputes") if kind == "dispute" and full else None
        rows.append(_row(f"{labels[kind]} routed", published, by_kind.get(kind, 0), counted))
    planted = {cid for ids in manifest.case_ids.values() for cid in ids}
    seen = {cid for c in obs.routed.values() for cid in c}
    rows.append(_row("planted cases never routed", None, 0, len(planted - seen)))
    rows.append(_row("routed cases not planted", None, 0, len(seen - planted)))
    dupes = sum(n - 1 for c in obs.routed.values() for n in c.values() if n > 1)
    rows.append(
        _row("repeated routing messages (sinks dedupe)", None, 0, dupes, OK if not dupes else INFO)
    )
    for kind, n in sorted(events_by_kind.items()):
        rows.append(_row(f"{kind} events on intake", None, n, obs.intake.get(kind, 0)))
    rows.append(
        _row(
            "consultations counted by the worker",
            pub.get("consultations") if full else None,
            manifest.consultations,
            obs.consultations_counted,
            INFO,
        )
    )
    rows.append(_row("dead letters", None, 0, obs.dead_letters))

    inc = manifest.incidents
    by_rule = Counter(i.get("rule_id", "?") for i in obs.incidents.values())
    people = sum(
        int(i.get("people", 0))
        for i in obs.incidents.values()
        if i.get("rule_id") == "wage_employer"
    )
    status = None if obs.incident_agent else INFO
    rows.append(
        _row(
            "group wage incidents",
            pub.get("group_wage_incidents") if full else None,
            inc.group_wage,
            by_rule.get("wage_employer", 0),
            status,
        )
    )
    rows.append(
        _row(
            "workers in group wage incidents",
            pub.get("group_wage_workers") if full else None,
            inc.group_wage_workers,
            people,
            status,
        )
    )
    exact = 0
    for g in inc.planted:
        claims = set(g.case_ids)
        hits = [i for i in obs.incidents.values() if claims & set(i.get("case_ids", []))]
        if (
            len(hits) == 1
            and set(hits[0]["case_ids"]) == claims
            and int(hits[0].get("people", -1)) == g.workers
            and hits[0].get("rule_id") == "wage_employer"
        ):
            exact += 1
    rows.append(_row("planted incidents found exactly once", None, len(inc.planted), exact, status))
    for rule in INCIDENT_RULES:
        if rule == "wage_employer":
            continue
        expected = inc.expected_by_rule.get(rule, 0)
        rows.append(_row(f"incidents {rule}", None, expected, by_rule.get(rule, 0)))
    unknown = sum(n for r, n in by_rule.items() if r not in INCIDENT_RULES)
    if unknown:
        rows.append(_row("incidents of other rules", None, 0, unknown))
    rows.append(
        _row(
            "escalations (district / city)",
            None,
            "/".join(
                str(sum(1 for g in inc.planted if g.escalation == lvl))
                for lvl in ("district", "city")
            )
            + " from incidents",
            f"{obs.escalations.get('district', 0)}/{obs.escalations.get('city', 0)}",
            INFO,
        )
    )

    disputes = manifest.disputes
    rows.append(
        _row(
            "amount at stake in disputes (yuan)",
            f"≈{int(pub['dispute_amount_yuan']):,}" if full and pub.get("dispute_amount_yuan")
            else None,
            f"{float(disputes.amount_yuan):,.0f}",
            None,
            INFO,
        )
    )  # fmt: skip
    concluded = sum(obs.dispute_outcomes.values())
    settled = (
        f"{100 * obs.dispute_outcomes.get('agreement', 0) / concluded:.2f} % of {concluded:,}"
        if concluded
        else None
    )
    rows.append(
        _row(
            "disputes settled by agreement",
            f"{pub.get('settled_pct')} %" if full else None,
            f"{disputes.settled_pct} %",
            settled,
            INFO,
        )
    )
    if manifest.mediators_ran:
        # Simulated mediators ran: every case is concluded, as planned.
        rows.append(_row("cases concluded", None, manifest.cases.total, sum(obs.outcomes.values())))
        rows.append(
            _row(
                "disputes without agreement",
                None,
                len(disputes.no_agreement_case_ids),
                obs.outcomes.get("no_agreement", 0),
            )
        )
    rows.extend(repeat_rows(manifest, obs))
    rows.append(
        _row(
            "legal-aid cases",
            pub.get("legal_aid_cases") if full else None,
            "not modelled",
            None,
            INFO,
        )
    )
    return rows


def repeat_rows(manifest: Manifest, obs: Observed) -> list[Row]:
    """Repeat reports planted in the year (one matter reported again through another channel):
    which joined their case, which were missed, which were linked wrongly."""
    if manifest.repeats is None:
        return []
    truth = {r.report_id: r for r in manifest.repeats.planted}
    linkable = [r for r in truth.values() if r.expect == "link"]
    found = sum(1 for r in linkable if obs.links.get(r.report_id) == r.case_id)
    wrong = sum(
        1
        for report, case in obs.links.items()
        if truth.get(report) is None
        or truth[report].expect != "link"
        or truth[report].case_id != case
    )
    apart = [r for r in truth.values() if r.expect != "link"]
    seen = {cid for c in obs.routed.values() for cid in c}
    return [
        _row("repeat reports linked to their case", None, len(linkable), found),
        _row("links the truth does not name", None, 0, wrong),
        _row(
            "repeats with no identity or past the horizon, routed as cases",
            None,
            len(apart),
            sum(1 for r in apart if r.report_id in seen),
        ),
    ]


def ok(rows: list[Row]) -> bool:
    return all(r.status != MISMATCH for r in rows)
