// Helpers for the browser tests: the real collector binary on a free port with its own data
// directory, a host page server on another origin, and headless Chromium (Debian's package).
import { spawn } from "node:child_process";
import { mkdtempSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ADMIN_TOKEN = "browser-admin-token-0123456789abcd";

export function collectorBinary() {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  const binary = process.env.TOUCHPOINT_COLLECTOR_BIN || join(target, "debug", "touchpoint-collector");
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: run \`cargo xtask test\`, which builds it with the widget`);
  }
  return binary;
}

/** The widget build's manifest (`cargo xtask` writes it with the files the collector embeds). */
export function widgetManifest() {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  return JSON.parse(readFileSync(join(target, "widget-dist", "manifest.json"), "utf8"));
}

/**
 * Starts the collector (with extra environment `env`; rate limits off unless `limits`, which keeps
 * its defaults); resolves once it reports its address.
 */
export async function startCollector({ allowOrigins = [], env = {}, limits = false, data: given } = {}) {
  const data = given ?? mkdtempSync(join(tmpdir(), "tp-browser-"));
  const spawnAt = (listen) => spawnCollector(data, listen, allowOrigins, env, limits);
  let { child, base } = await spawnAt("127.0.0.1:0");
  const status = env.TOUCHPOINT_TLS_CERT
    ? await httpsStatus(`${base}/widget.js`, readFileSync(env.TOUCHPOINT_TLS_CERT))
    : (await fetch(`${base}/widget.js`)).status;
  if (status !== 200) {
    child.kill("SIGKILL");
    throw new Error("this collector was built without the widget: run `cargo xtask test`");
  }
  return {
    base,
    async export() {
      const res = await fetch(`${base}/v1/export?format=ndjson`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const text = await res.text();
      return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    },
    /** SIGKILL: the collector is unreachable until `restart`. */
    async kill() {
      const exited = exit(child);
      child.kill("SIGKILL");
      await exited;
    },
    /** The same address and data directory again. */
    async restart() {
      ({ child } = await spawnAt(base.replace(/^https?:\/\//, "")));
    },
    /** SIGTERM, and fails if the collector has not stopped well after its 10 s shutdown timeout. */
    async stop() {
      const exited = exit(child);
      child.kill("SIGTERM");
      let timer;
      const late = new Promise((r) => (timer = setTimeout(() => r("late"), 30000)));
      const how = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (how === "late") {
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(data, { recursive: true, force: true });
      if (how === "late") throw new Error("the collector did not stop within 30 s of SIGTERM");
    },
  };
}

/** Resolves once `child` has exited (at once if it already has). */
function exit(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", r));
}

async function spawnCollector(data, listen, allowOrigins, env, limits) {
  const args = ["serve", "--listen", listen, "--workers", "2", "--data", data];
  if (!limits) args.push("--limit-per-address", "off", "--limit-per-device", "off");
  for (const origin of allowOrigins) args.push("--allow-origin", origin);
  const child = spawn(collectorBinary(), args, {
    env: { ...process.env, TOUCHPOINT_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the collector did not start:\n${log}`)), 30000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const found = /listening addr=(\S+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolve(`${env.TOUCHPOINT_TLS_CERT ? "https" : "http"}://${found[1]}`);
      }
    });
    child.on("exit", (code) => reject(new Error(`the collector exited (${code}):\n${log}`)));
  });
  return { child, base };
}

/** The status of a GET of `url` from a collector serving HTTPS with the self-signed `cert`. */
function httpsStatus(url, cert) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: cert }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on("error", reject);
  });
}

/** Serves `pages` ({path: {body, headers}}) on 127.0.0.1: another origin than the collector. */
export async function startHost(pages) {
  const server = createServer((req, res) => {
    const page = pages[new URL(req.url, "http://x").pathname];
    if (!page) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": page.type || "text/html; charset=utf-8", ...(page.headers || {}) });
    res.end(page.body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise((r) => server.close(r)) };
}

const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

/**
 * A host page server on another origin and a collector that allows it (with `env` for the
 * collector); the host serves `pages(collectorBase)`. The host's port is known only once it
 * listens, and the collector must allow it: the host starts first with a late-bound page table.
 */
export async function startHostAndCollector(pages, env = {}) {
  const table = {};
  const host = await startHost(table);
  const collector = await startCollector({ allowOrigins: [host.origin], env });
  Object.assign(table, pages(collector.base));
  return {
    host,
    collector,
    async close() {
      await host.close();
      await collector.stop();
    },
  };
}

/**
 * What every test page emulates: a visitor who asks for reduced motion. The widget then shows its
 * panel at once instead of fading it in over 150 ms, so no check (axe's colour contrast, a
 * screenshot) sees it half-way.
 */
export const STILL = { reducedMotion: "reduce" };

/**
 * A fresh context on the dashboard, signed in with the admin token; `problems` collects every
 * console error and uncaught exception of its page.
 */
export async function signedIn(browser, base) {
  const context = await browser.newContext(STILL);
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(`${base}/dashboard`);
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  return { context, page, problems };
}

/** Stores `items` through the public batch API; every one must be stored. */
export async function storeAll(base, items) {
  const res = await fetch(`${base}/v1/responses/batch`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(items),
  });
  if (res.status !== 200) throw new Error(`batch: ${res.status}`);
  const { results } = await res.json();
  if (!results.every((r) => r.status === "stored")) throw new Error(JSON.stringify(results));
}

/**
 * Resolves once every animation on the page, in the document and in open shadow roots, has
 * finished (or was cancelled): what axe or a screenshot checks is then the settled state.
 */
export async function settled(page) {
  await page.waitForFunction(() => {
    const roots = [document, ...[...document.querySelectorAll("*")].map((e) => e.shadowRoot).filter(Boolean)];
    return roots.every((root) => root.getAnimations().every((a) => a.playState !== "running" && a.playState !== "pending"));
  });
}

export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

/** A browser with a profile on disk in `userDataDir`: closing and relaunching it is a restart. */
export async function launchPersistent(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    ...STILL,
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
}

/** The focused element, looking inside open shadow roots: its role, name and radiogroup. */
export async function focused(page) {
  return page.evaluate(() => {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return null;
    const group = el.closest("[role=radiogroup]");
    return {
      role: el.getAttribute("role") || el.tagName.toLowerCase(),
      name: (el.getAttribute("aria-label") || el.textContent || "").trim(),
      group: group ? group.getAttribute("aria-label") : null,
      checked: el.getAttribute("aria-checked"),
    };
  });
}

/** Presses Tab until the focused element satisfies `want`; fails after 40 presses. */
export async function tabTo(page, want, what) {
  for (let i = 0; i < 40; i++) {
    const f = await focused(page);
    if (f && want(f)) return f;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${what}`);
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function eventually(check, ms = 15000, what = "the condition") {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

export function hostPage(collector, { attrs = 'data-touchpoint="checkout"', head = "", body = "" } = {}) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>${head}</head>
<body><h1 id="title">Checkout</h1>${body}
<script src="${collector}/widget.js" ${attrs} async></script></body></html>`;
}
