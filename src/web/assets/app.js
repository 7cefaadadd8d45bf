// The dashboard shell: hash routing, the header (emergency-stop badge, live indicator), the
// confirmation dialog, the live event feed, and re-rendering the current page on every event.
import { initAuth, signOut } from './auth.js';
import { connectEvents } from './live.js';
import { h, replace, time, section, errorBox, hashQuery, badge } from './dom.js';
import * as overview from './overview.js';
import * as incident from './incident.js';
import * as approvals from './approvals.js';
import * as history from './history.js';
import * as reports from './reports.js';

const view = document.getElementById('view');
const conn = document.getElementById('conn');
const stopBadge = document.getElementById('stop-badge');
const announcer = document.getElementById('announce');
const MAX_EVENTS = 200;
let announceTimer = null;

const live = {
  render() {
    const rows = app.events.map((e) => h('li', { class: 'event' },
      time(e.at), ' ', badge(e.name, e.name), ' ', h('span', {}, summary(e.name, e.data))));
    return [
      h('h1', { tabindex: '-1' }, 'Live'),
      section('Events',
        h('p', { class: 'muted' }, 'Events from the daemon as they happen (newest first, this tab only). The connection renews itself after a daemon restart.'),
        rows.length ? h('ol', { class: 'events', reversed: true }, rows) : h('p', {}, 'No events yet.')),
    ];
  },
};

const routes = [
  { re: /^\/?$/, page: overview, title: 'Overview', nav: '#/' },
  { re: /^\/incidents\/([^/]+)$/, page: incident, title: 'Incident', nav: '#/' },
  { re: /^\/approvals(?:\/([^/]+))?$/, page: approvals, title: 'Approvals', nav: '#/approvals' },
  { re: /^\/history$/, page: history, title: 'History', nav: '#/history' },
  { re: /^\/reports$/, page: reports, title: 'Reports', nav: '#/reports' },
  { re: /^\/live$/, page: live, title: 'Live', nav: '#/live' },
];

/** What pages can use. */
const app = {
  /** Recent events, newest first. */
  events: [],
  /** Health scores seen in this tab, `{ t, v }`, oldest first. */
  healthSamples: [],
  /** Re-renders the current page soon (coalesces bursts). */
  refresh,
  /** Asks for confirmation in a modal dialog; resolves true when confirmed. */
  confirm,
  /** Says something to screen readers and shows it briefly. */
  announce(text) {
    announcer.textContent = text;
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => {
      announcer.textContent = '';
    }, 6000);
  },
  /** Shows the emergency stop in the header. */
  setEmergencyStop(active) {
    stopBadge.hidden = !active;
  },
};

function currentRoute() {
  const hitl = location.pathname.match(/^\/hitl\/approve\/([^/]+)$/);
  if (hitl && (location.hash === '' || location.hash === '#')) {
    return { route: routes[2], params: [decodeURIComponent(hitl[1])] };
  }
  const path = (location.hash || '#/').slice(1).split('?')[0];
  for (const route of routes) {
    const match = path.match(route.re);
    if (match) return { route, params: match.slice(1).map((p) => p && decodeURIComponent(p)) };
  }
  return null;
}

let generation = 0;

async function render(navigated) {
  const mine = ++generation;
  const found = currentRoute();
  if (!found) {
    replace(view, [h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Go to the overview'))]);
    return;
  }
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === found.route.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  let nodes;
  try {
    nodes = await found.route.page.render({ params: found.params, query: hashQuery(), app });
  } catch (error) {
    nodes = [h('h1', { tabindex: '-1' }, found.route.title), errorBox(error)];
  }
  if (mine !== generation) return;
  replace(view, nodes, { keepValues: !navigated });
  view.setAttribute('aria-busy', 'false');
  if (navigated) {
    document.title = `${found.route.title} · Homeostat`;
    const heading = view.querySelector('h1');
    if (heading) heading.focus();
  }
}

let inflight = null;
let again = false;

function refresh() {
  const active = document.activeElement;
  if (active && view.contains(active) && active.matches('input, select, textarea')) {
    // The user is typing in a form of this page: do not replace it under their fingers.
    setTimeout(refresh, 1000);
    return;
  }
  if (inflight) {
    again = true;
    return;
  }
  inflight = render(false).finally(() => {
    inflight = null;
    if (again) {
      again = false;
      setTimeout(refresh, 200);
    }
  });
}

function confirm(text, okLabel) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  document.getElementById('confirm-cancel').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

function summary(name, data) {
  switch (name) {
    case 'check_status':
      return `check ${data.check}: ${data.previous} → ${data.status} (${data.message})`;
    case 'incident':
      return `incident ${data.incident.id} ${data.action}: ${data.incident.title} [${data.incident.state}]`;
    case 'repair':
      return `repair ${data.id} (${data.runbook}): ${data.state.replace(/_/g, ' ')}${data.error ? ` — ${data.error}` : ''}`;
    case 'emergency_stop':
      return `emergency stop ${data.active ? 'engaged' : 'lifted'} by ${data.actor}`;
    case 'monitoring':
      return `monitoring ${data.running ? 'started' : 'stopped'}`;
    case 'lagged':
      return `missed ${data.missed} events (reloading data)`;
    default:
      return JSON.stringify(data);
  }
}

function onEvent(name, data) {
  const at = data.at || (data.incident && data.incident.last_signal_at) || new Date().toISOString();
  app.events.unshift({ name, data, at });
  app.events.length = Math.min(app.events.length, MAX_EVENTS);
  if (name === 'emergency_stop') app.setEmergencyStop(Boolean(data.active));
  refresh();
}

function onState(state) {
  conn.textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  conn.className = `conn c-${state}`;
}

function onOpen() {
  conn.dataset.connects = String(Number(conn.dataset.connects || '0') + 1);
  // Events may have been missed while disconnected: reload what is shown.
  refresh();
}

initAuth();
document.getElementById('signout').addEventListener('click', () => signOut().then(refresh));
window.addEventListener('hashchange', () => render(true));
render(true);
connectEvents({ onEvent, onState, onOpen });
