// A kiosk back online with a backlog: COUNT answers (default 100) waiting in its outbox, sent to a
// collector with its default rate limits (per device 2/s, bursts of 30). Measures, in real
// Chromium, how long until every answer is stored and how many requests the collector refused
// (429) on the way. Run by `cargo xtask bench backlog`; prints one summary line.
import { startCollector, startHost, launch } from "../helpers.mjs";

const COUNT = Number(process.env.COUNT || 100);

const pages = { "/blank": { body: "<!doctype html><title>Branch</title>" } };
const host = await startHost(pages);
// The collector's default limits, as a real deployment has them.
const collector = await startCollector({ allowOrigins: [host.origin], limits: true });
const base = collector.base;
pages["/kiosk"] = {
  body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Branch</title></head><body>
<script src="${base}/widget.js" data-mode="kiosk" data-touchpoint="branch-teller" data-site="branch-042"
 data-device="kiosk-3" async></script></body></html>`,
};

const browser = await launch();
try {
  const page = await (await browser.newContext()).newPage();
  // The backlog, as the kiosk's earlier pages left it in the outbox.
  await page.goto(`${host.origin}/blank`);
  // One time for the whole backlog, recent enough for the collector (it refuses answers given
  // more than 14 days before they arrive).
  const submittedAt = new Date().toISOString();
  await page.evaluate(([count, submittedAt]) => {
    for (let i = 0; i < count; i++) {
      const id = `backlog-0000-${String(i).padStart(10, "0")}`;
      localStorage.setItem(`touchpoint:outbox:${id}`, JSON.stringify({
        id, survey: { id: "core-cx", version: 1 }, channel: "kiosk", touchpoint: "branch-teller",
        answers: { effort: 5 }, locale: "en", context: { site_id: "branch-042", device_id: "kiosk-3" },
        submitted_at: submittedAt,
      }));
    }
  }, [COUNT, submittedAt]);
  const statuses = {};
  let stored = 0;
  let allStoredAt = null;
  page.on("response", (r) => {
    if (!r.url().endsWith("/v1/responses")) return;
    statuses[r.status()] = (statuses[r.status()] || 0) + 1;
    if (r.status() === 201 && ++stored === COUNT) allStoredAt = Date.now();
  });
  const started = Date.now();
  await page.goto(`${host.origin}/kiosk`);
  const deadline = started + 600_000;
  while (allStoredAt === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  console.log(JSON.stringify({
    answers: COUNT,
    stored,
    seconds_until_all_stored: allStoredAt === null ? null : (allStoredAt - started) / 1000,
    responses: statuses,
  }));
  if (allStoredAt === null) process.exitCode = 1;
} finally {
  await browser.close();
  await collector.stop();
  await host.close();
}
