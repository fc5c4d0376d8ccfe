// The council's views in a real headless Chromium against the real collector, run with the demo
// bank's organisation file: each department's touchpoints, a journey's steps in order with where
// it breaks, and an action recorded from the dashboard that the period's report opens with.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startCollector, launch, ADMIN_TOKEN, STILL, ROOT, storeAll } from "./helpers.mjs";

let browser;
let collector;

/** Answers to the "report a fault" journey, given now: easy calls, hard visits. */
async function seed(base) {
  const now = new Date().toISOString();
  const items = [];
  const answer = (n, channel, touchpoint, effort, context = {}) =>
    items.push({
      id: `council-test-${String(n).padStart(6, "0")}`,
      survey: { id: "core-cx", version: 1 },
      channel,
      touchpoint,
      answers: { effort, confidence: 3, emotion: effort > 4 ? "pleased" : "frustrated" },
      locale: "en",
      context,
      submitted_at: now,
    });
  for (let i = 0; i < 6; i++) {
    answer(i, "agent", "fault-call", 6, { interaction_id: `call-${i}`, agent_id: "a-7" });
    answer(100 + i, "kiosk", "engineer-visit", 2, { site_id: "field-north", device_id: `tablet-${i}` });
    answer(200 + i, "web", "fault-follow-up", 5);
  }
  await storeAll(base, items);
}

before(async () => {
  browser = await launch();
  collector = await startCollector({
    env: {
      TOUCHPOINT_ORG: join(ROOT, "demo-site", "northbank.toml"),
      TOUCHPOINT_ALLOW_UNINVITED_AGENT_ANSWERS: "true",
    },
  });
  await seed(collector.base);
});

after(async () => {
  await browser?.close();
  await collector?.stop();
});

test("departments, a journey with where it breaks, and an action the report opens with", async () => {
  const context = await browser.newContext(STILL);
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  try {
    await page.goto(`${collector.base}/dashboard`);
    await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Departments" }).waitFor();

    const field = page.locator("#departments .department", { hasText: "Field service" });
    await assert.doesNotReject(field.getByRole("rowheader", { name: "Engineer visit" }).waitFor());

    const journey = page.getByRole("list", { name: "Report a fault" });
    const steps = await journey.getByRole("listitem").allInnerTexts();
    assert.deepEqual(
      steps.map((s) => s.split("\n").find((line) => /Fault|Engineer/.test(line))),
      ["Fault call", "Engineer visit", "Fault follow-up"],
      "the steps in the customer's order",
    );
    assert.match(steps[1], /breaks here/, "the visit is where it breaks, said in words");
    assert.doesNotMatch(steps[0], /breaks here/);

    await page.getByLabel("What is to be done").fill("Send the diagnosis with every engineer");
    await page.getByLabel("Owning department").selectOption("field");
    await page.getByLabel("Touchpoint (optional)").fill("engineer-visit");
    const due = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel("Due").fill(due);
    await page.getByRole("button", { name: "Record" }).click();
    const agenda = page.locator("#agenda");
    const row = agenda.getByRole("row", { name: /Send the diagnosis with every engineer/ });
    await row.waitFor();
    assert.match(await row.innerText(), /Field service[\s\S]*open/);

    await page.getByRole("link", { name: /council report \d{4}-W\d{2}/ }).click();
    await page.getByRole("heading", { name: "Actions from the last meeting" }).waitFor();
    const reported = page.getByRole("row", { name: /Send the diagnosis with every engineer/ });
    assert.match(await reported.innerText(), /Field service[\s\S]*open/);
    await page.getByRole("heading", { name: "Journeys" }).waitFor();
    assert.deepEqual(problems, [], "no console errors under the strict CSP");
  } finally {
    await context.close();
  }
});
