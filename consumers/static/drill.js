// Drill-down: a heat cell opens the cases behind it (counts by committee, status and age);
// an incident in the feed opens its member cases (ids, committees, statuses). Set with
// textContent only; the JSON carries codes, counts and display names, no personal data.
"use strict";

(function () {
  const STATUS = { new: "待受理", accepted: "办理中", concluded: "已办结", closed: "已结案" };
  const AGE = { "<1d": "1天内", "1-7d": "1至7天", "7-30d": "7至30天", ">30d": "30天以上" };
  const dialog = document.getElementById("drill");

  function node(tag, attrs, text) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  function table(id, head, rows) {
    const t = node("table", { class: "plain", id });
    const tr = node("tr");
    head.forEach((h, i) => tr.appendChild(node("th", i ? { class: "num" } : {}, h)));
    t.appendChild(node("thead")).appendChild(tr);
    const body = t.appendChild(node("tbody"));
    for (const r of rows) {
      const row = body.appendChild(node("tr"));
      r.forEach((v, i) => row.appendChild(node("td", i ? { class: "num" } : {}, v)));
    }
    if (!rows.length) body.appendChild(node("tr")).appendChild(node("td", { colspan: head.length, class: "empty" }, "暂无"));
    return t;
  }

  async function show(url, render) {
    const title = document.getElementById("drill-title");
    const box = document.getElementById("drill-body");
    title.textContent = "加载中…";
    box.replaceChildren();
    if (!dialog.open) dialog.showModal();
    const resp = await fetch(url, { cache: "no-store" });
    if (resp.status === 401) return window.location.reload();
    if (!resp.ok) {
      title.textContent = "无法加载";
      return;
    }
    render(await resp.json(), title, box);
    dialog.dataset.loaded = url;
  }

  function cell(d, title, box) {
    title.textContent = `${d.street_name} · ${d.category_name}：共 ${d.total} 件`;
    box.append(
      node("h3", {}, "按调委会"),
      table("drill-committees", ["调委会", "件数"], d.by_committee.map((c) => [c.name, c.cases])),
      node("h3", {}, "按状态"),
      table("drill-status", ["状态", "件数"], Object.entries(d.by_status).map(([s, n]) => [STATUS[s] || s, n])),
      node("h3", {}, "按受理时长"),
      table("drill-age", ["时长", "件数"], Object.entries(d.by_age).map(([a, n]) => [AGE[a] || a, n])),
    );
  }

  function incident(d, title, box) {
    title.textContent = `群体事件：${d.people} 人 · ${d.cases.length} 件`;
    box.append(
      table(
        "drill-members",
        ["案件编号", "调委会", "状态"],
        d.cases.map((c) => [c.case_id, c.committee_name || "未入库", STATUS[c.status] || "未入库"]),
      ),
    );
  }

  document.getElementById("heat").addEventListener("click", (ev) => {
    const td = ev.target.closest("td.cell");
    if (!td) return;
    const q = new URLSearchParams({ street: td.dataset.street, category: td.dataset.category });
    show(`/api/drill/cell?${q}`, cell);
  });
  document.getElementById("feed").addEventListener("click", (ev) => {
    const li = ev.target.closest("li.incident");
    if (!li || !li.dataset.ref) return;
    show(`/api/drill/incident/${encodeURIComponent(li.dataset.ref)}`, incident);
  });
})();
