// The web widget in a real headless Chromium against the real collector, the host page served from
// another origin: the pasted tag, keyboard only, offline and reloads, a hostile and strict page, a
// page that forbids WebAssembly, and axe-core.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import {
  startHostAndCollector, launch, focused, tabTo, eventually, hostPage, widgetManifest, settled, STILL,
} from "./helpers.mjs";

const require = createRequire(import.meta.url);
let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A collector that allows one host origin, the host serving `pages(collectorBase)`. */
const setup = (pages) => startHostAndCollector(pages);

async function answerWithKeyboard(page) {
  await tabTo(page, (f) => f.role === "button" && /Feedback/.test(f.name), "the launcher");
  await page.keyboard.press("Enter");
  // The focus on the launcher fetched the survey's module; it shows once that is ready.
  await page.getByRole("radiogroup").first().waitFor();
  const effort = await tabTo(page, (f) => f.role === "radio" && /easy/.test(f.group || ""), "effort");
  assert.match(effort.group, /How easy was it/);
  for (let i = 0; i < 5; i++) await page.keyboard.press("ArrowRight");
  assert.equal((await focused(page)).name, "6 – easy");
  await tabTo(page, (f) => f.role === "radio" && /confident/.test(f.group || ""), "confidence");
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  await tabTo(page, (f) => f.role === "radio" && /feel/.test(f.group || ""), "emotion");
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  assert.equal((await focused(page)).name, "pleased");
  await tabTo(page, (f) => f.role === "textarea", "the comment");
  await page.keyboard.type("Typed with the keyboard only");
  await tabTo(page, (f) => f.role === "button" && f.name === "Send", "Send");
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor({ timeout: 10000 });
}

/**
 * Shows intent (the pointer over the launcher) and waits until the survey's module is ready: its
 * panel, built ahead when the page is idle, is in the shadow root.
 */
async function intent(page) {
  await page.getByRole("button", { name: /Feedback/ }).hover();
  await page.waitForFunction(() => document.querySelector("touchpoint-widget")?.shadowRoot?.querySelector(".panel"));
}

/** How many answers wait in the page's outbox. */
const outboxSize = (page) => page.evaluate(() =>
  Object.keys(localStorage).filter((k) => k.startsWith("touchpoint:outbox:")).length);

/** The one answer arrives, leaves the outbox, and a second later is still one row. */
async function deliveredOnce(env, page) {
  await eventually(async () => (await env.collector.export()).length === 1, 20000, "delivery");
  await eventually(async () => (await outboxSize(page)) === 0, 10000, "an empty outbox");
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await env.collector.export()).length, 1, "exactly one row");
}

test("a pasted tag on another origin, answered with the keyboard only, is stored once as web", async () => {
  const env = await setup((base) => ({ "/checkout": { body: hostPage(base) } }));
  const page = await browser.newPage(STILL);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${env.host.origin}/checkout`);
    await answerWithKeyboard(page);
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the answer in the export");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await env.collector.export()).length, 1, "exactly one row");
    const row = rows[0];
    assert.equal(row.channel, "web");
    assert.equal(row.touchpoint, "checkout");
    assert.deepEqual(row.answers, { effort: 6, confidence: 4, emotion: "pleased" });
    assert.equal(row.comment, "Typed with the keyboard only");
    assert.equal(row.context.page, "/checkout");
    assert.deepEqual(errors, [], "nothing thrown into the host page");
  } finally {
    await page.close();
    await env.close();
  }
});

/**
 * A checkout page whose survey's module has loaded on intent, then the collector goes away (the widget's files stay
 * in the browser's cache) and the answer is given: it waits in the outbox.
 */
async function answerWhileCollectorDown(test) {
  const env = await setup((base) => ({ "/checkout": { body: hostPage(base) } }));
  const page = await browser.newPage(STILL);
  try {
    await page.goto(`${env.host.origin}/checkout`);
    await intent(page);
    await env.collector.kill();
    await answerWithKeyboard(page);
    assert.equal(await outboxSize(page), 1, "the answer waits in the outbox");
    await test(env, page);
  } finally {
    await page.close();
    await env.close();
  }
}

test("offline, answer, reload twice, online: delivered exactly once", () =>
  answerWhileCollectorDown(async (env, page) => {
    await page.reload();
    await page.reload();
    assert.equal(await outboxSize(page), 1, "still waiting after two reloads");
    await env.collector.restart();
    assert.equal((await env.collector.export()).length, 0, "nothing arrived while offline");
    await page.reload();
    await deliveredOnce(env, page);
    await page.reload();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await env.collector.export()).length, 1, "still exactly one row after a reload");
  }));

test("the collector unreachable when the survey shows, back a little later: delivered without a reload", () =>
  // The courier tries again after a backoff, without a reload.
  answerWhileCollectorDown(async (env, page) => {
    await new Promise((r) => setTimeout(r, 2500));
    await env.collector.restart();
    await deliveredOnce(env, page);
  }));

test("a page whose localStorage throws still delivers the answer, once, with one warning", async () => {
  const env = await setup((base) => ({ "/checkout": { body: hostPage(base) } }));
  const page = await browser.newPage(STILL);
  await page.addInitScript(() => {
    Object.defineProperty(window, "localStorage", {
      get() {
        throw new DOMException("The user denied storage", "SecurityError");
      },
    });
  });
  const warnings = [];
  page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${env.host.origin}/checkout`);
    await page.getByRole("button", { name: /Feedback/ }).waitFor();
    await answerWithKeyboard(page);
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the answer in the export");
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].answers, { effort: 6, confidence: 4, emotion: "pleased" });
    // The module hands the loader the message's number; the loader writes it from notes.js.
    const said = () => warnings.filter((w) => /localStorage is unavailable/.test(w)).length;
    await eventually(async () => said() > 0, 10000, "the storage warning");
    assert.equal(said(), 1, warnings.join("\n"));
    assert.deepEqual(errors, [], "nothing thrown into the host page");
  } finally {
    await page.close();
    await env.close();
  }
});

/**
 * Opens a host page whose tag has `attrs`, collecting the widget's console messages (`type text`);
 * runs `check(env, page, messages)`, after which nothing may have been thrown into the page.
 */
async function withConsole(attrs, check) {
  const env = await setup((base) => ({ "/tag": { body: hostPage(base, { attrs }) } }));
  const page = await browser.newPage(STILL);
  const messages = [];
  page.on("console", (m) => /touchpoint:/.test(m.text()) && messages.push(`${m.type()} ${m.text()}`));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${env.host.origin}/tag`);
    await check(env, page, messages);
    assert.deepEqual(errors, [], "nothing thrown into the host page");
  } finally {
    await page.close();
    await env.close();
  }
}

test("a module's own message comes from notes.js, and its number where notes.js cannot be fetched", async () => {
  const notes = widgetManifest().notes[0];
  const env = await setup((base) => ({
    "/inline": { body: hostPage(base, { attrs: 'data-touchpoint="checkout" data-mode="inline" data-target="#nowhere"' }) },
  }));
  try {
    for (const blocked of [false, true]) {
      const page = await browser.newPage(STILL);
      const messages = [];
      page.on("console", (m) => /touchpoint:/.test(m.text()) && messages.push(`${m.type()} ${m.text()}`));
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      if (blocked) await page.route(`**/${notes}`, (route) => route.abort());
      try {
        await page.goto(`${env.host.origin}/inline`);
        await eventually(async () => messages.length > 0, 10000, "the message");
        assert.equal(messages.length, 1, messages.join("\n"));
        assert.match(messages[0], blocked
          ? /^warning touchpoint: message 12$/
          : /^error touchpoint: data-target matches no element on the page; the survey is not shown$/);
        assert.deepEqual(errors, [], "nothing thrown into the host page");
      } finally {
        await page.close();
      }
    }
  } finally {
    await env.close();
  }
});

test("a tag with a missing and a wrong attribute: one clear console message each, nothing thrown", () =>
  withConsole('data-segment="not a segment!" data-mode="inline"', async (env, page, messages) => {
    await eventually(async () => messages.length >= 3, 10000, "the console messages");
    await new Promise((r) => setTimeout(r, 500));
    messages.sort();
    assert.equal(messages.length, 3, messages.join("\n"));
    assert.match(messages[0], /^error touchpoint: data-mode="inline" needs data-target/);
    assert.match(messages[1], /^error touchpoint: data-touchpoint is missing or invalid .*the survey is not shown/);
    assert.match(messages[2], /^warning touchpoint: data-segment is invalid .*ignored/);
    assert.equal(await page.locator("touchpoint-widget").count(), 0, "no survey");
  }));

test("the loader's checks: each other wrong setting, open() option, postCall on a web page and a second tag get one message each", () =>
  withConsole('data-touchpoint="checkout" data-mode="popup" data-locale="xx" data-interaction="order 1"', async (env, page, messages) => {
    await eventually(async () => messages.length >= 3, 10000, "the tag's messages");
    // A wrong mode is the launcher; a wrong locale the browser's (English here).
    await page.getByRole("button", { name: /Feedback/ }).waitFor();
    await page.evaluate(() => Touchpoint.open({ touchpoint: "check out", interactionId: "order 2!", locale: "xx" }));
    await eventually(async () => messages.length >= 6, 10000, "open()'s messages");
    // postCall on a web page, and a second tag.
    await page.evaluate(() => Touchpoint.postCall({ interactionId: "call-1", agentId: "a-1" }));
    await page.evaluate((src) => {
      const tag = document.createElement("script");
      tag.src = src;
      document.body.append(tag);
    }, `${env.collector.base}/widget.js`);
    await eventually(async () => messages.length >= 8, 10000, "the messages for postCall and a second tag");
    await new Promise((r) => setTimeout(r, 500));
    messages.sort();
    assert.equal(messages.length, 8, messages.join("\n"));
    assert.match(messages.splice(1, 1)[0], /^error touchpoint: postCall works with data-mode="agent" and data-agent-key on the script tag/);
    assert.match(messages[0], /^error touchpoint: data-touchpoint is missing or invalid \(1-64 characters of A-Z a-z 0-9 \. _ : \/ -\)/);
    assert.match(messages[1], /^warning touchpoint: data-interaction or interactionId is invalid .*ignored/);
    assert.match(messages[2], /^warning touchpoint: data-interaction or interactionId is invalid .*ignored/);
    assert.match(messages[3], /^warning touchpoint: data-locale must be one of en, es, fr, de, ar; using the browser's language/);
    assert.match(messages[4], /^warning touchpoint: data-locale must be one of/);
    assert.match(messages[5], /^warning touchpoint: data-mode must be "launcher", "inline", "kiosk" or "agent"; using launcher/);
    assert.match(messages[6], /^warning touchpoint: the widget is already on this page; the second script tag is ignored/);
    assert.equal(await page.locator("touchpoint-widget").count(), 1, "one widget");
  }));

const HOSTILE_CSS = `
* { all: unset !important; }
html, body { display: block !important; }
#title { display: block !important; color: rgb(1, 2, 3) !important; font-size: 33px !important; }
button, [role=radio], [role=radiogroup], textarea { display: none !important; visibility: hidden !important; }
div { opacity: 0 !important; }
`;

test("a hostile stylesheet and a strict CSP: the survey works, no violation, host styles untouched", async () => {
  const env = await setup((base) => ({
    "/strict": {
      body: hostPage(base, { head: '<link rel="stylesheet" href="/hostile.css">' }),
      headers: {
        "content-security-policy":
          `script-src ${base} 'wasm-unsafe-eval'; connect-src ${base}; style-src 'self'`,
      },
    },
    "/hostile.css": { body: HOSTILE_CSS, type: "text/css" },
  }));
  const page = await browser.newPage(STILL);
  const violations = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  try {
    await page.goto(`${env.host.origin}/strict`);
    await page.evaluate(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        window.__violations = (window.__violations || []).concat(e.violatedDirective);
      });
    });
    const before = await page.evaluate(() => {
      const s = getComputedStyle(document.getElementById("title"));
      return [s.color, s.fontSize, document.querySelectorAll("style, [style]").length];
    });
    await answerWithKeyboard(page);
    await eventually(async () => (await env.collector.export()).length === 1, 15000, "the answer");
    const after = await page.evaluate(() => {
      const s = getComputedStyle(document.getElementById("title"));
      return [s.color, s.fontSize, document.querySelectorAll("style, [style]").length];
    });
    assert.deepEqual(before, ["rgb(1, 2, 3)", "33px", 0]);
    assert.deepEqual(after, before, "the host's styles are untouched and nothing was added");
    assert.deepEqual(violations, []);
    assert.equal(await page.evaluate(() => window.__violations || []).then((v) => v.length), 0);
  } finally {
    await page.close();
    await env.close();
  }
});

/** A host page whose CSP forbids WebAssembly (no 'wasm-unsafe-eval'): the loader's fallback. */
const noWasm = (base, options) => ({
  body: hostPage(base, options),
  headers: { "content-security-policy": `script-src ${base}; frame-src ${base}; connect-src ${base}; style-src 'self'` },
});

/** The fallback's parts in the page: its launcher, panel and iframe, as laid out. */
const fallbackParts = (page) => page.evaluate(() => {
  const root = document.querySelector("touchpoint-widget")?.shadowRoot;
  const box = (el) => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return r.width && r.height ? { left: r.left, top: r.top, right: r.right, bottom: r.bottom } : null;
  };
  return {
    launcher: box(root?.querySelector("[part=launcher]")),
    panel: box(root?.querySelector("[part=panel]")),
    frame: box(root?.querySelector("iframe")),
    styled: document.querySelectorAll("[style], style").length,
    viewport: { width: innerWidth, height: innerHeight },
  };
});

test("a page whose CSP forbids WebAssembly gets the survey through the iframe fallback", async () => {
  const env = await setup((base) => ({ "/nowasm": noWasm(base) }));
  const page = await browser.newPage(STILL);
  try {
    await page.goto(`${env.host.origin}/nowasm`);
    await page.getByRole("button", { name: "Feedback" }).click();
    const frame = page.frameLocator(`iframe[src^="${env.collector.base}/embed"]`);
    await frame.getByRole("radiogroup", { name: /How easy was it/ }).getByRole("radio", { name: "7 – very easy" }).click();
    await frame.getByRole("button", { name: "Send" }).click();
    await frame.getByRole("status").filter({ hasText: "Thank you" }).waitFor({ timeout: 10000 });
    // The iframe sits in the widget's shadow root: nothing styled is added to the page itself.
    const host = await page.evaluate(() => ({
      styled: document.querySelectorAll("[style], style").length,
      inShadow: !!document.querySelector("touchpoint-widget")?.shadowRoot?.querySelector("iframe"),
      size: document.querySelector("touchpoint-widget")?.shadowRoot?.querySelector("iframe")?.getBoundingClientRect().height,
    }));
    assert.equal(host.styled, 0, "no style attribute or element in the host document");
    assert.ok(host.inShadow, "the iframe is in the shadow root");
    assert.ok(host.size > 300, `the fallback has room: ${host.size}`);
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the answer");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].touchpoint, "checkout");
    assert.equal(rows[0].answers.effort, 7);
  } finally {
    await page.close();
    await env.close();
  }
});

// Issue 19: the fallback covered the page, open, with no way to close it.
test("the fallback is a launcher: the survey on click, closed by its button or Escape, focus back, on a desktop and a phone", async () => {
  const env = await setup((base) => ({
    "/nowasm": noWasm(base),
    "/nowasm-es": noWasm(base, { attrs: 'data-touchpoint="checkout" data-locale="es"' }),
    "/nowasm-inline": noWasm(base, {
      attrs: 'data-touchpoint="checkout" data-mode="inline" data-target="#here"',
      body: '<div id="here"></div>',
    }),
  }));
  const viewports = [
    { name: "desktop", options: { viewport: { width: 1280, height: 720 } } },
    { name: "phone", options: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } },
  ];
  try {
    for (const { name, options } of viewports) {
      const context = await browser.newContext({ ...STILL, ...options });
      const page = await context.newPage();
      try {
        await page.goto(`${env.host.origin}/nowasm`);
        const launcher = page.getByRole("button", { name: "Feedback" });
        await launcher.waitFor();
        let parts = await fallbackParts(page);
        const { width, height } = parts.viewport;
        const l = parts.launcher;
        assert.ok(l, `${name}: a launcher`);
        assert.equal(parts.panel, null, `${name}: no panel before the click`);
        assert.equal(parts.frame, null, `${name}: no survey before the click`);
        assert.equal(await page.locator("iframe").count(), 0, `${name}: no iframe is even made before the click`);
        assert.ok((l.right - l.left) * (l.bottom - l.top) < 0.02 * width * height,
          `${name}: the launcher covers under 2 % of the page: ${JSON.stringify(l)}`);
        // Just beside the launcher, where the survey once covered the page, the page itself.
        assert.equal(await page.evaluate(([x, y]) => document.elementFromPoint(x, y).tagName, [l.left - 24, l.top - 24]),
          "HTML", `${name}: the page's own content is reachable around the launcher`);

        // Opened: the survey, within the viewport, the focus in its first question.
        await launcher.click();
        const frame = page.frameLocator(`iframe[src^="${env.collector.base}/embed"]`);
        const first = frame.getByRole("radiogroup", { name: /How easy was it/ }).getByRole("radio").first();
        await first.waitFor();
        await eventually(() => frame.locator(":focus").count(), 10000, `${name}: the focus in the survey`);
        assert.equal(await launcher.getAttribute("aria-expanded"), "true");
        parts = await fallbackParts(page);
        const p = parts.panel;
        assert.ok(p && parts.frame, `${name}: the panel shows`);
        assert.ok(p.left >= 0 && p.top >= 0 && p.right <= width && p.bottom <= height,
          `${name}: the panel fits the viewport: ${JSON.stringify(p)}`);
        assert.ok(parts.frame.bottom - parts.frame.top > 300, `${name}: the survey has room`);
        assert.equal(parts.styled, 0, `${name}: no style attribute or element in the page`);

        // The close button closes; the focus returns to the launcher.
        await page.getByRole("button", { name: "Close" }).click();
        await eventually(async () => (await fallbackParts(page)).panel === null, 5000, `${name}: closed`);
        assert.equal(await launcher.getAttribute("aria-expanded"), "false");
        assert.equal((await focused(page)).name, "Feedback", `${name}: the focus on the launcher`);

        // Reopened, Escape pressed inside the survey (another origin's frame) closes it too.
        await launcher.click();
        await eventually(() => frame.locator(":focus").count(), 10000, `${name}: the focus in the survey again`);
        await page.keyboard.press("Escape");
        await eventually(async () => (await fallbackParts(page)).panel === null, 5000, `${name}: closed by Escape`);
        assert.equal((await focused(page)).name, "Feedback", `${name}: the focus back on the launcher`);

        // Escape on the close button, in the page's own document.
        await launcher.click();
        await page.getByRole("button", { name: "Close" }).focus();
        await page.keyboard.press("Escape");
        await eventually(async () => (await fallbackParts(page)).panel === null, 5000, `${name}: Escape on close`);
        assert.equal((await focused(page)).name, "Feedback");
        assert.equal(await page.locator("iframe").count(), 1, `${name}: one survey kept across opens`);

        // The launcher speaks the page's locale.
        await page.goto(`${env.host.origin}/nowasm-es`);
        await page.getByRole("button", { name: "Opinión" }).click();
        await page.frameLocator("iframe").getByRole("button", { name: "Enviar" }).waitFor();
        await page.getByRole("button", { name: "Cerrar" }).click();
        assert.equal((await focused(page)).name, "Opinión");

        // An inline page is unchanged: the survey in its target at once, no launcher.
        await page.goto(`${env.host.origin}/nowasm-inline`);
        await page.frameLocator("#here touchpoint-widget iframe").getByRole("button", { name: "Send" }).waitFor();
        assert.equal(await page.getByRole("button", { name: "Feedback" }).count(), 0, `${name}: no launcher inline`);
      } finally {
        await context.close();
      }
    }
  } finally {
    await env.close();
  }
});

test("axe-core finds no WCAG 2.2 A/AA violation in the open survey, in English and Arabic", async () => {
  const env = await setup((base) => ({
    "/en": { body: hostPage(base) },
    "/ar": { body: hostPage(base, { attrs: 'data-touchpoint="checkout" data-locale="ar"' }) },
  }));
  const axe = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  const page = await browser.newPage(STILL);
  try {
    for (const path of ["/en", "/ar"]) {
      await page.goto(`${env.host.origin}${path}`);
      await page.getByRole("button", { name: path === "/en" ? /Feedback/ : /رأيك/ }).click();
      await page.getByRole("radiogroup").first().waitFor();
      await settled(page);
      await page.addScriptTag({ content: axe });
      const result = await page.evaluate(() =>
        window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }));
      const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
      assert.deepEqual(found, [], `${path}: axe violations`);
      assert.ok(result.passes.length > 10, "axe ran its checks");
    }
  } finally {
    await page.close();
    await env.close();
  }
});

test("the panel fades in, but not for a visitor who asks for reduced motion", async () => {
  const env = await setup((base) => ({ "/p": { body: hostPage(base) } }));
  try {
    for (const [reducedMotion, animation] of [["no-preference", "tp-in"], ["reduce", "none"]]) {
      const page = await browser.newPage({ reducedMotion });
      try {
        await page.goto(`${env.host.origin}/p`);
        await page.getByRole("button", { name: /Feedback/ }).click();
        await page.getByRole("radiogroup").first().waitFor();
        // The style the open panel is given, not whether its animation is still running.
        const name = await page.evaluate(() => {
          const panel = document.querySelector("touchpoint-widget").shadowRoot.querySelector(".panel");
          return getComputedStyle(panel).animationName;
        });
        assert.equal(name, animation, `prefers-reduced-motion: ${reducedMotion}`);
      } finally {
        await page.close();
      }
    }
  } finally {
    await env.close();
  }
});

// One module per locale carries the survey and its courier: a second module for delivery cost
// every answering visitor the wasm-bindgen runtime and two requests again.
test("a web page loads one locale's module, which delivers its answers; open({locale}) switches language and back", async () => {
  const env = await setup((base) => ({ "/p": { body: hostPage(base) } }));
  const page = await browser.newPage(STILL);
  const wasm = [];
  page.on("request", (r) => r.url().endsWith(".wasm") && wasm.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const hosts = () => page.evaluate(() => document.querySelectorAll("touchpoint-widget").length);
  try {
    await page.goto(`${env.host.origin}/p`);
    await page.getByRole("button", { name: /Feedback/ }).waitFor();
    // The panel is built ahead when the page is idle: give it time, then check nothing more came.
    await page.evaluate(() => new Promise((r) => requestIdleCallback(r)));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(wasm.length, 0, "no module before intent");

    await page.evaluate(() => window.Touchpoint.open({ locale: "fr" }));
    const effort = page.getByRole("radiogroup", { name: /facile d.obtenir/ });
    await effort.waitFor();
    // open() is intent: the page's English module, then the French one it asks for.
    assert.equal(wasm.length, 2, "the French module is loaded when asked for");
    assert.notEqual(wasm[0], wasm[1]);
    assert.equal(await hosts(), 1, "the English survey left the page");
    await effort.getByRole("radio").nth(4).click();
    await page.getByRole("button", { name: "Envoyer" }).click();
    await page.getByRole("status").filter({ hasText: "Merci" }).waitFor({ timeout: 10000 });
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the French answer in the export");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].locale, "fr");
    assert.deepEqual(rows[0].answers, { effort: 5 });
    assert.equal(wasm.length, 2, "no other module to deliver it");

    await page.evaluate(() => window.Touchpoint.open({ locale: "en" }));
    await page.getByRole("radiogroup", { name: /How easy was it/ }).waitFor();
    assert.equal(await hosts(), 1, "back to the one English survey");
    assert.equal(wasm.length, 2, "the English module is used again, not loaded again");
    assert.equal((await env.collector.export()).length, 1, "still exactly one row");
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await env.close();
  }
});

/** Every request `page` makes to the collector, as paths. */
function collectorRequests(page, base) {
  const paths = [];
  page.on("request", (r) => r.url().startsWith(base) && paths.push(new URL(r.url()).pathname));
  return paths;
}

/** The launcher's box, whichever draws it (the loader until intent, then the module). */
const launcherBox = (page) => page.evaluate(() => {
  const r = document.querySelector("touchpoint-widget").shadowRoot.querySelector("[part=launcher]").getBoundingClientRect();
  return [r.left, r.top, r.width, r.height].map(Math.round);
});

// Issue 19: every visitor of a launcher page downloaded the survey (20 KB), though most never open it.
test("a launcher page never opened fetches only widget.js; its launcher speaks the locale and looks the same after intent", async () => {
  const env = await setup((base) => ({
    "/en": { body: hostPage(base) },
    "/ar": { body: hostPage(base, { attrs: 'data-touchpoint="checkout" data-locale="ar"' }) },
  }));
  const page = await browser.newPage(STILL);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const paths = collectorRequests(page, env.collector.base);
  try {
    for (const [path, name, dir] of [["/ar", "رأيك", "rtl"], ["/en", "Feedback", "ltr"]]) {
      paths.length = 0;
      await page.goto(`${env.host.origin}${path}`);
      const launcher = page.getByRole("button", { name });
      await launcher.waitFor();
      // Whatever the page would fetch once idle, it has asked for by now.
      await page.evaluate(() => new Promise((r) => requestIdleCallback(r)));
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(paths, ["/widget.js"], `${path}: only the loader`);
      assert.equal(await launcher.getAttribute("aria-expanded"), "false");
      assert.equal(await page.evaluate(() => document.querySelector("touchpoint-widget").dir), dir);
      assert.equal(await page.evaluate(() => document.querySelectorAll("[style], style").length), 0,
        `${path}: no style attribute or element in the page`);
    }
    // The English page: intent brings the module, whose launcher takes the same place.
    const drawn = await launcherBox(page);
    await intent(page);
    assert.equal(await page.locator("touchpoint-widget").count(), 1, "one launcher");
    assert.deepEqual(await launcherBox(page), drawn, "the module's launcher where the loader's was");
    assert.ok(paths.some((p) => p.endsWith(".wasm")), "the module is fetched on intent");
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await env.close();
  }
});

test("open after intent: a click before the module arrives shows the survey once it is ready; stored once", async () => {
  const env = await setup((base) => ({ "/p": { body: hostPage(base) } }));
  const page = await browser.newPage(STILL);
  const web = widgetManifest()["web-en"].find((f) => f.endsWith(".wasm"));
  // The module is held back until the click has been made.
  let clicked;
  const click = new Promise((r) => { clicked = r; });
  let asked = false;
  await page.route((url) => url.pathname.endsWith(web), async (route) => {
    asked = true;
    await click;
    await route.continue();
  });
  try {
    await page.goto(`${env.host.origin}/p`);
    const launcher = page.getByRole("button", { name: /Feedback/ });
    await launcher.hover();
    await eventually(() => asked, 10000, "the module asked for on intent");
    await launcher.click();
    assert.equal(await page.getByRole("radiogroup").count(), 0, "no survey before the module");
    clicked();
    const effort = page.getByRole("radiogroup", { name: /How easy was it/ });
    await effort.waitFor();
    // open() focuses the survey's first question.
    assert.match((await focused(page)).group || "", /How easy was it/);
    await effort.getByRole("radio").nth(5).click();
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor({ timeout: 10000 });
    await deliveredOnce(env, page);
    assert.deepEqual((await env.collector.export())[0].answers, { effort: 6 });
  } finally {
    await page.close();
    await env.close();
  }
});

test("a module that fails to load on intent is fetched again on the next intent; the click then opens the survey", async () => {
  const env = await setup((base) => ({ "/p": { body: hostPage(base) } }));
  const page = await browser.newPage(STILL);
  const web = widgetManifest()["web-en"].find((f) => f.endsWith(".wasm"));
  // The first request for the module fails, as when the collector is briefly unreachable.
  let asked = 0;
  await page.route((url) => url.pathname.endsWith(web), async (route) => {
    asked += 1;
    if (asked == 1) await route.abort("connectionrefused");
    else await route.continue();
  });
  const errors = [];
  page.on("console", (m) => m.type() == "error" && errors.push(m.text()));
  try {
    await page.goto(`${env.host.origin}/p`);
    const launcher = page.getByRole("button", { name: /Feedback/ });
    await launcher.hover();
    await eventually(() => errors.some((e) => e.includes("could not load")), 10000, "the failed load reported");
    assert.equal(asked, 1);
    await page.mouse.move(0, 0);
    await launcher.hover();
    await eventually(() => asked == 2, 10000, "the module asked for again on the next intent");
    await launcher.click();
    const effort = page.getByRole("radiogroup", { name: /How easy was it/ });
    await effort.waitFor();
    await effort.getByRole("radio").nth(5).click();
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor({ timeout: 10000 });
    await deliveredOnce(env, page);
  } finally {
    await page.close();
    await env.close();
  }
});

// Issue 19: an answer given, the page left before the collector acknowledged it. The answer is
// stored before any request, and the next page of the site sends it, though its visitor never
// opens the survey: the loader loads the page's module at once when answers wait. (With a
// separate delivery module this test held that module back; the survey's module now carries the
// courier, so what can be missing when the page is left is the collector.)
test("no answer lost in the gap: stored, the page left before it was sent, sent by the next load without opening", () =>
  answerWhileCollectorDown(async (env, page) => {
    await page.goto("about:blank");
    await env.collector.restart();
    assert.equal((await env.collector.export()).length, 0, "nothing was sent from the first page");
    await page.goto(`${env.host.origin}/checkout`);
    await deliveredOnce(env, page);
    assert.deepEqual((await env.collector.export())[0].answers, { effort: 6, confidence: 4, emotion: "pleased" });
    assert.equal(await page.getByRole("button", { name: /Feedback/ }).getAttribute("aria-expanded"), "false",
      "the survey was never opened on the next page");
  }));
