// Takes the README's screenshots of the demo pages from the real collector:
// `node tests/browser/screenshots.mjs` after `cargo xtask test` (which builds the collector with
// the widget). Writes docs/screenshots/web-en.png (the bank's page with the survey open),
// kiosk.png and agent.png.
import { join } from "node:path";
import { startCollector, launch, settled, ROOT, STILL } from "./helpers.mjs";

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
