// DOM helpers: build elements with text only (never HTML strings), and format times.

/** Creates `tag` with attributes (`class`, `on<event>`, anything else as an attribute) and children
 *  (strings become text nodes; null, undefined and false are skipped; arrays are flattened). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** Like `h` for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.setAttribute('class', value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `container` with `nodes`, keeping keyboard focus on the element with
 *  the same `data-key` or `id` (live updates must not throw the user's focus away); with
 *  `keepValues`, form fields with an `id` keep what the user has entered and `<details>` with a
 *  `data-key` that the user opened stay open. */
export function replace(container, nodes, { keepValues = false } = {}) {
  const active = document.activeElement;
  const inside = active && container.contains(active);
  const key = inside ? active.getAttribute('data-key') : null;
  const activeId = inside ? active.id : '';
  const values = new Map();
  const open = [];
  if (keepValues) {
    for (const field of container.querySelectorAll('input[id], select[id], textarea[id]')) values.set(field.id, field.value);
    // What the user opened stays open when live data redraws the page.
    for (const details of container.querySelectorAll('details[data-key][open]')) open.push(details.getAttribute('data-key'));
  }
  container.replaceChildren(...[nodes].flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  for (const [id, value] of values) {
    const field = document.getElementById(id);
    if (field && container.contains(field)) field.value = value;
  }
  for (const key of open) {
    const details = container.querySelector(`details[data-key="${CSS.escape(key)}"]`);
    if (details) details.open = true;
  }
  const again = key ? container.querySelector(`[data-key="${CSS.escape(key)}"]`)
    : activeId ? document.getElementById(activeId) : null;
  if (again && container.contains(again)) again.focus();
}

/** A status word as a badge (colour plus text, never colour alone). */
export function badge(text, kind = text) {
  return h('span', { class: `badge b-${String(kind).toLowerCase()}` }, String(text).replace(/_/g, ' '));
}

/** `2026-11-22 21:04:05` in local time, with the full timestamp as a tooltip. */
export function time(iso) {
  if (!iso) return h('span', {}, '—');
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return h('time', { datetime: iso, title: iso }, text);
}

/** `42 s`, `3.5 min`, `2.1 h`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A section with a heading. */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** A message for a failed load. */
export function errorBox(error) {
  return h('p', { class: 'error', role: 'alert' }, `Could not load: ${error.message || error}`);
}

/** The query parameters of the current hash route (`#/history?state=failed`). */
export function hashQuery() {
  const hash = location.hash || '#/';
  const i = hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
}

/** Previous/next links for a page of `total` items at `offset`; `link(offset)` makes the href. */
export function pager(total, offset, limit, link, label) {
  if (total <= limit && offset === 0) return null;
  const last = Math.min(offset + limit, total);
  return h('nav', { class: 'pager', 'aria-label': `${label} pages` },
    offset > 0 ? h('a', { href: link(Math.max(0, offset - limit)), 'data-key': `${label}-prev` }, '← Previous') : h('span', { class: 'muted' }, '← Previous'),
    h('span', {}, `${total === 0 ? 0 : offset + 1}–${last} of ${total}`),
    last < total ? h('a', { href: link(offset + limit), 'data-key': `${label}-next` }, 'Next →') : h('span', { class: 'muted' }, 'Next →'));
}
