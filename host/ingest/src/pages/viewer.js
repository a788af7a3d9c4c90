// The viewer page: the live picture from server-sent events, a product
// card per pinned drop of the stream, and a consent-first buy flow through
// the edge cart (/v1/cart/*). Prices, stock and every clock come from the
// server; the page never invents scarcity or a timer. With the client
// package (/client/), a try-on panel and product overlays on the picture:
// the drop the viewer taps, or the one the studio placed.
import { el, streamFromPath, money, serverClock, duration, clockTime, send, slug, newKey } from "./common.js";

const stream = streamFromPath();
const TERMS_VERSION = "studio-edge-terms-1";
const MAX_QUANTITY = 10;

// An anonymous buyer id kept by this browser, so the origin can apply
// per-buyer limits.
const buyerId = localStorage.getItem("studio-edge-buyer") || newKey();
localStorage.setItem("studio-edge-buyer", buyerId);

// What the page measured, for the browser benchmark (benches/browser):
// capture-to-visible per frame, tap-to-hold and tap-to-order in ms.
// `tryOn` and `overlay` (the client package's panels, once loaded) keep
// their own `measured`.
const measured = { frames: [], holds: [], orders: [] };
window.studioViewer = { measured };

const $ = id => document.getElementById(id);

function engagement(kind, overlay) {
  fetch(`/streams/${encodeURIComponent(stream)}/engagement`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind, overlay }),
    keepalive: true,
  }).catch(() => {});
}

// ---- the live picture ---------------------------------------------------

const FORMAT_ORDER = ["image/avif", "image/webp", "image/jpeg", "image/png"];
let shownSeq = -1;
let loadingSeq = -1;

function buildPicture(frame) {
  const byType = new Map();
  for (const r of frame.renditions) {
    if (!r.width) continue;
    if (!byType.has(r.content_type)) byType.set(r.content_type, []);
    byType.get(r.content_type).push(r);
  }
  const sizes = "(min-width: 900px) 60vw, 100vw";
  // A format is offered only if it has the widest size too: a browser takes
  // the first <source> whose type it supports, and must not be stuck with
  // a small WebP when a large JPEG exists.
  const widthOf = t => Math.max(...byType.get(t).map(r => r.width));
  const maxWidth = Math.max(...[...byType.keys()].map(widthOf));
  const types = FORMAT_ORDER.filter(t => byType.has(t) && widthOf(t) >= maxWidth);
  if (types.length === 0) return null;
  const srcset = list => list.sort((a, b) => a.width - b.width).map(r => `${r.url} ${r.width}w`).join(", ");
  const fallback = byType.get(types[types.length - 1]);
  const widest = [...fallback].sort((a, b) => b.width - a.width)[0];
  const img = el("img", {
    id: "frame",
    src: widest.url,
    srcset: srcset([...fallback]),
    sizes,
    width: widest.width,
    height: widest.height || Math.round(widest.width * 9 / 16),
    alt: `Live picture of ${stream}`,
  });
  const sources = types.slice(0, -1).map(t => el("source", { type: t, srcset: srcset(byType.get(t)), sizes }));
  return { picture: el("picture", {}, sources, img), img };
}

function showFrame(frame) {
  // A late frame never replaces a newer one, whatever order events and
  // image loads finish in.
  if (frame.seq <= shownSeq || frame.seq <= loadingSeq) return;
  const built = buildPicture(frame);
  if (!built) return;
  loadingSeq = frame.seq;
  built.img.addEventListener("load", () => {
    if (frame.seq <= shownSeq) return;
    shownSeq = frame.seq;
    $("picture-slot").replaceChildren(built.picture);
    current = { frame, img: built.img };
    paintOverlay();
    if (frame.capture_time) {
      measured.frames.push({ seq: frame.seq, ms: Date.now() - frame.capture_time });
      if (measured.frames.length > 2000) measured.frames.shift();
    }
    $("status").textContent = "Live";
  }, { once: true });
  // Decoding starts as soon as the image has a source, off the page.
}

// ---- product overlays -----------------------------------------------------

let overlay = null; // the client package's overlay painter, once loaded
let current = null; // { frame, img } on the picture
let placement = null; // the studio's placement: { drop_id, position }
let tapped = null; // the drop the viewer asked to see on the picture
let paintTicket = 0;

/** The drop to show on the picture: the viewer's choice, else the studio's. */
function activeOverlay() {
  const id = tapped || (placement && placement.drop_id);
  const card = id && cards.get(id);
  if (!card) return null;
  const placed = placement && placement.drop_id === id;
  return { card, placed, position: placed ? placement.position : "bottom-right" };
}

function overlayNote(active) {
  const note = $("overlay-note");
  note.hidden = !active;
  if (!active) return;
  note.textContent = active.placed && tapped !== active.card.drop.id
    ? `The studio is showing ${active.card.drop.title} on the picture.`
    : `${active.card.drop.title} is shown on the picture.`;
}

async function paintOverlay() {
  const active = activeOverlay();
  overlayNote(active);
  const showing = Boolean(overlay && current && active);
  $("overlay").hidden = !showing;
  $("picture-slot").hidden = showing;
  if (!showing) return;
  const ticket = ++paintTicket;
  const { drop } = active.card;
  const detail = drop.detail && current.frame.renditions.find(r => r.variant === drop.detail);
  const price = money(drop.quote.total, drop.quote.currency);
  const phase = phaseOf(drop);
  try {
    await overlay.paint(current.img, {
      detailUrl: detail ? detail.url : null,
      title: drop.title,
      price,
      note: phase === "soldout" ? "Sold out" : phase === "active" ? `${drop.available} left` : "",
      position: active.position,
      wanted: () => ticket === paintTicket,
    });
    $("overlay").setAttribute("aria-label", `${$("frame").alt}, with ${drop.title} at ${price}`);
  } catch (error) {
    $("overlay").hidden = true;
    $("picture-slot").hidden = false;
    console.info("overlay failed:", error && error.message);
  }
}

function toggleOverlay(id) {
  tapped = tapped === id ? null : id;
  if (tapped) engagement("click", id);
  for (const card of cards.values()) render(card);
  paintOverlay();
}

// ---- product cards ------------------------------------------------------

/** drop id -> { drop, node, parts, phase, reservation, keys } */
const cards = new Map();

function priceLine(drop) {
  const q = drop.quote;
  const parts = [];
  if (q.discount > 0) parts.push(el("s", {}, money(q.subtotal, q.currency)));
  parts.push(money(q.total, q.currency));
  return parts;
}

function offerLine(drop) {
  const lines = [];
  const b = drop.bundle_quote;
  if (b && b.rule && b.rule.type === "bundle") {
    lines.push(`Bundle: ${b.quantity} for ${money(b.total, b.currency)}`);
  }
  const rule = drop.quote.rule;
  if (rule && rule.type === "percentage") lines.push(`${rule.percent}% off`);
  if (rule && rule.type === "amount") lines.push(`${money(rule.amount, drop.currency)} off each`);
  if (rule && rule.ends_at) lines.push(`offer ends ${clockTime(rule.ends_at)}`);
  return lines.join(" · ");
}

/** Where the drop is now by the server's clock. */
function phaseOf(drop) {
  const now = serverClock.now();
  if (now < Date.parse(drop.starts_at)) return "scheduled";
  if (now >= Date.parse(drop.ends_at)) return "ended";
  if (drop.available <= 0) return "soldout";
  return "active";
}

function makeCard(drop) {
  const id = drop.id;
  const parts = {
    title: el("h3", { id: `title-${id}` }),
    price: el("p", { class: "price" }),
    offer: el("p", { class: "offer" }),
    remaining: el("span", { class: "remaining" }),
    countdown: el("span", { class: "countdown" }),
    quantity: el("select", { id: `qty-${id}`, name: "quantity" }),
    consent: el("input", { type: "checkbox", id: `consent-${id}`, name: "consent" }),
    terms: el("p", { class: "terms", id: `terms-${id}` }),
    reserve: el("button", { type: "button", disabled: true, "aria-describedby": `terms-${id}` }, "Reserve"),
    hold: el("div", { class: "hold", hidden: true }),
    ordered: el("div", { class: "ordered", hidden: true, tabindex: "-1" }),
    message: el("p", { class: "message", role: "status", "aria-live": "polite" }),
    show: el("button", { type: "button", class: "secondary show", "aria-pressed": "false", hidden: true }, "Show on the picture"),
  };
  parts.show.addEventListener("click", () => toggleOverlay(id));
  parts.consent.addEventListener("change", () => render(cards.get(id)));
  parts.reserve.addEventListener("click", () => reserve(cards.get(id)));
  const node = el("article", { class: "card", id: `drop-${id}`, "aria-labelledby": `title-${id}` },
    parts.title, parts.price, parts.offer,
    el("p", { class: "meta" }, parts.remaining, " · ", parts.countdown),
    parts.show,
    el("div", { class: "buy" },
      el("p", { class: "row" },
        el("label", { for: `qty-${id}` }, "Quantity"), parts.quantity),
      parts.terms,
      el("p", { class: "row" }, parts.consent,
        el("label", { for: `consent-${id}` }, "I accept these terms")),
      parts.reserve),
    parts.hold, parts.ordered, parts.message);
  const card = { drop, node, parts, phase: "browse", reservation: null, keys: {} };
  cards.set(id, card);
  $("cards").append(node);
  engagement("impression", id);
  return card;
}

function showDrop(drop) {
  serverClock.learn(drop.server_time);
  let card = cards.get(drop.id);
  if (!drop.pinned) {
    // Unpinned: the card goes, unless the buyer is in the middle of buying.
    if (card && card.phase === "browse") {
      card.node.remove();
      cards.delete(drop.id);
      if (tapped === drop.id) tapped = null;
      paintOverlay();
    }
    if (!card || card.phase === "browse") {
      $("no-products").hidden = cards.size > 0;
      return;
    }
  }
  card = card || makeCard(drop);
  card.drop = drop;
  $("no-products").hidden = true;
  render(card);
  const active = activeOverlay();
  if (active && active.card === card) paintOverlay();
}

function fillQuantity(select, max) {
  const current = Number(select.value) || 1;
  if (select.options.length !== max) {
    select.replaceChildren(...Array.from({ length: max }, (_, i) => el("option", { value: i + 1 }, i + 1)));
  }
  select.value = String(Math.min(current, max));
}

function render(card) {
  const { drop, parts } = card;
  const phase = phaseOf(drop);
  card.node.className = `card state-${phase}`;
  parts.title.textContent = drop.title;
  parts.price.replaceChildren(...priceLine(drop));
  parts.offer.textContent = offerLine(drop);
  parts.remaining.textContent = phase === "soldout" ? "Sold out" : `${drop.available} of ${drop.units} left`;
  const limit = Math.min(drop.per_buyer_limit || MAX_QUANTITY, MAX_QUANTITY, Math.max(drop.available, 1));
  fillQuantity(parts.quantity, limit);
  const holdMinutes = Math.max(1, Math.round(drop.hold_seconds / 60));
  parts.terms.textContent =
    `Reserving holds your units for ${drop.hold_seconds < 120 ? `${drop.hold_seconds} seconds` : `${holdMinutes} minutes`} at the price shown. ` +
    `You pay only when you confirm; releasing or letting the hold run out costs nothing.` +
    (drop.per_buyer_limit ? ` At most ${drop.per_buyer_limit} per person.` : "");
  const buying = card.phase !== "browse";
  parts.reserve.disabled = buying || phase !== "active" || !parts.consent.checked;
  parts.quantity.disabled = buying || phase !== "active";
  parts.show.hidden = !overlay;
  parts.show.setAttribute("aria-pressed", String(tapped === drop.id));
  parts.show.textContent = tapped === drop.id ? "Hide from the picture" : "Show on the picture";
  tick(card);
}

/** Countdowns, from the server's clock. */
function tick(card) {
  const { drop, parts } = card;
  const now = serverClock.now();
  const phase = phaseOf(drop);
  if (phase === "scheduled") parts.countdown.textContent = `Opens in ${duration(Date.parse(drop.starts_at) - now)}`;
  else if (phase === "ended") parts.countdown.textContent = "Ended";
  else parts.countdown.textContent = `Ends in ${duration(Date.parse(drop.ends_at) - now)}`;
  if (card.phase === "holding" && card.reservation) {
    const left = Date.parse(card.reservation.expires_at) - now;
    card.holdClock.textContent = duration(left);
    if (left <= 0) expireHold(card);
  }
  // The quotes change when a bundle or discount starts or ends: ask again.
  if (drop.price_changes_at && now >= Date.parse(drop.price_changes_at) && !card.refreshing) {
    card.refreshing = true;
    send(`/orders/v1/drops/${encodeURIComponent(drop.id)}`).then(reply => {
      card.refreshing = false;
      if (reply.ok) showDrop(reply.body);
    });
  }
}

setInterval(() => {
  for (const card of cards.values()) {
    const before = card.node.className;
    tick(card);
    if (`card state-${phaseOf(card.drop)}` !== before) render(card);
  }
}, 250);

// ---- the buy flow -------------------------------------------------------

const MESSAGES = {
  "sold-out": body => (body.available > 0
    ? `Only ${body.available} left: choose fewer.`
    : "Sold out: every unit is taken."),
  "drop-not-active": body => (body.starts_at
    ? `This drop opens at ${clockTime(body.starts_at)}.`
    : "This drop has ended."),
  "buyer-limit": body => `You have reached the limit of ${body.limit} per person for this drop.`,
  "consent-required": () => "Please accept the terms first.",
  "reservation-expired": () => "Your hold ran out and the units went back. You can reserve again.",
  "reservation-released": () => "You released this hold.",
  "already-confirmed": () => "This hold is already paid for.",
  "not-found": () => "This product is no longer available.",
};

function failure(reply) {
  if (reply.network || [502, 503, 504].includes(reply.status)) {
    return "We couldn't reach the shop. Check your connection and try again; you will not be charged twice.";
  }
  const text = MESSAGES[slug(reply.body)];
  return text ? text(reply.body) : "Something went wrong. Please try again.";
}

function say(card, text, isError = false) {
  card.parts.message.textContent = text;
  card.parts.message.className = isError ? "message error" : "message";
}

/**
 * The key of an action: kept until the server gives a definite answer, so
 * a retry after a network failure (automatic or a second tap) is the same
 * request, and a new tap after an answer is a new one.
 */
function keyFor(card, action) {
  card.keys[action] = card.keys[action] || newKey();
  return card.keys[action];
}

function settled(card, action, reply) {
  if (!reply.network) delete card.keys[action];
}

async function reserve(card) {
  if (!card.parts.consent.checked || card.phase !== "browse") return;
  const tapped = performance.now();
  engagement("click", card.drop.id);
  card.phase = "reserving";
  render(card);
  say(card, "Reserving…");
  const reply = await send("/v1/cart/reserve", {
    method: "POST",
    key: keyFor(card, "reserve"),
    body: {
      drop_id: card.drop.id,
      quantity: Number(card.parts.quantity.value),
      buyer_id: buyerId,
      consent: { terms_version: TERMS_VERSION, accepted_at: new Date(serverClock.now()).toISOString() },
    },
  });
  settled(card, "reserve", reply);
  if (!reply.ok) {
    card.phase = "browse";
    render(card);
    say(card, failure(reply), true);
    return;
  }
  serverClock.learn(reply.body.created_at);
  card.reservation = reply.body;
  card.phase = "holding";
  showHold(card);
  render(card);
  measured.holds.push(performance.now() - tapped);
}

function breakdown(price) {
  const rows = [
    ["Unit price", money(price.unit_price, price.currency)],
    ["Quantity", String(price.quantity)],
    ["Subtotal", money(price.subtotal, price.currency)],
  ];
  if (price.discount > 0) rows.push(["Discount", `−${money(price.discount, price.currency)}`]);
  rows.push(["Total", money(price.total, price.currency)]);
  return el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function showHold(card) {
  const r = card.reservation;
  card.holdClock = el("strong", { class: "countdown" });
  const pay = el("button", { type: "button" }, "Pay (test payment)");
  const release = el("button", { type: "button", class: "secondary" }, "Release");
  pay.addEventListener("click", () => confirm(card, pay, release));
  release.addEventListener("click", () => releaseHold(card, pay, release));
  card.parts.hold.replaceChildren(
    el("p", {}, `Held for you: ${r.quantity} × ${card.drop.title}. Time left: `, card.holdClock),
    breakdown(r.price),
    el("p", { class: "meta" }, "Test mode: no card is charged; a test payment reference is sent."),
    el("p", { class: "row" }, pay, release));
  card.parts.hold.hidden = false;
  say(card, "Reserved. Pay before the hold runs out.");
  pay.focus();
}

async function confirm(card, pay, release) {
  if (card.phase !== "holding") return;
  const tapped = performance.now();
  pay.disabled = release.disabled = true;
  say(card, "Paying…");
  // One payment reference per hold: a retried payment is the same payment.
  card.paymentReference = card.paymentReference || `test_${newKey()}`;
  const reply = await send("/v1/cart/confirm", {
    method: "POST",
    key: keyFor(card, "confirm"),
    body: { reservation_id: card.reservation.id, payment_reference: card.paymentReference },
  });
  settled(card, "confirm", reply);
  if (reply.ok || slug(reply.body) === "already-confirmed") {
    const orderId = reply.ok ? reply.body.id : reply.body.order_id;
    card.phase = "ordered";
    card.parts.hold.hidden = true;
    card.parts.ordered.replaceChildren(
      el("p", {}, "Thank you! Your order number is ", el("strong", { class: "order-id" }, orderId), "."),
      breakdown(card.reservation.price));
    card.parts.ordered.hidden = false;
    card.parts.ordered.focus();
    say(card, "Order confirmed.");
    measured.orders.push(performance.now() - tapped);
    return;
  }
  if (["reservation-expired", "reservation-released"].includes(slug(reply.body))) {
    endHold(card, failure(reply));
    return;
  }
  pay.disabled = release.disabled = false;
  say(card, failure(reply), true);
}

async function releaseHold(card, pay, release) {
  if (card.phase !== "holding") return;
  pay.disabled = release.disabled = true;
  const reply = await send("/v1/cart/release", {
    method: "POST",
    key: keyFor(card, "release"),
    body: { reservation_id: card.reservation.id },
  });
  settled(card, "release", reply);
  if (reply.ok) {
    endHold(card, "Released. The units went back to the drop.");
    return;
  }
  pay.disabled = release.disabled = false;
  say(card, failure(reply), true);
}

function expireHold(card) {
  endHold(card, MESSAGES["reservation-expired"]());
}

function endHold(card, text) {
  card.phase = "browse";
  card.reservation = null;
  card.paymentReference = null;
  card.parts.hold.hidden = true;
  card.parts.consent.checked = false;
  render(card);
  say(card, text, true);
}

// ---- events -------------------------------------------------------------

function connect() {
  const events = new EventSource(`/streams/${encodeURIComponent(stream)}/events`);
  const frame = e => showFrame(JSON.parse(e.data));
  events.addEventListener("latest", frame);
  events.addEventListener("frame", frame);
  events.addEventListener("drop", e => showDrop(JSON.parse(e.data)));
  events.addEventListener("placement", e => {
    placement = JSON.parse(e.data).placement;
    paintOverlay();
  });
  events.onopen = () => {
    if (shownSeq < 0) $("status").textContent = "Waiting for the live picture…";
  };
  events.onerror = () => {
    $("status").textContent = "Connection lost. Reconnecting…";
    // EventSource retries by itself unless the server refused; then retry here.
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
}

/** The client package's try-on panel and overlays, when the package is
 * there and loads; the page works without them (the panel stays hidden,
 * the picture shows without overlays). */
async function loadClient() {
  const section = $("tryon");
  try {
    const reply = await fetch("/client/manifest.json", { cache: "no-cache" });
    if (!reply.ok) throw new Error(`manifest: status ${reply.status}`);
    const manifest = await reply.json();
    const [tryOn, overlays] = await Promise.all(
      ["tryon.js", "overlay.js"].map(name => import(`/client/${manifest[name]}`)));
    const featured = () => [...cards.values()].find(c => c.drop.shades && c.drop.shades.length) || null;
    const panel = tryOn.mountTryOn(section, {
      getShades: () => (featured() ? featured().drop.shades : []),
      productTitle: () => (featured() ? featured().drop.title : ""),
    });
    await panel.ready;
    // After the package is ready, so that it is instantiated once.
    const painter = overlays.mountOverlay($("overlay"));
    await painter.ready;
    overlay = painter;
    Object.assign(window.studioViewer, { tryOn: panel, overlay });
    section.hidden = false;
    for (const card of cards.values()) render(card);
    paintOverlay();
  } catch (error) {
    section.replaceChildren();
    section.hidden = true;
    window.studioViewer.clientFailed = String(error && error.message);
    console.info("client package unavailable:", error && error.message);
  }
}

$("title").textContent = stream;
document.title = `${stream} · live shopping`;
connect();
loadClient();
