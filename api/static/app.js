"use strict";
const $ = (id) => document.getElementById(id);
let lastQuery = null;  // {kind: "file", file} or {kind: "item", id}

function say(text, cls = "empty") { const m = $("message"); m.textContent = text; m.className = cls; }

async function errorText(resp) {
  try { const body = await resp.json(); return body.detail || resp.statusText; } catch { return resp.statusText; }
}

function filterValue() {
  const raw = $("filter").value.trim();
  return raw === "" ? null : raw;
}

function showHits(data, label) {
  const grid = $("results");
  grid.innerHTML = "";
  const what = data.groups ? "products" : "results";
  say(`${data.hits.length} ${what} for ${label} in ${data.took_ms.toFixed(0)} ms`);
  const photos = new Map((data.groups || []).map((g) => [g.hits[0].item_id, g.hits.length]));
  for (const hit of data.hits) {
    const card = document.createElement("div");
    card.className = "hit";
    card.dataset.itemId = hit.item_id;
    const img = document.createElement("img");
    img.src = hit.thumbnail_url; img.alt = hit.client_key || hit.item_id; img.loading = "lazy";
    const meta = document.createElement("div");
    meta.className = "meta";
    const score = document.createElement("div");
    score.className = "score"; score.textContent = `${Math.round(hit.similarity * 100)}% similar`;
    score.title = `cosine ${hit.score.toFixed(3)}`;
    const key = document.createElement("div");
    key.className = "key"; key.textContent = hit.client_key || hit.item_id.slice(0, 12);
    key.title = JSON.stringify(hit.metadata);
    meta.append(score, key);
    if (hit.product) {
      const product = document.createElement("div");
      product.className = "product";
      const n = photos.get(hit.item_id);
      product.textContent = `product ${hit.product}` + (n > 1 ? ` · ${n} photos` : "");
      meta.append(product);
    }
    card.append(img, meta);
    card.addEventListener("click", () => searchItem(hit.item_id));
    grid.append(card);
  }
}

function grouping(params) {
  if ($("group-by").checked) { params.append("group_by", "product"); params.append("group_size", "3"); }
}

// The query image, with a region the user drags on it (kept as fractions of the image, the
// form the API takes whatever size the page shows it at).
function showQueryFile(file) {
  const preview = $("query-preview");
  preview.innerHTML = "";
  const frame = document.createElement("div"); frame.className = "frame";
  const img = document.createElement("img"); img.src = URL.createObjectURL(file); img.alt = "query";
  img.draggable = false;
  const mark = document.createElement("div"); mark.id = "box-mark"; mark.hidden = true;
  frame.append(img, mark);
  preview.append(frame, document.createTextNode(file.name));
  let start = null;
  const at = (e) => {
    const r = img.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  };
  const draw = (a, b) => {
    const [x1, x2] = [Math.min(a[0], b[0]), Math.max(a[0], b[0])];
    const [y1, y2] = [Math.min(a[1], b[1]), Math.max(a[1], b[1])];
    Object.assign(mark.style, { left: `${x1 * 100}%`, top: `${y1 * 100}%`, width: `${(x2 - x1) * 100}%`, height: `${(y2 - y1) * 100}%` });
    mark.hidden = false;
    return [x1, y1, x2, y2];
  };
  frame.addEventListener("click", (e) => e.stopPropagation());  // not the file picker
  frame.addEventListener("pointerdown", (e) => { e.preventDefault(); start = at(e); frame.setPointerCapture(e.pointerId); });
  frame.addEventListener("pointermove", (e) => { if (start) draw(start, at(e)); });
  frame.addEventListener("pointerup", (e) => {
    if (!start) return;
    const box = draw(start, at(e)); start = null;
    if (box[2] - box[0] < 0.02 || box[3] - box[1] < 0.02) { mark.hidden = true; return; }  // a click
    $("box").value = box.map((v) => v.toFixed(3)).join(",");
    again();
  });
}

function searchFile(file) {
  lastQuery = { kind: "file", file };
  $("box").value = "";
  showQueryFile(file);
  return runFileSearch();
}

async function runFileSearch() {
  const file = lastQuery.file;
  const form = new FormData();
  form.append("files", file);
  form.append("k", $("k").value);
  const f = filterValue(); if (f) form.append("filter", f);
  const box = $("box").value.trim(); if (box) form.append("box", box);
  grouping(form);
  say("searching…");
  const resp = await fetch("/v1/search/image", { method: "POST", body: form });
  if (!resp.ok) { say(await errorText(resp), "error"); return; }
  showHits(await resp.json(), box ? `a region of ${file.name}` : file.name);
}

async function searchItem(id) {
  lastQuery = { kind: "item", id };
  const preview = $("query-preview");
  preview.innerHTML = "";
  const img = document.createElement("img"); img.src = `/v1/items/${id}/thumbnail`;
  preview.append(img, document.createTextNode(`item ${id.slice(0, 12)}`));
  const params = new URLSearchParams({ k: $("k").value });
  const f = filterValue(); if (f) params.set("filter", f);
  grouping(params);
  say("searching…");
  const resp = await fetch(`/v1/items/${id}/similar?${params}`);
  if (!resp.ok) { say(await errorText(resp), "error"); return; }
  showHits(await resp.json(), `item ${id.slice(0, 12)}`);
}

function again() {
  if (!lastQuery) return;
  if (lastQuery.kind === "file") runFileSearch(); else searchItem(lastQuery.id);
}

function uploadOne(file, metadata) {
  const row = document.createElement("div");
  row.className = "file";
  const name = document.createElement("div"); name.className = "name"; name.textContent = file.name;
  const bar = document.createElement("progress"); bar.max = 100; bar.value = 0;
  const state = document.createElement("div"); state.textContent = "uploading…";
  row.append(name, bar, state);
  $("upload-list").prepend(row);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/items");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = 90 * e.loaded / e.total; };
    xhr.onload = () => {
      bar.value = 100;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch {}
      if (xhr.status !== 200) { state.textContent = body.detail || xhr.statusText; state.className = "failed"; }
      else {
        const r = body.results[0];
        state.textContent = r.status === "failed" ? r.error : (r.existed ? "already in the catalog" : "added");
        state.className = r.status;
        row.dataset.status = r.status;
      }
      resolve();
    };
    xhr.onerror = () => { state.textContent = "network error"; state.className = "failed"; resolve(); };
    const form = new FormData();
    form.append("files", file);
    form.append("client_keys", file.name);
    if (metadata) form.append("metadata", metadata);
    xhr.send(form);
  });
}

async function uploadFiles(files) {
  const metadata = $("upload-meta").value.trim();
  for (const file of files) await uploadOne(file, metadata);  // one at a time: each has its bar
  await refreshStatus();
  refreshJobs();
}

async function refreshStatus() {
  try {
    const r = await fetch("/ready");
    const body = await r.json();
    $("status").textContent = body.detail;
  } catch { $("status").textContent = "server unreachable"; }
}

async function refreshJobs() {
  try {
    const jobs = await (await fetch("/v1/jobs?limit=5")).json();
    const box = $("jobs");
    if (!jobs.length) return;
    box.className = ""; box.innerHTML = "";
    for (const j of jobs) {
      const row = document.createElement("div"); row.className = "file";
      row.textContent = `${j.kind} ${j.id.slice(0, 8)}: ${j.status}, ${j.done}/${j.total} done, ${j.failed} failed`;
      const bar = document.createElement("progress"); bar.max = 1; bar.value = j.progress;
      row.append(bar); box.append(row);
    }
  } catch {}
}

// Near duplicates, group by group: the suggested copy (most pixels, then oldest) is marked;
// "keep this" keeps that one and deletes the group's other copies in one request.
async function showDuplicates() {
  say("looking for near duplicates…");
  const resp = await fetch("/v1/duplicates?limit=50");
  if (!resp.ok) { say(await errorText(resp), "error"); return; }
  const page = await resp.json();
  const grid = $("results");
  grid.innerHTML = "";
  say(page.total ? `${page.total} groups of near duplicates` : "no near duplicates", page.total ? "" : "empty");
  for (const group of page.groups) {
    const row = document.createElement("div"); row.className = "group";
    for (const item of group.items) {
      const card = document.createElement("div");
      card.className = "hit" + (item.item_id === group.keep ? " suggested" : "");
      card.dataset.itemId = item.item_id;
      const img = document.createElement("img"); img.src = item.thumbnail_url; img.alt = item.client_key || item.item_id;
      const meta = document.createElement("div"); meta.className = "meta";
      const size = document.createElement("div"); size.className = "score";
      size.textContent = `${item.width}×${item.height}` + (item.item_id === group.keep ? " · suggested" : "");
      const key = document.createElement("div"); key.className = "key";
      key.textContent = item.client_key || item.item_id.slice(0, 12);
      meta.append(size, key);
      const keep = document.createElement("button"); keep.className = "keep";
      keep.textContent = "Keep this, delete the others";
      keep.addEventListener("click", () => resolveGroup(row, item.item_id, group.items.map((i) => i.item_id)));
      card.append(img, meta, keep);
      row.append(card);
    }
    grid.append(row);
  }
}

async function resolveGroup(row, keep, ids) {
  const others = ids.filter((i) => i !== keep);
  const resp = await fetch("/v1/duplicates/resolve", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ keep, others }),
  });
  if (!resp.ok) { say(await errorText(resp), "error"); return; }
  const done = await resp.json();
  row.remove();
  say(`kept ${keep.slice(0, 12)}, deleted ${done.deleted.length}`);
  refreshStatus();
}

const drop = $("query-drop");
drop.addEventListener("click", () => $("query-input").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter") $("query-input").click(); });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) searchFile(e.dataTransfer.files[0]);
});
$("query-input").addEventListener("change", (e) => { if (e.target.files.length) searchFile(e.target.files[0]); });
$("upload-input").addEventListener("change", (e) => uploadFiles([...e.target.files]));
$("search-again").addEventListener("click", again);
$("find-duplicates").addEventListener("click", showDuplicates);
$("box").addEventListener("keydown", (e) => { if (e.key === "Enter") again(); });
$("group-by").addEventListener("change", again);
// The server keeps the key in an HttpOnly, SameSite=Strict cookie (POST /session), so
// fetches and <img> thumbnails carry it while no script on the page can read it back.
async function setKey(key) {
  const resp = key
    ? await fetch("/session", {method: "POST", headers: {Authorization: `Bearer ${key}`}})
    : await fetch("/session", {method: "DELETE"});
  $("api-key").value = "";
  $("api-key").placeholder = resp.ok ? (key ? "key kept for this browser" : "API key") : "that key was refused";
}
$("api-key").addEventListener("change", async (e) => { await setKey(e.target.value.trim()); refreshJobs(); refreshStatus(); });
refreshStatus();
refreshJobs();
setInterval(refreshJobs, 2000);
