"""The year-end report as text, JSON-ready dicts or a Chinese HTML page with charts (ECharts
inlined, so the file opens and prints with no network)."""

from __future__ import annotations

import html
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from consumers import labels
from consumers.figures.annual import AnnualReport, Figure

ECHARTS = Path(__file__).parent.parent / "static" / "vendor" / "echarts-5.6.0" / "echarts.min.js"
NAMES: dict[str, dict[str, str]] = {
    "by_street": labels.STREETS,
    "by_category": labels.CATEGORIES,
    "by_kind": labels.KINDS,
    "by_channel": {
        "hotline": "热线电话",
        "miniapp": "小程序（掌上）",
        "web": "网上（掌上）",
        "walkin": "来访窗口",
        "referral": "部门移交",
        "letter": "来信",
        "visit": "走访",
        "unknown": "未存来件",
    },
}


def show(f: Figure) -> str:
    v = f.value
    if v is None:
        return "—"
    if isinstance(v, dict):
        names = NAMES.get(f.key, {})
        return "，".join(f"{names.get(k, k)} {n:,}" for k, n in v.items()) or "—"
    if isinstance(v, Decimal):
        yi = f"（约 {v / Decimal(100_000_000):.2f} 亿元）" if v >= 1_000_000 else ""
        return f"{v:,.0f} {f.unit}{yi}"
    if isinstance(v, float):
        return f"{v:.2f} {f.unit}"
    return f"{v:,} {f.unit}".strip()


def as_text(rep: AnnualReport, with_sql: bool = True) -> str:
    lines = [f"枫桥 · 年度矛盾纠纷调处数据 {rep.first} 至 {rep.last}（案件库：{rep.backend}）", ""]
    for f in rep.figures:
        lines.append(f"{f.zh}（{f.en}）：{show(f)}")
        if f.note:
            lines.append(f"    注：{f.note}")
        if with_sql:
            lines.extend(f"    {line}" for line in f.sql.splitlines())
        lines.append("")
    return "\n".join(lines)


def _bar(fig_id: str, title: str, data: dict[str, int], names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": fig_id,
        "option": {
            "animation": False,
            "title": {"text": title, "left": "center", "textStyle": {"fontSize": 14}},
            "grid": {"left": 60, "right": 20, "top": 40, "bottom": 70},
            "tooltip": {"trigger": "axis"},
            "xAxis": {
                "type": "category",
                "data": [names.get(k, k) for k in data],
                "axisLabel": {"rotate": 40, "interval": 0},
            },
            "yAxis": {"type": "value", "name": "件数"},
            "series": [
                {
                    "type": "bar",
                    "data": list(data.values()),
                    "label": {"show": True, "position": "top"},
                }
            ],  # fmt: skip
        },
    }


def as_html(rep: AnnualReport, monthly: dict[str, Any] | None = None) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(f.zh)}</th><td>{html.escape(show(f))}"
        # The Chinese half of a note says what the figure counts (口径), for the summary's reader.
        + (f'<div class="note">{html.escape(f.note.split(" / ")[0])}</div>' if f.note else "")
        + "</td></tr>"
        for f in rep.figures
        if not isinstance(f.value, dict)
    )
    charts = []
    for f in rep.figures:
        if isinstance(f.value, dict) and f.value:
            charts.append(_bar(f"c-{f.key}", f"受理案件{f.zh}", f.value, NAMES.get(f.key, {})))
    if monthly:
        charts.insert(
            0,
            {
                "id": "c-monthly",
                "option": {
                    "animation": False,
                    "title": {
                        "text": "每月调处纠纷与调解成功率",
                        "left": "center",
                        "textStyle": {"fontSize": 14},
                    },  # fmt: skip
                    "grid": {"left": 60, "right": 60, "top": 40, "bottom": 64},
                    "legend": {"bottom": 0},
                    "xAxis": {
                        "type": "category",
                        "data": monthly["keys"],
                        "name": "月份",
                        "nameLocation": "middle",
                        "nameGap": 28,
                    },  # fmt: skip
                    "yAxis": [
                        {"type": "value", "name": "件数"},
                        {"type": "value", "name": "成功率（%）", "max": 100},
                    ],
                    "series": [
                        {"name": "办结纠纷", "type": "bar", "data": monthly["concluded"]},
                        {
                            "name": "成功率",
                            "type": "line",
                            "yAxisIndex": 1,
                            "data": monthly["rate"],
                        },  # fmt: skip
                    ],
                },
            },
        )
    queries = "".join(
        f"<li><b>{html.escape(f.zh)}</b><pre>{html.escape(f.sql)}</pre></li>" for f in rep.figures
    )
    divs = "".join(f'<div class="chart" id="{c["id"]}"></div>' for c in charts)
    script = ECHARTS.read_text(encoding="utf-8")
    boot = json.dumps(charts, ensure_ascii=False)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>年度矛盾纠纷调处数据 {html.escape(rep.first)} 至 {html.escape(rep.last)}</title>
<style>
body {{ font: 14px/1.6 "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
  sans-serif; margin: 24px 32px; color: #111; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} .sub {{ color: #555; margin-bottom: 16px; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 16px; }}
th, td {{ border: 1px solid #bbb; padding: 2px 8px; text-align: left; font-size: 13px; }}
th {{ width: 34%; background: #f3f3f3; font-weight: normal; }}
.note {{ color: #666; font-size: 10px; line-height: 1.3; }}
.chart {{ width: 100%; height: 270px; margin: 8px 0 16px; break-inside: avoid; }}
pre {{ white-space: pre-wrap; font-size: 11px; background: #f7f7f7; padding: 4px; margin: 2px 0; }}
.queries li {{ break-inside: avoid; }}
@page {{ size: A4; margin: 14mm; }}
</style></head><body>
<h1>年度矛盾纠纷调处数据</h1>
<div class="sub">统计期间 {html.escape(rep.first)} 至 {html.escape(rep.last)} ·
数据来源：枫桥平台案件库（{html.escape(rep.backend)}） · 不含任何个人信息</div>
<table>{rows}</table>
{divs}
<h2>数据口径（每项数据的查询语句）</h2>
<ol class="queries">{queries}</ol>
<script>{script}</script>
<script>
for (const c of {boot}) {{
  echarts.init(document.getElementById(c.id), null, {{ renderer: "svg" }}).setOption(c.option);
}}
document.body.dataset.ready = "1";
</script>
</body></html>
"""
