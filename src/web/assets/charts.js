// Small inline SVG charts drawn by hand: sparklines, bar charts and a line chart with axes.
import { s } from './dom.js';

/** A sparkline of `values` (oldest first); `label` describes it for screen readers. */
export function sparkline(values, label, { width = 120, height = 28 } = {}) {
  const svg = s('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  const points = values.filter((v) => Number.isFinite(v));
  if (points.length < 2) {
    svg.append(s('line', { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'axis' }));
    return svg;
  }
  const max = Math.max(...points);
  const min = Math.min(...points, 0);
  const span = max - min || 1;
  const step = width / (points.length - 1);
  const coords = points.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`);
  svg.append(s('line', { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'axis' }),
    s('polyline', { points: coords.join(' '), class: 'line' }));
  return svg;
}

/** Horizontal bars: `items` are `{ label, value, kind }`; `title` names the chart. */
export function barChart(items, title, { width = 420, bar = 20, gap = 6, labelWidth = 130 } = {}) {
  const height = Math.max(1, items.length) * (bar + gap) + gap;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${title}: ${items.map((i) => `${i.label} ${i.value}`).join(', ') || 'no data'}` });
  const max = Math.max(1, ...items.map((i) => i.value));
  const room = width - labelWidth - 50;
  items.forEach((item, index) => {
    const y = gap + index * (bar + gap);
    const w = Math.max(item.value > 0 ? 2 : 0, (item.value / max) * room);
    svg.append(
      s('text', { x: labelWidth - 8, y: y + bar * 0.7, 'text-anchor': 'end', class: 'label' }, item.label),
      s('rect', { x: labelWidth, y, width: w.toFixed(1), height: bar, rx: 3, class: `bar k-${item.kind || 'default'}` }),
      s('text', { x: labelWidth + w + 6, y: y + bar * 0.7, class: 'value' }, String(item.value)),
    );
  });
  if (!items.length) svg.append(s('text', { x: 8, y: 18, class: 'label' }, 'no data'));
  return svg;
}

/** A line chart of `{ t: Date, v: number }` points with min/max labels; `unit` follows values. */
export function lineChart(points, title, unit, { width = 420, height = 120 } = {}) {
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${title}: ${points.length} points${points.length ? `, latest ${points[points.length - 1].v.toFixed(1)} ${unit}` : ''}` });
  const left = 60;
  const bottom = height - 18;
  svg.append(s('line', { x1: left, y1: 4, x2: left, y2: bottom, class: 'axis' }),
    s('line', { x1: left, y1: bottom, x2: width - 4, y2: bottom, class: 'axis' }));
  if (points.length < 2) {
    svg.append(s('text', { x: left + 8, y: bottom / 2, class: 'label' }, 'not enough data yet'));
    return svg;
  }
  const t0 = points[0].t.getTime();
  const t1 = points[points.length - 1].t.getTime();
  const max = Math.max(...points.map((p) => p.v));
  const tx = (t) => left + ((t - t0) / (t1 - t0 || 1)) * (width - left - 8);
  const ty = (v) => bottom - (v / (max || 1)) * (bottom - 8);
  svg.append(
    s('polyline', { class: 'line', points: points.map((p) => `${tx(p.t.getTime()).toFixed(1)},${ty(p.v).toFixed(1)}`).join(' ') }),
    s('text', { x: left - 4, y: 12, 'text-anchor': 'end', class: 'label' }, `${max.toFixed(max < 10 ? 1 : 0)} ${unit}`),
    s('text', { x: left - 4, y: bottom, 'text-anchor': 'end', class: 'label' }, `0 ${unit}`),
    s('text', { x: left, y: height - 4, class: 'label' }, points[0].t.toLocaleTimeString()),
    s('text', { x: width - 4, y: height - 4, 'text-anchor': 'end', class: 'label' }, points[points.length - 1].t.toLocaleTimeString()),
  );
  return svg;
}
