// The operator console: the stream's frames with their moderation hints,
// held frames to publish anyway or discard, live latency from the host's
// histograms, the drops with their funnels, and the placement (the drop
// shown on the viewers' picture). The operator token is kept
// in sessionStorage and sent only as an Authorization header: never in a
// URL, never logged.
import { el, streamFromPath, money, send, slug, newKey, readEvents } from "./common.js";

const stream = streamFromPath();
const TOKEN_KEY = "studio-edge-operator-token";
const $ = id => document.getElementById(id);
const enc = encodeURIComponent;
let token = sessionStorage.getItem(TOKEN_KEY);
let running = null;
const previews = new Map();
const RECENT_SHOWN = 8;
const recent = [];

function signedIn(on) {
  for (const id of ["live", "held-section", "stats-section", "drops-section"]) $(id).hidden = !on;
  $("sign-in").hidden = on;
  $("sign-out").hidden = !on;
}

function denied(status) {
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  signedIn(false);
  $("sign-in-message").textContent = status === 403
    ? `This token does not cover the stream ${stream}.`
    : "This token is not valid. Check it and try again.";
}

/** An operator call; a 401/403 signs out with the reason. */
async function call(url, options = {}) {
  const reply = await send(url, { ...options, token });
  if (reply.status === 401 || reply.status === 403) denied(reply.status);
  return reply;
}

// ---- frames -------------------------------------------------------------

function hintItems(moderation) {
  const hints = (moderation && moderation.hints) || [];
  if (hints.length === 0) return [el("li", {}, "no hints")];
  return hints.map(h => el("li", { class: h.severity }, `${h.code} (${h.severity}): ${h.detail}`));
}

function showLatest(frame) {
  const rendition = [...frame.renditions].sort((a, b) => (b.width || 0) - (a.width || 0))[0];
  if (rendition) {
    $("latest").src = rendition.url;
    $("latest").alt = `Frame ${frame.seq}`;
  }
  const ms = frame.latency_ms.capture_to_publish ?? frame.latency_ms.ingest_to_publish;
  $("latest-caption").textContent = `frame ${frame.seq} · ${ms.toFixed(0)} ms to publish · action ${frame.moderation ? frame.moderation.action : "none"}`;
  $("latest-hints").replaceChildren(...hintItems(frame.moderation));
  if (recent.some(f => f.seq === frame.seq)) return;
  recent.unshift(frame);
  recent.length = Math.min(recent.length, RECENT_SHOWN);
  $("recent").replaceChildren(...recent.map(f => {
    const codes = ((f.moderation && f.moderation.hints) || []).map(h => h.code);
    return el("li", {}, `frame ${f.seq}: ${f.moderation ? f.moderation.action : "not moderated"}${codes.length ? ` (${codes.join(", ")})` : ""}`);
  }));
}

/** Held previews need the token, so they are fetched and shown as blobs. */
async function preview(held, img) {
  const variant = held.frame && held.frame.renditions[0];
  if (!variant) return;
  const url = `/studio/v1/streams/${enc(stream)}/held/${held.seq}/${enc(variant.variant)}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
  if (!response.ok) return;
  const blob = URL.createObjectURL(await response.blob());
  previews.set(held.seq, blob);
  img.src = blob;
}

async function loadHeld() {
  const reply = await call(`/studio/v1/streams/${enc(stream)}/held`);
  if (!reply.ok) return;
  for (const url of previews.values()) URL.revokeObjectURL(url);
  previews.clear();
  const rows = reply.body.held.map(held => {
    const img = el("img", { alt: `Held frame ${held.seq}`, width: 160, height: 90 });
    preview(held, img);
    const act = action => async () => {
      const done = await call(`/studio/v1/streams/${enc(stream)}/held/${held.seq}/${action}`, { method: "POST" });
      $("drops-message").textContent = done.ok
        ? `Frame ${held.seq}: ${action === "publish" ? "published" : "discarded"}.`
        : `Frame ${held.seq}: ${done.body.detail || "failed"}.`;
      loadHeld();
    };
    return el("div", { class: "held-frame", id: `held-${held.seq}` }, img,
      el("div", {},
        el("p", {}, `Frame ${held.seq}, held at ${new Date(held.held_at).toLocaleTimeString()}`),
        el("ul", { class: "hints" }, hintItems(held.moderation)),
        el("p", { class: "row" },
          el("button", { type: "button", onclick: act("publish") }, "Publish anyway"),
          el("button", { type: "button", class: "secondary", onclick: act("discard") }, "Discard"))));
  });
  $("held").replaceChildren(...rows);
  $("held-empty").hidden = rows.length > 0;
  $("decisions").replaceChildren(...reply.body.decisions.slice().reverse().map(d =>
    el("li", {}, `${new Date(d.at).toLocaleTimeString()}: frame ${d.seq} ${d.action === "publish" ? "published anyway" : "discarded"} by ${d.operator} (${d.hints.join(", ") || "no hints"})`)));
}

// ---- latency and drops --------------------------------------------------

const fmt = ms => (ms === null || ms === undefined ? "–" : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
let engagement = {};

async function loadStats() {
  const reply = await call(`/studio/v1/streams/${enc(stream)}/stats`);
  if (!reply.ok) return;
  const s = reply.body;
  engagement = s.engagement || {};
  const rows = [["capture to publish", s.capture_to_publish], ["ingest to publish", s.ingest_to_publish],
    ...Object.entries(s.stages).map(([name, h]) => [`stage: ${name}`, h])];
  $("stats").replaceChildren(...rows.map(([name, h]) =>
    el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, h.count), el("td", {}, fmt(h.mean_ms)),
      el("td", {}, fmt(h.p50_le_ms)), el("td", {}, fmt(h.p99_le_ms)))));
}

async function changeDrop(drop, path, method, body) {
  const reply = await call(`/orders/v1/drops/${enc(drop.id)}${path}`, { method, body, key: newKey() });
  $("drops-message").textContent = reply.ok ? `${drop.title}: saved.` : `${drop.title}: ${reply.body.detail || "failed"}.`;
  loadDrops();
}

let placement = null;
let dropTitles = new Map();

function showPlacement(update) {
  placement = update.placement;
  const title = placement && (dropTitles.get(placement.drop_id) || placement.drop_id);
  $("placement").textContent = placement
    ? `On the picture: ${title} (${placement.position}).`
    : "Nothing is placed on the picture.";
  $("clear-placement").hidden = !placement;
}

async function place(drop, position) {
  const reply = await call(`/studio/v1/streams/${enc(stream)}/placement`, {
    method: position ? "PUT" : "DELETE",
    body: position ? { drop_id: drop.id, position } : undefined,
  });
  $("drops-message").textContent = reply.ok
    ? (position ? `${drop.title}: on the picture.` : "The picture is clear.")
    : `${drop.title || "Placement"}: ${reply.body.detail || "failed"}.`;
  if (reply.ok) showPlacement(reply.body);
}

async function loadDrops() {
  const reply = await call(`/orders/v1/drops?stream=${enc(stream)}`);
  if (!reply.ok) return;
  dropTitles = new Map(reply.body.drops.map(d => [d.id, d.title]));
  const rows = await Promise.all(reply.body.drops.map(async drop => {
    const funnel = (await call(`/orders/v1/drops/${enc(drop.id)}/funnel`)).body || {};
    const seen = engagement[drop.id] || {};
    return el("tr", { id: `row-${drop.id}` },
      el("th", { scope: "row" }, drop.title, el("br"), el("small", { class: "meta" }, `${money(drop.unit_price, drop.currency)} · ${drop.id}`)),
      el("td", {}, drop.status + (drop.pinned ? ", pinned" : "")),
      el("td", {}, `${drop.available}/${drop.units}`),
      el("td", {}, seen.impression || 0), el("td", {}, seen.click || 0),
      el("td", {}, funnel.reservations ?? "–"), el("td", {}, funnel.orders ?? "–"),
      el("td", {}, funnel.released ?? "–"), el("td", {}, funnel.expired ?? "–"),
      el("td", {}, funnel.oversell_incidents ?? "–"),
      el("td", {},
        el("button", { type: "button", class: "secondary", onclick: () => changeDrop(drop, "", "PATCH", { pinned: !drop.pinned }) },
          drop.pinned ? "Unpin" : "Pin"),
        drop.status === "ended" ? null
          : el("button", { type: "button", class: "secondary", onclick: () => changeDrop(drop, "/end", "POST") }, "End"),
        drop.status === "ended" ? null
          : el("button", { type: "button", class: "secondary", onclick: () => place(drop, "bottom-right") }, "Place on picture")));
  }));
  $("drops").replaceChildren(...rows);
}

function minor(value, currency) {
  const digits = new Intl.NumberFormat(undefined, { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  return Math.round(Number(value) * 10 ** digits);
}

$("new-drop").addEventListener("submit", async event => {
  event.preventDefault();
  const f = new FormData(event.target);
  const currency = String(f.get("currency")).toUpperCase();
  const startsAt = Date.now() + Number(f.get("starts_in")) * 60_000;
  const body = {
    sku: f.get("sku"), title: f.get("title"), units: Number(f.get("units")),
    unit_price: minor(f.get("price"), currency), currency,
    starts_at: new Date(startsAt).toISOString(),
    ends_at: new Date(startsAt + Number(f.get("minutes")) * 60_000).toISOString(),
    stream, pinned: f.get("pinned") === "on",
  };
  if (f.get("limit")) body.per_buyer_limit = Number(f.get("limit"));
  if (f.get("hold")) body.hold_seconds = Number(f.get("hold"));
  if (f.get("bundle_units") && f.get("bundle_price")) {
    body.bundle = { units: Number(f.get("bundle_units")), price: minor(f.get("bundle_price"), currency) };
  }
  const reply = await call("/orders/v1/drops", { method: "POST", body, key: newKey() });
  $("drops-message").textContent = reply.ok ? `Created ${reply.body.title} (${reply.body.id}).` : `Not created: ${reply.body.detail || slug(reply.body)}`;
  if (reply.ok) loadDrops();
});

// ---- session ------------------------------------------------------------

function stop() {
  if (running) running.abort();
  running = null;
}

function start() {
  stop();
  signedIn(true);
  running = new AbortController();
  const { signal } = running;
  readEvents(`/streams/${enc(stream)}/operator/events`, {
    token,
    signal,
    onState: (state, status) => {
      if (state === "denied") denied(status);
      else $("latest-caption").textContent = state === "open" ? "Live" : "Connection lost. Reconnecting…";
    },
    onEvent: (name, data) => {
      if (name === "frame" || name === "latest") showLatest(data);
      if (name === "hold" || name === "decision") loadHeld();
      if (name === "placement") showPlacement(data);
    },
  });
  loadHeld();
  call(`/studio/v1/streams/${enc(stream)}/placement`).then(reply => { if (reply.ok) showPlacement(reply.body); });
  const refresh = () => loadStats().then(loadDrops);
  refresh();
  const timer = setInterval(refresh, 2000);
  signal.addEventListener("abort", () => clearInterval(timer));
}

$("token-form").addEventListener("submit", event => {
  event.preventDefault();
  token = $("token").value.trim();
  $("token").value = "";
  $("sign-in-message").textContent = "";
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
});
$("clear-placement").addEventListener("click", () => place({ title: "" }, null));
$("sign-out").addEventListener("click", () => {
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  signedIn(false);
});
$("title").textContent = `Operator console: ${stream}`;
if (token) start();
else signedIn(false);
