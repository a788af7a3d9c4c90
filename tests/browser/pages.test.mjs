// The viewer page and the operator console in headless Chromium against a
// real host: frames, a held frame, the consent-first purchase, sold-out and
// expired holds, the operator's decisions and credentials. Screenshots go
// to target/browser/. Run by scripts/test.sh (node --test tests/browser/).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startHost, launchBrowser, openPage, photo, blackPng, artefacts, PHONE } from "./harness.mjs";

let host, browser;
before(async () => {
  host = await startHost();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  host?.stop();
});

// Chromium logs every 4xx answer of fetch as a console error; a test that
// expects one (sold out: 409) excuses exactly that.
const conflictsAllowed = message => /status of 409/.test(message.text());
const frameSeq = page => page.$eval("#frame", img => Number((img.currentSrc || img.src).match(/frames\/(\d+)\//)?.[1] ?? -1));

test("frames appear and update; a held frame never shows; the operator publishes it", async () => {
  const viewer = await openPage(browser, `${host.base}/watch/cam1`, { viewport: PHONE });
  const seen = new Set();
  viewer.page.on("request", r => { const m = r.url().match(/\/streams\/cam1\/frames\/(\d+)\//); if (m) seen.add(Number(m[1])); });
  assert.equal((await host.push(1, photo("coffee.png"))).status, 201);
  await viewer.page.waitForFunction(() => /frames\/1\//.test(document.querySelector("#frame").currentSrc));
  assert.equal((await host.push(2, photo("chelsea.png"))).status, 201);
  await viewer.page.waitForFunction(() => /frames\/2\//.test(document.querySelector("#frame").currentSrc));
  const held = await host.push(3, blackPng());
  assert.equal(held.body.status, "held");

  // The console lists it with its reason; publishing it shows it to viewers.
  const console = await openPage(browser, `${host.base}/studio/cam1`);
  await console.page.fill("#token", host.operatorToken);
  await console.page.click("#token-form button[type=submit]");
  await console.page.waitForSelector("#held-3");
  assert.match(await console.page.textContent("#held-3"), /black-frame/);
  assert.equal(await frameSeq(viewer.page), 2, "the held frame is not shown");
  assert.ok(!seen.has(3), "no request for the held frame's renditions");
  assert.ok(!(await console.page.evaluate(() => location.href)).includes(host.operatorToken), "the token is not in the URL");
  await console.page.screenshot({ path: join(artefacts, "operator-desktop.png"), fullPage: true });
  await console.page.click("#held-3 button:has-text('Publish anyway')");
  await viewer.page.waitForFunction(() => /frames\/3\//.test(document.querySelector("#frame").currentSrc));
  await console.page.waitForFunction(() => document.querySelector("#decisions").textContent.includes("frame 3 published anyway"));
  // No moderation hint ever reaches the viewer page.
  assert.doesNotMatch(await viewer.page.textContent("body"), /black-frame|underexposed/);
  assert.deepEqual(viewer.errors, []);
  assert.deepEqual(console.errors, []);
  await viewer.context.close();
  await console.context.close();
});

test("consent, reserve, pay: the order exists, and a second viewer sees the count fall", async () => {
  const drop = await host.createDrop({ units: 3, per_buyer_limit: 2, title: "Velvet lipstick" });
  const buyer = await openPage(browser, `${host.base}/watch/cam1`, { viewport: PHONE });
  const other = await openPage(browser, `${host.base}/watch/cam1`);
  const card = `#drop-${drop.id}`;
  for (const { page } of [buyer, other]) {
    await page.waitForSelector(card);
    await page.waitForFunction(sel => document.querySelector(sel).textContent.includes("3 of 3 left"), card);
  }
  assert.match(await buyer.page.textContent(card), /Velvet lipstick/);
  assert.match(await buyer.page.textContent(`${card} .price`), /25[.,]00/);

  // Until consent is ticked, the button is disabled and a tap sends nothing.
  let reserveCalls = 0;
  buyer.page.on("request", r => { if (r.url().endsWith("/v1/cart/reserve")) reserveCalls++; });
  assert.equal(await buyer.page.isChecked(`#consent-${drop.id}`), false, "never pre-ticked");
  assert.equal(await buyer.page.isDisabled(`${card} .buy button`), true);
  await buyer.page.click(`${card} .buy button`, { force: true });
  assert.equal(reserveCalls, 0);

  await buyer.page.check(`#consent-${drop.id}`);
  await buyer.page.click(`${card} .buy button`);
  await buyer.page.waitForSelector(`${card} .hold:not([hidden])`);
  assert.match(await buyer.page.textContent(`${card} .hold`), /Time left: \d+:\d\d/);
  assert.match(await buyer.page.textContent(`${card} .hold`), /Total/);
  await other.page.waitForFunction(sel => document.querySelector(sel).textContent.includes("2 of 3 left"), card);
  await buyer.page.screenshot({ path: join(artefacts, "viewer-phone-hold.png"), fullPage: true });

  await buyer.page.click(`${card} .hold button:has-text('Pay')`);
  await buyer.page.waitForSelector(`${card} .ordered:not([hidden]) .order-id`);
  const orderId = (await buyer.page.textContent(`${card} .order-id`)).trim();
  const order = await host.operator(`/orders/v1/orders/${orderId}`);
  assert.equal(order.status, 200);
  assert.equal(order.body.drop_id, drop.id);
  assert.match(order.body.payment_reference, /^test_/);
  assert.equal(reserveCalls, 1, "one tap, one reservation");
  await buyer.page.screenshot({ path: join(artefacts, "viewer-phone-order.png"), fullPage: true });
  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(other.errors, []);
  await buyer.context.close();
  await other.context.close();
});

test("a reservation whose answer is lost is retried with the same key: one hold", async () => {
  const drop = await host.createDrop({ units: 4, title: "Flaky-network palette" });
  const buyer = await openPage(browser, `${host.base}/watch/cam1`, { viewport: PHONE });
  const card = `#drop-${drop.id}`;
  const keys = [];
  let lost = false;
  // The first reservation reaches the server, but its answer never reaches
  // the page, as on a train going into a tunnel.
  await buyer.page.route("**/v1/cart/reserve", async route => {
    keys.push(route.request().headers()["idempotency-key"]);
    if (!lost) {
      lost = true;
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  await buyer.page.waitForSelector(card);
  await buyer.page.check(`#consent-${drop.id}`);
  await buyer.page.click(`${card} .buy button`);
  await buyer.page.waitForSelector(`${card} .hold:not([hidden])`);
  assert.equal(keys.length, 2, "retried once");
  assert.equal(keys[0], keys[1], "the retry resends the same Idempotency-Key");
  const funnel = await host.operator(`/orders/v1/drops/${drop.id}/funnel`);
  assert.equal(funnel.body.reservations, 1, "one reservation, not two");
  assert.deepEqual(buyer.errors.filter(e => !/ERR_CONNECTION_RESET/.test(e)), []);
  await buyer.context.close();
});

test("sold out and an expired hold each say so", async () => {
  const drop = await host.createDrop({ units: 1, hold_seconds: 2, title: "Last compact" });
  const card = `#drop-${drop.id}`;
  const first = await openPage(browser, `${host.base}/watch/cam1`, { viewport: PHONE });
  const second = await openPage(browser, `${host.base}/watch/cam1`, { viewport: PHONE, allowed: conflictsAllowed });
  for (const { page } of [first, second]) await page.waitForSelector(card);
  await first.page.check(`#consent-${drop.id}`);
  await first.page.click(`${card} .buy button`);
  await first.page.waitForSelector(`${card} .hold:not([hidden])`);
  await second.page.waitForFunction(sel => document.querySelector(sel).textContent.includes("Sold out"), card);
  await second.page.check(`#consent-${drop.id}`);
  assert.equal(await second.page.isDisabled(`${card} .buy button`), true, "nothing to reserve");
  await second.page.screenshot({ path: join(artefacts, "viewer-phone-sold-out.png"), fullPage: true });

  // The hold runs out (2 s): the buyer is told and the unit comes back.
  await first.page.waitForFunction(sel => document.querySelector(sel).textContent.includes("Your hold ran out"), card, { timeout: 20_000 });
  await second.page.waitForFunction(sel => document.querySelector(sel).textContent.includes("1 of 1 left"), card, { timeout: 20_000 });
  assert.deepEqual(first.errors, []);
  assert.deepEqual(second.errors, []);
  await first.context.close();
  await second.context.close();
});

test("operator routes refuse calls without a valid token", async () => {
  for (const [path, method] of [["/orders/v1/drops", "POST"], ["/studio/v1/streams/cam1/held", "GET"], ["/studio/v1/streams/cam1/stats", "GET"]]) {
    const anonymous = await host.operator(path, { method, token: null, body: method === "POST" ? {} : undefined });
    assert.equal(anonymous.status, 401, path);
    const forged = await host.operator(path, { method, token: "seo_forged", body: method === "POST" ? {} : undefined });
    assert.equal(forged.status, 401, path);
  }
  const console = await openPage(browser, `${host.base}/studio/cam1`, { allowed: m => /status of 401/.test(m.text()) });
  await console.page.fill("#token", "seo_forged");
  await console.page.click("#token-form button[type=submit]");
  await console.page.waitForFunction(() => document.querySelector("#sign-in-message").textContent.includes("not valid"));
  assert.equal(await console.page.isVisible("#held-section"), false);
  assert.deepEqual(console.errors, []);
  await console.context.close();
});
