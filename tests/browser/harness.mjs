// A real studio-edge host (the debug binary, every worker of spin.toml) on
// a free port with a fresh data directory, a stream, an operator token and
// headless Chromium driven by playwright-core: shared by the page tests
// and the browser benchmark (benches/browser/measure.mjs).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { createRequire } from "node:module";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, ".tools", "node", "package.json"));
const { chromium } = require("playwright-core");

export const targetDir = process.env.CARGO_TARGET_DIR || join(root, "target");
export const bin = process.env.STUDIO_EDGE_BIN || join(targetDir, "debug", "studio-edge");
export const artefacts = join(targetDir, "browser");
mkdirSync(artefacts, { recursive: true });

export const photo = name => readFileSync(join(root, "..", "shared", "fixtures", "photos", name));

/** An all-black 640x360 PNG: the moderation worker suggests `hold` for it. */
export function blackPng(width = 640, height = 360) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = bytes => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = Buffer.alloc((width * 3 + 1) * height); // filter 0, all black
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function cli(args, dataDir) {
  return execFileSync(bin, [...args, "--data-dir", dataDir], { cwd: root, encoding: "utf8" }).trim();
}

/**
 * Starts `studio-edge up` with stream `cam1` and an operator token for it.
 * `args`: more `up` flags; `streamArgs`: more `streams create` flags (e.g.
 * `--variant` specs).
 */
export async function startHost(args = [], { streamArgs = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "studio-edge-browser-"));
  const ingestKey = cli(["streams", "create", "cam1", ...streamArgs], dataDir);
  const operatorToken = cli(["operators", "create", "console", "--stream", "cam1"], dataDir);
  // spin.toml names the components under ./target: with another
  // CARGO_TARGET_DIR (CI), serve a copy whose paths are absolute.
  const manifest = join(dataDir, "spin.toml");
  writeFileSync(manifest, readFileSync(join(root, "spin.toml"), "utf8")
    .replaceAll('source = "target/', `source = "${targetDir}/`)
    .replaceAll('source = "workers/', `source = "${root}/workers/`));
  const child = spawn(bin, ["up", "-f", manifest, "--listen", "127.0.0.1:0", "--data-dir", dataDir, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
  });
  let log = "";
  child.stderr.on("data", d => { log += d; });
  const base = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`host did not start:\n${out}\n${log}`)), 180_000);
    child.stdout.on("data", d => {
      out += d;
      const m = out.match(/Serving (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", code => reject(new Error(`host exited ${code}:\n${out}\n${log}`)));
  });
  const host = {
    base, dataDir, ingestKey, operatorToken, log: () => log,
    stop: () => child.kill("SIGTERM"),
    /** PUT one frame as a camera does; answers the JSON body. */
    async push(seq, bytes, captureTime = Date.now()) {
      const response = await fetch(`${base}/ingest/v1/streams/cam1/fragments/${seq}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${ingestKey}`, "x-capture-time": String(captureTime) },
        body: bytes,
      });
      return { status: response.status, body: await response.json() };
    },
    /** An operator call to the host's API. */
    async operator(path, { method = "GET", body, token = operatorToken } = {}) {
      const headers = { "content-type": "application/json", "idempotency-key": `"${crypto.randomUUID()}"` };
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
      return { status: response.status, body: await response.json().catch(() => ({})) };
    },
    /** Creates a pinned drop of cam1 through the operator API. */
    async createDrop(fields = {}) {
      const now = Date.now();
      const reply = await host.operator("/orders/v1/drops", {
        method: "POST",
        body: {
          sku: "LIP-01", title: "Velvet lipstick", units: 5, unit_price: 2500, currency: "EUR",
          starts_at: new Date(now - 1000).toISOString(), ends_at: new Date(now + 3600_000).toISOString(),
          stream: "cam1", pinned: true, ...fields,
        },
      });
      if (reply.status !== 201) throw new Error(`drop not created: ${JSON.stringify(reply.body)}`);
      return reply.body;
    },
  };
  return host;
}

export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", ...extraArgs],
  });
}

/**
 * A page that records console errors and uncaught exceptions.
 * `allowed(message)` may excuse a resource error the test expects (a 409
 * for a sold-out reservation: Chromium logs every 4xx fetch).
 * `permissions`: granted to the page's origin (e.g. `["camera"]`);
 * `prepare(page)` runs before the page is opened (to route requests).
 */
export async function openPage(browser, url, { viewport, allowed = () => false, permissions = [], prepare = async () => {} } = {}) {
  const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 800 }, permissions });
  const page = await context.newPage();
  const errors = [];
  page.on("console", message => {
    if (message.type() === "error" && !allowed(message)) {
      errors.push(`${message.text()} (${message.location().url})`);
    }
  });
  page.on("pageerror", error => errors.push(`uncaught: ${error.message}`));
  await prepare(page);
  await page.goto(url);
  return { context, page, errors };
}

export const PHONE = { width: 390, height: 844 };
