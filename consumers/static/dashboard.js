// The command-center page: polls /api/dashboard every second and redraws in place.
// Everything is set with textContent, so nothing from an event is ever parsed as HTML.
"use strict";

const POLL_MS = 1000;
// Today's cases (案件: a routed report opens one) and reports (来件: cases + the reports linked
// to an open case) come first and apart; the kinds below count reports, not cases.
const MAIN_COUNTS = [
  ["today_cases", "今日新立案件", "cases"],
  ["today_reports", "今日来件（案件 + 并案来件）", "reports"],
];
const COUNT_LABELS = [
  ["dispute", "纠纷来件"],
  ["petition", "信访来件"],
  ["wage_arrears", "欠薪来件"],
  ["consultation", "法律咨询"],
  ["linked", "并入已有案件"],
  ["concluded", "已办结"],
  ["incidents", "群体事件"],
  ["escalations", "升级"],
  ["sla_breaches", "超时"],
  ["dead_letters", "退回数据"],
];

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

let utcOffsetMinutes = 480; // the district's local time, whatever the browser's zone

function fmtTime(iso, seconds) {
  const t = Date.parse(iso);
  if (isNaN(t)) return "";
  const d = new Date(t + utcOffsetMinutes * 60000);
  const pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (seconds) return `${hm}:${pad(d.getUTCSeconds())}`;
  return `${d.getUTCMonth() + 1}-${pad(d.getUTCDate())} ${hm}`;
}

function fmtYuan(n) {
  if (!n) return "";
  return n >= 10000 ? `${(n / 10000).toFixed(1)}万元` : `${Math.round(n)}元`;
}

let headerKey = "";

function renderHeat(data) {
  const table = document.getElementById("heat");
  const key = JSON.stringify([data.streets, data.categories]);
  if (key !== headerKey) {
    headerKey = key;
    const head = el("tr");
    head.appendChild(el("th", {}, "街道"));
    for (const c of data.categories) head.appendChild(el("th", { "data-category": c.code }, c.name));
    table.tHead.replaceChildren(head);
    const body = [];
    for (const s of data.streets) {
      const row = el("tr", { "data-street": s.code });
      row.appendChild(el("th", {}, s.name));
      for (const c of data.categories) {
        row.appendChild(
          el("td", {
            id: `cell-${s.code}-${c.code}`,
            class: "cell level-none",
            "data-street": s.code,
            "data-category": c.code,
          }),
        );
      }
      body.push(row);
    }
    table.tBodies[0].replaceChildren(...body);
  }
  const levelName = Object.fromEntries(data.levels.map((l) => [l.code, l.name]));
  for (const s of data.streets) {
    for (const c of data.categories) {
      const td = document.getElementById(`cell-${s.code}-${c.code}`);
      const cell = data.risk[`${s.code}/${c.code}`];
      const level = cell ? cell.level : "none";
      if (td.dataset.level !== level) {
        td.dataset.level = level;
        td.className = `cell level-${level}`;
      }
      td.textContent = cell ? cell.score.toFixed(1) : "";
      td.title = cell ? `${s.name} · ${c.name}：${levelName[level] || level}色，风险分 ${cell.score}` : "";
    }
  }
}

function renderLegend(levels) {
  const legend = document.getElementById("legend");
  if (legend.childElementCount) return;
  for (const l of levels) legend.appendChild(el("span", { class: `level-${l.code}` }, `${l.name}色`));
}

function renderCounts(data) {
  document.getElementById("today").textContent = data.today;
  const main = document.getElementById("counts-main");
  main.replaceChildren(...MAIN_COUNTS.map(([k, label, en]) => {
    const div = el("div", { class: "count main", "data-count": k });
    div.appendChild(el("b", {}, data[k] || 0));
    div.appendChild(el("span", {}, label));
    div.appendChild(el("small", {}, en));
    return div;
  }));
  const box = document.getElementById("counts");
  const items = COUNT_LABELS.map(([k, label]) => {
    const div = el("div", { class: "count", "data-count": k });
    div.appendChild(el("b", {}, data.today_counts[k] || 0));
    div.appendChild(el("span", {}, label));
    return div;
  });
  box.replaceChildren(...items);
}

function renderFeed(feed) {
  const list = document.getElementById("feed");
  if (!feed.length) {
    list.replaceChildren(el("li", { class: "empty" }, "暂无"));
    return;
  }
  list.replaceChildren(
    ...feed.map((f) => {
      const li = el("li", { class: f.type, "data-ref": f.ref });
      li.appendChild(el("time", {}, fmtTime(f.time)));
      if (f.type === "incident") {
        li.appendChild(el("span", { class: "tag" }, "群体事件"));
        const where = f.street ? `${f.street} · ` : "";
        const what = `${where}${f.label} · ${f.people}人 · ${f.cases}件 ${fmtYuan(f.amount_yuan)}`;
        li.appendChild(el("span", {}, what));
      } else {
        li.appendChild(el("span", { class: "tag" }, `${f.label}升级`));
        li.appendChild(el("span", {}, `→ ${f.to}${f.cause ? " · " + f.cause : ""}`));
      }
      return li;
    }),
  );
}

function renderCommittees(committees) {
  const body = document.querySelector("#overdue tbody");
  const rows = committees.filter((c) => c.open || c.overdue).slice(0, 15);
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, null));
    body.firstChild.appendChild(el("td", { colspan: 3, class: "empty" }, "暂无"));
    return;
  }
  body.replaceChildren(
    ...rows.map((c) => {
      const tr = el("tr", { "data-committee": c.code });
      tr.appendChild(el("td", {}, c.name));
      tr.appendChild(el("td", { class: "num" }, c.open));
      tr.appendChild(el("td", { class: c.overdue ? "num hot" : "num" }, c.overdue));
      return tr;
    }),
  );
}

async function tick() {
  const status = document.getElementById("status");
  try {
    const resp = await fetch("/api/dashboard", { cache: "no-store" });
    if (resp.status === 401) {
      window.location.reload(); // the session ended: the server sends the page to the login
      return;
    }
    if (!resp.ok) throw new Error(resp.status);
    const data = await resp.json();
    utcOffsetMinutes = data.utc_offset_minutes;
    renderLegend(data.levels);
    renderHeat(data);
    renderCounts(data);
    renderFeed(data.feed);
    renderCommittees(data.committees);
    status.textContent = `更新于 ${fmtTime(new Date().toISOString(), true)}`;
    status.className = "status";
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (err) {
    status.textContent = "连接中断，正在重试…";
    status.className = "status stale";
  } finally {
    setTimeout(tick, POLL_MS);
  }
}

tick();
