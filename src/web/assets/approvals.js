// Approvals: repairs awaiting a human decision, each with its runbook's risk and the exact plan
// (argv after templating); approve or deny. `/hitl/approve/{id}` opens one repair here.
import { fetchJson } from './auth.js';
import { h, badge, time, section, pager } from './dom.js';
import { stepsTable, argv } from './incident.js';

const PER_PAGE = 10;

/** Renders the queue, or one repair when `params[0]` is given. */
export async function render({ params, query, app }) {
  const id = params[0];
  if (id) {
    const repair = await fetchJson(`/api/v1/repairs/${encodeURIComponent(id)}`);
    const plan = await fetchJson(`/api/v1/repairs/${encodeURIComponent(id)}/plan`).catch(() => null);
    return [
      h('p', {}, h('a', { href: '#/approvals' }, '← All approvals')),
      h('h1', { tabindex: '-1' }, `Approve repair #${repair.id}`),
      card(repair, plan, app),
    ];
  }
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const page = await fetchJson(`/api/v1/repairs?state=awaiting_approval&limit=${PER_PAGE}&offset=${offset}`);
  const plans = await Promise.all(page.repairs.map((r) =>
    fetchJson(`/api/v1/repairs/${encodeURIComponent(r.id)}/plan`).catch(() => null)));
  return [
    h('h1', { tabindex: '-1' }, 'Approvals'),
    page.total === 0 ? section('Queue', h('p', {}, 'Nothing awaits approval.')) : null,
    page.repairs.map((r, i) => card(r, plans[i], app)),
    pager(page.total, offset, PER_PAGE, (o) => `#/approvals?offset=${o}`, 'Approvals'),
  ];
}

function card(repair, plan, app) {
  const waiting = repair.state === 'awaiting_approval';
  return h('section', { class: 'card approval', 'data-repair': repair.id, 'aria-labelledby': `ap-${repair.id}` },
    h('h2', { id: `ap-${repair.id}` }, `Repair #${repair.id} — ${repair.runbook} `, badge(repair.state, repair.state)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Risk'), h('dd', { class: 'risk' }, plan ? badge(plan.risk, `risk-${plan.risk}`) : 'unknown (runbook no longer configured)'),
      h('dt', {}, 'Target'), h('dd', {}, repair.target || '—'),
      h('dt', {}, 'Incident'), h('dd', {}, repair.incident_id
        ? h('a', { href: `#/incidents/${encodeURIComponent(repair.incident_id)}` }, `#${repair.incident_id}`) : '—'),
      h('dt', {}, 'Requested'), h('dd', {}, `by ${repair.requested_by}, `, time(repair.created_at)),
      plan ? [h('dt', {}, 'Who may approve'), h('dd', {}, `${plan.required_role} or higher`),
        h('dt', {}, 'If nobody decides'), h('dd', {}, `${plan.on_timeout} after ${Math.round(plan.approval_timeout_seconds / 60)} min`),
        h('dt', {}, 'Verified by'), h('dd', {}, plan.verify_check || 'the target check')] : null),
    h('h3', {}, waiting ? 'It will run exactly' : 'Steps'),
    waiting && plan ? planTable(plan.steps) : (repair.steps.length ? stepsTable(repair.steps) : h('p', {}, 'No steps recorded.')),
    waiting
      ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', 'data-key': `approve-${repair.id}`, onclick: () => decide(app, repair.id, 'approve') }, `Approve repair #${repair.id}`),
        h('button', { type: 'button', class: 'danger', 'data-key': `deny-${repair.id}`, onclick: () => decide(app, repair.id, 'deny') }, `Deny repair #${repair.id}`))
      : h('p', { class: 'decided' }, `Decided: this repair is ${repair.state.replace(/_/g, ' ')}.`));
}

/** The planned steps: phase and exact argv (nothing has run yet). */
function planTable(steps) {
  return h('div', { class: 'scroll' }, h('table', { class: 'steps' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Phase'), h('th', { scope: 'col' }, 'Command'))),
    h('tbody', {}, steps.map((s) => h('tr', {}, h('td', {}, s.phase), h('td', {}, argv(s.command)))))));
}

async function decide(app, id, verb) {
  try {
    await fetchJson(`/api/v1/repairs/${encodeURIComponent(id)}/${verb}`, { method: 'POST', body: {} });
    app.announce(`Repair ${id} ${verb === 'approve' ? 'approved' : 'denied'}.`);
  } catch (error) {
    app.announce(`Failed: ${error.message}`);
  }
  app.refresh();
}
