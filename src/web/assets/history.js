// History and analysis: repairs filtered by state and runbook, paginated; charts of repairs by
// outcome, MTTD/MTTR (24 h) and check latency; the failure clusters of the tailed logs (24 h).
import { fetchJson } from './auth.js';
import { h, badge, time, section, pager, duration } from './dom.js';
import { barChart, lineChart } from './charts.js';
import { stepsTable } from './incident.js';

const PER_PAGE = 20;
const STATES = ['queued', 'awaiting_approval', 'running', 'verifying', 'succeeded', 'failed',
  'rolled_back', 'denied', 'cancelled', 'interrupted'];
const LATENCY_CHECKS = 6;
const CLUSTERS = 15;
const TREND_INCIDENTS = 200;
const TREND = { rising: '▲ rising', falling: '▼ falling', steady: '– steady' };

/** Renders history and analysis for the filters in the hash query. */
export async function render({ query }) {
  const state = STATES.includes(query.get('state')) ? query.get('state') : '';
  const runbook = query.get('runbook') || '';
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const filter = new URLSearchParams({ limit: PER_PAGE, offset });
  if (state) filter.set('state', state);
  if (runbook) filter.set('runbook', runbook);
  const [page, counts, metrics, checks, clusters, recent] = await Promise.all([
    fetchJson(`/api/v1/repairs?${filter}`),
    Promise.all(STATES.map((s) => fetchJson(`/api/v1/repairs?state=${s}&limit=1`).then((p) => p.total))),
    fetchJson('/api/v1/error-monitoring/metrics'),
    fetchJson(`/api/v1/checks?limit=${LATENCY_CHECKS}`),
    fetchJson(`/api/v1/clusters?since=24h&failures=true&limit=${CLUSTERS}`),
    fetchJson(`/api/v1/incidents?limit=${TREND_INCIDENTS}`),
  ]);
  const byTime = (a, b) => a.t - b.t;
  const detected = recent.incidents
    .map((i) => ({ t: new Date(i.opened_at), v: i.time_to_detect_seconds }))
    .filter((p) => p.v != null).sort(byTime);
  const resolved = recent.incidents
    .filter((i) => i.resolved_at && i.time_to_resolve_seconds != null)
    .map((i) => ({ t: new Date(i.resolved_at), v: i.time_to_resolve_seconds })).sort(byTime);
  const latency = await Promise.all(checks.checks.map((c) =>
    fetchJson(`/api/v1/checks/${encodeURIComponent(c.name)}?limit=100`).catch(() => ({ observations: [] }))));
  const link = (o) => {
    const q = new URLSearchParams({ offset: o });
    if (state) q.set('state', state);
    if (runbook) q.set('runbook', runbook);
    return `#/history?${q}`;
  };
  return [
    h('h1', { tabindex: '-1' }, 'History and analysis'),
    h('div', { class: 'grid' },
      section('Repairs by outcome',
        barChart(STATES.map((s, i) => ({ label: s.replace(/_/g, ' '), value: counts[i], kind: s })).filter((i) => i.value > 0), 'Repairs by outcome')),
      section('Detection and recovery (24 h)',
        h('dl', { class: 'facts' },
          h('dt', {}, 'MTTD'), h('dd', { id: 'mttd' }, duration(metrics.mttd_seconds)),
          h('dt', {}, 'MTTR (mean)'), h('dd', { id: 'mttr' }, duration(metrics.mttr_seconds)),
          h('dt', {}, 'MTTR (median)'), h('dd', {}, duration(metrics.mttr_median_seconds)),
          h('dt', {}, 'Incidents'), h('dd', {}, `${metrics.incidents_opened} opened, ${metrics.incidents_resolved} resolved`),
          h('dt', {}, 'Check success'), h('dd', {}, metrics.check_success_rate == null ? '—'
            : `${(metrics.check_success_rate * 100).toFixed(1)} % of ${metrics.check_runs} runs`)),
        barChart([
          { label: 'MTTD (s)', value: round(metrics.mttd_seconds), kind: 'mttd' },
          { label: 'MTTR mean (s)', value: round(metrics.mttr_seconds), kind: 'mttr' },
          { label: 'MTTR median (s)', value: round(metrics.mttr_median_seconds), kind: 'mttr' },
        ], 'Mean time to detect and to resolve, seconds'))),
    section('MTTD and MTTR over time',
      h('div', { class: 'grid' },
        h('figure', {}, lineChart(detected, 'time to detect per incident', 's'),
          h('figcaption', {}, `Time to detect, by opening time (newest ${TREND_INCIDENTS} incidents)`)),
        h('figure', {}, lineChart(resolved, 'time to resolve per incident', 's'),
          h('figcaption', {}, 'Time to resolve, by resolution time')))),
    section('Check latency',
      h('div', { class: 'grid' }, checks.checks.map((c, i) => h('figure', {},
        lineChart((latency[i].observations || []).slice().reverse().map((o) => ({ t: new Date(o.observed_at), v: o.latency_ms })),
          `latency of ${c.name}`, 'ms'),
        h('figcaption', {}, c.name)))),
      checks.total > LATENCY_CHECKS ? h('p', { class: 'muted' }, `First ${LATENCY_CHECKS} of ${checks.total} checks.`) : null),
    section('Failure clusters (24 h)',
      clusters.clusters.length === 0
        ? h('p', { class: 'muted' }, 'No failure lines in the tailed logs in the last 24 h (no [[log]] source, or no line with an error level, a failure word or a failure category).')
        : h('div', { class: 'scroll' }, h('table', { class: 'clusters' },
          h('thead', {}, h('tr', {}, ['Template', 'Source', 'Failure lines (24 h)', 'Lines (24 h)', 'Last hour', 'Trend', 'Last seen'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, clusters.clusters.map(clusterRow))))),
    section('Repairs',
      filters(state, runbook),
      h('div', { class: 'scroll' }, h('table', { class: 'repairs' },
        h('thead', {}, h('tr', {}, ['Repair', 'Runbook', 'State', 'Target', 'Incident', 'Created', 'Took', 'Steps'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, page.repairs.map(row)))),
      page.total === 0 ? h('p', {}, 'No repair matches.') : null,
      pager(page.total, offset, PER_PAGE, link, 'Repairs')),
  ];
}

function clusterRow(c) {
  return h('tr', { 'data-cluster': c.id },
    h('th', { scope: 'row' }, h('details', { 'data-key': `cluster-${c.id}` }, h('summary', {}, h('code', {}, c.template)),
      h('ul', { class: 'samples' }, (c.samples || []).map((line) => h('li', {}, h('code', {}, line)))))),
    h('td', {}, c.source),
    h('td', {}, String(c.failures_in_window)),
    h('td', {}, String(c.count_in_window)),
    h('td', {}, `${c.last_hour} (before: ${c.previous_hour})`),
    h('td', {}, TREND[c.trend] || c.trend),
    h('td', {}, time(c.last_seen)));
}

function round(value) {
  return value == null ? 0 : Math.round(value * 10) / 10;
}

function filters(state, runbook) {
  const select = h('select', { id: 'f-state', name: 'state' },
    h('option', { value: '' }, 'any state'),
    STATES.map((s) => h('option', { value: s, selected: s === state }, s.replace(/_/g, ' '))));
  const input = h('input', { id: 'f-runbook', name: 'runbook', type: 'text', value: runbook, placeholder: 'any runbook' });
  return h('form', {
    class: 'filters',
    'aria-label': 'Filter repairs',
    onsubmit: (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      if (select.value) q.set('state', select.value);
      if (input.value.trim()) q.set('runbook', input.value.trim());
      location.hash = `#/history?${q}`;
    },
  },
  h('label', { for: 'f-state' }, 'State '), select,
  h('label', { for: 'f-runbook' }, 'Runbook '), input,
  h('button', { type: 'submit' }, 'Filter'));
}

function row(r) {
  const took = r.started_at && r.finished_at ? (new Date(r.finished_at) - new Date(r.started_at)) / 1000 : null;
  return h('tr', { 'data-repair': r.id, 'data-state': r.state },
    h('th', { scope: 'row' }, `#${r.id}`),
    h('td', {}, r.runbook),
    h('td', {}, badge(r.state, r.state), r.dry_run ? [' ', badge('dry run', 'unknown')] : null),
    h('td', {}, r.target || '—'),
    h('td', {}, r.incident_id ? h('a', { href: `#/incidents/${encodeURIComponent(r.incident_id)}` }, `#${r.incident_id}`) : '—'),
    h('td', {}, time(r.created_at)),
    h('td', {}, duration(took)),
    h('td', {}, r.steps.length
      ? h('details', { 'data-key': `repair-${r.id}-steps` }, h('summary', {}, `${r.steps.length} step${r.steps.length === 1 ? '' : 's'}`), stepsTable(r.steps))
      : (r.error || '—')));
}
