// Every byte a visitor downloads from the collector, measured in real Chromium (the DevTools
// protocol's count of what came over the network, headers included, and of the bodies alone):
// on a launcher page in each locale, for a visitor who never opens the survey (until the page is
// idle and nothing more is fetched) and for one who answers (until `touchpoint:delivered`). Each
// visit is a fresh browser context (cold HTTP cache). With `TLS_CERT` and `TLS_KEY` (a
// certificate for 127.0.0.1 and its key, PEM) it measures a collector serving HTTPS first, as a
// deployment is reached (Chromium offers Brotli only there; it is told to accept the
// certificate), where Chromium negotiates HTTP/2 (`h2`); then the same over HTTP/1.1 (Chromium
// started with `--disable-http2`); then one serving plain HTTP. Run by `cargo xtask size`; prints
// a table per transport, a line per locale, with the protocol Chromium spoke to the collector.
// Over HTTP/2 Chromium counts a response's HEADERS frame as compressed (HPACK) and each DATA
// frame with its 9-byte frame header, as HTTP/1.1's count takes the header lines and the body:
// the stream's bytes on the wire either way, before TLS (connection-wide frames, SETTINGS and
// WINDOW_UPDATE, are no response's).
import { startHostAndCollector, launch, hostPage, STILL } from "../helpers.mjs";

const LOCALES = (process.env.LOCALES || "en,es,fr,de,ar").split(",");
// Chromium offers Brotli to 127.0.0.1 over plain HTTP too (a trustworthy origin), but not to
// other plain-HTTP origins: there a visitor is told to send only gzip, as it would.
const GZIP_ONLY = { "Accept-Encoding": "gzip, deflate" };
const TLS = { TOUCHPOINT_TLS_CERT: process.env.TLS_CERT, TOUCHPOINT_TLS_KEY: process.env.TLS_KEY };
// (name, the collector's environment, request headers, Chromium's flags)
const TRANSPORTS = process.env.TLS_CERT
  ? [
    ["HTTPS", TLS, {}, []],
    ["HTTPS over HTTP/1.1", TLS, {}, ["--disable-http2"]],
    ["HTTP", {}, GZIP_ONLY, []],
  ]
  : [["HTTP", {}, GZIP_ONLY, []]];

/** Counts what `page` receives from the collector: wire bytes, body bytes and requests so far. */
async function meter(env, context, page) {
  const cdp = await context.newCDPSession(page);
  const headers = new Map();
  const seen = { wire: 0, body: 0, requests: 0, pending: new Set(), protocols: new Set() };
  cdp.on("Network.requestWillBeSent", (e) => {
    if (e.request.url.startsWith(env.collector.base)) seen.pending.add(e.requestId);
  });
  cdp.on("Network.responseReceived", (e) => {
    headers.set(e.requestId, e.response.encodedDataLength);
    if (seen.pending.has(e.requestId)) seen.protocols.add(e.response.protocol);
  });
  const done = (e, failed) => {
    if (!seen.pending.delete(e.requestId) || failed) return;
    seen.requests += 1;
    seen.wire += e.encodedDataLength;
    seen.body += e.encodedDataLength - (headers.get(e.requestId) || 0);
  };
  cdp.on("Network.loadingFinished", (e) => done(e, false));
  cdp.on("Network.loadingFailed", (e) => done(e, true));
  await cdp.send("Network.enable");
  return seen;
}

/** Waits until nothing from the collector is in flight, and nothing starts, for `quiet` ms. */
async function quiet(seen, ms = 1500) {
  let calm = 0;
  while (calm < ms) {
    await new Promise((r) => setTimeout(r, 100));
    calm = seen.pending.size ? 0 : calm + 100;
  }
}

const snapshot = (seen) => ({ wire: seen.wire, body: seen.body, requests: seen.requests });
const cells = (s) => [s.wire, s.body, s.requests].map((n) => String(n).padStart(9)).join("");

for (const [transport, tls, headers, flags] of TRANSPORTS) {
  const browser = await launch(flags);
  try {
    const env = await startHostAndCollector((base) => Object.fromEntries(LOCALES.map((code) => [
      `/${code}`,
      { body: hostPage(base, { attrs: `data-touchpoint="checkout" data-locale="${code}"` }) },
    ])), tls);
    try {
      console.log(`  ${transport}: visitor who never opens the survey | who answers, until it is delivered`);
      console.log(`  ${"locale".padEnd(8)}${["wire", "bodies", "requests"].map((h) => h.padStart(9)).join("").repeat(2)}  protocol`);
      for (const code of LOCALES) console.log(`  ${code.padEnd(8)}${await visit(browser, env, code, headers)}`);
    } finally {
      await env.close();
    }
  } finally {
    await browser.close();
  }
}

/**
 * One visitor in `browser` on the launcher page in `code`, sending `headers` with every request:
 * the table's cells for never opening, then answering.
 */
async function visit(browser, env, code, headers) {
  const context = await browser.newContext({ ...STILL, ignoreHTTPSErrors: true, extraHTTPHeaders: headers });
  try {
    const page = await context.newPage();
    const seen = await meter(env, context, page);
    await page.goto(`${env.host.origin}/${code}`);
    const launcher = page.locator("button[part=launcher]");
    await launcher.waitFor();
    // The launcher's panel is built ahead when the page is idle: wait for that, and for the
    // network to stay quiet.
    await page.evaluate(() => new Promise((r) => requestIdleCallback(r)));
    await quiet(seen);
    const neverOpens = snapshot(seen);

    await page.evaluate(() => {
      window.__delivered = false;
      addEventListener("touchpoint:delivered", () => { window.__delivered = true; });
    });
    await launcher.click();
    await page.locator("[role=radiogroup]").first().locator("[role=radio]").nth(5).click();
    await page.locator("button[part=send]").click();
    await page.waitForFunction(() => window.__delivered, null, { timeout: 30000 });
    await quiet(seen);
    return `${cells(neverOpens)}${cells(snapshot(seen))}  ${[...seen.protocols].join(",")}`;
  } finally {
    await context.close();
  }
}
