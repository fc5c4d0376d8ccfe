// The kiosk and agent channels in a real headless Chromium against the real collector: the kiosk's
// thank-you and reset, its idle timeout, its outbox across days offline and a browser restart; the
// agent's post-call invitation, the customer's page, one answer per call, bad links, assisted
// capture; the same instrument on the web, kiosk and agent pages; and the kiosk's larger text, which
// stands in for the zoom a kiosk forbids, with axe-core in every locale.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  startHostAndCollector, launch, launchPersistent, eventually, settled, ADMIN_TOKEN, widgetManifest, STILL,
} from "./helpers.mjs";

const require = createRequire(import.meta.url);
const AGENT_KEY = "console-key-0123456789";
const SECRET = "browser-invitation-secret-0123456789";
let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A collector that allows the host's origin and issues invitations; the host serves `pages(base)`. */
const setup = (pages) =>
  startHostAndCollector(pages, { TOUCHPOINT_AGENT_KEYS: AGENT_KEY, TOUCHPOINT_INVITATION_SECRET: SECRET });

function kioskPage(base, { reset = 1, idle = 30 } = {}) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Branch 042</title></head><body>
<script src="${base}/widget.js" data-mode="kiosk" data-touchpoint="branch-teller" data-site="branch-042"
 data-device="kiosk-3" data-reset-seconds="${reset}" data-idle-seconds="${idle}" async></script></body></html>`;
}

function consolePage(base, { locale = "en" } = {}) {
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><title>Console</title></head><body>
<h1>Calls</h1><section id="post-call"></section>
<script src="${base}/widget.js" data-mode="agent" data-target="#post-call" data-touchpoint="contact-centre"
 data-agent-key="${AGENT_KEY}" data-locale="${locale}" async></script></body></html>`;
}

/** Answers the open survey: option `effort` (1-7) of the first question, then Send. */
async function answer(page, { effort = 6, comment = "" } = {}) {
  await page.locator("[role=radiogroup]").first().locator("[role=radio]").nth(effort - 1).click();
  if (comment) await page.locator("textarea").fill(comment);
  await page.locator("button[part=send]").click();
}

/** What the kiosk shows: attract screen, survey, and every text in the shadow root. */
async function kioskScreen(page) {
  return page.evaluate(() => {
    const root = document.querySelector("touchpoint-widget")?.shadowRoot;
    if (!root) return null;
    const attract = root.querySelector("[part=attract]");
    return {
      attract: !!attract && !attract.hidden,
      survey: root.querySelectorAll("[role=radiogroup]").length,
      textareas: [...root.querySelectorAll("textarea")].map((t) => t.value),
      text: root.textContent,
      countdown: root.querySelector("[part=countdown]")?.hidden ? "" : root.querySelector("[part=countdown]")?.textContent,
      queued: root.querySelector("[part=queued]")?.hidden ? "" : root.querySelector("[part=queued]")?.textContent,
    };
  });
}

test("kiosk: a language, an answer, a thank-you, then the attract screen again for the next customer", async () => {
  const env = await setup((base) => ({ "/kiosk": { body: kioskPage(base, { reset: 1 }) } }));
  const page = await browser.newPage(STILL);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${env.host.origin}/kiosk`);
    // The widget loads asynchronously: wait for the attract screen before reading it.
    await page.locator("button[part=language]").first().waitFor();
    const names = await page.locator("button[part=language]").allTextContents();
    assert.deepEqual(names, ["English", "Español", "Français", "Deutsch", "العربية"]);
    const size = await page.locator("button[part=language]").first().boundingBox();
    assert.ok(size.height >= 48 && size.width >= 48, `touch target ${JSON.stringify(size)}`);
    const style = await page.evaluate(() => {
      const host = document.querySelector("touchpoint-widget");
      const s = getComputedStyle(host);
      return { userSelect: s.userSelect, touchAction: s.touchAction, position: s.position };
    });
    // No pinch or double-tap zoom on the kiosk (the widget's own touch-action, not the page's
    // viewport tag, which would keep text from being enlarged at all).
    assert.deepEqual(style, { userSelect: "none", touchAction: "pan-x pan-y", position: "fixed" });

    await page.getByRole("button", { name: "Español" }).click();
    assert.equal(await page.locator("[role=radiogroup]").first().getAttribute("aria-label"), "¿Qué tan fácil fue conseguir lo que necesitaba hoy?");
    await answer(page, { effort: 5, comment: "Muy amable" });
    await page.getByRole("status").filter({ hasText: "¡Gracias" }).waitFor({ timeout: 10000 });
    // The reset comes by itself, and leaves nothing of this customer on the screen.
    await eventually(async () => (await kioskScreen(page)).attract, 10000, "the attract screen");
    const screen = await kioskScreen(page);
    assert.equal(screen.survey, 0);
    assert.deepEqual(screen.textareas, []);
    assert.ok(!screen.text.includes("Muy amable") && !screen.text.includes("Gracias"), screen.text);

    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the answer in the export");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].channel, "kiosk");
    assert.equal(rows[0].touchpoint, "branch-teller");
    assert.equal(rows[0].locale, "es");
    assert.deepEqual(rows[0].answers, { effort: 5 });
    assert.equal(rows[0].comment, "Muy amable");
    assert.deepEqual(rows[0].context, { site_id: "branch-042", device_id: "kiosk-3" });
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await env.close();
  }
});

/** The kiosk's sizes: the larger-text control, the first heading's and question's text, the
 * smallest button, and whether anything is wider than the screen. */
async function kioskSizes(page) {
  return page.evaluate(() => {
    const host = document.querySelector("touchpoint-widget");
    const root = host.shadowRoot;
    const px = (el) => el && parseFloat(getComputedStyle(el).fontSize);
    const shown = [...root.querySelectorAll("button")].filter((b) => b.getClientRects().length);
    const larger = root.querySelector("[part=larger]");
    return {
      pressed: larger.getAttribute("aria-pressed"),
      label: larger.textContent,
      heading: px(root.querySelector("[part=attract]:not([hidden]) h1, h2")),
      question: px(root.querySelector(".qt")),
      smallest: Math.min(...shown.map((b) => Math.min(b.getBoundingClientRect().width, b.getBoundingClientRect().height))),
      overflow: Math.max(host.scrollWidth - host.clientWidth,
        ...[...root.querySelectorAll("*")].map((e) => e.getBoundingClientRect().right - innerWidth)),
    };
  });
}

// Issue 19: a kiosk forbids zoom, so it offers larger text and targets itself.
test("kiosk: larger text doubles text and targets on the attract screen and in the survey, works, and resets for the next customer", async () => {
  const env = await setup((base) => ({ "/kiosk": { body: kioskPage(base, { reset: 1 }) } }));
  try {
    for (const viewport of [{ width: 1024, height: 768 }, { width: 390, height: 844 }]) {
      const size = `${viewport.width}x${viewport.height}`;
      const page = await browser.newPage({ ...STILL, viewport });
      try {
        await page.goto(`${env.host.origin}/kiosk`);
        const larger = page.locator("button[part=larger]");
        await larger.waitFor();
        const normal = await kioskSizes(page);
        assert.equal(normal.pressed, "false");
        assert.equal(normal.label, "Larger text");
        await larger.click();
        const attract = await kioskSizes(page);
        assert.equal(attract.pressed, "true");
        assert.equal(attract.heading, 2 * normal.heading, `${size}: the attract screen's title doubles`);
        assert.ok(attract.smallest >= 2 * normal.smallest, `${size}: targets double: ${normal.smallest} → ${attract.smallest}`);
        assert.ok(attract.overflow <= 0, `${size}: nothing wider than the screen (${attract.overflow})`);

        await page.getByRole("button", { name: "Deutsch" }).click();
        await page.locator("[role=radiogroup]").first().waitFor();
        const survey = await kioskSizes(page);
        assert.equal(survey.label, "Größere Schrift", "the control speaks the chosen language");
        assert.equal(survey.pressed, "true", "still larger in the survey");
        assert.equal(survey.question, 44, `${size}: the questions at twice the kiosk's 22 px`);
        assert.ok(survey.smallest >= 128, `${size}: every target at least 128 px: ${survey.smallest}`);
        assert.ok(survey.overflow <= 0, `${size}: nothing wider than the screen (${survey.overflow})`);
        // Every part still works: each question answered, a comment, Send.
        for (const group of await page.locator("[role=radiogroup]").all()) {
          await group.locator("[role=radio]").last().click();
        }
        await page.locator("textarea").fill("Groß");
        await page.locator("button[part=send]").click();
        await page.getByRole("status").filter({ hasText: "Vielen Dank" }).waitFor({ timeout: 10000 });

        // The next customer starts with the usual size, in the kiosk's own language.
        await eventually(async () => (await kioskScreen(page)).attract, 10000, "the attract screen");
        const next = await kioskSizes(page);
        assert.deepEqual([next.pressed, next.label, next.heading], ["false", "Larger text", normal.heading]);
      } finally {
        await page.close();
      }
    }
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length === 2 ? r : null;
    }, 15000, "both answers");
    assert.ok(rows.every((r) => r.locale === "de" && r.answers.effort === 7 && r.comment === "Groß"));
  } finally {
    await env.close();
  }
});

// Issue 19: axe-core reported `meta-viewport` (critical) on the kiosk demo, which forbade zoom.
test("axe-core finds no violation on the kiosk demo, attract screen and survey, in every locale, with larger text on", async () => {
  // The demo pages are served only with --demo.
  const env = await startHostAndCollector(() => ({}), { TOUCHPOINT_DEMO: "true" });
  const axe = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  const survey = await (await fetch(`${env.collector.base}/v1/survey`)).json();
  const page = await browser.newPage({ ...STILL, viewport: { width: 1024, height: 768 }, hasTouch: true });
  const check = async (what) => {
    // Evaluated through the DevTools protocol: the demo page's CSP allows no inline script.
    await page.evaluate(axe);
    const result = await page.evaluate(() =>
      window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }));
    const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    assert.deepEqual(found, [], `${what}: axe violations`);
    assert.ok(result.passes.some((p) => p.id === "meta-viewport"), `${what}: axe checked the viewport`);
  };
  try {
    for (const code of Object.keys(survey.locales)) {
      await page.goto(`${env.collector.base}/demo/kiosk`);
      await page.locator("button[part=larger]").click();
      await check(`${code}, attract screen`);
      await page.getByRole("button", { name: survey.locales[code].name }).click();
      await page.getByRole("radiogroup").first().waitFor();
      await settled(page);
      assert.equal(await page.locator("button[part=larger]").getAttribute("aria-pressed"), "true");
      await check(`${code}, survey`);
      // Zoom stays disabled: no pinch or double-tap zoom on the kiosk.
      assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector("touchpoint-widget")).touchAction), "pan-x pan-y");
    }
  } finally {
    await page.close();
    await env.close();
  }
});

test("kiosk: a survey left half-filled counts down, clears itself and stores nothing", async () => {
  const env = await setup((base) => ({ "/kiosk": { body: kioskPage(base, { idle: 3 }) } }));
  const page = await browser.newPage(STILL);
  try {
    await page.goto(`${env.host.origin}/kiosk`);
    await page.getByRole("button", { name: "English" }).click();
    await page.locator("[role=radiogroup]").first().locator("[role=radio]").nth(2).click();
    await page.locator("textarea").fill("my account number is 12345");
    const countdown = await eventually(async () => (await kioskScreen(page)).countdown, 5000, "the countdown");
    assert.match(countdown, /^Starting over in \d$/);
    await eventually(async () => (await kioskScreen(page)).attract, 10000, "the reset");
    const screen = await kioskScreen(page);
    assert.equal(screen.survey, 0);
    assert.deepEqual(screen.textareas, []);
    assert.ok(!screen.text.includes("12345"), screen.text);
    // Nothing was sent: nothing is queued on the tablet and nothing is stored.
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("touchpoint:outbox:")).length), 0);
    assert.deepEqual(await env.collector.export(), []);
  } finally {
    await page.close();
    await env.close();
  }
});

test("kiosk: answers given offline survive a browser restart and are stored exactly once", async () => {
  const env = await setup((base) => ({ "/kiosk": { body: kioskPage(base, { reset: 1 }) } }));
  const profile = mkdtempSync(join(tmpdir(), "tp-kiosk-profile-"));
  const count = 8;
  let context;
  try {
    context = await launchPersistent(profile);
    let page = context.pages()[0] || (await context.newPage());
    await page.goto(`${env.host.origin}/kiosk`);
    await page.getByRole("button", { name: "English" }).waitFor();
    await context.setOffline(true);
    for (let i = 0; i < count; i++) {
      await page.getByRole("button", { name: "English" }).click();
      await answer(page, { effort: 1 + (i % 7), comment: `offline answer ${i}` });
      await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor({ timeout: 10000 });
      await eventually(async () => (await kioskScreen(page)).attract, 10000, "the attract screen");
    }
    // The staff indicator shows what waits on the tablet.
    assert.equal((await kioskScreen(page)).queued, `● ${count}`);
    assert.deepEqual(await env.collector.export(), []);
    await context.close();

    // The browser comes back (a reboot, days later) with the network.
    context = await launchPersistent(profile);
    page = context.pages()[0] || (await context.newPage());
    const fetched = [];
    page.on("request", (r) => fetched.push(r.url()));
    await page.goto(`${env.host.origin}/kiosk`);
    // Every answer arrives and the tablet's outbox empties. An answer the closed browser had in
    // flight stays leased to it for 20 s (another tab might still be sending it): the waits allow
    // for that lease.
    await eventually(async () => (await env.collector.export()).length >= count, 60000, "every offline answer in the export");
    const outbox = () =>
      page.evaluate(() => Object.keys(localStorage).filter((k) => /^touchpoint:(outbox|lease):/.test(k)));
    await eventually(async () => (await kioskScreen(page))?.queued === "", 60000, "an empty outbox").catch(
      async (e) => {
        const shown = (await kioskScreen(page))?.queued;
        throw new Error(`${e.message}: the indicator shows ${JSON.stringify(shown)}, storage holds ${await outbox()}`);
      },
    );
    assert.deepEqual(await outbox(), [], "nothing left in storage");
    const rows = await env.collector.export();
    assert.equal(rows.length, count, "each answer exactly once");
    assert.equal(new Set(rows.map((r) => r.id)).size, count);
    assert.deepEqual(
      rows.map((r) => r.comment).sort(),
      Array.from({ length: count }, (_, i) => `offline answer ${i}`).sort(),
    );
    assert.ok(rows.every((r) => r.channel === "kiosk" && r.context.device_id === "kiosk-3"));
    // Only the kiosk's module: the loader loads no web module (with a courier of its own) for
    // the answers waiting on a kiosk page.
    const kiosk = widgetManifest().channels.find((f) => f.endsWith(".wasm"));
    const wasm = fetched.filter((u) => u.endsWith(".wasm"));
    assert.ok(wasm.every((u) => u.endsWith(kiosk)), `the kiosk's own courier sent them, alone: ${wasm}`);
  } finally {
    // A browser left running would keep this file's test process, and the whole run, alive.
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await env.close();
  }
});

/** Calls `Touchpoint.postCall` on the console page and waits for the link it shows. */
async function postCall(page, call) {
  await page.waitForFunction(() => window.Touchpoint && window.Touchpoint.postCall);
  await page.evaluate((c) => window.Touchpoint.postCall(c), call);
  const link = page.locator("a[part=link]");
  await link.waitFor({ timeout: 10000 });
  return link.getAttribute("href");
}

/** A token signed with the collector's secret, as the collector would make it. */
function sign(claims) {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const signature = createHmac("sha256", SECRET).update(payload).digest("base64url");
  return `${payload}.${signature}`;
}

test("kiosk: answers given faster than a person could are stored, flagged as a burst and left out of the stats", async () => {
  const env = await setup((base) => ({ "/kiosk": { body: kioskPage(base, { reset: 1 }) } }));
  const page = await browser.newPage(STILL);
  try {
    await page.goto(`${env.host.origin}/kiosk`);
    // Three customers in a few seconds: someone hammering the screen, not three people.
    for (let i = 0; i < 3; i++) {
      await page.getByRole("button", { name: "English" }).waitFor();
      await page.getByRole("button", { name: "English" }).click();
      await answer(page, { effort: 1 + i });
      await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor({ timeout: 10000 });
    }
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length === 3 && r;
    }, 15000, "three stored answers");
    rows.sort((a, b) => a.submitted_at.localeCompare(b.submitted_at));
    assert.deepEqual(rows.map((r) => r.answers.effort), [1, 2, 3]);
    assert.deepEqual(rows.map((r) => r.burst), [false, true, true], "the second and third are flagged");
    const stats = async (query) => {
      const res = await fetch(`${env.collector.base}/v1/stats?channel=kiosk${query}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(res.status, 200);
      return (await res.json()).total.count;
    };
    assert.equal(await stats(""), 1, "bursts are left out of the stats");
    assert.equal(await stats("&include_bursts=true"), 3);
  } finally {
    await page.close();
    await env.close();
  }
});

test("agent: postCall gives a link and a QR code; the customer's answer is bound to the call, once", async () => {
  const env = await setup((base) => ({ "/console": { body: consolePage(base) } }));
  const consoleTab = await browser.newPage(STILL);
  const customer = await browser.newPage(STILL);
  const errors = [];
  consoleTab.on("pageerror", (e) => errors.push(String(e)));
  customer.on("pageerror", (e) => errors.push(String(e)));
  try {
    await consoleTab.goto(`${env.host.origin}/console`);
    const url = await postCall(consoleTab, { interactionId: "call-77", agentId: "a-7", queue: "cards", locale: "fr" });
    assert.ok(url.startsWith(`${env.collector.base}/s/`), url);
    const qr = consoleTab.locator("img[part=qr]");
    await eventually(() => qr.evaluate((img) => img.complete && img.naturalWidth > 0), 10000, "the QR code");
    assert.equal(await qr.getAttribute("src"), `${url}/qr.svg`);

    const response = await customer.goto(url);
    assert.equal(response.status(), 200);
    // A second tab with the link, opened before the answer is given.
    const late = await browser.newPage(STILL);
    await late.goto(url);
    await late.locator("[role=radiogroup]").first().waitFor();
    assert.match(await customer.locator("[role=radiogroup]").first().getAttribute("aria-label"), /^Dans quelle mesure/);
    await answer(customer, { effort: 7 });
    await customer.getByRole("status").filter({ hasText: "Merci" }).waitFor({ timeout: 10000 });
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the customer's answer");
    assert.equal(rows[0].channel, "agent");
    assert.equal(rows[0].touchpoint, "contact-centre");
    assert.equal(rows[0].locale, "fr");
    assert.equal(rows[0].context.interaction_id, "call-77");
    assert.equal(rows[0].context.agent_id, "a-7");
    assert.equal(rows[0].context.segment, "cards");
    assert.equal(rows[0].context.assisted, undefined);

    // The tab opened earlier: its answer is refused and it says so.
    await answer(late, { effort: 2 });
    await late.getByRole("status").filter({ hasText: "déjà reçu une réponse" }).waitFor({ timeout: 10000 });
    await late.close();
    // The link opened again: the page says so at once, with no survey.
    const again = await customer.goto(url);
    assert.equal(again.status(), 409);
    await customer.getByRole("status").filter({ hasText: "déjà reçu une réponse" }).waitFor();
    assert.equal(await customer.locator("[role=radiogroup]").count(), 0);
    assert.equal((await env.collector.export()).length, 1);
    assert.deepEqual(errors, []);
  } finally {
    await consoleTab.close();
    await customer.close();
    await env.close();
  }
});

test("agent: a changed or expired link shows a clear page with no survey, and an answer with it is refused", async () => {
  const env = await setup(() => ({}));
  const page = await browser.newPage(STILL);
  try {
    const issued = await fetch(`${env.collector.base}/v1/invitations`, {
      method: "POST",
      headers: { authorization: `Bearer ${AGENT_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ touchpoint: "contact-centre", interaction_id: "call-80", agent_id: "a-7" }),
    }).then((r) => r.json());
    const [payload, signature] = issued.token.split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    // The customer edits the link to answer for another agent; the signature no longer fits.
    const tampered = `${Buffer.from(JSON.stringify({ ...claims, a: "a-99" })).toString("base64url")}.${signature}`;
    const expired = sign({ t: "contact-centre", i: "call-81", a: "a-7", e: 1000 });
    for (const [token, status] of [[tampered, 400], [expired, 410]]) {
      const response = await page.goto(`${env.collector.base}/s/${token}`);
      assert.equal(response.status(), status);
      await page.getByRole("status").filter({ hasText: "expired or is not valid" }).waitFor();
      assert.equal(await page.locator("touchpoint-widget").count(), 0, "no survey");
    }
    // A valid one still works: the signature, not the shape, is what the collector trusts.
    assert.equal((await page.goto(`${env.collector.base}/s/${sign({ ...claims, i: "call-82" })}`)).status(), 200);
    const post = (token, interaction, agent) => fetch(`${env.collector.base}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({
        id: `01JD2XKQ9ZCFM7B5V0S3R4T6${interaction.slice(-2)}`, survey: { id: "core-cx", version: 1 },
        channel: "agent", touchpoint: "contact-centre", answers: { effort: 1 }, locale: "en",
        context: { interaction_id: interaction, agent_id: agent, invitation: token },
        submitted_at: new Date().toISOString(),
      }),
    }).then(async (r) => [r.status, (await r.json()).error]);
    assert.deepEqual(await post(tampered, "call-80", "a-99"), [400, "invalid_invitation"]);
    assert.deepEqual(await post(expired, "call-81", "a-7"), [410, "invitation_expired"]);
    assert.deepEqual(await post(issued.token, "call-80", "a-99"), [400, "invitation_mismatch"]);
    assert.deepEqual(await env.collector.export(), []);
  } finally {
    await page.close();
    await env.close();
  }
});

test("agent: assisted capture on the agent's screen is stored as assisted, for the call", async () => {
  const env = await setup((base) => ({ "/console": { body: consolePage(base, { locale: "es" }) } }));
  const page = await browser.newPage(STILL);
  try {
    await page.goto(`${env.host.origin}/console`);
    await postCall(page, { interactionId: "call-90", agentId: "a-12", locale: "de" });
    // The agent reads the panel in the console's language (Spanish); the customer answers in theirs.
    const panel = page.getByRole("region", { name: "Encuesta posterior a la llamada" });
    await panel.waitFor();
    assert.match(await panel.textContent(), /Envíe o muestre este enlace/);
    assert.equal(await page.locator("img[part=qr]").getAttribute("alt"), "Código QR del enlace de la encuesta");
    await page.getByRole("button", { name: "Asistida: responder ahora con el cliente" }).click();
    await answer(page, { effort: 3 });
    await page.getByRole("status").filter({ hasText: "Vielen Dank" }).waitFor({ timeout: 10000 });
    const rows = await eventually(async () => {
      const r = await env.collector.export();
      return r.length ? r : null;
    }, 15000, "the assisted answer");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].channel, "agent");
    assert.equal(rows[0].locale, "de");
    assert.equal(rows[0].context.assisted, true);
    assert.equal(rows[0].context.interaction_id, "call-90");
    assert.equal(rows[0].context.agent_id, "a-12");
  } finally {
    await page.close();
    await env.close();
  }
});

test("the same instrument everywhere: questions, scales and texts per locale on the web, kiosk and agent pages", async () => {
  const env = await setup((base) => ({
    "/kiosk": { body: kioskPage(base) },
    ...Object.fromEntries(["en", "es", "fr", "de", "ar"].map((l) => [`/web-${l}`, {
      body: `<!doctype html><html><head><meta charset="utf-8"><title>Web</title></head><body>
<script src="${base}/widget.js" data-touchpoint="checkout" data-locale="${l}" async></script></body></html>`,
    }])),
  }));
  const page = await browser.newPage(STILL);
  const survey = await fetch(`${env.collector.base}/v1/survey`).then((r) => r.json());
  assert.deepEqual(survey.questions.map((q) => q.id), ["effort", "confidence", "emotion", "comment"]);
  /** The survey as a person (or a screen reader) meets it: questions, options, comment, Send. */
  const shown = () => page.evaluate(() => {
    const root = document.querySelector("touchpoint-widget").shadowRoot;
    return {
      questions: [...root.querySelectorAll("[role=radiogroup]")].map((g) => ({
        text: g.getAttribute("aria-label"),
        options: [...g.querySelectorAll("[role=radio]")].map((r) => r.getAttribute("aria-label")),
      })),
      comment: root.querySelector("textarea").getAttribute("aria-label"),
      send: root.querySelector("button[part=send]").textContent,
    };
  });
  try {
    for (const [code, texts] of Object.entries(survey.locales)) {
      const q = texts.questions;
      const expected = {
        questions: [
          { text: q.effort.text, options: q.effort.labels.map((l, i) => `${i + 1} – ${l}`) },
          { text: q.confidence.text, options: q.confidence.labels.map((l, i) => `${i + 1} – ${l}`) },
          { text: q.emotion.text, options: q.emotion.labels },
        ],
        comment: q.comment.text,
        send: texts.ui.send,
      };
      await page.goto(`${env.host.origin}/web-${code}`);
      await page.locator("button[part=launcher]").click();
      // The click may come before the module, fetched on intent: the survey shows once it is ready.
      await page.locator("[role=radiogroup]").first().waitFor();
      assert.deepEqual(await shown(), expected, `web, ${code}`);

      await page.goto(`${env.host.origin}/kiosk`);
      await page.getByRole("button", { name: texts.name }).click();
      assert.deepEqual(await shown(), expected, `kiosk, ${code}`);

      const token = sign({ t: "contact-centre", i: `call-${code}`, a: "a-7", l: code, e: 4102444800 });
      await page.goto(`${env.collector.base}/s/${token}`);
      await page.locator("[role=radiogroup]").first().waitFor();
      assert.deepEqual(await shown(), expected, `agent, ${code}`);
    }
  } finally {
    await page.close();
    await env.close();
  }
});

test("the kiosk demo's note about the demo covers nothing of the kiosk, in English and in Arabic", async () => {
  // The demo pages are served only with --demo.
  const env = await startHostAndCollector(() => ({}), { TOUCHPOINT_DEMO: "true" });
  try {
    for (const viewport of [{ width: 1024, height: 768 }, { width: 768, height: 1024 }, { width: 390, height: 844 }]) {
      const page = await browser.newPage({ ...STILL, viewport });
      const size = `${viewport.width}x${viewport.height}`;
      /** Where the note ends, and where the kiosk and its title (the heading `selector`) start. */
      const boxes = (selector) => page.evaluate((selector) => {
        const host = document.querySelector("touchpoint-widget");
        return {
          note: document.querySelector(".kiosk-note").getBoundingClientRect().bottom,
          kiosk: host.getBoundingClientRect().top,
          title: host.shadowRoot.querySelector(selector).getBoundingClientRect().top,
        };
      }, selector);
      try {
        await page.goto(`${env.collector.base}/demo/kiosk`);
        await page.getByRole("button", { name: "English" }).waitFor();
        const attract = await boxes("h1");
        assert.ok(attract.note <= attract.kiosk && attract.note <= attract.title, `${size}, attract screen: ${JSON.stringify(attract)}`);
        await page.getByRole("button", { name: "العربية" }).click();
        await page.getByRole("radiogroup").first().waitFor();
        const survey = await boxes("h2");
        assert.ok(survey.note <= survey.kiosk && survey.note <= survey.title, `${size}, survey in Arabic: ${JSON.stringify(survey)}`);
      } finally {
        await page.close();
      }
    }
  } finally {
    await env.close();
  }
});
