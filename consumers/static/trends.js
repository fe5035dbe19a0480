// The command center's trend charts (Apache ECharts, served from /static/vendor): cases per
// day or week by kind, the mediation success rate, the SLA breach rate, group incidents and
// the streets' risk scores. The period buttons refetch; the charts refresh every minute.
// window.fqCharts holds the chart instances, so a test can read the data a chart draws.
"use strict";

(function () {
  const REFRESH_MS = 60000;
  const KIND_NAMES = { dispute: "矛盾纠纷", petition: "信访", wage_arrears: "欠薪" };
  const BUCKET_NAMES = { day: "日期", week: "周", month: "月份" };
  const TEXT = { color: "#e6edf3" };
  const MUTED = { color: "#8b9bab" };
  // Ten distinguishable colours: the ten streets' lines must not share one.
  const PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272",
    "#fc8452", "#9a60b4", "#ea7ccc", "#c0c0c0"];
  let period = "30d";
  let grain = "day";
  let last = null;

  const charts = {};
  for (const [name, id] of Object.entries({
    cases: "chart-cases",
    success: "chart-success",
    sla: "chart-sla",
    incidents: "chart-incidents",
    risk: "chart-risk",
  })) {
    charts[name] = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  }
  window.fqCharts = charts;
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));

  function base(xName, xData, yName, extra) {
    return Object.assign(
      {
        animation: false,
        color: PALETTE,
        textStyle: TEXT,
        grid: { left: 56, right: 24, top: 36, bottom: 48 },
        tooltip: { trigger: "axis", confine: true },
        legend: { top: 0, textStyle: TEXT },
        xAxis: {
          type: "category",
          name: xName,
          nameLocation: "middle",
          nameGap: 30,
          data: xData,
          axisLabel: MUTED,
          nameTextStyle: MUTED,
        },
        yAxis: {
          type: "value",
          name: yName,
          axisLabel: MUTED,
          nameTextStyle: MUTED,
          splitLine: { lineStyle: { color: "#26333f" } },
        },
      },
      extra || {},
    );
  }

  const pct = (v) => (v === null || v === undefined ? "无" : `${v}%`);

  function drawCases() {
    const c = last.cases;
    const keys = grain === "day" ? c.days : c.weeks;
    const data = grain === "day" ? c.by_day : c.by_week;
    charts.cases.setOption(
      base(BUCKET_NAMES[grain], keys, "件数", {
        series: Object.keys(KIND_NAMES).map((k) => ({
          id: k,
          name: KIND_NAMES[k],
          type: "bar",
          stack: "kind",
          data: data[k],
        })),
      }),
      true,
    );
  }

  function drawSuccess() {
    const s = last.success;
    charts.success.setOption(
      base(BUCKET_NAMES[s.bucket], s.keys, "成功率（%）", {
        tooltip: {
          trigger: "axis",
          confine: true,
          formatter: (ps) => {
            const i = ps[0].dataIndex;
            return `${s.keys[i]}<br>调解成功率 ${pct(s.rate[i])}<br>` +
              `调解成功 ${s.agreement[i]} 件 / 办结 ${s.concluded[i]} 件`;
          },
        },
        yAxis: Object.assign(base("", [], "").yAxis, { name: "成功率（%）", max: 100 }),
        series: [{ id: "rate", name: "调解成功率", type: "line", data: s.rate, connectNulls: false }],
      }),
      true,
    );
  }

  function drawSla() {
    const s = last.sla;
    charts.sla.setOption(
      base(BUCKET_NAMES[s.bucket], s.keys, "超时率（%）", {
        tooltip: {
          trigger: "axis",
          confine: true,
          formatter: (ps) => {
            const i = ps[0].dataIndex;
            return `${s.keys[i]}<br>超时率 ${pct(s.rate[i])}<br>` +
              `超时 ${s.breached[i]} 件 / 受理 ${s.routed[i]} 件`;
          },
        },
        series: [{ id: "rate", name: "超时率", type: "line", data: s.rate, color: "#ef6c00" }],
      }),
      true,
    );
  }

  function drawIncidents() {
    const s = last.incidents;
    const opt = base(BUCKET_NAMES[s.bucket], s.keys, "起数", {
      series: [
        { id: "incidents", name: "群体事件（起）", type: "bar", data: s.incidents, color: "#c62828" },
        { id: "people", name: "涉及人数（人）", type: "line", yAxisIndex: 1, data: s.people },
      ],
    });
    opt.yAxis = [opt.yAxis, Object.assign({}, opt.yAxis, { name: "人数", splitLine: { show: false } })];
    charts.incidents.setOption(opt, true);
  }

  function drawRisk(risk) {
    charts.risk.setOption(
      base("日期", risk.days, "风险分", {
        legend: { top: 0, textStyle: TEXT, type: "scroll" },
        series: risk.streets.map((s) => ({
          id: s.code,
          name: s.name,
          type: "line",
          showSymbol: false,
          data: s.scores,
        })),
      }),
      true,
    );
  }

  async function getJson(url) {
    const resp = await fetch(url, { cache: "no-store" });
    if (resp.status === 401) {
      window.location.reload();
      throw new Error("login required");
    }
    if (!resp.ok) throw new Error(`${url}: ${resp.status}`);
    return resp.json();
  }

  async function load() {
    try {
      const [trends, risk] = await Promise.all([
        getJson(`/api/trends?period=${period}`),
        getJson(`/api/risk-history?period=${period}`),
      ]);
      last = trends;
      document.getElementById("trend-range").textContent = `${trends.first} 至 ${trends.last}`;
      drawCases();
      drawSuccess();
      drawSla();
      drawIncidents();
      drawRisk(risk);
      document.body.dataset.trends = String(Number(document.body.dataset.trends || 0) + 1);
      document.body.dataset.period = period;
    } catch (err) {
      document.getElementById("trend-range").textContent = "趋势数据暂不可用";
    }
  }

  function choose(group, attr, value) {
    for (const b of document.querySelectorAll(`${group} button[${attr}]`)) {
      b.classList.toggle("on", b.getAttribute(attr) === value);
    }
  }

  document.getElementById("periods").addEventListener("click", (ev) => {
    const p = ev.target.getAttribute("data-period");
    if (!p) return;
    period = p;
    choose("#periods", "data-period", p);
    load();
  });
  document.querySelector("#chart-cases").parentElement.addEventListener("click", (ev) => {
    const g = ev.target.getAttribute("data-grain");
    if (!g || !last) return;
    grain = g;
    choose(".chart", "data-grain", g);
    drawCases();
  });

  load();
  setInterval(load, REFRESH_MS);
})();
