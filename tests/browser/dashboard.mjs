// Drives the Homeostat dashboard in the system's headless Chromium, as an operator would.
// Usage: node dashboard.mjs <base_url> <token> <screenshot_dir> <user> <password>
// Lines starting with "@@ " ask the Rust test (tests/dashboard.rs) to act on the world:
//   @@ fail <check>   make that target fail
//   @@ heal <check>   let that target recover once its repair has run
//   @@ restart        restart the daemon
// Every wait is an auto-waiting locator with a deadline; exit code 0 means every step passed.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [base, token, shots, user, password] = process.argv.slice(2);
if (!base || !token || !shots || !user || !password) {
  console.error('usage: node dashboard.mjs <base_url> <token> <screenshot_dir> <user> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const WAIT = 30000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => {
  // Expected: 401s before signing in (the page asks for a token after the first one), and
  // refused or reset connections while the daemon restarts (the page reconnects by itself).
  const expected = /status of 401|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING/;
  if (m.type() === 'error' && !expected.test(m.text())) problems.push(`console error: ${m.text()}`);
});

function step(text) {
  console.log(`-- ${text}`);
}

function ask(text) {
  console.log(`@@ ${text}`);
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Waits until `locator` is visible; fails with `what` after the deadline. */
async function see(locator, what, timeout = WAIT) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch {
    throw new Error(`not seen within ${timeout} ms: ${what}`);
  }
}

/** Every button, input, select, link, summary and image-role element has an accessible name. */
async function accessibleNames(where) {
  const unnamed = await page.evaluate(() => {
    const nameOf = (el) => {
      const by = el.getAttribute('aria-labelledby');
      if (by) return by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
      const label = el.getAttribute('aria-label');
      if (label) return label.trim();
      if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(' ').trim();
      return (el.textContent || el.getAttribute('title') || '').trim();
    };
    return [...document.querySelectorAll('button, input, select, textarea, a[href], summary, [role="img"]')]
      .filter((el) => !nameOf(el))
      .map((el) => el.outerHTML.slice(0, 160));
  });
  if (unnamed.length) throw new Error(`${where}: elements without an accessible name:\n${unnamed.join('\n')}`);
}

async function markNoReload() {
  await page.evaluate(() => {
    window.__homeostatNoReload = true;
  });
}

async function assertNoReload(what) {
  if (!(await page.evaluate(() => window.__homeostatNoReload === true))) {
    throw new Error(`the page reloaded while waiting for ${what}`);
  }
}

try {
  step('open the dashboard: the shell paints, the token prompt appears');
  await page.goto(`${base}/`);
  const login = page.getByRole('dialog', { name: 'Sign in to Homeostat' });
  await see(login.getByLabel('API token'), 'the token prompt');
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const bytes = performance.getEntriesByType('resource')
      .filter((r) => r.name.includes('/assets/'))
      .reduce((sum, r) => sum + r.encodedBodySize, nav.encodedBodySize);
    return {
      first_contentful_paint_ms: fcp ? Math.round(fcp.startTime) : null,
      dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      load_ms: Math.round(nav.loadEventEnd),
      asset_bytes: bytes,
    };
  });
  console.log(`timing ${JSON.stringify(timing)}`);
  // Budgets with room for a busy CI machine: small assets, a page that paints without waiting for data.
  if (timing.asset_bytes > 150 * 1024) throw new Error(`the dashboard's assets grew to ${timing.asset_bytes} bytes`);
  if (timing.first_contentful_paint_ms === null || timing.first_contentful_paint_ms > 5000) {
    throw new Error(`first contentful paint took ${timing.first_contentful_paint_ms} ms`);
  }
  await accessibleNames('sign-in');
  await shot('01-sign-in');

  step('a wrong token and a wrong password are refused; the user signs in with a password');
  await login.getByLabel('API token').fill('not-the-token');
  await login.getByRole('button', { name: 'Sign in' }).click();
  await see(login.getByText('This token was not accepted.'), 'the token refusal');
  await login.getByLabel('API token').fill('');
  await login.getByLabel('User name').fill(user);
  await login.getByLabel('Password').fill('not-the-password');
  await login.getByRole('button', { name: 'Sign in' }).click();
  await see(login.getByText('Wrong user name or password.'), 'the password refusal');
  await login.getByLabel('Password').fill(password);
  await login.getByRole('button', { name: 'Sign in' }).click();
  await login.waitFor({ state: 'hidden', timeout: WAIT });
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'homeostat_session');
  if (!session || !session.httpOnly || session.sameSite !== 'Strict') {
    throw new Error(`expected an HttpOnly SameSite=Strict session cookie, got ${JSON.stringify(session)}`);
  }
  if (await page.evaluate(() => document.cookie.includes('homeostat_session'))) {
    throw new Error('the session cookie is readable from scripts');
  }

  step('the overview lists every check, healthy');
  for (const check of ['api', 'gated']) {
    await see(page.locator(`tr[data-check="${check}"] .badge`, { hasText: /^ok$/ }), `check ${check} ok`);
  }
  await see(page.locator('#conn', { hasText: 'Live' }), 'the live indicator');
  await see(page.getByText('No open incidents.'), 'no incidents yet');
  await accessibleNames('overview');
  await shot('02-overview-healthy');

  step('keyboard: Tab reaches a control and the focus is visible');
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => {
    const el = document.activeElement;
    return { tag: el.tagName, outline: getComputedStyle(el).outlineStyle };
  });
  if (focus.tag === 'BODY' || focus.outline === 'none') throw new Error(`focus not visible: ${JSON.stringify(focus)}`);

  step('the api target fails: the incident appears live, a repair runs');
  await markNoReload();
  ask('fail api');
  const incidentLink = page.locator('[data-incident] a', { hasText: 'api is critical' });
  await see(incidentLink, 'the api incident on the overview');
  await see(page.locator('tr[data-check="api"] .badge', { hasText: /^critical$/ }), 'check api critical');
  await assertNoReload('the incident');
  await shot('03-overview-incident');
  await incidentLink.first().click();
  await see(page.getByRole('heading', { level: 1, name: /Incident #\d+: api is critical/ }), 'the incident page');
  await see(page.locator('article.repair', { hasText: 'restart-api' }), 'the repair on the incident page');
  await see(page.getByText(/restart-api: (no history yet|\d+\/\d+ succeeded)/), 'the suggested runbook with why');
  ask('heal api');
  await see(page.locator('article.repair[data-state="succeeded"]', { hasText: 'restart-api' }), 'the repair succeeded');
  await see(page.locator('article.repair code', { hasText: /^touch$/ }), 'the step argv');
  await see(page.locator('#incident-state .badge', { hasText: /^resolved$/ }), 'the incident resolved');
  await see(page.locator('.timeline li', { hasText: 'repair' }), 'the repair in the timeline');
  await assertNoReload('the repair');
  await accessibleNames('incident');
  await shot('04-incident-resolved');

  step('a repair that needs approval waits; it is approved with a click and runs');
  await page.getByRole('link', { name: 'Approvals' }).click();
  await see(page.getByText('Nothing awaits approval.'), 'an empty approval queue');
  ask('fail gated');
  const card = page.locator('section.approval', { hasText: 'restart-gated' });
  await see(card, 'the repair awaiting approval');
  await page.getByRole('link', { name: 'Overview' }).click();
  await see(page.getByRole('link', { name: /Decide repair #\d+ \(restart-gated\)/ }), 'the waiting repair on the overview');
  await page.getByRole('link', { name: 'Approvals' }).click();
  await see(card, 'the repair awaiting approval');
  await see(card.locator('.risk .badge', { hasText: /^medium$/ }), 'its risk');
  await see(card.locator('code', { hasText: /^touch$/ }), 'its exact argv');
  await assertNoReload('the approval');
  await accessibleNames('approvals');
  await shot('05-approvals');
  const repairId = await card.first().getAttribute('data-repair');
  step(`the approval link /hitl/approve/${repairId} opens that repair`);
  await page.goto(`${base}/hitl/approve/${repairId}`);
  await see(page.getByRole('heading', { level: 1, name: `Approve repair #${repairId}` }), 'the approval view');
  await page.getByRole('button', { name: `Approve repair #${repairId}` }).click();
  await see(page.locator('.decided'), 'the decision');
  ask('heal gated');
  await page.locator('section.approval dd a').first().click();
  await see(page.locator('.timeline li', { hasText: `repair ${repairId} (restart-gated): approved by` }),
    'the approval in the incident timeline');
  await page.getByRole('link', { name: 'History' }).click();
  await see(page.getByRole('heading', { level: 1, name: 'History and analysis' }), 'the history page');
  await see(page.locator('svg[role="img"][aria-label^="time to resolve per incident: 2 points"]'),
    'MTTR over time, one point per resolved incident');
  // The app log the test wrote: its lines are clustered, stored and listed with a trend; the
  // customer's e-mail address in them is redacted before it is stored.
  const cluster = page.locator('tr[data-cluster]', { hasText: 'payment declined for order' });
  await see(cluster, 'the failure cluster of the app log');
  await cluster.locator('summary').click();
  await see(cluster.locator('.samples li', { hasText: '[EMAIL]' }), 'a redacted sample line');
  if ((await cluster.textContent()).includes('@example.com')) throw new Error('an e-mail address reached the page');
  await page.getByLabel('Runbook').fill('restart-gated');
  await page.getByRole('button', { name: 'Filter' }).click();
  await see(page.locator('tr[data-state="succeeded"]', { hasText: 'restart-gated' }), 'the approved repair succeeded');
  await page.waitForFunction(() => location.hash.includes('runbook=restart-gated')
    && [...document.querySelectorAll('tr[data-repair]')].every((row) => row.textContent.includes('restart-gated')),
  null, { timeout: WAIT }).catch(() => {
    throw new Error('the runbook filter let other runbooks through');
  });
  await see(page.getByRole('img', { name: /Repairs by outcome: .*succeeded/ }), 'the outcome chart');
  await accessibleNames('history');
  await shot('06-history');

  step('the daemon restarts: the live connection comes back by itself');
  await page.getByRole('link', { name: 'Overview' }).click();
  await see(page.getByRole('button', { name: 'Emergency stop' }), 'the overview');
  await markNoReload();
  const connects = Number(await page.locator('#conn').getAttribute('data-connects'));
  ask('restart');
  await page.waitForFunction((before) => Number(document.getElementById('conn').dataset.connects) > before,
    connects, { timeout: WAIT });
  await see(page.locator('#conn', { hasText: 'Live' }), 'live again');

  step('emergency stop with confirmation, seen live; then resume');
  await page.getByRole('button', { name: 'Emergency stop' }).click();
  const confirm = page.getByRole('dialog', { name: 'Please confirm' });
  await see(confirm, 'the confirmation dialog');
  await accessibleNames('confirmation');
  await confirm.getByRole('button', { name: 'Engage emergency stop' }).click();
  await see(page.locator('#estop-state', { hasText: /engaged/i }), 'the stop in the status');
  await see(page.locator('#stop-badge'), 'the stop in the header');
  await assertNoReload('the emergency stop');
  await shot('07-emergency-stop');
  await page.getByRole('button', { name: 'Resume repairs' }).click();
  await confirm.getByRole('button', { name: 'Resume repairs' }).click();
  await see(page.locator('#estop-state', { hasText: /off/ }), 'the stop lifted');
  await page.locator('#stop-badge').waitFor({ state: 'hidden', timeout: WAIT });

  step('reports: hourly health, then the weekly repair summary with its chart, downloaded as HTML');
  await page.getByRole('link', { name: 'Reports' }).click();
  await see(page.getByRole('heading', { level: 2, name: 'Homeostat health report — last 1h' }), 'the hourly health report');
  await page.getByRole('link', { name: 'Weekly repairs' }).click();
  await see(page.getByRole('heading', { level: 2, name: 'Homeostat repairs report — last 7d' }), 'the weekly repairs report');
  await see(page.locator('svg[role="img"][aria-label^="Repairs by outcome"]'), 'the outcome chart');
  await see(page.locator('table.report td', { hasText: 'restart-gated' }).first(), 'the gated repair in the report');
  await shot('09-report');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT }),
    page.getByRole('button', { name: 'Download HTML' }).click(),
  ]);
  const html = readFileSync(await download.path(), 'utf8');
  if (!html.includes('<svg') || !html.includes('restart-gated') || !html.includes('Repairs by outcome')) {
    throw new Error('the downloaded HTML report lacks its chart or its repairs');
  }

  step('the live page lists the events');
  await page.getByRole('link', { name: 'Live' }).click();
  await see(page.locator('.events li', { hasText: 'emergency stop engaged' }), 'the emergency stop event');

  step('a token that stops working (401) brings the sign-in form back');
  await page.evaluate(() => sessionStorage.setItem('homeostat.token', 'revoked-token'));
  await page.getByRole('link', { name: 'History' }).click();
  await see(login.getByText('Your token was not accepted or has expired.'), 'the sign-in form again');
  await login.getByLabel('API token').fill(token);
  await login.getByRole('button', { name: 'Sign in' }).click();
  await see(page.getByRole('heading', { level: 1, name: 'History and analysis' }), 'the history page after signing in');

  step('phone width: no horizontal scrolling');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('link', { name: 'Overview' }).click();
  await see(page.locator('tr[data-check="api"]'), 'checks at phone width');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot('08-phone-overview');
  if (overflow > 1) throw new Error(`the overview scrolls sideways by ${overflow} px at 390 px`);

  if (problems.length) throw new Error(`the page reported problems:\n${problems.join('\n')}`);
  console.log('dashboard: every step passed');
} catch (error) {
  console.log(`FAILED: ${error.message}`);
  await shot('failure').catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
