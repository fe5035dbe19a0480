"""The bureau's year-end figures from the case store, each with the SQL that gives it.

The SQL is written out and run exactly as printed (the window's bounds as literals in the
backend's own timestamp format), so a reader can paste it into ``sqlite3`` or ``psql`` and
get the same number. Windows are local days, half-open in UTC: ``[from 00:00, to+1 00:00)``,
over when a case was received (routed); "mediated" is a case of the period now concluded.

A case's channel and claimed amount are those of the report that opened it (``reports``: the
earliest of the case's own reports; a report linked to another case opens none). Not in the
store, and so not here: consultations (they open no case and no report row); the report
command counts those from the intake topics and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from consumers.figures.window import Window


@dataclass(frozen=True)
class Figure:
    key: str
    zh: str
    en: str
    value: Any  # int, Decimal, float (percent) or {code: int}
    sql: str
    unit: str = ""
    note: str = ""


@dataclass
class AnnualReport:
    first: str
    last: str
    backend: str
    figures: list[Figure] = field(default_factory=list)

    def get(self, key: str) -> Any:
        return next(f.value for f in self.figures if f.key == key)

    def as_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, Decimal):
                return str(v)
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        return {
            "from": self.first,
            "to": self.last,
            "backend": self.backend,
            "figures": [
                {
                    "key": f.key,
                    "zh": f.zh,
                    "en": f.en,
                    "value": plain(f.value),
                    "unit": f.unit,
                    "sql": f.sql,
                    "note": f.note,
                }
                for f in self.figures
            ],
        }


# What the bureau counts as received online (掌上, "in the palm"): the mini-program and the
# web form, the channels a person uses without a desk, a line or a letter.
ONLINE_CHANNELS = ("miniapp", "web")

# The report that opened case ``c``: the earliest of the reports that name it as their case.
# A report linked to another case keeps its own case id, so it opens nothing unless unlinked.
OPENING_REPORT = (
    "r.report_id = (SELECT o.report_id FROM reports o WHERE o.case_id = c.case_id "
    "ORDER BY o.time, o.report_id LIMIT 1)"
)

_RUN = object()  # ``add``: the figure is what its SQL returns


def _ts(when: datetime, backend: str) -> str:
    """A UTC instant as the backend stores it (SQLite: naive text, PostgreSQL: timestamptz)."""
    when = when.astimezone(UTC)
    if backend == "sqlite":
        return f"'{when.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"
    return f"TIMESTAMPTZ '{when.isoformat()}'"


def _yuan(v: Any) -> Decimal:
    """A sum of amounts to the yuan (SQLite sums NUMERIC text as floating point)."""
    return Decimal(str(v)).quantize(Decimal("1"))


def _pct(num: int, den: int) -> float | None:
    return round(100 * num / den, 2) if den else None


def build(engine: Engine, w: Window) -> AnnualReport:
    backend = engine.dialect.name
    s, e = _ts(w.start, backend), _ts(w.end, backend)

    def concluded(col: str) -> str:
        return f"{col} >= {s} AND {col} < {e}"

    received = concluded("routed_at")
    # A dispute counts in the period it was received, once concluded: a conclusion's time is
    # when the mediator acted (a replayed or simulated year is concluded today).
    done = received + " AND concluded_at IS NOT NULL"
    rep = AnnualReport(w.first.isoformat(), w.last.isoformat(), backend)

    with engine.connect() as conn:

        def one(sql: str) -> Any:
            return conn.execute(text(sql)).scalar_one()

        def grouped(sql: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in conn.execute(text(sql))}

        def add(key: str, zh: str, en: str, sql: str, value: Any = _RUN, **kw: Any) -> Any:
            v = one(sql) if value is _RUN else value
            rep.figures.append(Figure(key, zh, en, v, sql, **kw))
            return v

        q_mediated = f"SELECT COUNT(*) FROM cases WHERE kind = 'dispute' AND {done}"  # noqa: S608
        mediated = int(
            add("disputes_mediated", "调处纠纷", "disputes mediated", q_mediated, unit="件")
        )
        q_settled = q_mediated + " AND outcome = 'agreement'"
        settled = int(
            add(
                "disputes_settled",
                "调解成功",
                "disputes settled by agreement",
                q_settled,
                unit="件",
            )
        )
        in_c = f"c.routed_at >= {s} AND c.routed_at < {e}"
        opened = f"FROM cases c JOIN reports r ON {OPENING_REPORT}"
        q_claimed = (
            "SELECT COALESCE(SUM(CAST(r.data ->> 'amount_yuan' AS NUMERIC)), 0) "  # noqa: S608
            f"{opened} WHERE c.kind = 'dispute' AND {in_c} AND c.concluded_at IS NOT NULL"
        )
        add(
            "amount_yuan",
            "涉及金额",
            "amount at stake",
            q_claimed,
            _yuan(one(q_claimed)),
            unit="元",
            note="调处纠纷来件所填申请金额之和 / the claimed amounts of the disputes mediated, "
            "from the report that opened each case",
        )
        q_agreed = (
            "SELECT COALESCE(SUM(CAST(agreed_amount_yuan AS NUMERIC)), 0) FROM cases "
            f"WHERE kind = 'dispute' AND outcome = 'agreement' AND {done}"  # noqa: S608
        )
        add(
            "agreed_amount_yuan",
            "调解协议金额",
            "amount agreed",
            q_agreed,
            _yuan(one(q_agreed)),
            unit="元",
            note="调解成功纠纷的协议金额之和 / the agreed amounts of the disputes settled",
        )
        add(
            "success_rate",
            "调解成功率",
            "success rate",
            f"-- disputes_settled / disputes_mediated\n{q_settled};\n{q_mediated}",
            _pct(settled, mediated),
            unit="%",
        )
        for key, kind, zh, en in (
            ("disputes_received", "dispute", "受理纠纷", "disputes received"),
            ("petitions", "petition", "信访件", "petitions"),
            ("wage_claims", "wage_arrears", "欠薪求助", "wage claims"),
        ):
            add(
                key,
                zh,
                en,
                f"SELECT COUNT(*) FROM cases WHERE kind = '{kind}' AND {received}",  # noqa: S608
                unit="件",
            )
        inc_where = f"rule_id = 'wage_employer' AND time >= {s} AND time < {e}"
        q_inc = f"SELECT COUNT(*) FROM incidents WHERE {inc_where}"  # noqa: S608
        add("group_wage_incidents", "群体性欠薪事件", "group wage incidents", q_inc, unit="起")
        q_people = f"SELECT COALESCE(SUM(people), 0) FROM incidents WHERE {inc_where}"  # noqa: S608
        add("group_wage_people", "涉及人数", "people in them", q_people, unit="人")
        for col, zh, en in (
            ("street", "按街道", "cases by street"),
            ("category", "按类别", "cases by category"),
            ("kind", "按类型", "cases by kind"),
        ):
            q = (
                f"SELECT {col}, COUNT(*) FROM cases WHERE {received} "  # noqa: S608
                f"GROUP BY {col} ORDER BY {col}"
            )
            add(f"by_{col}", zh, en, q, grouped(q), unit="件")
        q_routed = f"SELECT COUNT(*) FROM cases WHERE {received}"  # noqa: S608
        routed = int(one(q_routed))
        q_channel = (
            "SELECT COALESCE(r.channel, 'unknown'), COUNT(*) FROM cases c "  # noqa: S608
            f"LEFT JOIN reports r ON {OPENING_REPORT} WHERE {in_c} GROUP BY 1 ORDER BY 1"
        )
        add(
            "by_channel",
            "按渠道",
            "cases by channel",
            q_channel,
            grouped(q_channel),
            unit="件",
            note="按开案来件的渠道；unknown：案件库未存其来件 / by the channel of the report "
            "that opened the case; unknown: the store keeps no report of it",
        )
        online = ", ".join(f"'{c}'" for c in ONLINE_CHANNELS)
        q_online = (
            f"SELECT ROUND(100.0 * SUM(CASE WHEN r.channel IN ({online}) THEN 1 ELSE 0 END) "  # noqa: S608
            f"/ NULLIF(COUNT(*), 0), 2) {opened} WHERE {in_c}"
        )
        share = one(q_online)
        add(
            "online_share",
            "网上受理占比（掌上）",
            "share received online",
            q_online,
            None if share is None else float(share),
            unit="%",
            note="小程序、网上来件开案的案件 ÷ 存有来件的案件 / cases opened by a mini-program or "
            "web report ÷ cases whose report the store keeps",
        )
        q_missing = (
            f"SELECT COUNT(*) FROM cases c WHERE {in_c} AND NOT EXISTS "  # noqa: S608
            "(SELECT 1 FROM reports r WHERE r.case_id = c.case_id)"
        )
        add(
            "cases_without_report",
            "未存来件的案件",
            "cases whose report the store lacks",
            q_missing,
            unit="件",
            note="不计入网上受理占比和涉及金额 / left out of the online share and the claimed "
            "amount",
        )
        q_reports = f"SELECT COUNT(*) FROM reports WHERE time >= {s} AND time < {e}"  # noqa: S608
        add(
            "reports_received",
            "来件",
            "reports received",
            q_reports,
            unit="件",
            note="每一次来件，含并入已有案件的重复来件（按来件时间） / every report, those linked "
            "to an existing case included (by the report's time)",
        )
        for clock, zh, en in (
            ("accept", "受理超时", "accept deadline breached"),
            ("conclude", "办结超时", "conclude deadline breached"),
        ):
            q = (
                "SELECT COUNT(DISTINCT a.case_id) FROM sla_alerts a JOIN cases c "
                "ON c.case_id = a.case_id WHERE a.type = 'sla.breached.v1' "
                f"AND a.clock = '{clock}' AND c.{received}"  # noqa: S608
            )
            late = int(one(q))
            add(f"sla_{clock}_breached", zh, en, q, late, unit="件")
            add(
                f"sla_{clock}_on_time",
                zh.replace("超时", "按时率"),
                en.replace("deadline breached", "on time"),
                f"-- 1 - sla_{clock}_breached / cases received\n{q};\n{q_routed}",
                _pct(routed - late, routed),
                unit="%",
            )
        q_in_time = q_mediated + " AND concluded_at <= deadline"
        add(
            "concluded_within_deadline",
            "期限内办结",
            "disputes concluded within their deadline",
            q_in_time,
            unit="件",
        )
    return rep
