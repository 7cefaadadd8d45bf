// Overview: health score and trend, every check with a latency sparkline, open incidents by
// priority, repairs in progress or awaiting approval, mode and the guarded emergency stop.
import { fetchJson } from './auth.js';
import { h, badge, time, section, pager, duration } from './dom.js';
import { sparkline } from './charts.js';

const CHECKS_PER_PAGE = 25;
const ACTIVE_INCIDENTS = ['open', 'acknowledged', 'remediating', 'escalated'];
const ACTIVE_REPAIRS = ['queued', 'running', 'verifying'];
/** Latency histories are fetched again at most this often (events can come in bursts). */
const HISTORY_TTL_MS = 5000;
const histories = new Map();

function history(name) {
  const cached = histories.get(name);
  if (cached && Date.now() - cached.at < HISTORY_TTL_MS) return cached.promise;
  const promise = fetchJson(`/api/v1/checks/${encodeURIComponent(name)}?limit=30`).catch(() => ({ observations: [] }));
  histories.set(name, { at: Date.now(), promise });
  return promise;
}

/** Renders the overview. */
export async function render({ query, app }) {
  const offset = Math.max(0, Number(query.get('checks')) || 0);
  const [status, health, checks, incidents, repairs, awaiting] = await Promise.all([
    fetchJson('/api/v1/error-monitoring/status'),
    fetchJson('/api/v1/error-monitoring/health'),
    fetchJson(`/api/v1/checks?limit=${CHECKS_PER_PAGE}&offset=${offset}`),
    Promise.all(ACTIVE_INCIDENTS.map((s) => fetchJson(`/api/v1/incidents?state=${s}&limit=100`))),
    Promise.all(ACTIVE_REPAIRS.map((s) => fetchJson(`/api/v1/repairs?state=${s}&limit=100`))),
    fetchJson('/api/v1/repairs?state=awaiting_approval&limit=5'),
  ]);
  app.setEmergencyStop(status.emergency_stop);
  const samples = app.healthSamples;
  samples.push({ t: new Date(), v: health.score });
  if (samples.length > 120) samples.shift();
  const recent = await Promise.all(checks.checks.map((c) => history(c.name)));

  return [
    h('h1', { tabindex: '-1' }, 'Overview'),
    h('div', { class: 'grid' },
      healthCard(health, samples),
      controlCard(status, app)),
    checksCard(checks, recent, offset),
    h('div', { class: 'grid' },
      incidentsCard(incidents.flatMap((page) => page.incidents), incidents.reduce((n, page) => n + page.total, 0)),
      repairsCard(repairs.flatMap((page) => page.repairs), awaiting)),
  ];
}

function healthCard(health, samples) {
  return section('Health',
    h('p', { class: 'score' },
      h('span', { class: 'big', id: 'health-score' }, String(health.score)),
      h('span', { class: 'muted' }, ' / 100 '),
      badge(health.status, health.status)),
    h('div', { class: 'trend' },
      h('span', { class: 'muted' }, 'Trend (this tab): '),
      sparkline(samples.map((s) => s.v), `health score trend, ${samples.length} samples, now ${health.score}`, { width: 200, height: 32 })),
    h('p', { class: 'muted' },
      `${health.components.filter((c) => c.status === 'ok').length} of ${health.components.length} checks ok`));
}

function controlCard(status, app) {
  const stopped = status.emergency_stop;
  const button = stopped
    ? h('button', { type: 'button', class: 'primary', 'data-key': 'resume', onclick: () => toggle(app, false) }, 'Resume repairs')
    : h('button', { type: 'button', class: 'danger', 'data-key': 'estop', onclick: () => toggle(app, true) }, 'Emergency stop');
  return section('Safety',
    h('dl', { class: 'facts' },
      h('dt', {}, 'Mode'), h('dd', { id: 'mode' }, status.mode),
      h('dt', {}, 'Monitoring'), h('dd', {}, status.running ? 'running' : 'stopped'),
      h('dt', {}, 'Emergency stop'),
      h('dd', { id: 'estop-state' }, stopped ? badge('ENGAGED', 'critical') : badge('off', 'ok')),
      h('dt', {}, 'Open incidents'), h('dd', {}, String(status.open_incidents)),
      h('dt', {}, 'Running repairs'), h('dd', {}, String(status.running_repairs)),
      h('dt', {}, 'Version'), h('dd', {}, `${status.version} (${status.store}), up ${duration(status.uptime_seconds)}`)),
    h('p', { class: 'muted' }, stopped
      ? 'No repair starts until someone resumes. The stop survives daemon restarts.'
      : 'The emergency stop kills running repairs and starts no new ones until resumed.'),
    button);
}

async function toggle(app, engage) {
  const ok = await app.confirm(
    engage
      ? 'Engage the emergency stop? Running repairs are killed at once and no repair starts until someone resumes.'
      : 'Resume repairs? Automatic repairs will start again.',
    engage ? 'Engage emergency stop' : 'Resume repairs');
  if (!ok) return;
  try {
    await fetchJson(`/api/v1/error-monitoring/${engage ? 'emergency-stop' : 'resume'}`, { method: 'POST' });
    app.announce(engage ? 'Emergency stop engaged.' : 'Repairs resumed.');
  } catch (error) {
    app.announce(`Failed: ${error.message}`);
  }
  app.refresh();
}

function checksCard(list, recent, offset) {
  const rows = list.checks.map((check, i) => {
    const observations = (recent[i].observations || []).slice().reverse();
    const latest = check.last;
    return h('tr', { 'data-check': check.name },
      h('th', { scope: 'row' }, check.name),
      h('td', {}, check.type),
      h('td', { class: 'status' }, badge(check.status, check.status)),
      h('td', {}, latest ? `${latest.latency_ms.toFixed(1)} ms` : '—',
        ' ', sparkline(observations.map((o) => o.latency_ms), `latency of ${check.name}, last ${observations.length} runs`)),
      h('td', { class: 'message' }, latest ? latest.message : 'not run yet'),
      h('td', {}, time(check.since)));
  });
  return section('Checks',
    h('div', { class: 'scroll' },
      h('table', { class: 'checks' },
        h('thead', {}, h('tr', {}, ['Check', 'Type', 'Status', 'Latency', 'Last message', 'Since'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows))),
    pager(list.total, offset, CHECKS_PER_PAGE, (o) => `#/?checks=${o}`, 'Checks'));
}

function incidentsCard(incidents, total) {
  const byPriority = ['P1', 'P2', 'P3', 'P4'].map((p) => [p, incidents.filter((i) => i.priority === p)]);
  return section('Open incidents',
    incidents.length === 0 ? h('p', {}, 'No open incidents.') : null,
    total > incidents.length ? h('p', { class: 'muted' }, `Showing the newest ${incidents.length} of ${total}.`) : null,
    byPriority.filter(([, list]) => list.length).map(([priority, list]) => [
      h('h3', {}, badge(priority, priority), ` ${list.length}`),
      h('ul', { class: 'list' }, list.map((i) => h('li', { 'data-incident': i.id },
        h('a', { href: `#/incidents/${encodeURIComponent(i.id)}`, 'data-key': `incident-${i.id}` }, `#${i.id} ${i.title}`),
        ' ', badge(i.state, i.state), ' ', h('span', { class: 'muted' }, 'opened '), time(i.opened_at)))),
    ]));
}

function repairsCard(repairs, awaiting) {
  return section('Repairs in progress',
    h('p', {},
      h('a', { href: '#/approvals', 'data-key': 'awaiting' }, `${awaiting.total} awaiting approval`)),
    awaiting.repairs.length ? h('ul', { class: 'list' }, awaiting.repairs.map((r) => h('li', {},
      h('a', { href: `#/approvals/${encodeURIComponent(r.id)}` }, `Decide repair #${r.id} (${r.runbook})`),
      r.target ? ` for ${r.target}` : null))) : null,
    repairs.length === 0 ? h('p', {}, 'No repair is running.') : h('ul', { class: 'list' },
      repairs.map((r) => h('li', { 'data-repair': r.id },
        `#${r.id} ${r.runbook} `, badge(r.state, r.state),
        r.incident_id ? [' for ', h('a', { href: `#/incidents/${encodeURIComponent(r.incident_id)}` }, `incident #${r.incident_id}`)] : null))));
}
