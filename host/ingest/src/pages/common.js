// Shared by the viewer page and the operator console. Everything the
// server sends is written into the page as text (textContent), never as
// HTML.
"use strict";

/** Builds an element: el("p", {class: "x"}, "text", child, ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The stream named by the page's path: /watch/{stream} or /studio/{stream}. */
export function streamFromPath() {
  return decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
}

/** Money in minor units (cents) as the buyer's locale writes it. */
export function money(minor, currency) {
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(minor / 10 ** digits);
}

/** The server's clock: offsets learnt from the times it sends. */
export const serverClock = {
  offset: 0,
  /** `serverTime` (RFC 3339) was the server's time when the message was made. */
  learn(serverTime) {
    const at = Date.parse(serverTime);
    if (Number.isFinite(at)) this.offset = at - Date.now();
  },
  now() {
    return Date.now() + this.offset;
  },
};

/** "1:02:03" or "4:05" for a duration in milliseconds (never negative). */
export function duration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const pad = n => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** A local time of day for an RFC 3339 instant. */
export function clockTime(rfc3339) {
  return new Date(rfc3339).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Sends a JSON request. A state-changing call carries `key` as its
 * Idempotency-Key and is retried with the same key after a network failure
 * or a 502/503/504 (at most `attempts` times), so a flaky network never
 * makes a second reservation or payment. Answers {ok, status, body,
 * network} where `network` is true when the server was never reached.
 */
export async function send(url, { method = "GET", body, key, token, attempts = 3 } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (key) headers["idempotency-key"] = `"${key}"`;
  if (token) headers.authorization = `Bearer ${token}`;
  let last = { ok: false, status: 0, body: {}, network: true };
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(300 * 3 ** (attempt - 1));
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch {
      last = { ok: false, status: 0, body: {}, network: true };
      continue;
    }
    const parsed = await response.json().catch(() => ({}));
    last = { ok: response.ok, status: response.status, body: parsed, network: false };
    const retryable = [502, 503, 504].includes(response.status) ||
      (response.status === 409 && slug(parsed) === "idempotency-key-in-use");
    if (!retryable || !key) break;
  }
  return last;
}

/** The slug of a problem+json body: urn:studio-edge:problem:<slug>. */
export function slug(body) {
  const type = (body && body.type) || "";
  return type.startsWith("urn:studio-edge:problem:") ? type.slice(24) : "";
}

/** A fresh random key (UUID v4). */
export function newKey() {
  return crypto.randomUUID();
}

/**
 * Reads server-sent events from `url` with fetch, so that an
 * Authorization header can be sent (EventSource cannot); reconnects with
 * backoff until `signal` aborts. `onEvent(name, data)`; `onState(text)`.
 */
export async function readEvents(url, { token, onEvent, onState, signal }) {
  let backoff = 500;
  while (!signal.aborted) {
    try {
      const response = await fetch(url, {
        headers: { accept: "text/event-stream", authorization: `Bearer ${token}` },
        cache: "no-store",
        signal,
      });
      if (response.status === 401 || response.status === 403) {
        onState("denied", response.status);
        return;
      }
      if (!response.ok) throw new Error(`status ${response.status}`);
      onState("open");
      backoff = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trimStart();
          }
          if (data) onEvent(name, JSON.parse(data));
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    onState("reconnecting");
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 8000);
  }
}
