"""A synthetic year of Longwan district, calibrated on the justice bureau's 2022 report.

Pure generation, no Kafka: ``simulate(profile, seed)`` returns every intake event of the year
in event-time order together with the ground-truth manifest of what was planted. The CLI
(``fengqiao simulate``) publishes the events; ``fengqiao report`` compares the pipeline's
counts with the manifest. Every figure that does not come from the report is an assumption,
written down here and in ``producers/profiles/LONGWAN-2022.md``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from schemas.reference.keys import org_key
from schemas.validators import USCC_CHARS, credit_code_check_char

GENERATOR_VERSION = 1
CST = timezone(timedelta(hours=8), "Asia/Shanghai")  # China has had no DST since 1991

# --- what the report publishes (2022年全区司法行政工作总结) ---------------------------------
# "全年成功调处纠纷8418件,金额近3.92亿元,调解成功率99.96%;解答群众来电来访法律咨询1.3万余人次,
#  办理法律援助案件1014件 … 参与处置群体性讨薪案件14件187人次"
REPORT_2022: dict[str, Any] = {
    "disputes": 8418,
    "dispute_amount_yuan": Decimal("392000000"),  # "近3.92亿元": nearly 392 million
    "settled_pct": Decimal("99.96"),
    "consultations": 13000,  # "1.3万余人次": 13,000 and more
    "legal_aid_cases": 1014,
    "group_wage_incidents": 14,
    "group_wage_workers": 187,
}

# --- assumptions beyond the report (see LONGWAN-2022.md for the reasoning) ------------------
# Relative weight of each street: a rough population proxy (Yongzhong, the district seat, and
# the industrial streets along the coast are the largest). Assumption.
STREET_WEIGHTS: dict[str, float] = {
    "yongzhong": 16,
    "puzhou": 11,
    "haibin": 12,
    "yongxing": 10,
    "haicheng": 9,
    "zhuangyuan": 10,
    "yaoxi": 7,
    "shacheng": 8,
    "tianhe": 6,
    "xinghai": 11,
}
# Share of mediated disputes per category (national people's-mediation statistics put
# neighbourhood + family at about 40 %; Longwan is industrial, so labour and contract weigh
# more). Assumption.
DISPUTE_CATEGORY_WEIGHTS: dict[str, float] = {
    "neighbourhood": 24,
    "family": 13,
    "property": 8,
    "land": 3,
    "labor": 14,
    "medical": 3,
    "traffic": 11,
    "consumer": 7,
    "contract": 9,
    "construction": 5,
    "other": 3,
}
# Median amount at stake per category (yuan) and the share of disputes with no amount.
# Drawn log-normally (sigma 1.2), then scaled so that the year sums to the report's total.
DISPUTE_AMOUNT: dict[str, tuple[float, float]] = {
    "neighbourhood": (3_000, 0.45),
    "family": (20_000, 0.40),
    "property": (15_000, 0.20),
    "land": (50_000, 0.20),
    "labor": (25_000, 0.05),
    "medical": (80_000, 0.05),
    "traffic": (40_000, 0.05),
    "consumer": (5_000, 0.10),
    "contract": (60_000, 0.05),
    "construction": (90_000, 0.05),
    "other": (10_000, 0.40),
}
PETITION_CATEGORY_WEIGHTS: dict[str, float] = {
    "land": 14,
    "housing": 20,
    "labor": 16,
    "social_security": 12,
    "environment": 12,
    "law_enforcement": 10,
    "medical": 6,
    "other": 10,
}
PETITION_AGENCIES: dict[str, tuple[str, ...]] = {
    "land": ("区自然资源和规划分局", "街道办事处", "区农业农村局"),
    "housing": ("区住房和城乡建设局", "街道办事处", "区综合行政执法局"),
    "labor": ("区人力资源和社会保障局", "街道办事处"),
    "social_security": ("区人力资源和社会保障局", "区医疗保障局", "区民政局"),
    "environment": ("市生态环境局龙湾分局", "区综合行政执法局", "街道办事处"),
    "law_enforcement": ("公安分局", "区综合行政执法局", "区市场监督管理局"),
    "medical": ("区卫生健康局", "区医疗保障局"),
    "other": ("区政府办公室", "街道办事处", "区信访局"),
}
CONSULTATION_CATEGORY_WEIGHTS: dict[str, float] = {
    "family": 16,
    "labor": 18,
    "contract": 10,
    "property": 7,
    "neighbourhood": 7,
    "traffic": 7,
    "consumer": 6,
    "housing": 6,
    "land": 3,
    "social_security": 5,
    "legal_aid": 8,
    "medical": 2,
    "other": 5,
}
# Channel mix per kind. Assumption: disputes mostly come through street desks and referrals
# (police, court, 110 linkage); consultations are calls to 12348 and visits.
CHANNELS: dict[str, dict[str, float]] = {
    "dispute": {"walkin": 45, "referral": 22, "hotline": 15, "miniapp": 10, "visit": 8},
    "petition": {"visit": 45, "letter": 20, "web": 20, "hotline": 15},
    "wage-arrears": {"hotline": 40, "walkin": 35, "miniapp": 15, "referral": 10},
    "consultation": {"hotline": 60, "walkin": 30, "miniapp": 10},
}
OFFICE_CHANNELS = {"walkin", "visit", "referral", "letter"}
# Hours of the day (local time). Desks: 08:30-17:00 with a lunch dip; lines and apps: from
# morning to late evening. Assumption.
HOURS_OFFICE = [0, 0, 0, 0, 0, 0, 0, 1, 8, 12, 12, 7, 2, 6, 10, 10, 7, 1, 0, 0, 0, 0, 0, 0]
HOURS_ONLINE = [1, 0, 0, 0, 0, 0, 1, 3, 7, 10, 10, 8, 5, 6, 8, 8, 8, 7, 6, 7, 7, 5, 3, 2]
WEEKEND_FACTOR = {"office": 0.15, "online": 0.7}
# Month weights (Jan..Dec). Disputes: dip during the Spring Festival holiday, a rise in the
# autumn screening campaigns before the 20th Party Congress (除险保安). Wage claims: the peak
# before the Spring Festival (1 Feb 2022, 22 Jan 2023), a smaller one before the mid-autumn
# payroll. Assumption.
MONTHS: dict[str, list[float]] = {
    "dispute": [8, 7, 9, 8, 8, 8, 9, 9, 9, 10, 9, 8],
    "petition": [7, 6, 9, 9, 8, 8, 8, 8, 9, 10, 9, 9],
    "wage-arrears": [30, 6, 5, 5, 5, 6, 6, 6, 8, 7, 10, 22],
    "consultation": [8, 6, 9, 9, 9, 8, 9, 9, 8, 8, 8, 9],
}
SPRING_FESTIVAL_2022 = date(2022, 2, 1)
HOLIDAY = (date(2022, 1, 31), date(2022, 2, 6))  # the official seven-day break
HOLIDAY_FACTOR = 0.25
# Wage claims rise in the three weeks before each Spring Festival.
WAGE_PEAKS = ((date(2022, 1, 10), date(2022, 1, 30)), (date(2022, 12, 20), date(2022, 12, 31)))
WAGE_PEAK_FACTOR = 2.0

# Volumes the report does not give. Assumption: petitions handled through the street petition
# desks and the district bureau; individual wage claims below the group threshold.
PETITIONS_PER_YEAR = 480
BACKGROUND_WAGE_CLAIMS_PER_YEAR = 360
REPEAT_SHARE = 0.12  # petitions that repeat an earlier one on the same matter

# The 14 planted group wage incidents: workers per incident (sums to 187) and, for those
# below 10 workers, the rule fires on the third claim. Assumption on the split; the totals
# are the report's.
GROUP_INCIDENT_WORKERS = (23, 18, 15, 12, 9, 31, 11, 14, 8, 10, 16, 9, 6, 5)
# Months of the 14 incidents: most before the Spring Festival. Assumption.
GROUP_INCIDENT_MONTHS = (1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 11, 12, 12, 12)

# Share of disputes that name the reporting community, and communities per street (codes
# <street>-01 … -08; the catalogue lists samples -01 … -03, the rest fall back to the street
# committee, as reports from communities outside a catalogue would). Assumption.
COMMUNITY_SHARE = 0.55
COMMUNITIES_PER_STREET = 8

PARTY_COUNT_MAX = 4  # below dispute_collective's 5 parties: background disputes form no group
PETITIONERS_MAX = 4  # below petition_collective's 5 petitioners
BACKGROUND_WORKERS_MAX = 6  # below the 10 workers of wage_employer, one claim per employer
MATTER_WINDOW = timedelta(days=31)  # petition_matter looks at 30 days; one day of margin

KIND_PREFIX = {"dispute": "d", "petition": "p", "wage-arrears": "w", "consultation": "c"}
CASE_KINDS = {"dispute": "dispute", "petition": "petition", "wage-arrears": "wage_arrears"}
SURNAMES = "王陈李张林黄周吴徐郑潘金叶胡朱杨项谢"
GIVEN = ("建国", "海燕", "志强", "丽娟", "伟", "静", "小明", "秀英", "国华", "美玲", "晓东", "琳")
FIRMS = ("建筑劳务", "建设工程", "机械制造", "鞋业", "阀门", "眼镜", "服装", "电器", "包装", "装饰")
PLACES = ("温州", "龙湾", "浙江", "瓯海", "永嘉", "瑞安", "乐清")
WORDS = "宏达鑫盛恒通华瑞永安海天金鼎卓越东方新兴博远佳和立信正泰"


@dataclass(frozen=True)
class Profile:
    name: str
    year: int
    disputes: int
    dispute_amount_yuan: Decimal
    no_agreement: int  # disputes that end without agreement (99.96 % settled)
    consultations: int
    petitions: int
    background_wage_claims: int
    group_incident_workers: tuple[int, ...]
    group_incident_months: tuple[int, ...]
    scale: float = 1.0


def profile(name: str = "longwan-2022", scale: float = 1.0) -> Profile:
    """The named profile; ``scale`` shrinks the background volumes, never the 14 incidents."""
    if name != "longwan-2022":
        raise KeyError(f"unknown profile {name!r}; known: longwan-2022")
    if not 0 < scale <= 1:
        raise ValueError("scale must be in (0, 1]")
    disputes = max(1, round(REPORT_2022["disputes"] * scale))
    # 99.96 % of 8,418 leaves 3.4 disputes unsettled; 3 rounds to 99.96 %.
    no_agreement = round(disputes * (1 - float(REPORT_2022["settled_pct"]) / 100))
    return Profile(
        name=name,
        year=2022,
        disputes=disputes,
        dispute_amount_yuan=(REPORT_2022["dispute_amount_yuan"] * Decimal(str(scale))).quantize(
            Decimal("1")
        ),
        no_agreement=no_agreement,
        consultations=round(REPORT_2022["consultations"] * scale),
        petitions=round(PETITIONS_PER_YEAR * scale),
        background_wage_claims=round(BACKGROUND_WAGE_CLAIMS_PER_YEAR * scale),
        group_incident_workers=GROUP_INCIDENT_WORKERS,
        group_incident_months=GROUP_INCIDENT_MONTHS,
        scale=scale,
    )


@dataclass(frozen=True, slots=True)
class SimEvent:
    kind: str  # SDK kind: dispute | petition | wage-arrears | consultation
    time: datetime
    envelope: dict[str, Any]


@dataclass
class Simulation:
    profile: Profile
    seed: int
    run: str
    events: list[SimEvent]
    manifest: dict[str, Any]

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, envelope) in event-time order."""
        for ev in self.events:
            yield ev.kind, ev.envelope


# --- sampling helpers -----------------------------------------------------------------------


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class _Calendar:
    """Cumulative day weights per (kind, channel class), for sampling a moment of the year."""

    year: int
    days: list[date] = field(default_factory=list)
    cum: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = date(self.year, 1, 1)
        while d.year == self.year:
            self.days.append(d)
            d += timedelta(days=1)

    def day_weight(self, kind: str, klass: str, d: date) -> float:
        w = MONTHS[kind][d.month - 1] / (31 if d.month != 2 else 28)
        if d.weekday() >= 5:
            w *= WEEKEND_FACTOR[klass]
        if HOLIDAY[0] <= d <= HOLIDAY[1]:
            w *= HOLIDAY_FACTOR
        if kind == "wage-arrears" and any(a <= d <= b for a, b in WAGE_PEAKS):
            w *= WAGE_PEAK_FACTOR
        return w

    def moment(self, rng: random.Random, kind: str, channel: str) -> datetime:
        klass = "office" if channel in OFFICE_CHANNELS else "online"
        key = (kind, klass)
        if key not in self.cum:
            self.cum[key] = list(
                itertools.accumulate(self.day_weight(kind, klass, d) for d in self.days)
            )
        cum = self.cum[key]
        day = self.days[bisect.bisect_right(cum, rng.random() * cum[-1])]
        hours = HOURS_OFFICE if klass == "office" else HOURS_ONLINE
        hour = rng.choices(range(24), weights=hours)[0]
        return datetime(
            day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=CST
        )


class _Names:
    """Unique organisation names and credit codes, so no two background cases share one."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.codes: set[str] = set()
        self.names: set[str] = set()

    def credit_code(self) -> str:
        while True:
            body = "91330303" + "".join(self.rng.choice(USCC_CHARS) for _ in range(9))
            code = body + credit_code_check_char(body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    def firm(self, kind: str | None = None) -> str:
        while True:
            a, b = self.rng.sample(WORDS, 2)
            place = self.rng.choice(PLACES)
            name = f"{place}{a}{b}{kind or self.rng.choice(FIRMS)}有限公司"
            if name not in self.names:
                self.names.add(name)
                return name

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def phone(self) -> str:
        return (
            "1" + self.rng.choice("3589") + "".join(str(self.rng.randrange(10)) for _ in range(9))
        )


def _source(channel: str, street: str | None) -> str:
    return {
        "hotline": "hotline/12348",
        "miniapp": "miniapp/longwan",
        "web": "web/zjzwfw",
        "letter": "letter/longwan-xinfang",
        "referral": "referral/longwan-police",
    }.get(channel, f"{channel}/{street or 'district'}")


def _envelope(
    event_id: str, source: str, type_: str, when: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": source,
        "type": type_,
        "time": when.isoformat(),
        "subject": None,
        "data": data,
    }


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` positive integers, at random."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


def _yuan(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


# --- generation -----------------------------------------------------------------------------


@dataclass
class _Draft:
    kind: str
    time: datetime
    data: dict[str, Any]
    channel: str
    tag: str = ""  # planted incident id, for the manifest
    repeat_of: _Draft | None = None  # a repeated petition: the first one
    event_id: str = ""


def _disputes(rng: random.Random, p: Profile, cal: _Calendar, names: _Names) -> list[_Draft]:
    drafts: list[_Draft] = []
    raw: list[float | None] = []
    for _ in range(p.disputes):
        category = _pick(rng, DISPUTE_CATEGORY_WEIGHTS)
        street = _pick(rng, STREET_WEIGHTS)
        channel = _pick(rng, CHANNELS["dispute"])
        party_count = rng.choices([2, 3, 4], weights=[80, 14, 6])[0]
        applicant: dict[str, Any] = {"role": "applicant", "kind": "person"}
        if rng.random() < 0.6:
            applicant |= {"name": names.person(), "phone": names.phone()}
        org = category in ("labor", "contract", "consumer", "construction", "medical") and (
            rng.random() < 0.7
        )
        respondent: dict[str, Any] = {"role": "respondent", "kind": "person"}
        if org:
            # Unique organisation and credit code: dispute_respondent (3 against one
            # organisation in 7 days) must not fire on background disputes.
            respondent = {
                "role": "respondent",
                "kind": "organisation",
                "name": names.firm(),
                "credit_code": names.credit_code(),
            }
        median, none_share = DISPUTE_AMOUNT[category]
        raw.append(None if rng.random() < none_share else median * math.exp(rng.gauss(0, 1.2)))
        data: dict[str, Any] = {
            "street": street,
            "category": category,
            "parties": [applicant, respondent],
            "party_count": party_count,
            "collective": False,
            "channel": channel,
            "summary": f"模拟{category}纠纷",
        }
        if rng.random() < COMMUNITY_SHARE:
            data["community"] = f"{street}-{rng.randint(1, COMMUNITIES_PER_STREET):02d}"
        drafts.append(_Draft("dispute", cal.moment(rng, "dispute", channel), data, channel))
    # Scale the draws so the year's amounts sum exactly to the report's total.
    target = p.dispute_amount_yuan
    total = sum(x for x in raw if x is not None)
    amounts = [None if x is None else Decimal(round(x * float(target) / total)) for x in raw]
    residual = target - sum(a for a in amounts if a is not None)
    biggest = max(range(len(amounts)), key=lambda i: amounts[i] or Decimal(0))
    amounts[biggest] = (amounts[biggest] or Decimal(0)) + residual
    for d, a in zip(drafts, amounts, strict=True):
        if a is not None:
            d.data["amount_yuan"] = _yuan(a)
    return drafts


def _petitions(rng: random.Random, p: Profile, cal: _Calendar) -> list[_Draft]:
    drafts = []
    for _ in range(p.petitions):
        channel = _pick(rng, CHANNELS["petition"])
        drafts.append(_Draft("petition", cal.moment(rng, "petition", channel), {}, channel))
    drafts.sort(key=lambda d: d.time)
    # Assign matters (street + category + agency) in time order so that no matter gathers 3
    # petitions within 30 days: petition_matter must not fire on the background.
    seen: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    placed: list[_Draft] = []
    for d in drafts:
        # Some petitions repeat an earlier one on the same matter (重复访), at least a month
        # later; the matter rule below still holds.
        earlier = [e for e in placed if d.time - e.time >= MATTER_WINDOW]
        if earlier and rng.random() < REPEAT_SHARE:
            first = rng.choice(earlier)
            while first.repeat_of is not None:
                first = first.repeat_of
            matter = (first.data["street"], first.data["category"], first.data["target_agency"])
            if len([t for t in seen[matter] if d.time - t < MATTER_WINDOW]) < 2:
                d.repeat_of = first
        if d.repeat_of is not None:
            street, category, agency = matter
        else:
            for _attempt in range(100):
                street = _pick(rng, STREET_WEIGHTS)
                category = _pick(rng, PETITION_CATEGORY_WEIGHTS)
                agency = rng.choice(PETITION_AGENCIES[category])
                recent = [t for t in seen[(street, category, agency)] if d.time - t < MATTER_WINDOW]
                if len(recent) < 2:
                    break
            else:  # pragma: no cover - 960 matters for a few hundred petitions
                raise RuntimeError("could not place a petition without forming a matter group")
        seen[(street, category, agency)].append(d.time)
        d.data = {
            "street": street,
            "category": category,
            "petitioner_count": rng.choices([1, 2, 3, 4], weights=[80, 12, 5, 3])[0],
            "target_agency": agency,
            "repeat_of": [],  # the first petition's id, filled in once ids are assigned
            "channel": d.channel,
            "summary": f"模拟{category}信访",
        }
        placed.append(d)
    return drafts


def _background_wage(rng: random.Random, p: Profile, cal: _Calendar, names: _Names) -> list[_Draft]:
    drafts = []
    for _ in range(p.background_wage_claims):
        channel = _pick(rng, CHANNELS["wage-arrears"])
        workers = rng.choices(range(1, BACKGROUND_WORKERS_MAX + 1), weights=[50, 20, 12, 8, 6, 4])[
            0
        ]
        data = {
            "street": _pick(rng, STREET_WEIGHTS),
            # One claim per employer, each with its own credit code: never a group.
            "employer": {"name": names.firm(), "credit_code": names.credit_code()},
            "worker_count": workers,
            "amount_yuan": _yuan(Decimal(workers * rng.randint(3, 30) * 1000)),
            "months_owed": rng.randint(1, 6),
            "contact": {"name": names.person(), "phone": names.phone()},
            "channel": channel,
            "summary": "模拟个人欠薪",
        }
        drafts.append(
            _Draft("wage-arrears", cal.moment(rng, "wage-arrears", channel), data, channel)
        )
    return drafts


def _incident_day(rng: random.Random, year: int, month: int, used: set[date]) -> date:
    """A working day of the month, before the Spring Festival in January, not used yet."""
    while True:
        d = date(year, month, rng.randint(3, 28))
        if d.weekday() < 5 and d not in used and not (HOLIDAY[0] <= d <= HOLIDAY[1]):
            used.add(d)
            return d


def _planted_incidents(
    rng: random.Random, p: Profile, names: _Names
) -> tuple[list[_Draft], list[dict[str, Any]]]:
    drafts: list[_Draft] = []
    planted: list[dict[str, Any]] = []
    used: set[date] = set()
    for i, (workers, month) in enumerate(
        zip(p.group_incident_workers, p.group_incident_months, strict=True)
    ):
        tag = f"G{i + 1:02d}"
        # Below 10 workers the rule fires on the third claim, else on reaching 10 workers.
        claims = rng.randint(3, min(4, workers)) if workers < 10 else rng.choice([1, 2, 2, 3, 4])
        split = _split(rng, workers, claims)
        day = _incident_day(rng, p.year, month, used)
        # All claims of one incident on one working day between 09:00 and 15:59 local: within
        # any 7-day window, however a rule aligns its windows (epoch-aligned weeks start on
        # Thursday 08:00 local, calendar days at 00:00).
        start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=CST)
        offsets = sorted(rng.sample(range(0, 7 * 3600), claims))
        base_name = names.firm(rng.choice(("建筑劳务", "建设工程", "装饰")))
        # One incident is reported by name only, typed three ways (brackets, spaces): the
        # rules must key it by the normalised name. The others carry a credit code.
        by_name = i == 4
        code = None if by_name else names.credit_code()
        variants = [
            base_name.replace("有限公司", "有限公司（龙湾）"),
            base_name.replace("有限公司", "有限公司 (龙湾)"),
            base_name.replace("有限公司", " 有限公司(龙湾)"),
            base_name.replace("有限公司", "有限公司（龙湾） "),
        ]
        street = _pick(rng, STREET_WEIGHTS)
        project = f"{rng.choice(WORDS)}{rng.choice(WORDS)}安置房项目{rng.randint(1, 9)}期"
        per_worker = rng.randint(8, 28) * 1000
        amounts = []
        for j, (n, off) in enumerate(zip(split, offsets, strict=True)):
            employer: dict[str, Any] = {"name": variants[j] if by_name else base_name}
            if code:
                employer["credit_code"] = code
            amount = Decimal(n * per_worker)
            amounts.append(amount)
            channel = rng.choice(["walkin", "hotline", "referral"])
            data: dict[str, Any] = {
                "street": street,
                "employer": employer,
                "project": {"name": project},
                "worker_count": n,
                "amount_yuan": _yuan(amount),
                "months_owed": rng.randint(2, 8),
                "contact": {"name": names.person(), "phone": names.phone()},
                "channel": channel,
                "summary": "模拟群体性讨薪",
            }
            drafts.append(
                _Draft("wage-arrears", start + timedelta(seconds=off), data, channel, tag)
            )
        total_amount = sum(amounts, Decimal(0))
        planted.append(
            {
                "tag": tag,
                "rule_id": "wage_employer",
                "employer": variants[0] if by_name else base_name,
                "employer_key": org_key(variants[0] if by_name else base_name, code),
                "credit_code": code,
                "street": street,
                "claims": claims,
                "workers": workers,
                "amount_yuan": _yuan(total_amount),
                "trigger": "workers" if workers >= 10 else "claims",
                "escalation": (
                    "city" if workers >= 50 or total_amount >= Decimal(1_000_000) else "district"
                ),
                "case_ids": [],  # filled once ids are assigned
            }
        )
    return drafts, planted


def _consultations(rng: random.Random, p: Profile, cal: _Calendar) -> list[_Draft]:
    drafts = []
    for _ in range(p.consultations):
        channel = _pick(rng, CHANNELS["consultation"])
        category = _pick(rng, CONSULTATION_CATEGORY_WEIGHTS)
        data: dict[str, Any] = {
            "category": category,
            "channel": channel,
            "duration_s": int(rng.lognormvariate(math.log(420), 0.6)) % 86_400,
            "summary": f"模拟{category}法律咨询",
        }
        if rng.random() < 0.8:
            data["street"] = _pick(rng, STREET_WEIGHTS)
        drafts.append(
            _Draft("consultation", cal.moment(rng, "consultation", channel), data, channel)
        )
    return drafts


TYPES = {
    "dispute": "dispute.reported.v1",
    "petition": "petition.filed.v1",
    "wage-arrears": "wage_arrears.reported.v1",
    "consultation": "consultation.recorded.v1",
}


def default_run(p: Profile, seed: int) -> str:
    scale = "" if p.scale == 1 else f"-x{str(p.scale).replace('.', '')}"
    return f"lw{p.year % 100}-s{seed}{scale}"


def simulate(p: Profile, seed: int = 1, run: str | None = None) -> Simulation:
    """Generate the year: every intake event in event-time order, and the manifest."""
    rng = random.Random(seed)
    run = run or default_run(p, seed)
    cal = _Calendar(p.year)
    names = _Names(rng)
    drafts = _disputes(rng, p, cal, names)
    drafts += _petitions(rng, p, cal)
    drafts += _background_wage(rng, p, cal, names)
    group_drafts, planted = _planted_incidents(rng, p, names)
    drafts += group_drafts
    drafts += _consultations(rng, p, cal)
    drafts.sort(key=lambda d: (d.time, d.kind))

    numbers: Counter[str] = Counter()
    events: list[SimEvent] = []
    case_ids: dict[str, list[str]] = defaultdict(list)
    by_tag = {g["tag"]: g for g in planted}
    by_street: dict[str, Counter[str]] = defaultdict(Counter)
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    by_month: dict[str, Counter[str]] = defaultdict(Counter)
    by_hour: dict[str, Counter[int]] = defaultdict(Counter)
    by_channel: dict[str, Counter[str]] = defaultdict(Counter)
    for d in drafts:
        numbers[d.kind] += 1
        event_id = d.event_id = f"{run}-{KIND_PREFIX[d.kind]}{numbers[d.kind]:05d}"
        if d.repeat_of is not None:
            d.data["repeat_of"] = [d.repeat_of.event_id]  # earlier, so already numbered
        street = d.data.get("street")
        env = _envelope(event_id, _source(d.channel, street), TYPES[d.kind], d.time, d.data)
        events.append(SimEvent(d.kind, d.time, env))
        if d.kind in CASE_KINDS:
            case_ids[CASE_KINDS[d.kind]].append(event_id)
        if d.tag:
            by_tag[d.tag]["case_ids"].append(event_id)
        by_street[d.kind][street or "none"] += 1
        by_category[d.kind][d.data.get("category", "labor")] += 1
        by_month[d.kind][f"{d.time.month:02d}"] += 1
        by_hour[d.kind][d.time.hour] += 1
        by_channel[d.kind][d.channel] += 1

    time_of = {e.envelope["id"]: e.time for e in events if e.kind == "wage-arrears"}
    for g in planted:
        times = [time_of[i] for i in g["case_ids"]]
        g["first"], g["last"] = min(times).isoformat(), max(times).isoformat()

    # The disputes that end without agreement (the other 99.96 % settle), chosen at random.
    no_agreement = sorted(rng.sample(case_ids["dispute"], p.no_agreement))
    manifest = _manifest(
        p, seed, run, events, case_ids, planted, no_agreement,
        by_street, by_category, by_month, by_hour, by_channel,
    )  # fmt: skip
    return Simulation(p, seed, run, events, manifest)


def _manifest(
    p: Profile,
    seed: int,
    run: str,
    events: list[SimEvent],
    case_ids: dict[str, list[str]],
    planted: list[dict[str, Any]],
    no_agreement: list[str],
    by_street: dict[str, Counter[str]],
    by_category: dict[str, Counter[str]],
    by_month: dict[str, Counter[str]],
    by_hour: dict[str, Counter[int]],
    by_channel: dict[str, Counter[str]],
) -> dict[str, Any]:
    amount = sum(
        (Decimal(e.envelope["data"]["amount_yuan"]) for e in events if e.kind == "dispute"
         and "amount_yuan" in e.envelope["data"]),
        Decimal(0),
    )  # fmt: skip
    wage_amount = sum(
        (Decimal(e.envelope["data"]["amount_yuan"]) for e in events if e.kind == "wage-arrears"),
        Decimal(0),
    )
    by_kind = Counter(e.kind for e in events)
    rules = ("wage_employer", "dispute_collective", "dispute_respondent", "petition_collective")
    expected_by_rule = {r: 0 for r in (*rules, "petition_matter")}
    expected_by_rule["wage_employer"] = len(planted)

    def plain(c: dict[str, Counter[Any]]) -> dict[str, dict[str, int]]:
        return {k: {str(x): n for x, n in sorted(v.items())} for k, v in sorted(c.items())}

    return {
        "profile": p.name,
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "run": run,
        "scale": p.scale,
        "period": {
            "start": events[0].time.isoformat() if events else None,
            "end": events[-1].time.isoformat() if events else None,
        },
        "events": {"total": len(events), "by_kind": dict(sorted(by_kind.items()))},
        "cases": {
            "total": sum(len(v) for v in case_ids.values()),
            "by_kind": {k: len(v) for k, v in sorted(case_ids.items())},
        },
        "by_street": plain(by_street),
        "by_category": plain(by_category),
        "by_month": plain(by_month),
        "by_hour": plain(by_hour),
        "by_channel": plain(by_channel),
        "disputes": {
            "count": len(case_ids["dispute"]),
            "amount_yuan": _yuan(amount),
            "no_agreement_case_ids": no_agreement,
            "settled_pct": round(
                100 * (1 - len(no_agreement) / max(1, len(case_ids["dispute"]))), 2
            ),
        },
        "petitions": {
            "count": len(case_ids["petition"]),
            "repeats": sum(
                1 for e in events if e.kind == "petition" and e.envelope["data"]["repeat_of"]
            ),
        },
        "wage_arrears": {
            "claims": len(case_ids["wage_arrears"]),
            "background_claims": len(case_ids["wage_arrears"]) - sum(g["claims"] for g in planted),
            "amount_yuan": _yuan(wage_amount),
        },
        "incidents": {
            "expected_by_rule": expected_by_rule,
            "group_wage": len(planted),
            "group_wage_workers": sum(g["workers"] for g in planted),
            "planted": planted,
        },
        "consultations": by_kind.get("consultation", 0),
        "published_figures": {
            k: v if isinstance(v, int) else str(v) for k, v in REPORT_2022.items()
        },
        "not_modelled": {
            "legal_aid_cases": "no event type carries legal aid; consultations in category "
            "legal_aid stand in for requests",
        },
        "case_ids": {k: v for k, v in sorted(case_ids.items())},
    }


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=CST), datetime(year + 1, 1, 1, tzinfo=CST)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
