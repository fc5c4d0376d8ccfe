// The CX dashboard in a real headless Chromium against the real collector: it needs sign-in (a
// session cookie, never the token in a URL), loads with no console errors under its strict CSP,
// shows a comment holding markup and script as text without running it, keeps its filters in
// the URL, and shows an alert opened by real answers, acknowledged from the page with who, when and
// a note, beside its endpoint's delivery log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCollector, startHost, launch, ADMIN_TOKEN, STILL, storeAll, eventually } from "./helpers.mjs";

let browser;
let collector;

const HOSTILE =
  '<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'"> & "quotes"';

/** Answers stored through the public API, answered now: a few ordinary ones and a hostile one. */
async function seed(base) {
  const now = new Date().toISOString();
  const items = [];
  for (let i = 0; i < 12; i++) {
    items.push({
      id: `dashboard-test-${String(i).padStart(6, "0")}`,
      survey: { id: "core-cx", version: 1 },
      channel: ["web", "kiosk", "agent"][i % 3],
      touchpoint: i % 2 ? "checkout" : "card-activation",
      answers: { effort: 1 + (i % 7), confidence: 1 + (i % 5), emotion: "neutral" },
      locale: "en",
      context: { segment: i % 2 ? "premium" : "standard", ...(i % 3 === 1 ? { site_id: "branch-042" } : {}) },
      submitted_at: now,
    });
  }
  items.push({
    id: "dashboard-test-hostile",
    survey: { id: "core-cx", version: 1 },
    channel: "web",
    touchpoint: "checkout",
    answers: { effort: 2, emotion: "angry" },
    comment: HOSTILE,
    locale: "en",
    submitted_at: now,
  });
  await storeAll(base, items);
}

before(async () => {
  browser = await launch();
  // The seed posts agent answers directly, as an integration without invitations does.
  collector = await startCollector({ env: { TOUCHPOINT_ALLOW_UNINVITED_AGENT_ANSWERS: "true" } });
  await seed(collector.base);
});

after(async () => {
  await browser?.close();
  await collector?.stop();
});

/** A fresh browser profile that records console errors, page errors and every URL requested. */
async function watchedPage() {
  const context = await browser.newContext(STILL);
  const page = await context.newPage();
  const problems = [];
  const urls = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("request", (r) => urls.push(r.url()));
  return { context, page, problems, urls };
}

async function signIn(page, token) {
  await page.goto(`${collector.base}/dashboard`);
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState("load");
}

test("the dashboard needs sign-in, and a wrong token gets nothing", async () => {
  const { context, page, problems } = await watchedPage();
  const direct = await page.goto(`${collector.base}/dashboard?channel=web`);
  assert.equal(direct.status(), 200);
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(await page.locator("table").count(), 0, "no figures before sign-in");
  assert.doesNotMatch(await page.content(), /checkout|card-activation/);
  const report = await page.goto(`${collector.base}/dashboard/report?period=2026-W47`);
  assert.equal(new URL(report.url()).pathname, "/dashboard", "the report sends back to sign-in");
  await signIn(page, "not-the-token");
  await page.getByRole("alert").filter({ hasText: "not the admin token" }).waitFor();
  assert.equal((await context.cookies()).length, 0);
  assert.deepEqual(problems.filter((p) => !/401/.test(p)), []);
  await context.close();
});

test("signed in, the dashboard loads without console errors, and the token never reaches a URL", async () => {
  const { context, page, problems, urls } = await watchedPage();
  await signIn(page, ADMIN_TOKEN);
  assert.equal(new URL(page.url()).pathname, "/dashboard");
  await page.getByRole("heading", { name: "Customer-experience dashboard" }).waitFor();
  await page.getByRole("heading", { name: "Effort by touchpoint and channel" }).waitFor();
  assert.ok((await page.locator("svg[role=img]").count()) >= 4, "the charts are SVG");
  assert.equal(await page.locator("script").count(), 0, "no script at all");
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].secure, true, "Chromium keeps a Secure cookie on http://127.0.0.1");
  assert.equal(cookies[0].sameSite, "Strict");
  assert.ok(!urls.some((u) => u.includes(ADMIN_TOKEN)), urls.join("\n"));
  // The stylesheet applied under the CSP: the header is dark, not the default white.
  const header = await page.locator("header.top").evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(header, "rgba(0, 0, 0, 0)");
  // Filters are a GET form: the view is in the URL and survives a reload.
  await page.locator("select[name=channel]").selectOption("web");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/channel=web/);
  await page.reload();
  assert.equal(await page.locator("select[name=channel]").inputValue(), "web");
  // The council report opens from the dashboard, with the same session.
  await page.getByRole("link", { name: /council report \d{4}-W\d{2}/ }).click();
  await page.getByRole("heading", { name: /Customer-experience council/ }).waitFor();
  // Signing out ends the session: the dashboard asks for the token again.
  await page.goto(`${collector.base}/dashboard`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test("a comment holding markup and script is shown as text and never runs", async () => {
  const { context, page, problems } = await watchedPage();
  await signIn(page, ADMIN_TOKEN);
  const item = page.locator("ul.comments li").filter({ hasText: "<script>" });
  await item.waitFor();
  assert.ok((await item.innerText()).startsWith(HOSTILE), await item.innerText());
  assert.equal(await page.locator("ul.comments img, ul.comments script").count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  // Also when it is the only comment left after filtering.
  await page.goto(`${collector.base}/dashboard?comments=difficult&touchpoint=checkout`);
  await item.waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(problems, []);
  await context.close();
});

test("an alert opened by real answers is acknowledged from the dashboard with who, when and a note", async () => {
  // A real receiver for the alert's endpoint: it accepts every post.
  const receiver = await startHost({ "/hook": { body: "", type: "text/plain" } });
  const dir = mkdtempSync(join(tmpdir(), "tp-alerts-"));
  const org = join(dir, "org.toml");
  writeFileSync(
    org,
    `[organisation]
name = "Northbank"

[[endpoint]]
id = "digital-team"
url = "${receiver.origin}/hook"
secret = "env:TP_HOOK_DIGITAL"
events = ["alert.opened", "alert.resolved"]

[[alert]]
id = "struggled"
touchpoint = "card-activation"
effort_at_most = 2
notify = ["digital-team"]
`,
  );
  const alerting = await startCollector({
    env: {
      TOUCHPOINT_ORG: org,
      TOUCHPOINT_ALLOW_PRIVATE_WEBHOOKS: "true",
      TP_HOOK_DIGITAL: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    },
  });
  const { context, page, problems } = await watchedPage();
  try {
    const now = new Date().toISOString();
    const answer = (n, touchpoint, effort) => ({
      id: `alert-test-${String(n).padStart(6, "0")}`,
      survey: { id: "core-cx", version: 1 },
      channel: "web",
      touchpoint,
      answers: { effort, emotion: effort > 4 ? "pleased" : "frustrated" },
      locale: "en",
      submitted_at: now,
    });
    await storeAll(alerting.base, [answer(1, "card-activation", 6), answer(2, "checkout", 1), answer(3, "card-activation", 1)]);

    await page.goto(`${alerting.base}/dashboard`);
    await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    const section = page.locator("#alerts");
    // Signed in: the dashboard, not the sign-in page still navigating away, before any reload.
    await section.waitFor();
    const row = section.getByRole("row", { name: /struggled/ });
    // The delivery thread opens the alert moments after the answer is stored.
    await eventually(async () => {
      await page.reload();
      return (await row.count()) === 1;
    }, 15000, "the open alert on the dashboard");
    const open = await row.innerText();
    assert.match(open, /\bopen\b/, "its state in words");
    assert.match(open, /touchpoint:card-activation/);
    assert.match(open, /effort 1\/7/, "the summary");
    assert.doesNotMatch(open, /checkout/, "only the rule's touchpoint");

    // The endpoint's delivery log shows the alert delivered to the receiver.
    const endpoint = page.getByRole("region", { name: "Endpoint digital-team" });
    await eventually(async () => {
      await page.reload();
      return /delivered \(200\)/.test(await endpoint.innerText());
    }, 15000, "the delivery in the endpoint's log");
    assert.match(await endpoint.innerText(), /enabled/);
    assert.match(await endpoint.innerText(), /alert\.opened/);

    const note = 'Calling the card team <b>now</b> & "fast"';
    await row.getByLabel("Your name").fill("Sam Okafor");
    await row.getByLabel("Note").fill(note);
    await row.getByRole("button", { name: "Acknowledge" }).click();
    await page.waitForURL(/\/dashboard#alerts$/);
    const acknowledged = await section.getByRole("row", { name: /struggled/ }).innerText();
    assert.match(acknowledged, /by Sam Okafor at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? UTC/);
    assert.ok(acknowledged.includes(note), `the note as text: ${acknowledged}`);
    assert.equal(await section.locator("b").count(), 0, "markup in the note is not parsed");
    assert.equal(await row.getByRole("button", { name: "Acknowledge" }).count(), 0);

    // The same acknowledgement in the admin API.
    const listed = await (
      await fetch(`${alerting.base}/v1/alerts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json();
    const alert = listed.alerts.find((a) => a.rule === "struggled");
    assert.equal(alert.acknowledged.by, "Sam Okafor");
    assert.equal(alert.acknowledged.note, note);
    assert.equal(alert.acknowledged.via, "dashboard");
    assert.ok(Math.abs(Date.parse(alert.acknowledged.at) - Date.now()) < 10 * 60_000, alert.acknowledged.at);

    // The same origin rule as the council's forms: a post from elsewhere is refused.
    const forged = await fetch(`${alerting.base}/dashboard/alerts/acknowledge`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      body: `alert=${encodeURIComponent(alert.alert_id)}&by=Mallory`,
      redirect: "manual",
    });
    assert.equal(forged.status, 403);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await alerting.stop();
    await receiver.close();
  }
});
