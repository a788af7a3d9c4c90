// Measures the viewer page in headless Chromium against a real host (the
// debug binary unless STUDIO_EDGE_BIN names another):
//   capture to visible: X-Capture-Time (set when the frame is sent) to the
//     new picture having loaded on the page, over FRAMES frames at 5 fps;
//   tap to hold shown, tap confirm to order shown: over PURCHASES buys.
// Usage: node benches/browser/measure.mjs [FRAMES] [PURCHASES]
// (scripts/common.sh ensure_browser installs playwright-core.)
import { startHost, launchBrowser, openPage, photo } from "../../tests/browser/harness.mjs";

const frames = Number(process.argv[2] || 120);
// Frames sent first and not counted: the first calls of each component
// instantiate it.
const WARM_UP = 10;
const purchases = Number(process.argv[3] || 20);
const photos = ["coffee.png", "chelsea.png", "astronaut.png", "motorcycle_left.png"].map(photo);
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = q => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return `n=${sorted.length} p50=${at(0.5).toFixed(1)} ms p99=${at(0.99).toFixed(1)} ms max=${sorted.at(-1).toFixed(1)} ms`;
}

const host = await startHost();
const browser = await launchBrowser();
try {
  const viewer = await openPage(browser, `${host.base}/watch/cam1`);
  for (let seq = 1; seq <= WARM_UP; seq++) await host.push(seq, photos[seq % photos.length]);
  await viewer.page.waitForFunction(n => window.studioViewer.measured.frames.some(f => f.seq === n), WARM_UP);
  await viewer.page.evaluate(() => { window.studioViewer.measured.frames.length = 0; });
  const started = Date.now();
  for (let seq = WARM_UP + 1; seq <= WARM_UP + frames; seq++) {
    const due = started + (seq - WARM_UP - 1) * 200;
    await sleep(Math.max(0, due - Date.now()));
    host.push(seq, photos[seq % photos.length]);
  }
  await viewer.page.waitForFunction(n => window.studioViewer.measured.frames.some(f => f.seq === n), WARM_UP + frames, { timeout: 60_000 });
  const shown = await viewer.page.evaluate(() => window.studioViewer.measured.frames.map(f => f.ms));
  console.log(`capture to visible (${frames} frames at 5 fps, ${shown.length} shown): ${summary(shown)}`);

  const drop = await host.createDrop({ units: 100_000, title: "Benchmark tee" });
  const holds = [], orders = [];
  for (let i = 0; i < purchases; i++) {
    const { context, page } = await openPage(browser, `${host.base}/watch/cam1`);
    const card = `#drop-${drop.id}`;
    await page.waitForSelector(card);
    await page.check(`#consent-${drop.id}`);
    await page.click(`${card} .buy button`);
    await page.waitForSelector(`${card} .hold:not([hidden])`);
    await page.click(`${card} .hold button:has-text('Pay')`);
    await page.waitForSelector(`${card} .ordered:not([hidden])`);
    const measured = await page.evaluate(() => window.studioViewer.measured);
    holds.push(...measured.holds);
    orders.push(...measured.orders);
    await context.close();
  }
  console.log(`tap reserve to hold shown: ${summary(holds)}`);
  console.log(`tap pay to order shown: ${summary(orders)}`);
  if (viewer.errors.length) console.log("console errors:", viewer.errors);
} finally {
  await browser.close();
  host.stop();
}
