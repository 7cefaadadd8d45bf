// Dashboard scale benchmark (not a test): against a daemon with many checks and incidents
// (examples/dashboard_scale.rs), measures in headless Chromium how long each page takes to show
// its data, and how long a live re-render takes. Usage: node scale.mjs <base_url> <token>
// Prints one JSON object; bench/dashboard_scale.sh runs it.
import { chromium } from 'playwright-core';

const [base, token] = process.argv.slice(2);
const WAIT = 60000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
const timed = async (what, action, ready) => {
  const started = Date.now();
  await action();
  await ready.first().waitFor({ state: 'visible', timeout: WAIT });
  return [what, Date.now() - started];
};
const results = {};
const record = ([what, ms]) => { results[what] = ms; };
try {
  const login = page.getByRole('dialog', { name: 'Sign in to Homeostat' });
  record(await timed('first_paint_to_sign_in_ms', () => page.goto(`${base}/`), login));
  const paint = await page.evaluate(() => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return fcp ? Math.round(fcp.startTime) : null;
  });
  results.first_contentful_paint_ms = paint;
  await login.getByLabel('API token').fill(token);
  record(await timed('overview_with_data_ms',
    () => login.getByRole('button', { name: 'Sign in' }).click(),
    page.locator('tr[data-check]')));
  results.check_rows_rendered = await page.locator('tr[data-check]').count();
  results.incident_rows_rendered = await page.locator('[data-incident]').count();
  record(await timed('history_ms', () => page.getByRole('link', { name: 'History' }).click(),
    page.getByRole('heading', { level: 1, name: 'History and analysis' })));
  record(await timed('back_to_overview_ms', () => page.getByRole('link', { name: 'Overview' }).click(),
    page.locator('tr[data-check]')));
  // Responsiveness: the main thread answers a trivial task while live events keep re-rendering.
  const lag = await page.evaluate(async () => {
    const samples = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await new Promise((r) => setTimeout(r, 0));
      samples.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Math.round(Math.max(...samples));
  });
  results.max_event_loop_lag_ms = lag;
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
}
