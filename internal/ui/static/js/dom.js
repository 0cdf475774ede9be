// DOM helpers. Every string that reaches the page goes through a text node
// or a property; nothing here parses HTML.

const SAFE_URL = /^(https?:|mailto:)/i;

// safeURL returns url when it is a same-origin path, a fragment, or an
// http(s)/mailto URL; otherwise '#'. It keeps javascript: and data: URLs
// out of links.
export function safeURL(url) {
  const s = String(url ?? '').trim();
  if (s.startsWith('#') || s.startsWith('?')) return s;
  if (s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\')) return s;
  if (SAFE_URL.test(s)) return s;
  return '#';
}

// h builds an element. attrs: on<event> adds a listener; class (string or
// array), for, aria-*, data-*, role and unknown names become attributes;
// other keys are set as properties (value, checked, disabled, id, type…).
// Children may be nodes, strings (text nodes), numbers, arrays or null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
    } else if (k === 'for') {
      el.htmlFor = String(v);
    } else if (k === 'style' || k === 'innerHTML' || k === 'outerHTML') {
      throw new Error(`h: ${k} is not allowed`);
    } else if (k === 'href' || k === 'src' || k === 'action') {
      el.setAttribute(k, safeURL(v));
    } else if (k.startsWith('aria-') || k.startsWith('data-') || k === 'role' || k === 'list' || k === 'form' || !(k in el)) {
      el.setAttribute(k, v === true ? (k.startsWith('aria-') ? 'true' : '') : String(v));
    } else {
      el[k] = v;
    }
  }
  append(el, children);
  return el;
}

// append adds children (nodes, strings as text, arrays) to a node.
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of node.
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// link is an in-app link; the router handles the click.
export function link(path, ...children) {
  return h('a', { href: path }, ...children);
}

// announce reads a short message to screen reader users.
export function announce(message) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => { el.textContent = message; }, 50);
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) { /* fall back below */ }
  }
  const ta = h('textarea', { readOnly: true, class: 'offscreen', 'aria-hidden': 'true' }, text);
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
  ta.remove();
  return ok;
}

// copyButton copies text to the clipboard. label names what is copied
// ("Copy pull command"); the button says "Copied" for a moment afterwards.
export function copyButton(text, label = 'Copy') {
  const btn = h('button', { type: 'button', class: 'btn btn-small btn-copy', 'aria-label': label, title: label, 'data-copy': text }, 'Copy');
  btn.addEventListener('click', async () => {
    const ok = await writeClipboard(text);
    btn.textContent = ok ? 'Copied' : 'Copy failed';
    btn.dataset.copied = ok ? 'true' : 'false';
    announce(ok ? 'Copied to clipboard' : 'Could not copy; select the text and copy it');
    setTimeout(() => { btn.textContent = 'Copy'; }, 2000);
  });
  return btn;
}

// copyField shows text in a read-only field with a copy button.
export function copyField(text, label) {
  const id = uid('copy');
  return h('div', { class: 'copy-field' },
    h('label', { for: id, class: 'visually-hidden' }, label),
    h('input', { id, type: 'text', readOnly: true, value: text, class: 'mono', onfocus: (e) => e.target.select() }),
    copyButton(text, label));
}

let counter = 0;
// uid returns a page-unique element id.
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// dialog opens an accessible modal. actions: [{label, kind, onClick}];
// onClick may be async, may return false to keep the dialog open, and may
// throw to show an error in the dialog. Returns {el, close, closed}; closed
// resolves with the label of the action that closed it (or null).
export function dialog(title, contentNode, actions = [{ label: 'Close' }]) {
  const titleId = uid('dialog-title');
  const error = h('div', { class: 'dialog-error', role: 'alert' });
  const buttons = actions.map((a) => h('button', {
    type: a.submit ? 'submit' : 'button',
    class: ['btn', a.kind ? `btn-${a.kind}` : ''],
    'data-action': a.label,
  }, a.label));
  const form = h('form', { method: 'dialog', class: 'dialog-form', novalidate: true },
    h('h2', { id: titleId, class: 'dialog-title' }, title),
    h('div', { class: 'dialog-body' }, contentNode),
    error,
    h('div', { class: 'dialog-actions' }, buttons));
  const dlg = h('dialog', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': titleId }, form);
  const opener = document.activeElement;
  let resolve;
  const closed = new Promise((r) => { resolve = r; });
  let result = null;
  const close = (value = null) => {
    result = value;
    if (dlg.open) dlg.close();
  };
  dlg.addEventListener('close', () => {
    dlg.remove();
    if (opener && typeof opener.focus === 'function' && document.contains(opener)) opener.focus();
    resolve(result);
  });
  dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(null); });
  dlg.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); close(null); return; }
    if (e.key !== 'Tab') return;
    const items = [...dlg.querySelectorAll(FOCUSABLE)].filter((n) => n.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
  const run = async (a, btn) => {
    error.textContent = '';
    if (!a.onClick) { close(a.label); return; }
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const keep = await a.onClick(close, btn);
      if (keep !== false) close(a.label);
    } catch (err) {
      error.textContent = err && err.message ? err.message : String(err);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  actions.forEach((a, i) => {
    buttons[i].addEventListener('click', (e) => { e.preventDefault(); run(a, buttons[i]); });
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const a = actions.find((x) => x.submit) || actions.find((x) => x.kind === 'primary');
    if (a) run(a, buttons[actions.indexOf(a)]);
  });
  document.body.append(dlg);
  dlg.showModal();
  // The first field, or the first (least destructive) button: Enter must
  // never confirm a deletion by accident.
  const firstField = dlg.querySelector('.dialog-body input:not([readonly]), .dialog-body select, .dialog-body textarea') || buttons[0];
  if (firstField) firstField.focus();
  return { el: dlg, close, closed, error };
}

// confirmDialog asks a yes/no question; resolves true when confirmed.
export async function confirmDialog(title, message, confirmLabel = 'Delete', onConfirm) {
  const d = dialog(title, h('p', null, message), [
    { label: 'Cancel' },
    { label: confirmLabel, kind: 'danger', onClick: onConfirm },
  ]);
  return (await d.closed) === confirmLabel;
}

// table builds a table. columns: [{label, render(row) → node|string, class}].
// opts.caption is a visible caption; opts.label names a table without one
// (aria-label), so every table is named for screen readers.
export function table(columns, rows, opts = {}) {
  const body = rows.length
    ? rows.map((row) => h('tr', opts.rowAttrs ? opts.rowAttrs(row) : null,
      columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.render ? c.render(row) : row[c.key]))))
    : [h('tr', null, h('td', { colSpan: columns.length, class: 'empty' }, opts.empty || 'Nothing here yet.'))];
  return h('table', { class: ['table', opts.class], 'aria-label': opts.caption ? null : (opts.label || null) },
    opts.caption ? h('caption', null, opts.caption) : null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
    h('tbody', null, body));
}

// field is a label and a control bound with for/id. inputAttrs.type may be
// 'textarea' or 'select' (with options: [{value, label}] or strings).
// The wrapper's .input is the control.
export function field(label, inputAttrs = {}) {
  const { type = 'text', options, hint, ...rest } = inputAttrs;
  const id = rest.id || uid('field');
  const hintId = hint ? `${id}-hint` : null;
  let control;
  if (type === 'textarea') {
    control = h('textarea', { ...rest, id, 'aria-describedby': hintId });
  } else if (type === 'select') {
    control = h('select', { ...rest, id, 'aria-describedby': hintId },
      (options || []).map((o) => (typeof o === 'string' ? h('option', { value: o }, o) : h('option', { value: o.value, selected: o.selected }, o.label))));
    if (rest.value !== undefined) control.value = rest.value;
  } else {
    control = h('input', { ...rest, id, type, 'aria-describedby': hintId });
  }
  const check = type === 'checkbox' || type === 'radio';
  const wrap = h('div', { class: ['field', check ? 'field-check' : ''] },
    check ? [control, h('label', { for: id }, label)] : [h('label', { for: id }, label), control],
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null);
  wrap.input = control;
  return wrap;
}

export const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Negligible', 'Unknown'];

// severityBadge is a colour-coded severity label.
export function severityBadge(sev, count) {
  const s = SEVERITIES.includes(sev) ? sev : 'Unknown';
  return h('span', { class: ['badge', `sev-${s.toLowerCase()}`] }, count === undefined ? s : `${count} ${s}`);
}

// formatBytes renders a size in binary units.
export function formatBytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// toDate accepts Unix seconds or milliseconds, ISO or RFC 2822 strings.
export function toDate(v) {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) return v;
  if (typeof v === 'number' || /^\d+$/.test(String(v))) {
    const n = Number(v);
    return new Date(n < 1e12 ? n * 1000 : n);
  }
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

// formatTime renders a time as "2006-01-02 15:04 UTC" inside a <time>.
export function formatTime(v) {
  const d = toDate(v);
  if (!d) return '—';
  const p = (n) => String(n).padStart(2, '0');
  const text = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
  return h('time', { datetime: d.toISOString() }, text);
}

// shortDigest shortens sha256:abcdef… to sha256:abcdef012345.
export function shortDigest(d) {
  const s = String(d || '');
  const i = s.indexOf(':');
  return i < 0 ? s.slice(0, 12) : s.slice(0, i + 13);
}

// spinner is a polite loading message.
export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

// errorBox shows an error message.
export function errorBox(err) {
  return h('div', { class: 'alert alert-error', role: 'alert' }, err && err.message ? err.message : String(err));
}
