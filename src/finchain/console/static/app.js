// finchain console: one page per area, hash-routed, live through server-sent events.
// Every number comes from the running platform's /api endpoints.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const usd = (cents) => (cents === null || cents === undefined ? "–" : "$" + (Number(cents) / 100).toLocaleString("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 2 }));
const short = (h, n = 10) => (h ? String(h).slice(0, n) + "…" : "");
const time = (ms) => new Date(ms).toLocaleTimeString("en-GB");
async function api(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}
const kpi = (label, value, id) => `<div class="kpi"><div class="v" ${id ? `data-testid="${id}"` : ""}>${value}</div><div class="l">${label}</div></div>`;
const pill = (text, cls) => `<span class="pill ${cls || ""}">${esc(text)}</span>`;
const decisionPill = (d) => pill(d, d === "approve" || d === "financed" ? "ok" : d === "decline" || d === "declined" ? "bad" : "warn");

// ---- charts: uPlot when installed (scripts/console-setup.sh), otherwise a plain SVG line -----
function lineChart(el, xs, series, opts = {}) {
  el.innerHTML = "";
  const width = Math.max(300, el.clientWidth - 4), height = opts.height || 200;
  if (window.uPlot && xs.length > 1) {
    const colors = ["#0b6bcb", "#c0362c", "#12805c", "#b7791f"];
    new uPlot({
      width, height,
      scales: { x: { time: opts.time !== false } },
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % 4], width: 1.5, points: { show: xs.length < 60 } }))],
      axes: [{}, { label: opts.ylabel || "" }],
    }, [xs, ...series.map((s) => s.data)], el);
    return;
  }
  if (xs.length < 2) { el.innerHTML = `<div class="muted">waiting for data…</div>`; return; }
  const all = series.flatMap((s) => s.data), lo = Math.min(...all), hi = Math.max(...all) || 1;
  const x0 = xs[0], x1 = xs[xs.length - 1] || x0 + 1;
  const px = (x) => 30 + ((x - x0) / (x1 - x0 || 1)) * (width - 40), py = (y) => height - 20 - ((y - lo) / (hi - lo || 1)) * (height - 30);
  const paths = series.map((s, i) => `<polyline fill="none" stroke="${["#0b6bcb", "#c0362c"][i % 2]}" points="${s.data.map((y, j) => `${px(xs[j])},${py(y)}`).join(" ")}"/>`).join("");
  el.innerHTML = `<svg width="${width}" height="${height}">${paths}<text x="2" y="12">${hi.toFixed(1)}</text><text x="2" y="${height - 22}">${lo.toFixed(1)}</text></svg>`;
}

// ---- live updates ------------------------------------------------------------------------------
const live = { handlers: {} };
function connectLive() {
  const es = new EventSource("/api/events");
  es.onopen = () => { $("#live").classList.add("on"); $("#live-text").textContent = "live"; };
  es.onerror = () => { $("#live").classList.remove("on"); $("#live-text").textContent = "reconnecting"; };
  for (const kind of ["block", "nodes", "replay", "decisions", "alerts", "steps", "summary"]) {
    es.addEventListener(kind, (ev) => {
      const data = JSON.parse(ev.data);
      if (kind === "steps") renderSteps(data);
      if (kind === "block") { $("#live-text").textContent = `live · block ${data.height}`; }
      const h = live.handlers[kind];
      if (h) h(data);
    });
  }
}
let refreshTimer = null;
function onLive(kinds, fn, minGapMs = 1500) {
  live.handlers = {};
  let last = 0;
  const run = () => { last = Date.now(); refreshTimer = null; fn(); };
  for (const k of kinds) {
    live.handlers[k] = () => {
      if (refreshTimer) return;
      refreshTimer = setTimeout(run, Math.max(0, minGapMs - (Date.now() - last)));
    };
  }
}
function renderSteps(steps) {
  $("#steps").innerHTML = steps.map((s) => `<span class="step ${s.status}" title="${esc(s.detail)}">${s.status === "done" ? "✓" : s.status === "running" ? "…" : s.status === "failed" ? "✗" : "·"} ${esc(s.name)}${s.seconds ? ` (${s.seconds}s)` : ""}</span>`).join("");
}

// ---- network -----------------------------------------------------------------------------------
async function pageNetwork(main) {
  const [n, o] = await Promise.all([api("/api/network"), api("/api/overview")]);
  const rp = o.replay || {};
  main.innerHTML = `<h2>Consortium network <span class="zh">联盟链网络</span></h2>
  <div class="kpis">
    ${kpi("chain height · 区块高度", num(n.height), "net-height")}
    ${kpi("committed transactions", num(n.transactions), "net-txs")}
    ${kpi("nodes up", `${n.nodes.filter((x) => x.up).length}/${n.nodes.length}`, "net-up")}
    ${kpi("median block interval", n.block_interval_ms == null ? "–" : n.block_interval_ms + " ms")}
    ${kpi("SCMS replay", rp.total ? `${num(rp.done)}/${num(rp.total)}` : "–", "net-replay")}
    ${kpi("suite · consensus", `${esc(n.suite || "")} · ${esc(n.consensus || "")}`)}
  </div>
  <div class="grid g2">
    <div class="card"><h3>Committed TPS (5 s buckets of block time)</h3><div id="tps"></div></div>
    <div class="card"><h3>Round latency: submit → all receipts (ms)</h3><div id="lat"></div></div>
  </div>
  <div class="card" style="margin-top:12px"><h3>Nodes <span class="zh">节点</span></h3>
  <table data-testid="nodes"><tr><th>node</th><th>org</th><th>role</th><th class="num">height</th><th class="num">peers</th><th class="num">mempool</th><th>RPC</th><th>state</th></tr>
  ${n.nodes.map((x) => `<tr><td>${esc(x.name)}</td><td>${esc(x.org)}</td><td>${x.role === "validator" ? "validator 验证节点" : "observer 观察节点"}</td>
   <td class="num node-height">${num(x.height)}</td><td class="num">${num(x.peers)}</td><td class="num">${num(x.mempool)}</td>
   <td class="mono">${esc(x.host)}:${x.rpc_port}</td><td>${x.up ? pill("up", "ok") : pill("down", "bad")}</td></tr>`).join("")}
  </table></div>
  <div class="card" style="margin-top:12px"><h3>Run summary</h3><div id="summary">${summaryTable(o.summary)}</div></div>`;
  lineChart($("#tps"), n.tps.map((p) => p.t), [{ label: "TPS", data: n.tps.map((p) => p.tps) }], { ylabel: "tx/s" });
  if (n.latency.length) lineChart($("#lat"), n.latency.map((p) => p.t), [{ label: "ms", data: n.latency.map((p) => p.ms) }], { ylabel: "ms" });
  else $("#lat").innerHTML = `<div class="muted">no business actions submitted by this run yet${(o.replay || {}).skipped ? " (resumed: the deliveries are on chain already)" : ""}</div>`;
  onLive(["block", "nodes", "summary"], () => route(true), 2500);
}
function summaryTable(s) {
  if (!s || !Object.keys(s).length) return `<div class="muted">the summary appears when the replay is done</div>`;
  return `<table data-testid="summary">${Object.entries(s).map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num" data-key="${esc(k)}">${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`).join("")}</table>`;
}

// ---- explorer ----------------------------------------------------------------------------------
async function pageExplorer(main, arg) {
  if (arg && arg.startsWith("tx/")) return txView(main, arg.slice(3));
  if (arg && arg.startsWith("block/")) return blockView(main, Number(arg.slice(6)));
  const blocks = await api("/api/blocks?limit=40");
  main.innerHTML = `<h2>Explorer <span class="zh">区块浏览器</span></h2>
  <div class="card"><table data-testid="blocks"><tr><th class="num">height</th><th>hash</th><th>time</th><th class="num">txs</th><th class="num">failed</th><th>proposer</th></tr>
  ${blocks.map((b) => `<tr><td class="num"><a class="lnk" href="#explorer/block/${b.height}">${b.height}</a></td><td class="mono">${short(b.hash, 18)}</td><td>${time(b.timestamp)}</td><td class="num">${b.txCount}</td><td class="num">${b.failed}</td><td>${esc(b.proposer)}</td></tr>`).join("")}
  </table></div>`;
  onLive(["block"], () => route(true), 3000);
}
async function blockView(main, h) {
  const b = await api(`/api/block/${h}`);
  main.innerHTML = `<h2>Block ${b.height} <span class="zh">区块</span></h2>
  <div class="card"><table>
   ${["hash", "parentHash", "timestamp", "proposer", "txCount", "txRoot", "receiptRoot", "stateDigest"].map((k) => `<tr><th>${k}</th><td class="mono">${esc(k === "timestamp" ? new Date(b[k]).toISOString() + " (" + b[k] + ")" : b[k])}</td></tr>`).join("")}
  </table></div>
  <div class="card" style="margin-top:12px"><h3>Transactions and receipts</h3><table data-testid="block-txs"><tr><th>tx</th><th>status</th><th>events</th></tr>
  ${b.txs.map((t) => `<tr><td class="mono"><a class="lnk" href="#explorer/tx/${t.hash}">${short(t.hash, 20)}</a></td><td>${t.ok ? pill("ok", "ok") : pill(t.error || "failed", "bad")}</td><td>${t.events.map(esc).join(", ")}</td></tr>`).join("")}
  </table></div>`;
  onLive([], () => {});
}
async function txView(main, hash) {
  const t = await api(`/api/tx/${hash}`);
  const tx = t.transaction, r = t.receipt;
  main.innerHTML = `<h2>Transaction <span class="zh">交易</span></h2>
  <div class="grid g2">
   <div class="card"><h3>Transaction</h3><table>
    <tr><th>hash</th><td class="mono" data-testid="tx-hash">${esc(tx.hash)}</td></tr>
    <tr><th>block</th><td><a class="lnk" href="#explorer/block/${tx.height}">${tx.height}</a> (index ${tx.index})</td></tr>
    <tr><th>call</th><td>${esc(tx.contract)}.${esc(tx.method)}</td></tr>
    <tr><th>sender</th><td>${esc(tx.sender_name)} <span class="mono muted">${esc(tx.sender)}</span></td></tr>
    <tr><th>args</th><td class="mono">${esc(JSON.stringify(tx.args)).slice(0, 1200)}</td></tr></table></div>
   <div class="card"><h3>Receipt <span class="zh">回执</span></h3><table>
    <tr><th>status</th><td>${r && r.ok ? pill("ok", "ok") : pill(r ? r.error : "none", "bad")}</td></tr>
    <tr><th>return</th><td class="mono">${esc(JSON.stringify(r && r.returnValue)).slice(0, 400)}</td></tr>
    <tr><th>events</th><td>${(r ? r.events : []).map((e) => `<div><b>${esc(e.contract)}.${esc(e.event)}</b> <span class="mono">${esc(JSON.stringify(e.data)).slice(0, 300)}</span></div>`).join("")}</td></tr></table></div>
  </div>
  <div class="card" style="margin-top:12px"><h3>Merkle inclusion proof <span class="zh">默克尔证明</span></h3>
   <table>${Object.entries(t.proof || {}).map(([k, v]) => `<tr><th>${esc(k)}</th><td class="mono">${esc(typeof v === "string" ? v : JSON.stringify(v)).slice(0, 600)}${String(typeof v === "string" ? v : JSON.stringify(v)).length > 600 ? "…" : ""}</td></tr>`).join("")}</table>
   <p><button id="verify" data-testid="verify">Verify with the light client</button> <span id="verify-out" class="verify" data-testid="verify-out"></span></p>
   <div id="verify-detail" class="note"></div></div>`;
  $("#verify").onclick = async () => {
    $("#verify-out").textContent = "checking…";
    const v = await api(`/api/tx/${hash}/verify`);
    $("#verify-out").className = "verify " + (v.verified ? "ok" : "bad");
    $("#verify-out").textContent = v.verified ? `✓ verified: included in block ${v.height}` : `✗ not verified: ${v.error}`;
    $("#verify-detail").innerHTML = v.verified ? `${v.checks.map(esc).join(" · ")}<br>tx_root <span class="mono">${esc(v.tx_root)}</span>, ${v.validators} genesis validators` : "";
  };
  onLive([], () => {});
}

// ---- SCF ---------------------------------------------------------------------------------------
async function pageScf(main, arg) {
  if (arg && arg.startsWith("order/")) return orderView(main, decodeURIComponent(arg.slice(6)));
  const q = sessionStorage.getItem("scf-q") || "";
  const [parties, orders, iot, o] = await Promise.all([api("/api/scf/parties"), api(`/api/scf/orders?limit=60&q=${encodeURIComponent(q)}`), api("/api/iot"), api("/api/overview")]);
  const c = o.chain;
  main.innerHTML = `<h2>Supply-chain finance <span class="zh">供应链金融 · 数字债权凭证</span></h2>
  <div class="kpis">
   ${kpi("orders · 订单", num(c.orders), "scf-orders")}
   ${kpi("deliveries proven by devices", num(c.deliveries_confirmed), "scf-delivered")}
   ${kpi("vouchers issued · 凭证签发", num(c.vouchers_issued), "scf-issued")}
   ${kpi("split to tier 2 · 拆分流转", num(c.vouchers_split), "scf-split")}
   ${kpi("financed · 融资放款", num(c.financed), "scf-financed")}
   ${kpi("declined · 拒绝", num(c.declined), "scf-declined")}
   ${kpi("financed amount", usd(c.financed_amount))}
   ${kpi("excursions · 异常", num(c.excursions))}
  </div>
  <div class="grid g2">
   <div class="card"><h3>Orders → vouchers → financing (SCMS deliveries)</h3>
    <input type="search" id="q" placeholder="order id (SCMS-…) or supplier" value="${esc(q)}">
    <div class="scroll"><table data-testid="orders"><tr><th>order</th><th>supplier 供应商</th><th class="num">amount</th><th>voucher</th><th class="num">pieces</th><th>financing 保理/融资</th></tr>
    ${orders.orders.map((r) => `<tr><td><a class="lnk order-link" href="#scf/order/${encodeURIComponent(r.order)}">${esc(r.order)}</a>${r.flagged ? " " + pill("excursion", "warn") : ""}</td><td>${esc(r.supplier)}</td><td class="num">${usd(r.amount)}</td><td class="mono">${esc(r.voucher || "")}</td><td class="num">${r.pieces}</td><td>${r.financing ? decisionPill(r.financing) : "–"}</td></tr>`).join("")}
    </table></div><div class="note">${num(orders.total)} orders; newest first</div></div>
   <div class="card"><h3>IoT: shipment trackers on the corridor <span class="zh">物联网轨迹</span></h3><div id="map"></div>
    <div class="note">${Object.entries(iot.devices).map(([k, v]) => `${num(v)} ${esc(k)} devices`).join(", ")} · ${num(iot.anchored_batches)} reading batches anchored on chain. Track drawn from the GPS fixes the devices signed (UK bus route 14 trace); no map tiles.</div></div>
  </div>
  <div class="grid g2" style="margin-top:12px">
   <div class="card"><h3>Cold-chain temperatures (°C) <span class="zh">冷链温度</span></h3><div id="temps"></div><div class="note">band −25 … −18 °C; readings replayed from the UCI occupancy log</div></div>
   <div class="card"><h3>Excursions <span class="zh">温度/轨迹异常</span></h3><div class="scroll" style="max-height:230px"><table><tr><th>order</th><th>event</th><th>reason</th><th class="num">block</th></tr>
    ${iot.excursions.slice().reverse().slice(0, 30).map((e) => `<tr><td><a class="lnk" href="#scf/order/${encodeURIComponent(e.order)}">${esc(e.order)}</a></td><td>${esc(e.event)}</td><td>${esc(e.reason)}</td><td class="num">${e.height}</td></tr>`).join("") || `<tr><td colspan="4" class="muted">none so far</td></tr>`}
   </table></div></div>
  </div>
  <div class="card" style="margin-top:12px"><h3>Enterprises <span class="zh">核心企业 · 供应商 · 银行 · 物流 · 仓储 · 监管</span></h3><div class="scroll"><table data-testid="parties"><tr><th>name</th><th>role</th><th class="num">vouchers held</th><th class="num">financed</th><th>address</th></tr>
   ${parties.map((p) => `<tr><td>${esc(p.name)}</td><td>${roleLabel(p.role)}</td><td class="num">${p.vouchers}</td><td class="num">${p.financed}</td><td class="mono">${short(p.address, 14)}</td></tr>`).join("")}
  </table></div></div>`;
  $("#q").onchange = () => { sessionStorage.setItem("scf-q", $("#q").value); route(true); };
  drawMap($("#map"), iot.corridor, iot.tracks);
  const tser = iot.temperatures.slice(-4);
  if (tser.length) {
    const xs = tser[0].points.map((p) => p[0] / 1000);
    lineChart($("#temps"), xs, [{ label: tser[0].order, data: tser[0].points.map((p) => p[1]) }], { height: 180, ylabel: "°C" });
  } else $("#temps").innerHTML = `<div class="muted">no cold-chain shipment yet</div>`;
  onLive(["replay"], () => route(true), 4000);
}
const ROLES = { core: "core enterprise 核心企业", supplier: "supplier 供应商", bank: "bank 银行", logistics: "logistics 物流", warehouse: "warehouse 仓储", regulator: "regulator 监管", operator: "operator 平台" };
const roleLabel = (r) => esc(ROLES[r] || r);
// the UCI Taiwan columns as the demo fills them (docs/console.md): reason codes in business words
function featureLabel(f) {
  const m = /^X(\d+)$/.exec(f || "");
  if (!m) return esc(f);
  const i = Number(m[1]);
  const k = (i - 6) % 6 + 1;
  const what = i === 1 ? "financing amount (as credit limit)" : i <= 5 ? "demographic (missing: not in SCF data)"
    : i <= 11 ? `lateness of delivery −${k}` : i <= 17 ? `value of delivery −${k}` : `value delivered on time, delivery −${k}`;
  return `${esc(f)} <span class="muted">${what}</span>`;
}

function drawMap(el, corridor, tracks, h = 300) {
  const w = Math.max(300, el.clientWidth - 4);
  const pts = corridor.concat(tracks.flatMap((t) => t.points));
  if (!pts.length) { el.innerHTML = `<div class="muted">no readings yet</div>`; return; }
  const lats = pts.map((p) => p[0]), lons = pts.map((p) => p[1]);
  const la0 = Math.min(...lats), la1 = Math.max(...lats), lo0 = Math.min(...lons), lo1 = Math.max(...lons);
  const k = Math.cos(((la0 + la1) / 2) * Math.PI / 180);
  const sx = (w - 20) / ((lo1 - lo0) * k || 1), sy = (h - 20) / (la1 - la0 || 1), s = Math.min(sx, sy);
  const X = (lon) => 10 + (lon - lo0) * k * s, Y = (lat) => h - 10 - (lat - la0) * s;
  const colors = ["#c0362c", "#12805c", "#b7791f", "#7a5af8", "#0b6bcb", "#e04f16"];
  const line = `<polyline fill="none" stroke="#98a2b3" stroke-width="2" stroke-dasharray="4 3" points="${corridor.map((p) => `${X(p[1]).toFixed(1)},${Y(p[0]).toFixed(1)}`).join(" ")}"/>`;
  const trk = tracks.map((t, i) => `<g data-order="${esc(t.order)}"><polyline fill="none" stroke="${colors[i % 6]}" stroke-width="3" points="${t.points.map((p) => `${X(p[1]).toFixed(1)},${Y(p[0]).toFixed(1)}`).join(" ")}"/>${t.points.map((p) => `<circle cx="${X(p[1]).toFixed(1)}" cy="${Y(p[0]).toFixed(1)}" r="3" fill="${colors[i % 6]}"><title>${esc(t.order)} ${p[0].toFixed(5)}, ${p[1].toFixed(5)} at ${new Date(p[2]).toISOString()}</title></circle>`).join("")}</g>`).join("");
  el.innerHTML = `<svg data-testid="map" width="${w}" height="${h}" style="background:#f8fafc;border-radius:6px">${line}${trk}
   <text x="${w - 150}" y="16">${la1.toFixed(3)}°N ${lo0.toFixed(3)}°</text><text x="8" y="${h - 4}">${la0.toFixed(3)}°N ${lo1.toFixed(3)}°</text></svg>`;
}

function voucherTree(tree) {
  const kids = {};
  for (const v of tree) (kids[v.parent || ""] = kids[v.parent || ""] || []).push(v);
  const node = (v) => `<li><span class="vbox ${esc(v.status)}" data-voucher="${esc(v.id)}"><b class="mono">${esc(v.id)}</b> ${pill(v.status, v.status === "FINANCED" ? "ok" : "")}
   face ${usd(v.face)} · available ${usd(v.available)} · holder ${esc(v.holder_name)}${v.financing ? ` · financing ${usd(v.financing.amount)} at ${v.financing.discount_bps} bp${v.financing.registration_no ? ", 中登 " + esc(v.financing.registration_no) : ""}` : ""}</span>
   ${(kids[v.id] || []).length ? `<ul>${kids[v.id].map(node).join("")}</ul>` : ""}</li>`;
  const roots = tree.filter((v) => !v.parent || !tree.some((x) => x.id === v.parent));
  return `<div class="tree" data-testid="voucher-tree"><ul>${roots.map(node).join("")}</ul></div>`;
}

async function orderView(main, id) {
  const o = await api(`/api/scf/order/${encodeURIComponent(id)}`);
  const d = o.decision, oc = o.on_chain || {};
  const gps = o.readings.filter((r) => r.kind === "gnss").map((r) => [r.value.lat_e6 / 1e6, r.value.lon_e6 / 1e6, r.ts]);
  const temps = o.readings.filter((r) => r.kind === "temperature");
  const iot = await api("/api/iot?orders_n=0");
  main.innerHTML = `<h2>Order ${esc(id)} <span class="zh">订单 → 交付 → 发票 → 凭证 → 融资</span></h2>
  <div class="grid g2">
   <div class="card"><h3>On chain <span class="zh">链上订单</span></h3><table>
    <tr><th>buyer 核心企业</th><td>${esc(o.buyer)}</td></tr><tr><th>supplier 供应商</th><td>${esc(o.supplier)}</td></tr>
    <tr><th>amount</th><td data-testid="order-amount">${usd(oc.amount)}</td></tr><tr><th>status</th><td>${esc(oc.status)}</td></tr>
    <tr><th>goods</th><td>${esc(oc.goods)}</td></tr><tr><th>flags</th><td>${(oc.flags || []).length ? (oc.flags || []).map(f => `<span class="pill bad">${esc(typeof f === "string" ? f : JSON.stringify(f))}</span>`).join(" ") : "none"}</td></tr></table>
    <h3 style="margin-top:12px">Timeline <span class="zh">业务时间线</span></h3><ul class="timeline" data-testid="timeline">
    ${o.timeline.map((e) => `<li><b>${esc(e.event)}</b> · block <a class="lnk" href="#explorer/tx/${esc(e.tx)}">${e.height}</a> · ${time(e.ts)}</li>`).join("")}</ul></div>
   <div class="card"><h3>Voucher tree <span class="zh">数字债权凭证：签发 → 拆分 → 融资</span></h3>${voucherTree(o.tree)}
    <h3 style="margin-top:14px">Risk decision <span class="zh">风控决策</span></h3>
    ${d ? `<div data-testid="decision"><p>${decisionPill(d.decision)} on voucher <span class="mono">${esc(d.voucher)}</span> for ${usd(d.amount)} (holder ${esc(d.holder_name)}) — probability of default ${(d.probability * 100).toFixed(1)}%, score ${Number(d.score).toFixed(0)}, model ${esc(d.model_version)}</p>
      ${(d.reasons || []).length ? `<table><tr><th>reason code</th><th class="num">value</th><th class="num">points</th></tr>${d.reasons.map((r) => `<tr><td>${featureLabel(r.feature)}</td><td class="num">${esc(r.value)}</td><td class="num">${esc(r.points ?? "")}</td></tr>`).join("")}</table>` : `<p class="muted">no adverse reason codes (no feature cost points)</p>`}</div>` : `<div class="muted" data-testid="decision">no financing decision for this order yet</div>`}
   </div>
  </div>
  <div class="grid g2" style="margin-top:12px">
   <div class="card"><h3>Tracker fixes (signed by the device, anchored by the gateway)</h3><div id="omap"></div></div>
   <div class="card"><h3>Readings <span class="zh">设备读数</span></h3><div class="scroll" style="max-height:300px"><table><tr><th>device</th><th>#</th><th>time</th><th>value</th><th>batch</th></tr>
    ${o.readings.map((r) => `<tr><td class="mono">${short(r.device, 10)} ${esc(r.kind)}</td><td>${r.counter}</td><td>${new Date(r.ts).toISOString().slice(0, 19)}</td><td class="mono">${r.kind === "gnss" ? (r.value.lat_e6 / 1e6).toFixed(5) + ", " + (r.value.lon_e6 / 1e6).toFixed(5) : (r.value.celsius_milli / 1000).toFixed(2) + " °C"}</td><td class="mono">${short(r.batch, 10)}</td></tr>`).join("")}
   </table></div>${temps.length ? `<div id="otemp"></div>` : ""}</div>
  </div>`;
  drawMap($("#omap"), iot.corridor, gps.length ? [{ order: id, points: gps }] : [], 260);
  if (temps.length) lineChart($("#otemp"), temps.map((r) => r.ts / 1000), [{ label: "°C", data: temps.map((r) => r.value.celsius_milli / 1000) }], { height: 150 });
  onLive([], () => {});
}

// ---- risk --------------------------------------------------------------------------------------
async function pageRisk(main) {
  const r = await api("/api/risk");
  const m = r.model || {}, t = (m.metrics || {}).test || {};
  const drift = r.drift || {};
  const psi = Object.entries(drift.feature_psi || {}).sort((a, b) => b[1] - a[1]).slice(0, 8);
  main.innerHTML = `<h2>Risk control <span class="zh">智能风控</span></h2>
  <div class="kpis">
   ${kpi("scorer", esc(r.scorer))}
   ${kpi("decisions · 决策", num(r.total), "risk-total")}
   ${kpi("approved · 通过", num(r.approved), "risk-approved")}
   ${Object.entries(r.counts).map(([k, v]) => kpi(esc(k), num(v))).join("")}
   ${kpi("test AUC (UCI Taiwan)", t.auc ? t.auc.toFixed(3) : "–", "risk-auc")}
   ${kpi("test KS", t.ks ? t.ks.toFixed(3) : "–")}
   ${kpi("score PSI (drift)", drift.score_psi != null ? Number(drift.score_psi).toFixed(2) : "–", "risk-psi")}
  </div>
  <div class="grid g2">
   <div class="card"><h3>Model report <span class="zh">模型报告</span></h3><table>
    <tr><th>version</th><td>${esc(m.version || "–")}</td></tr><tr><th>kind</th><td>${esc(m.kind || "–")}</td></tr><tr><th>target</th><td>${esc(m.target || "")}</td></tr>
    ${Object.entries(t).filter(([, v]) => typeof v === "number").map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${v.toFixed(4)}</td></tr>`).join("")}
    <tr><th>policy</th><td class="mono">${esc(JSON.stringify(m.policy || {}))}</td></tr></table>
    <div class="note">Trained on the UCI Taiwan card default data; a financing request is mapped onto its columns (X1 amount, X6–X11 delivery lateness as repayment status, X12–X23 delivery values) — see docs/console.md.</div></div>
   <div class="card"><h3>Drift: PSI of live requests vs training <span class="zh">模型漂移</span></h3><table><tr><th>feature</th><th class="num">PSI</th></tr>
    ${psi.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${Number(v).toFixed(2)}</td></tr>`).join("") || `<tr><td colspan=2 class="muted">${esc(drift.error || "no live requests yet")}</td></tr>`}</table>
    <div class="note">Demographic columns (X2–X5) are never filled from SCF data, so their PSI is high by construction.</div>
    <h3 style="margin-top:10px">Most frequent reason codes</h3><table>${Object.entries(r.reason_counts).map(([k, v]) => `<tr><td>${featureLabel(k)}</td><td class="num">${v}</td></tr>`).join("")}</table></div>
  </div>
  <div class="card" style="margin-top:12px"><h3>Live decisions <span class="zh">实时决策 · 保理融资申请</span></h3><div class="scroll"><table data-testid="decisions"><tr><th>line</th><th>voucher</th><th>applicant</th><th class="num">amount</th><th>decision</th><th class="num">PD</th><th class="num">score</th><th>reason codes</th></tr>
   ${r.decisions.map((d) => `<tr><td><a class="lnk" href="#scf/order/SCMS-${esc(d.line)}">SCMS-${esc(d.line)}</a></td><td class="mono">${esc(d.voucher)}</td><td>${esc(d.holder_name)}</td><td class="num">${usd(d.amount)}</td><td>${decisionPill(d.decision)}</td><td class="num">${(d.probability * 100).toFixed(1)}%</td><td class="num">${Number(d.score).toFixed(0)}</td><td>${(d.reasons || []).map((x) => esc(x.feature)).join(", ")}</td></tr>`).join("")}
  </table></div></div>`;
  onLive(["decisions"], () => route(true), 4000);
}

// ---- supervision ---------------------------------------------------------------------------------
async function pageSupervision(main, arg) {
  const a = await api("/api/alerts");
  main.innerHTML = `<h2>Supervision <span class="zh">穿透式监管 · 预警</span></h2>
  <div class="kpis">${kpi("alerts · 预警", num(a.alerts.length), "alerts-count")}${kpi("transfers watched", num(a.transfers_seen))}${kpi("watch · every block", a.watch ? "on" : "unavailable")}</div>
  <div class="grid g2">
   <div class="card"><h3>Alerts with evidence</h3><div class="scroll"><table data-testid="alerts"><tr><th>typology</th><th class="num">block</th><th>summary</th><th class="num">edges</th></tr>
   ${a.alerts.map((x) => `<tr><td><a class="lnk alert-link" href="#supervision/${x.id}">${esc(x.typology)}</a>${x.superseded_by ? " " + pill("superseded", "") : ""}</td><td class="num">${x.block}</td><td>${esc(x.summary)}</td><td class="num">${x.edges}</td></tr>`).join("") || `<tr><td colspan=4 class="muted">no alerts so far</td></tr>`}
   </table></div></div>
   <div class="card"><h3>Fund-flow graph <span class="zh">资金流向图</span></h3><div id="graph" class="muted">choose an alert</div><div id="evidence"></div></div>
  </div>`;
  if (arg) {
    const al = await api(`/api/alerts/${arg}`);
    drawGraph($("#graph"), al);
    $("#evidence").innerHTML = `<h3 style="margin-top:10px">${esc(al.typology)}: ${esc(al.summary)}</h3><table data-testid="evidence"><tr><th>tx</th><th>from</th><th>to</th><th class="num">amount</th><th class="num">block</th></tr>
     ${al.graph.edges.map((e) => `<tr><td class="mono"><a class="lnk" href="#explorer/tx/${esc(e.tx_id)}">${short(e.tx_id, 12)}</a></td><td>${esc(e.src_name)}</td><td>${esc(e.dst_name)}</td><td class="num">${usd(e.amount)}</td><td class="num">${e.block}</td></tr>`).join("")}</table>`;
  }
  onLive(["alerts"], () => route(true), 5000);
}
function drawGraph(el, al) {
  // fund flows left to right: accounts that only pay, accounts that pay and receive, accounts that only receive
  const nodes = al.graph.nodes, edges = al.graph.edges;
  const outs = {}, ins = {};
  for (const e of edges) { outs[e.src] = (outs[e.src] || 0) + 1; ins[e.dst] = (ins[e.dst] || 0) + 1; }
  const cols = [[], [], []];
  for (const n of nodes) cols[!ins[n.id] ? 0 : !outs[n.id] ? 2 : 1].push(n);
  const used = cols.filter((c) => c.length);
  const w = Math.max(360, el.clientWidth - 4), rows = Math.max(...used.map((c) => c.length));
  const h = Math.max(200, 40 + rows * 34), pos = {};
  used.forEach((c, ci) => {
    const x = used.length === 1 ? w / 2 : 190 + (ci * (w - 380)) / (used.length - 1);
    c.forEach((n, i) => { pos[n.id] = [x, 24 + ((i + 0.5) * (h - 40)) / c.length]; n.col = used.length > 1 && ci === used.length - 1 ? "r" : ci === 0 ? "l" : "m"; });
  });
  const maxA = Math.max(...edges.map((e) => e.amount), 1);
  const lines = edges.map((e) => { const [x1, y1] = pos[e.src], [x2, y2] = pos[e.dst]; return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#0b6bcb" stroke-opacity="0.55" stroke-width="${1 + 5 * e.amount / maxA}" marker-end="url(#arr)"><title>${esc(e.src_name)} → ${esc(e.dst_name)}: ${usd(e.amount)}</title></line>`; }).join("");
  const circles = nodes.map((n) => { const [x, y] = pos[n.id]; const anchor = n.col === "l" ? "end" : n.col === "r" ? "start" : "middle"; const tx = n.col === "l" ? x - 12 : n.col === "r" ? x + 12 : x; const ty = n.col === "m" ? y - 12 : y + 4;
    return `<g><circle cx="${x}" cy="${y}" r="${n.focus ? 9 : 7}" fill="${n.focus ? "#c0362c" : "#12805c"}"><title>${esc(n.name)} (${esc(n.role)})</title></circle><text x="${tx}" y="${ty}" text-anchor="${anchor}">${esc(n.name.length > 24 ? n.name.slice(0, 23) + "…" : n.name)}</text></g>`; }).join("");
  el.className = "";
  el.innerHTML = `<svg data-testid="graph" width="${w}" height="${h}"><defs><marker id="arr" viewBox="0 0 10 10" refX="16" refY="5" markerWidth="5" markerHeight="5" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#0b6bcb"/></marker></defs>${lines}${circles}</svg>
  <div class="note">red: the alert's focal accounts; line width ∝ amount; hover for amounts.</div>`;
}

// ---- stream ----------------------------------------------------------------------------------
async function pageStream(main) {
  const s = await api("/api/stream");
  main.innerHTML = `<h2>Stream indicators and rules <span class="zh">实时指标与规则</span></h2>
  <div class="kpis">${kpi("events processed", num(s.events), "stream-events")}${kpi("rule hits", num(s.hit_count), "stream-hits")}${kpi("stream engine · chain events", s.engine ? "on" : "unavailable")}</div>
  <div class="grid g2">
   <div class="card"><h3>Per-party financing velocity (10 min window of block time) <span class="zh">融资频率</span></h3><div class="scroll"><table data-testid="indicators"><tr><th>applicant</th><th class="num">requests</th><th class="num">amount</th></tr>
    ${s.indicators.map((r) => `<tr><td>${esc(r.name)}</td><td class="num">${num(r["financing_10m.count"])}</td><td class="num">${usd(r["financing_10m.sum"])}</td></tr>`).join("")}
   </table></div></div>
   <div class="card"><h3>Rules <span class="zh">规则</span></h3><table>${Object.entries(s.rules).map(([k, v]) => `<tr><td>${esc(k)}</td><td class="mono">${esc(v)}</td></tr>`).join("")}</table>
    <h3 style="margin-top:10px">Hits</h3><div class="scroll" style="max-height:260px"><table><tr><th>rule</th><th>party</th><th class="num">block</th></tr>
    ${s.hits.map((h) => `<tr><td>${esc(h.rule)} ${pill(h.action, "warn")}</td><td>${esc(h.name)}</td><td class="num">${h.height}</td></tr>`).join("") || `<tr><td colspan=3 class="muted">no hits</td></tr>`}</table></div></div>
  </div>`;
  onLive(["decisions", "block"], () => route(true), 5000);
}

// ---- routing -----------------------------------------------------------------------------------
const PAGES = { network: pageNetwork, explorer: pageExplorer, scf: pageScf, risk: pageRisk, supervision: pageSupervision, stream: pageStream };
async function route(refresh) {
  const [page, ...rest] = (location.hash.slice(1) || "network").split("/");
  const arg = rest.join("/");
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
  const main = $("#main");
  try {
    const y = window.scrollY;
    await (PAGES[page] || pageNetwork)(main, arg);
    main.dataset.loaded = page;
    if (refresh) window.scrollTo(0, y);
  } catch (e) {
    main.innerHTML = `<div class="card verify bad">${esc(e.message)}</div>`;
  }
}
window.addEventListener("hashchange", () => route(false));
api("/api/overview").then((o) => renderSteps(o.steps)).catch(() => {});
connectLive();
route(false);
