// Takes the README's screenshots of the demo pages from the real collector:
// `node tests/browser/screenshots.mjs` after `cargo xtask test` (which builds the collector with
// the widget). Writes docs/screenshots/web-en.png (the bank's page with the survey open),
// kiosk.png, agent.png, and from the demo data with the demo bank's organisation file
// dashboard.png and journeys.png.
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { startCollector, launch, settled, collectorBinary, ROOT, STILL, ADMIN_TOKEN } from "./helpers.mjs";

const out = (name) => join(ROOT, "docs", "screenshots", name);
const collector = await startCollector({ env: { TOUCHPOINT_DEMO: "true" } });
const browser = await launch();
try {
  const web = await browser.newPage({ ...STILL, viewport: { width: 1024, height: 768 } });
  await web.goto(`${collector.base}/demo/web`);
  await web.getByRole("button", { name: /Feedback/ }).click();
  await web.getByRole("radiogroup").first().waitFor();
  await settled(web);
  await web.screenshot({ path: out("web-en.png") });

  const kiosk = await browser.newPage({ ...STILL, viewport: { width: 1024, height: 768 } });
  await kiosk.goto(`${collector.base}/demo/kiosk`);
  await kiosk.getByRole("button", { name: "English" }).waitFor();
  await settled(kiosk);
  await kiosk.screenshot({ path: out("kiosk.png") });

  const agent = await browser.newPage({ ...STILL, viewport: { width: 1024, height: 900 } });
  await agent.goto(`${collector.base}/demo/agent`);
  await agent.waitForFunction(() => window.Touchpoint && window.Touchpoint.postCall);
  await agent.getByRole("button", { name: "End call" }).first().click();
  await agent.locator("img[part=qr]").evaluate((img) =>
    img.complete ? null : new Promise((r) => img.addEventListener("load", r)));
  await settled(agent);
  await agent.screenshot({ path: out("agent.png"), fullPage: true });
} finally {
  await browser.close();
  await collector.stop();
}

// The dashboard over eight weeks of demo answers, with the demo bank's departments and journeys.
const data = mkdtempSync(join(tmpdir(), "tp-screenshots-"));
const seeded = spawnSync(collectorBinary(), ["seed-demo", "--data", data], { stdio: "inherit" });
if (seeded.status !== 0) throw new Error("seed-demo failed");
const demo = await startCollector({
  data,
  env: { TOUCHPOINT_ORG: join(ROOT, "demo-site", "northbank.toml") },
});
const viewer = await launch();
try {
  const page = await viewer.newPage({ ...STILL, viewport: { width: 1280, height: 900 } });
  await page.goto(`${demo.base}/dashboard`);
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Journeys" }).waitFor();
  await settled(page);
  await page.screenshot({ path: out("dashboard.png") });
  await page.locator("#journeys").screenshot({ path: out("journeys.png") });
} finally {
  await viewer.close();
  await demo.stop();
}
