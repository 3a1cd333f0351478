"use strict";
// The catalog's other views: browse it, open an item (edit, delete, similar products), and
// run it (jobs with cancel and resume, reindex with progress and rollback). The address's
// hash names the view (#catalog, #item/<id>, #jobs), so the back button and links work.

const VIEWS = { search: "view-search", catalog: "view-catalog", item: "view-item", ops: "view-ops" };

function note(id, text, cls = "") { const m = $(id); m.textContent = text; m.className = cls; }

function route() {
  const hash = location.hash.slice(1);
  const [name, arg] = hash.split("/");
  const view = name === "jobs" ? "ops" : (VIEWS[name] ? name : "search");
  for (const [key, id] of Object.entries(VIEWS)) $(id).hidden = key !== view;
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("current", a.dataset.view === view);
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (view === "catalog") loadCatalog(true);
  // only an item id reaches a URL: a link to "#item/../keys" must not make the page
  // fetch another route with the user's cookie
  if (view === "item" && /^[0-9a-f]{64}$/.test(arg || "")) openItem(arg);
  else if (view === "item") note("item-message", "That is not an item id.", "error");
  if (view === "ops") { loadOps(); }
}

function card(item, label) {
  const el = document.createElement("a");
  el.className = "hit"; el.href = `#item/${item.item_id || item.id}`;
  el.dataset.itemId = item.item_id || item.id;
  const img = document.createElement("img");
  img.src = item.thumbnail_url; img.alt = item.client_key || el.dataset.itemId; img.loading = "lazy";
  const meta = document.createElement("div"); meta.className = "meta";
  const top = document.createElement("div"); top.className = "score"; top.textContent = label;
  const key = document.createElement("div"); key.className = "key";
  key.textContent = item.client_key || el.dataset.itemId.slice(0, 12);
  meta.append(top, key);
  if (item.product) {
    const p = document.createElement("div"); p.className = "product"; p.textContent = `product ${item.product}`;
    meta.append(p);
  }
  el.append(img, meta);
  return el;
}

// ---- the catalog browser: a page at a time, with the listing's own cursor ---------------
let catalogCursor = null;

async function loadCatalog(fresh) {
  if (fresh) { $("catalog-grid").innerHTML = ""; catalogCursor = null; }
  const params = new URLSearchParams({ limit: "24" });
  const status = $("catalog-status").value; if (status) params.set("status", status);
  const f = $("catalog-filter").value.trim(); if (f) params.set("filter", f);
  if (catalogCursor) params.set("cursor", catalogCursor);
  const resp = await fetch(`/v1/items?${params}`);
  if (!resp.ok) { note("catalog-message", await errorText(resp), "error"); return; }
  const page = await resp.json();
  for (const item of page.items) $("catalog-grid").append(card(item, item.status));
  catalogCursor = page.next_cursor;
  $("catalog-more").hidden = !catalogCursor;
  const shown = $("catalog-grid").children.length;
  note("catalog-message", shown ? `${shown} items shown` + (catalogCursor ? ", more to come" : "") : "no items", shown ? "" : "empty");
}

// ---- one item: its image and fields, saved with PATCH; delete; similar products ---------
let openId = null;

async function openItem(id) {
  openId = id;
  note("item-message", "");
  const resp = await fetch(`/v1/items/${id}`);
  if (!resp.ok) { note("item-message", await errorText(resp), "error"); return; }
  const item = await resp.json();
  $("item-image").src = item.image_url;
  $("item-facts").textContent = `${item.id.slice(0, 16)} · ${item.status} · ${item.width || "?"}×${item.height || "?"} ${item.format || ""} · ${item.source}`;
  $("item-key").value = item.client_key || "";
  $("item-product").value = item.product || "";
  $("item-metadata").value = JSON.stringify(item.metadata, null, 1);
  const grid = $("item-similar"); grid.innerHTML = "";
  const sim = await fetch(`/v1/items/${id}/similar?k=8&group_by=product&group_size=1`);
  if (sim.ok) {
    const data = await sim.json();
    for (const g of data.groups) grid.append(card(g.hits[0], `${Math.round(g.hits[0].similarity * 100)}% similar`));
  }
}

async function saveItem() {
  let metadata;
  try { metadata = JSON.parse($("item-metadata").value || "{}"); }
  catch { note("item-message", "The metadata is not valid JSON.", "error"); return; }
  const body = { metadata, client_key: $("item-key").value, product: $("item-product").value };
  const resp = await fetch(`/v1/items/${openId}`, {
    method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  note("item-message", resp.ok ? "saved" : await errorText(resp), resp.ok ? "" : "error");
}

async function deleteItem() {
  if (!confirm("Delete this item? It leaves every search at once.")) return;
  const resp = await fetch(`/v1/items/${openId}`, { method: "DELETE" });
  if (!resp.ok) { note("item-message", await errorText(resp), "error"); return; }
  location.hash = "#catalog";
}

// ---- jobs and reindex --------------------------------------------------------------------
async function act(url, what) {
  const resp = await fetch(url, { method: "POST" });
  note("ops-message", resp.ok ? `${what}: done` : await errorText(resp), resp.ok ? "" : "error");
  loadOps();
}

async function loadOps() {
  const [jobsResp, stateResp] = await Promise.all([fetch("/v1/jobs?limit=20"), fetch("/v1/reindex")]);
  if (stateResp.ok) {
    const s = await stateResp.json();
    $("reindex-state").textContent = `active ${s.active || "none"}` + (s.previous ? ` · previous ${s.previous}` : "");
  }
  if (!jobsResp.ok) { note("ops-message", await errorText(jobsResp), "error"); return; }
  const box = $("ops-jobs"); box.innerHTML = "";
  for (const j of await jobsResp.json()) {
    const row = document.createElement("div"); row.className = "job"; row.dataset.jobId = j.id;
    const text = document.createElement("div");
    text.textContent = `${j.kind} ${j.id.slice(0, 8)}: ${j.status}, ${j.done}/${j.total} done, ${j.failed} failed` + (j.eta_s ? `, ${Math.round(j.eta_s)} s left` : "");
    const buttons = document.createElement("div");
    if (j.status === "queued" || j.status === "running") {
      const b = document.createElement("button"); b.textContent = "Cancel"; b.className = "cancel";
      b.addEventListener("click", () => act(`/v1/jobs/${j.id}/cancel`, "cancel")); buttons.append(b);
    } else if (j.status === "cancelled" || j.status === "failed") {
      const b = document.createElement("button"); b.textContent = "Resume"; b.className = "resume";
      b.addEventListener("click", () => act(`/v1/jobs/${j.id}/resume`, "resume")); buttons.append(b);
    }
    const bar = document.createElement("progress"); bar.max = 1; bar.value = j.progress;
    row.append(text, buttons, bar); box.append(row);
  }
  if (!box.children.length) box.textContent = "no jobs yet";
}

async function startReindex() {
  const body = { model: $("reindex-model").value.trim(), weights: $("reindex-weights").value.trim() || "default", pooling: $("reindex-pooling").value };
  const resp = await fetch("/v1/reindex", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  note("ops-message", resp.ok ? "reindex started" : await errorText(resp), resp.ok ? "" : "error");
  loadOps();
}

$("catalog-apply").addEventListener("click", () => loadCatalog(true));
$("catalog-more").addEventListener("click", () => loadCatalog(false));
$("item-save").addEventListener("click", saveItem);
$("item-delete").addEventListener("click", deleteItem);
$("reindex-start").addEventListener("click", startReindex);
$("reindex-rollback").addEventListener("click", () => act("/v1/reindex/rollback", "rollback"));
window.addEventListener("hashchange", route);
setInterval(() => { if (!$("view-ops").hidden) loadOps(); }, 2000);
route();
