// The widget's cost on the host page's main thread, measured in real Chromium: long tasks (over
// 50 ms, from the Long Tasks API) from navigation until the launcher shows, and from the click
// that opens the survey (THINK_MS, default 1000, after the launcher shows) until it is on screen;
// the time until the launcher is on screen, and from the click to the survey on screen. The
// launcher page fetches the survey's module on intent: the pointer reaches the launcher HOVER_MS
// (default 0: the click comes as the pointer arrives, the slowest case) before the click. Each load is a fresh browser context
// (cold HTTP cache), with the CPU slowed down `CPU_THROTTLE` times (default 4, a mid-range phone)
// through the DevTools protocol, and with NETWORK=slow on an emulated slow network (the DevTools
// protocol's Network.emulateNetworkConditions: 400 ms latency, 400 kbit/s down and up, like
// DevTools' "Slow 3G"). Run by `cargo xtask bench widget` (`--slow-network` for NETWORK=slow);
// prints one summary line.
import { startCollector, startHost, launch, hostPage } from "../helpers.mjs";

const RUNS = Number(process.env.RUNS || 10);
const THROTTLE = Number(process.env.CPU_THROTTLE || 4);
const THINK_MS = Number(process.env.THINK_MS || 1000);
const HOVER_MS = Number(process.env.HOVER_MS || 0);
const NETWORK = process.env.NETWORK || "loopback";
if (!["loopback", "slow"].includes(NETWORK)) throw new Error(`NETWORK: loopback or slow, not ${NETWORK}`);
/** 400 kbit/s in bytes a second. */
const SLOW = { offline: false, latency: 400, downloadThroughput: 400000 / 8, uploadThroughput: 400000 / 8 };

/** A CDP session on `page` with the CPU slowed down and, when asked, the network too. */
async function emulate(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: THROTTLE });
  if (NETWORK == "slow") {
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", SLOW);
  }
  return cdp;
}

const probe = `<script>
window.__tp = { longtasks: [], launcherAt: null, clickAt: null, surveyAt: null };
addEventListener("click", () => {
  __tp.clickAt = performance.now();
  (function shown() {
    const host = document.querySelector("touchpoint-widget");
    const group = host && host.shadowRoot && host.shadowRoot.querySelector("[role=radiogroup]");
    if (group && group.getBoundingClientRect().width > 0 && !group.closest("[inert]")) __tp.surveyAt = performance.now();
    else requestAnimationFrame(shown);
  })();
}, { capture: true, once: true });
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) __tp.longtasks.push({ start: e.startTime, duration: e.duration });
}).observe({ type: "longtask", buffered: true });
(function look() {
  const host = document.querySelector("touchpoint-widget");
  const launcher = host && host.shadowRoot && host.shadowRoot.querySelector("button");
  if (launcher && launcher.getBoundingClientRect().width > 0) __tp.launcherAt = performance.now();
  else requestAnimationFrame(look);
})();
</script>`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const collector = await startCollector();
const withTag = hostPage(collector.base, { head: probe, body: "<p>A product page.</p>" });
// The same page without the tag: what the browser itself costs under the same throttling.
const bare = withTag.replace(/<script src="[^"]*widget\.js"[^>]*><\/script>/, "");
const host = await startHost({ "/": { body: withTag }, "/bare": { body: bare } });
const browser = await launch();
const loads = [];
const baseline = [];
try {
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await emulate(context, page);
    await page.goto(`${host.origin}/`);
    await page.waitForFunction(() => window.__tp.launcherAt !== null, null, { timeout: 30000 });
    const atLauncher = await page.evaluate(() => ({ at: window.__tp.launcherAt, tasks: window.__tp.longtasks.slice() }));
    // A person looks at the page before reaching the launcher: the click comes THINK_MS later.
    await page.waitForTimeout(THINK_MS);
    const beforeClick = await page.evaluate(() => window.__tp.longtasks.length);
    const launcher = page.getByRole("button", { name: /Feedback/ });
    await launcher.hover();
    if (HOVER_MS) await page.waitForTimeout(HOVER_MS);
    await launcher.click();
    await page.waitForFunction(() => window.__tp.surveyAt !== null, null, { timeout: 30000 });
    // Long tasks are reported after they end; give the observer a frame to deliver them.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 100))));
    const all = await page.evaluate(() => window.__tp.longtasks.slice());
    const { clickAt, surveyAt } = await page.evaluate(() => window.__tp);
    loads.push({
      launcherMs: atLauncher.at,
      surveyMs: surveyAt - clickAt,
      beforeLauncher: atLauncher.tasks,
      // Between the launcher and the click: the page idle, the widget building its panel ahead.
      waiting: all.slice(atLauncher.tasks.length, beforeClick),
      opening: all.slice(beforeClick),
    });
    await context.close();
    // The bare page, observed for as long as the widget took to show its launcher.
    const bareContext = await browser.newContext();
    const barePage = await bareContext.newPage();
    await emulate(bareContext, barePage);
    await barePage.goto(`${host.origin}/bare`);
    const wait = Math.max(0, atLauncher.at - (await barePage.evaluate(() => performance.now())));
    await barePage.waitForTimeout(wait + 100);
    baseline.push(await barePage.evaluate(() => window.__tp.longtasks.slice()));
    await bareContext.close();
  }
} finally {
  await browser.close();
  await host.close();
  await collector.stop();
}
const longest = (tasks) => tasks.reduce((m, t) => Math.max(m, t.duration), 0);
const summary = {
  runs: RUNS,
  cpu_throttle: THROTTLE,
  network: NETWORK,
  think_ms: THINK_MS,
  hover_ms: HOVER_MS,
  launcher_visible_ms_median: Math.round(median(loads.map((l) => l.launcherMs))),
  launcher_visible_ms_max: Math.round(Math.max(...loads.map((l) => l.launcherMs))),
  click_to_survey_ms_median: Math.round(median(loads.map((l) => l.surveyMs))),
  click_to_survey_ms_min: Math.round(Math.min(...loads.map((l) => l.surveyMs))),
  click_to_survey_ms_max: Math.round(Math.max(...loads.map((l) => l.surveyMs))),
  long_tasks_until_launcher: loads.reduce((n, l) => n + l.beforeLauncher.length, 0),
  longest_task_until_launcher_ms: Math.round(Math.max(...loads.map((l) => longest(l.beforeLauncher)))),
  long_tasks_before_click: loads.reduce((n, l) => n + l.waiting.length, 0),
  longest_task_before_click_ms: Math.round(Math.max(...loads.map((l) => longest(l.waiting)))),
  long_tasks_opening_survey: loads.reduce((n, l) => n + l.opening.length, 0),
  longest_task_opening_survey_ms: Math.round(Math.max(...loads.map((l) => longest(l.opening)))),
  bare_page_long_tasks: baseline.reduce((n, t) => n + t.length, 0),
  bare_page_longest_task_ms: Math.round(Math.max(...baseline.map(longest))),
};
console.log(JSON.stringify(summary));
