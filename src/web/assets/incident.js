// Incident page: its facts, a timeline of signals, repairs (with each step's command and
// output), approvals and escalation, the acknowledge/resolve actions, and suggested runbooks with why.
import { fetchJson } from './auth.js';
import { h, badge, time, section, duration } from './dom.js';

/** Renders incident `params[0]`. */
export async function render({ params, app }) {
  const id = params[0];
  const incident = await fetchJson(`/api/v1/incidents/${encodeURIComponent(id)}`);
  const active = !['resolved', 'closed'].includes(incident.state);
  const canAck = ['open', 'escalated'].includes(incident.state);
  return [
    h('p', {}, h('a', { href: '#/' }, '← Overview')),
    h('h1', { tabindex: '-1' }, `Incident #${incident.id}: ${incident.title}`),
    section('Summary',
      h('dl', { class: 'facts' },
        h('dt', {}, 'State'), h('dd', { id: 'incident-state' }, badge(incident.state, incident.state)),
        h('dt', {}, 'Priority'), h('dd', {}, badge(incident.priority, incident.priority)),
        h('dt', {}, 'Severity'), h('dd', {}, badge(incident.severity, incident.severity)),
        h('dt', {}, 'Check'), h('dd', {}, incident.check || '—'),
        h('dt', {}, 'Fingerprint'), h('dd', {}, h('code', {}, incident.fingerprint)),
        h('dt', {}, 'Labels'), h('dd', {}, Object.entries(incident.labels).map(([k, v]) => h('code', { class: 'label' }, `${k}=${v}`))),
        h('dt', {}, 'Failing since'), h('dd', {}, time(incident.started_at)),
        h('dt', {}, 'Opened'), h('dd', {}, time(incident.opened_at), ` (detected after ${duration(incident.time_to_detect_seconds)})`),
        h('dt', {}, 'Acknowledged'), h('dd', {}, time(incident.acknowledged_at)),
        h('dt', {}, 'Resolved'), h('dd', {}, time(incident.resolved_at),
          incident.time_to_resolve_seconds != null ? ` (after ${duration(incident.time_to_resolve_seconds)})` : ''),
        h('dt', {}, 'Signals'), h('dd', {}, String(incident.signal_count))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', 'data-key': 'ack', disabled: !canAck, onclick: () => act(app, id, 'ack') }, 'Acknowledge'),
        h('button', { type: 'button', 'data-key': 'resolve', disabled: !active, onclick: () => act(app, id, 'resolve') }, 'Resolve'))),
    section('Suggested runbooks',
      incident.suggestions.length === 0 ? h('p', {}, 'No runbook is configured for this check.') : h('ol', { class: 'list' },
        incident.suggestions.map((s) => h('li', {},
          h('strong', {}, s.runbook), ` — ${s.why}`,
          h('span', { class: 'muted' }, ` (estimated success ${(s.estimate * 100).toFixed(0)} %)`))))),
    section('Repairs',
      incident.repairs.length === 0 ? h('p', {}, 'No repair yet.') : incident.repairs.map(repairBlock)),
    section('Timeline',
      h('ol', { class: 'timeline' }, timeline(incident).map((e) => h('li', { class: `t-${e.kind}` },
        time(e.at), ' ', badge(e.kind.replace(/_/g, ' '), e.kind), ' ', h('span', { class: 'muted' }, e.actor), ' ', e.message)))),
  ];
}

/** The incident's own entries (signals, transitions, approvals, escalation) merged with when each
 *  repair was requested, started and finished, oldest first. */
function timeline(incident) {
  const entries = incident.timeline.slice();
  for (const r of incident.repairs) {
    entries.push({ at: r.created_at, kind: 'repair_requested', actor: r.requested_by,
      message: `repair #${r.id} (${r.runbook}, attempt ${r.attempt})${r.dry_run ? ', dry run' : ''}` });
    if (r.started_at) entries.push({ at: r.started_at, kind: 'repair_started', actor: 'homeostat', message: `repair #${r.id} (${r.runbook})` });
    if (r.finished_at) {
      entries.push({ at: r.finished_at, kind: `repair_${r.state}`, actor: 'homeostat',
        message: `repair #${r.id} (${r.runbook}) ${r.state.replace(/_/g, ' ')}${r.error ? `: ${r.error}` : ''}` });
    }
  }
  return entries.sort((a, b) => new Date(a.at) - new Date(b.at));
}

async function act(app, id, verb) {
  try {
    await fetchJson(`/api/v1/incidents/${encodeURIComponent(id)}/${verb}`, { method: 'POST' });
    app.announce(verb === 'ack' ? `Incident ${id} acknowledged.` : `Incident ${id} resolved.`);
  } catch (error) {
    app.announce(`Failed: ${error.message}`);
  }
  app.refresh();
}

/** One repair with its steps; also used by the history page. */
export function repairBlock(repair) {
  return h('article', { class: 'repair', 'data-repair': repair.id, 'data-state': repair.state },
    h('h3', {}, `Repair #${repair.id} — ${repair.runbook} `, badge(repair.state, repair.state),
      repair.dry_run ? badge('dry run', 'unknown') : null),
    h('p', { class: 'muted' },
      `attempt ${repair.attempt}, requested by ${repair.requested_by}, created `, time(repair.created_at),
      repair.finished_at ? [', finished ', time(repair.finished_at)] : null),
    repair.error ? h('p', { class: 'error' }, repair.error) : null,
    repair.steps.length ? stepsTable(repair.steps) : null);
}

/** Steps as a table: phase, exact argv, exit code, duration and output. */
export function stepsTable(steps) {
  return h('div', { class: 'scroll' }, h('table', { class: 'steps' },
    h('thead', {}, h('tr', {}, ['Phase', 'Command', 'Exit', 'Time', 'Output'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, steps.map((s) => h('tr', {},
      h('td', {}, s.phase),
      h('td', {}, argv(s.command)),
      h('td', {}, s.exit_code == null ? (s.error ? 'error' : '—') : String(s.exit_code)),
      h('td', {}, s.duration_ms ? `${s.duration_ms} ms` : '—'),
      h('td', {}, s.output || s.error ? h('pre', {}, [s.output, s.error].filter(Boolean).join('\n')) : '—'))))));
}

/** An argv shown exactly: each element as its own code chip. */
export function argv(command) {
  return h('span', { class: 'argv' }, command.map((a) => h('code', {}, a)));
}
