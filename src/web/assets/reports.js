// Reports: hourly health, daily performance and the weekly repair summary (or any kind and
// window), built by the daemon (GET /api/v1/reports/{kind}) and shown here with their charts;
// the HTML and Markdown forms download as files.
import { fetchJson, authHeaders } from './auth.js';
import { h, section } from './dom.js';
import { barChart } from './charts.js';

const KINDS = { health: 'Health', performance: 'Performance', repairs: 'Repairs' };
const PRESETS = [
  { kind: 'health', since: '1h', label: 'Hourly health' },
  { kind: 'performance', since: '24h', label: 'Daily performance' },
  { kind: 'repairs', since: '7d', label: 'Weekly repairs' },
];
const WINDOWS = ['1h', '24h', '7d', '30d'];
// The last report fetched: live events re-render the page, they do not rebuild the report.
let cached = { key: '', report: null };

/** Renders the report chosen in the hash query (default: hourly health). */
export async function render({ query }) {
  const kind = KINDS[query.get('kind')] ? query.get('kind') : 'health';
  const since = WINDOWS.includes(query.get('since')) ? query.get('since') : '1h';
  const key = `${kind}|${since}|${query.get('at') || ''}`;
  if (cached.key !== key) {
    cached = { key, report: await fetchJson(`/api/v1/reports/${kind}?since=${since}&format=json`) };
  }
  const report = cached.report;
  return [
    h('h1', { tabindex: '-1' }, 'Reports'),
    h('p', {}, PRESETS.map((p) => [h('a', { class: 'button', href: `#/reports?kind=${p.kind}&since=${p.since}` }, p.label), ' '])),
    chooser(kind, since),
    h('h2', { id: 'report-title' }, `${report.title} — last ${since}`),
    h('p', { class: 'muted' }, `Generated ${new Date(report.generated_at).toLocaleString()}. `,
      h('button', { type: 'button', onclick: () => download(kind, since, 'html') }, 'Download HTML'), ' ',
      h('button', { type: 'button', onclick: () => download(kind, since, 'md') }, 'Download Markdown')),
    report.sections.map(renderSection),
  ];
}

function chooser(kind, since) {
  const kindSelect = h('select', { id: 'r-kind', name: 'kind' },
    Object.entries(KINDS).map(([k, label]) => h('option', { value: k, selected: k === kind }, label)));
  const sinceSelect = h('select', { id: 'r-since', name: 'since' },
    WINDOWS.map((w) => h('option', { value: w, selected: w === since }, `last ${w}`)));
  return h('form', {
    class: 'filters',
    'aria-label': 'Choose a report',
    onsubmit: (event) => {
      event.preventDefault();
      location.hash = `#/reports?kind=${kindSelect.value}&since=${sinceSelect.value}&at=${Date.now()}`;
    },
  },
  h('label', { for: 'r-kind' }, 'Report '), kindSelect,
  h('label', { for: 'r-since' }, 'Window '), sinceSelect,
  h('button', { type: 'submit' }, 'Build report'));
}

function renderSection(part) {
  return section(part.heading,
    part.facts.length ? h('dl', { class: 'facts' }, part.facts.map(([name, value]) => [h('dt', {}, name), h('dd', {}, value)])) : null,
    part.chart ? barChart(part.chart.bars.map(([label, value]) => ({ label, value: Math.round(value * 10) / 10 })), part.chart.title) : null,
    part.columns.length
      ? (part.rows.length
        ? h('div', { class: 'scroll' }, h('table', { class: 'report' },
          h('thead', {}, h('tr', {}, part.columns.map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, part.rows.map((row) => h('tr', {}, row.map((cell) => h('td', {}, cell)))))))
        : h('p', {}, '(none)'))
      : null,
    part.note ? h('p', { class: 'muted' }, part.note) : null);
}

async function download(kind, since, format) {
  const response = await fetch(`/api/v1/reports/${kind}?since=${since}&format=${format}`, {
    headers: authHeaders(), credentials: 'same-origin', cache: 'no-store',
  });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const link = h('a', { href: url, download: `homeostat-${kind}-${since}.${format}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
