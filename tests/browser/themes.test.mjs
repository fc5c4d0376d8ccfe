// The dashboard's comment themes in a real headless Chromium against the real collector: the
// themes of real answers drawn as a bubble list with their figures written out, a theme opening
// the comments that carry it, and a comment holding markup and script there shown as text and
// never run, with no console error under the page's strict CSP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startCollector, launch, storeAll, signedIn } from "./helpers.mjs";

let browser;
let collector;

const HOSTILE =
  'The activation code <script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'"> never came';

before(async () => {
  browser = await launch();
  collector = await startCollector();
  const now = new Date().toISOString();
  const comments = [
    "The activation code never arrived.",
    "Activation code expired before I could use it.",
    HOSTILE,
    "Too many steps to change my address.",
  ];
  await storeAll(
    collector.base,
    comments.map((comment, i) => ({
      id: `themes-test-${String(i).padStart(6, "0")}`,
      survey: { id: "core-cx", version: 1 },
      channel: "web",
      touchpoint: "card-activation",
      answers: { effort: 2, confidence: 2, emotion: "frustrated" },
      comment,
      locale: "en",
      submitted_at: now,
    })),
  );
});

after(async () => {
  await browser?.close();
  await collector?.stop();
});

test("a theme opens the comments that carry it, markup shown as text and never run", async () => {
  const { context, page, problems } = await signedIn(browser, collector.base);
  await page.getByRole("heading", { name: "Comment themes" }).waitFor();
  // The chart is readable without colour: each theme's count, share and effort in words.
  const theme = page.locator("ul.themes li").filter({ hasText: "activation code" });
  await theme.waitFor();
  assert.match(await theme.innerText(), /3 comments \(75\.0 %\) · effort 2\.00 \(hard\)/);
  assert.equal(await page.locator("ul.themes circle.b-hard").count() >= 1, true);
  await theme.getByRole("link", { name: "activation code" }).click();
  await page.waitForURL(/theme=en%3Aactiv%20code/);
  await page.getByRole("heading", { name: "Comments on “activation code”" }).waitFor();
  const listed = page.locator("#themes ul.comments li");
  assert.equal(await listed.count(), 3);
  const hostile = listed.filter({ hasText: "<script>" });
  assert.ok((await hostile.innerText()).startsWith(HOSTILE), await hostile.innerText());
  assert.equal(await page.locator("#themes img, #themes script").count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.ok(!(await page.locator("#themes ul.comments").innerText()).includes("Too many steps"));
  // Closing the theme's comments goes back to the view without it.
  await page.getByRole("link", { name: "Close" }).click();
  await page.waitForURL((url) => !url.search.includes("theme="));
  assert.equal(await page.locator("#themes ul.comments").count(), 0);
  assert.deepEqual(problems, []);
  await context.close();
});
