// Issue 17, the business view in a real headless Chromium against the real collector: outcome
// and touchpoint names from the organisation file, and a comment, each holding markup and
// script, are shown on the dashboard's business view as text and never run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCollector, launch, ADMIN_TOKEN, storeAll, signedIn } from "./helpers.mjs";

let browser;
let collector;

const OUTCOME = 'Repeat <script>window.__pwned = "outcome"</script> contacts';
const TOUCHPOINT = "Card <img src=x onerror=\"window.__pwned = 'touchpoint'\"> activation";
const COMMENT = '<img src=x onerror="window.__pwned = \'comment\'"> never arrived';

before(async () => {
  browser = await launch();
  const dir = mkdtempSync(join(tmpdir(), "tp-impact-"));
  const org = join(dir, "org.toml");
  writeFileSync(
    org,
    `[organisation]
name = "Northbank"
currency = "GBP"

[[department]]
id = "digital"
name = "Digital"

[[touchpoint]]
id = "card-activation"
name = ${JSON.stringify(TOUCHPOINT)}
department = "digital"

[[outcome]]
id = "repeat_contact"
name = ${JSON.stringify(OUTCOME)}
cost = 5.00
`,
  );
  collector = await startCollector({ env: { TOUCHPOINT_ORG: org } });
  // 25 web answers found card activation hard and 25 easy, each with its order id; a third of
  // the hard orders and a tenth of the easy ones were followed by a repeat contact.
  const now = new Date().toISOString();
  const answers = [];
  const lines = [];
  for (let i = 0; i < 50; i++) {
    const hard = i < 25;
    answers.push({
      id: `impact-test-${String(i).padStart(6, "0")}`,
      survey: { id: "core-cx", version: 1 },
      channel: "web",
      touchpoint: "card-activation",
      answers: { effort: hard ? 1 + (i % 3) : 5 + (i % 3), emotion: hard ? "frustrated" : "pleased" },
      ...(i === 0 ? { comment: COMMENT } : {}),
      locale: "en",
      context: { interaction_id: `order-${i}` },
      submitted_at: now,
    });
    if ((hard && i % 3 === 0) || (!hard && i % 10 === 0)) {
      lines.push(JSON.stringify({ interaction_id: `order-${i}`, outcome: "repeat_contact", at: now }));
    }
  }
  await storeAll(collector.base, answers);
  const imported = await fetch(`${collector.base}/v1/outcomes`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/x-ndjson" },
    body: lines.join("\n"),
  });
  assert.equal(imported.status, 200);
  assert.equal((await imported.json()).stored, lines.length);
});

after(async () => {
  await browser?.close();
  await collector?.stop();
});

test("outcome and touchpoint names and a comment holding markup are shown as text and never run", async () => {
  const { context, page, problems } = await signedIn(browser, collector.base);
  const section = page.locator("#impact");
  await section.waitFor();
  const text = await section.innerText();
  assert.ok(text.includes(TOUCHPOINT), text);
  assert.ok(text.includes(OUTCOME), text);
  assert.ok(text.includes("times as often"), text);
  assert.equal(await section.locator("img, script").count(), 0);
  const comment = page.locator("ul.comments li").filter({ hasText: "never arrived" });
  await comment.waitFor();
  assert.ok((await comment.innerText()).startsWith(COMMENT), await comment.innerText());
  assert.equal(await page.locator("main img").count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(problems, []);
  await context.close();
});
