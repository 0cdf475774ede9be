// Usage logs: a chart of actions per day (inline SVG built with DOM APIs)
// and the list of log entries, for an organization or a repository.

import { h, clear, formatTime } from '../dom.js';
import { api, ApiError } from '../api.js';
import { section, simpleTable, button, uid, select, input, form, submit } from '../admin-kit.js';

const SVG = 'http://www.w3.org/2000/svg';

// s builds an SVG element (attributes only; text as text nodes).
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

// mdY formats a date as Quay's log query parameters (%m/%d/%Y, UTC).
function mdY(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${d.getUTCFullYear()}`;
}

// dayKey is the UTC day (YYYY-MM-DD) of a log time (RFC 2822, ISO or epoch).
function dayKey(v) {
  let d;
  if (typeof v === 'number') d = new Date(v < 1e12 ? v * 1000 : v);
  else d = new Date(v);
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString().slice(0, 10);
}

// perDay sums aggregated counts per day for the last days ending today.
export function perDay(aggregated, days, now = new Date()) {
  const out = [];
  const index = new Map();
  for (let i = days - 1; i >= 0; i -= 1) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - i));
    const key = d.toISOString().slice(0, 10);
    index.set(key, out.length);
    out.push({ day: key, count: 0, kinds: {} });
  }
  for (const a of aggregated || []) {
    const i = index.get(dayKey(a.datetime));
    if (i === undefined) continue;
    out[i].count += a.count;
    out[i].kinds[a.kind] = (out[i].kinds[a.kind] || 0) + a.count;
  }
  return out;
}

// chart draws one bar per day; each bar has a <title> for pointer users and
// the table below is the accessible equivalent.
export function chart(days) {
  const width = 720;
  const height = 180;
  const pad = { l: 36, r: 8, t: 10, b: 28 };
  const max = Math.max(1, ...days.map((d) => d.count));
  const bw = (width - pad.l - pad.r) / days.length;
  const ih = height - pad.t - pad.b;
  const titleID = uid('chart-title');
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'log-chart', role: 'img', 'aria-labelledby': titleID, 'data-test': 'log-chart',
  });
  const total = days.reduce((n, d) => n + d.count, 0);
  svg.append(s('title', { id: titleID }, `Actions per day over the last ${days.length} days: ${total} in total`));
  svg.append(s('line', { x1: pad.l, y1: pad.t + ih, x2: width - pad.r, y2: pad.t + ih, class: 'axis' }));
  svg.append(s('text', { x: pad.l - 6, y: pad.t + 8, class: 'axis-label', 'text-anchor': 'end' }, String(max)));
  svg.append(s('text', { x: pad.l - 6, y: pad.t + ih, class: 'axis-label', 'text-anchor': 'end' }, '0'));
  days.forEach((d, i) => {
    const bh = Math.round((d.count / max) * ih);
    const x = pad.l + i * bw + 1;
    const bar = s('rect', {
      x: x.toFixed(1), y: pad.t + ih - bh, width: Math.max(1, bw - 2).toFixed(1), height: bh, class: 'bar', 'data-count': d.count,
    });
    const kinds = Object.entries(d.kinds).map(([k, n]) => `${k}: ${n}`).join(', ');
    bar.append(s('title', {}, `${d.day}: ${d.count} actions${kinds ? ` (${kinds})` : ''}`));
    svg.append(bar);
    const every = Math.ceil(days.length / 8);
    const last = i === days.length - 1;
    if (last || (i % every === 0 && days.length - 1 - i >= every / 2)) {
      svg.append(s('text', { x: (x + bw / 2).toFixed(1), y: height - 8, class: 'axis-label', 'text-anchor': 'middle' }, d.day.slice(5)));
    }
  });
  return svg;
}

// describeLog is a one-line summary of an entry's metadata.
function describeLog(e) {
  const m = e.metadata || {};
  const bits = [];
  for (const k of ['repo', 'repository', 'tag', 'name', 'robot', 'team', 'member', 'role', 'username', 'method', 'manifest_digest']) {
    if (m[k] !== undefined && m[k] !== null && m[k] !== '') bits.push(`${k}=${typeof m[k] === 'object' ? JSON.stringify(m[k]) : m[k]}`);
  }
  return bits.join(' ');
}

// renderLogs fills a usage logs section for base (/organization/{org},
// /repository/{repo}, /user or /superuser). Quay's exportlogs (a job that
// POSTs the entries to a callback URL) is offered except for /superuser,
// which has none.
export async function renderLogs(root, ctx, base, days = 30) {
  const end = new Date();
  const start = new Date(end.getTime() - (days - 1) * 86400000);
  const q = `starttime=${encodeURIComponent(mdY(start))}&endtime=${encodeURIComponent(mdY(end))}`;
  let agg;
  let logs;
  try {
    [agg, logs] = await Promise.all([api('GET', `${base}/aggregatelogs?${q}`), api('GET', `${base}/logs?${q}`)]);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 501)) {
      root.append(section('Usage logs', h('p', { 'data-test': 'logs-unavailable' }, 'Usage logs are not available on this registry.')));
      return;
    }
    throw err;
  }
  const daily = perDay(agg.aggregated, days, end);
  const list = h('div', {});
  let entries = [...(logs.logs || [])];
  let next = logs.next_page;
  let filter = '';
  const rowsOf = (items) => items.map((e) => [
    e.datetime ? formatTime(e.datetime) : '',
    h('span', { class: 'mono', 'data-test': 'log-kind' }, e.kind),
    e.performer ? `${e.performer.name}${e.performer.is_robot ? ' (robot)' : ''}` : '(system)',
    describeLog(e),
    e.ip || '',
  ]);
  const more = button('Load more', async () => {
    try {
      const page = await api('GET', `${base}/logs?${q}${filter}&next_page=${encodeURIComponent(next)}`);
      entries.push(...(page.logs || []));
      next = page.next_page;
      draw();
    } catch (err) { ctx.toast(err.message, 'error'); }
  });
  const draw = () => {
    clear(list);
    list.append(simpleTable('Log entries', ['Time', 'Action', 'Performer', 'Details', 'IP address'], rowsOf(entries), { 'data-test': 'logs-table' }));
    more.hidden = !next;
  };
  draw();
  const kinds = [...new Set((agg.aggregated || []).map((a) => a.kind))].sort();
  const kind = select('Action', [['', 'All actions'], ...kinds.map((k) => [k, k])], '');
  const performer = input('Performer', { autocomplete: 'off', placeholder: 'username or robot' });
  const filters = form(ctx, 'Filter the log', async () => {
    filter = '';
    if (kind.el.value) filter += `&kind=${encodeURIComponent(kind.el.value)}`;
    if (performer.el.value.trim()) filter += `&performer=${encodeURIComponent(performer.el.value.trim())}`;
    const page = await api('GET', `${base}/logs?${q}${filter}`);
    entries = [...(page.logs || [])];
    next = page.next_page;
    draw();
  }, h('div', { class: 'form-row' }, kind.row, performer.row, submit('Filter')));
  const callback = input('Callback URL', { type: 'url', required: true, autocomplete: 'off', placeholder: 'https://hooks.example/wharf-logs' },
    'The entries of the last 30 days are POSTed to this URL as JSON once the export is ready.');
  const exportStatus = h('p', { class: 'hint', role: 'status', 'data-test': 'export-status' });
  const exporter = form(ctx, 'Export the log', async () => {
    const target = callback.el.value.trim();
    const res = await api('POST', `${base}/exportlogs?${q}`, { callback_url: target });
    exportStatus.textContent = `Export ${res.export_id} started: the entries are sent to ${target}.`;
    ctx.toast('Log export started', 'success');
  }, h('h3', {}, 'Export'), h('div', { class: 'form-row' }, callback.row, submit('Export logs')), exportStatus);
  const dayRows = daily.filter((d) => d.count > 0).map((d) => [d.day, String(d.count),
    Object.entries(d.kinds).map(([k, n]) => `${k}: ${n}`).join(', ')]);
  const details = h('details', { class: 'chart-data' }, h('summary', {}, 'Actions per day as a table'),
    simpleTable('Actions per day', ['Day', 'Actions', 'By kind'], dayRows));
  root.append(section('Usage logs',
    h('figure', { class: 'chart' }, chart(daily), h('figcaption', {}, `Actions per day, last ${days} days (UTC)`)),
    details, filters, list, more, base === '/superuser' ? null : exporter));
}
