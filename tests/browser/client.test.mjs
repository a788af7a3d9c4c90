// The viewer page with the client package (workers/client) in headless
// Chromium. The try-on panel with a fake camera: a fixture photo with a
// skin patch of known CIELAB under a warm cast, as a one-frame Y4M; the
// shade ranking the page shows must be the native ranking of the same
// pixels, the right shade must win after white balance, the try-on must
// change only the chosen region, and no request may carry the picture.
// Product overlays: a tapped drop's detail crop and price tag, and the
// studio's placement, composed over the live picture in their corner.
// Without the package the page still works, without the panel.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startHost, launchBrowser, openPage, photo, artefacts, targetDir, root } from "./harness.mjs";

const example = name => join(targetDir, "debug", "examples", name);
const [W, H] = [640, 480];
const SKIN = [62, 14, 18]; // CIELAB (D65) of the patch
const CAST = [1.0, 0.85, 0.62]; // a warm light, per channel in linear light
const SHADES = [
  { name: "Ivory", lab: [72, 9, 14] },
  { name: "Rose", lab: [62, 20, 10] },
  { name: "Golden", lab: [62, 8, 26] },
  { name: "Honey", lab: SKIN },
  { name: "Caramel", lab: [54, 16, 22] },
  { name: "Mocha", lab: [45, 15, 20] },
];

let host, browser, patch;
before(async () => {
  const camera = join(artefacts, "fake-camera.y4m");
  const source = join(root, "..", "shared", "fixtures", "photos", "astronaut.png");
  patch = JSON.parse(execFileSync(example("fake_camera"),
    [source, camera, `${W}x${H}`, SKIN.join(","), CAST.join(",")], { encoding: "utf8" }));
  host = await startHost([], {
    streamArgs: ["--variant", "w640-jpeg:w=640&format=jpeg", "--variant", "detail-cup:w=240&format=jpeg:crop=150,50,300,300"],
  });
  browser = await launchBrowser([
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    `--use-file-for-fake-video-capture=${camera}`,
  ]);
});
after(async () => {
  await browser?.close();
  host?.stop();
});

/** The canvas's pixels, read in the page (never over the network). */
const canvasPixels = page => page.$eval("canvas.tryon-canvas", canvas =>
  Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data));

test("the fake camera's skin is matched as natively, the try-on tints only the region, nothing is uploaded", async () => {
  const drop = await host.createDrop({ title: "Skin tint", shades: SHADES });
  // Watched from before the page loads: the card's impression post is
  // sent as soon as the drop arrives.
  const requests = [];
  const viewer = await openPage(browser, `${host.base}/watch/cam1`, {
    permissions: ["camera"],
    prepare: async page => page.on("request", r => requests.push(r)),
  });
  await viewer.page.waitForSelector(`#drop-${drop.id}`);
  await viewer.page.waitForSelector("#tryon:not([hidden]) button:has-text('Start camera'):not([disabled])");
  assert.match(await viewer.page.textContent("#tryon"), /Nothing leaves your device/);
  await viewer.page.click("#tryon button:has-text('Start camera')");
  await viewer.page.waitForFunction(() => /Camera on/.test(document.querySelector(".tryon-status").textContent));

  // Tap the middle of the patch.
  const { x, y, w, h } = patch;
  const [cx, cy] = [x + w / 2, y + h / 2];
  const canvas = viewer.page.locator("canvas.tryon-canvas");
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  await canvas.click({ position: { x: cx * box.width / W, y: cy * box.height / H } });
  await viewer.page.waitForFunction(() => document.querySelectorAll(".tryon-results li").length === 3)
    .catch(async e => { throw new Error(`${e.message}: ${await viewer.page.textContent(".tryon-status")}`); });
  const shown = await viewer.page.$$eval(".tryon-results li", items => items.map(li => li.textContent.trim()));

  // The same pixels, region and shades, ranked natively.
  const last = await viewer.page.evaluate(() => {
    const { frame, region, shades, result } = window.studioViewer.tryOn.last;
    let binary = "";
    for (let i = 0; i < frame.data.length; i += 0x8000) {
      binary += String.fromCharCode(...frame.data.subarray(i, i + 0x8000));
    }
    return { pixels: btoa(binary), width: frame.width, height: frame.height, region, shades, result };
  });
  const framePath = join(artefacts, "fake-camera-frame.rgba");
  writeFileSync(framePath, Buffer.from(last.pixels, "base64"));
  const native = JSON.parse(execFileSync(example("rank"),
    [framePath, String(last.width), String(last.height), JSON.stringify(last.region), JSON.stringify(last.shades)],
    { encoding: "utf8" }));
  assert.deepEqual(last.result.best.map(s => s.name), native.best.map(s => s.name), "the page ranks as the native code");
  last.result.best.forEach((s, i) => assert.ok(Math.abs(s.delta_e - native.best[i].delta_e) < 1e-9, `ΔE of ${s.name}`));
  native.best.forEach((s, i) => assert.ok(shown[i].startsWith(`${s.name} (ΔE ${s.delta_e.toFixed(1)}`), `${shown[i]} shows ${s.name}`));
  assert.equal(native.best[0].name, "Honey", `the patch's own shade wins after white balance: ${JSON.stringify(native)}`);
  assert.ok(native.white_balance[2] > 1.2, "the warm cast was measured and undone");

  // Try the third shade on at full strength: only the region changes, and
  // it keeps its luminance.
  await viewer.page.fill("#tryon-strength", "100");
  await viewer.page.check(".tryon-results li:nth-child(3) input");
  await viewer.page.waitForFunction(() => window.studioViewer.tryOn.measured.tryon.length > 3);
  const after = await canvasPixels(viewer.page);
  const before = Buffer.from(last.pixels, "base64");
  const r = last.region; // an ellipse at the tap
  const linear = v => { const c = v / 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = (p, i) => 0.2126 * linear(p[i]) + 0.7152 * linear(p[i + 1]) + 0.0722 * linear(p[i + 2]);
  let outside = 0, outsideChanged = 0, inside = 0, insideChange = 0, lumBefore = 0, lumAfter = 0;
  for (let py = 0; py < H - 40; py++) { // the bottom rows hold the price tag
    for (let px = 0; px < W; px++) {
      const i = 4 * (py * W + px);
      const d = ((px - r.cx) / (r.w / 2)) ** 2 + ((py - r.cy) / (r.h / 2)) ** 2;
      const diff = Math.max(...[0, 1, 2].map(c => Math.abs(after[i + c] - before[i + c])));
      if (Math.abs(px - r.cx) > r.w / 2 + 3 || Math.abs(py - r.cy) > r.h / 2 + 3) {
        outside++;
        if (diff > 2) outsideChanged++;
      } else if (d < 0.5) {
        inside++;
        insideChange += diff;
        lumBefore += luminance(before, i);
        lumAfter += luminance(after, i);
      }
    }
  }
  assert.ok(outsideChanged / outside < 0.001, `${outsideChanged} of ${outside} pixels outside the region changed`);
  assert.ok(insideChange / inside > 4, `the region is tinted (mean change ${(insideChange / inside).toFixed(1)})`);
  assert.ok(Math.abs(lumAfter / lumBefore - 1) < 0.03, `luminance kept (${(lumAfter / lumBefore).toFixed(3)})`);
  await viewer.page.screenshot({ path: join(artefacts, "viewer-tryon.png"), fullPage: true });

  // No request carried the picture: every one is to this host, small, and
  // none an image upload.
  for (const request of requests) {
    assert.ok(request.url().startsWith(host.base), `${request.url()} is this host`);
    const body = request.postDataBuffer();
    assert.ok(!body || body.length < 2048, `${request.method()} ${request.url()} sends ${body?.length} bytes`);
    assert.doesNotMatch(request.headers()["content-type"] || "", /image|octet-stream|multipart/, request.url());
  }
  assert.ok(requests.some(r => r.method() === "POST"), "the page's own small posts were watched");
  assert.deepEqual(viewer.errors, []);
  await viewer.context.close();
});

let seq = 0;

/** Where the overlay canvas differs from the plain frame, and how the
 * detail crop's area compares with the detail rendition (mean RGB). */
const overlayCheck = (page, detailVariant) => page.evaluate(async variant => {
  const canvas = document.querySelector("#overlay");
  const img = document.querySelector("#frame");
  const [w, h] = [canvas.width, canvas.height];
  const draw = (source, width, height) => {
    const c = document.createElement("canvas");
    c.width = width; c.height = height;
    const ctx = c.getContext("2d");
    ctx.drawImage(source, 0, 0, width, height);
    return ctx.getImageData(0, 0, width, height).data;
  };
  const shown = canvas.getContext("2d").getImageData(0, 0, w, h).data;
  const plain = draw(img, w, h);
  let [minX, minY, maxX, maxY] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = 4 * (y * w + x);
    if (Math.max(...[0, 1, 2].map(c => Math.abs(shown[i + c] - plain[i + c]))) > 2) {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }
  }
  const result = { w, h, box: { minX, minY, maxX, maxY } };
  if (variant) {
    const detail = new Image();
    detail.src = (img.currentSrc || img.src).replace(/[^/]+$/, variant);
    await detail.decode();
    const boxW = Math.round(w * 0.3);
    const boxH = Math.round(boxW * detail.naturalHeight / detail.naturalWidth);
    const expected = draw(detail, boxW, boxH);
    const mean = (data, stride, x0, y0, bw, bh) => {
      const sum = [0, 0, 0];
      for (let y = y0; y < y0 + bh; y++) for (let x = x0; x < x0 + bw; x++) {
        for (let c = 0; c < 3; c++) sum[c] += data[4 * (y * stride + x) + c];
      }
      return sum.map(v => v / (bw * bh));
    };
    result.detail = { expected: mean(expected, boxW, 0, 0, boxW, boxH), shown: mean(shown, w, minX, minY, boxW, boxH) };
  }
  return result;
}, detailVariant);

test("a tapped product and the studio's placement are composed over the live picture, as text", async () => {
  const cup = await host.createDrop({ title: "Cup of the day", detail: "detail-cup", units: 7 });
  const markup = `Saucer <img src=x onerror="window.pwned=1"> <b>set</b>`;
  const saucer = await host.createDrop({ title: markup, units: 3 });
  const tapper = await openPage(browser, `${host.base}/watch/cam1`);
  const watcher = await openPage(browser, `${host.base}/watch/cam1`);
  for (const { page } of [tapper, watcher]) await page.waitForSelector(`#drop-${cup.id} button.show:not([hidden])`);
  assert.equal((await host.push(++seq, photo("coffee.png"))).status, 201);
  for (const { page } of [tapper, watcher]) {
    await page.waitForFunction(() => /frames\/\d+\//.test(document.querySelector("#frame").currentSrc || ""));
  }

  // The viewer taps "Show on the picture": the cup's detail crop and its
  // price tag, bottom right, composed on the device; nothing else changes.
  await tapper.page.click(`#drop-${cup.id} button.show`);
  await tapper.page.waitForFunction(() => window.studioViewer.overlay.measured.length > 0);
  assert.equal(await tapper.page.isVisible("#overlay"), true);
  assert.equal(await tapper.page.getAttribute(`#drop-${cup.id} button.show`, "aria-pressed"), "true");
  const tapped = await overlayCheck(tapper.page, "detail-cup");
  const margin = Math.round(tapped.w * 0.03);
  const boxW = Math.round(tapped.w * 0.3);
  assert.ok(Math.abs(tapped.box.minX - (tapped.w - margin - boxW)) <= 1, JSON.stringify(tapped));
  assert.ok(Math.abs(tapped.box.maxX - (tapped.w - margin - 1)) <= 1, JSON.stringify(tapped));
  assert.ok(Math.abs(tapped.box.maxY - (tapped.h - margin - 1)) <= 1, JSON.stringify(tapped));
  tapped.detail.expected.forEach((v, c) => assert.ok(Math.abs(v - tapped.detail.shown[c]) < 4,
    `the detail crop is composed: ${JSON.stringify(tapped.detail)}`));
  assert.match(await tapper.page.textContent("#overlay-note"), /Cup of the day is shown on the picture/);
  assert.equal(await watcher.page.isVisible("#overlay"), false, "another viewer's tap is theirs only");
  await tapper.page.screenshot({ path: join(artefacts, "viewer-overlay.png"), fullPage: true });

  // The studio places the saucer top left: every viewer who has not
  // chosen one sees it; its title stays text.
  const placed = await host.operator("/studio/v1/streams/cam1/placement", {
    method: "PUT", body: { drop_id: saucer.id, position: "top-left" },
  });
  assert.equal(placed.status, 200, JSON.stringify(placed.body));
  await watcher.page.waitForFunction(() => window.studioViewer.overlay.measured.length > 0);
  const studio = await overlayCheck(watcher.page, null);
  assert.ok(Math.abs(studio.box.minX - margin) <= 1 && Math.abs(studio.box.minY - margin) <= 1, JSON.stringify(studio));
  assert.ok(studio.box.maxX < studio.w / 2, JSON.stringify(studio));
  assert.equal(await watcher.page.textContent(`#title-${saucer.id}`), markup);
  assert.equal(await watcher.page.$$eval(`#drop-${saucer.id} img, #drop-${saucer.id} b`, n => n.length), 0);
  assert.equal(await watcher.page.textContent("#overlay-note"), `The studio is showing ${markup} on the picture.`);
  assert.equal(await watcher.page.evaluate(() => window.pwned), undefined);
  assert.equal((await overlayCheck(tapper.page, "detail-cup")).box.minX, tapped.box.minX, "the viewer's own choice wins");

  // Cleared: the plain picture again.
  assert.equal((await host.operator("/studio/v1/streams/cam1/placement", { method: "DELETE" })).status, 200);
  await watcher.page.waitForSelector("#overlay", { state: "hidden" });
  assert.equal(await watcher.page.isVisible("#frame"), true);
  assert.equal(await watcher.page.isVisible("#overlay-note"), false);
  for (const viewer of [tapper, watcher]) {
    assert.deepEqual(viewer.errors, []);
    await viewer.context.close();
  }
});

test("without the client package the page still shows the stream and sells, without the panel", async () => {
  const drop = await host.createDrop({ title: "No-wasm blush", shades: SHADES });
  const failures = [
    ["nothing under /client/", page => page.route("**/client/**", route => route.abort())],
    ["a broken wasm file", page => page.route("**/client/*.wasm", route => route.fulfill({ status: 500, body: "" }))],
  ];
  for (const [why, prepare] of failures) {
    const viewer = await openPage(browser, `${host.base}/watch/cam1`, { prepare, allowed: () => true });
    await viewer.page.waitForSelector(`#drop-${drop.id}`);
    assert.equal((await host.push(++seq, photo("coffee.png"))).status, 201);
    await viewer.page.waitForFunction(() => /frames\/\d+\//.test(document.querySelector("#frame").currentSrc || ""));
    await viewer.page.waitForFunction(() => window.studioViewer.clientFailed !== undefined);
    assert.equal(await viewer.page.isVisible("#tryon"), false, why);
    assert.equal(await viewer.page.isVisible(`#drop-${drop.id} button.show`), false, why);
    await viewer.page.check(`#consent-${drop.id}`);
    await viewer.page.click(`#drop-${drop.id} .buy button`);
    await viewer.page.waitForSelector(`#drop-${drop.id} .hold:not([hidden])`);
    assert.deepEqual(viewer.errors.filter(e => e.startsWith("uncaught")), [], why);
    await viewer.context.close();
  }
});
