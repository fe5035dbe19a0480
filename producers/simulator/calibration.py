"""The calibration of the synthetic Longwan year: the justice bureau's 2022 figures and every
assumption beyond them (reasoned in ``producers/profiles/LONGWAN-2022.md``), and the profile
that scales them. Data only, no generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone
from decimal import Decimal
from typing import Any

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
