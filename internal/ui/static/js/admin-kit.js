// Small building blocks shared by the administration pages (organization,
// repository settings, superuser panel). Everything is built with DOM APIs
// through h(); data is only ever placed in text nodes or attributes.

import { h, clear, dialog, uid } from './dom.js';
import { api, ApiError } from './api.js';

export { uid };

// enc encodes one path segment.
export const enc = (s) => encodeURIComponent(s);

// repoPath encodes a repository name segment by segment, keeping its slashes.
export const repoPath = (full) => full.split('/').map(enc).join('/');

// labeled wraps a control with a <label for> (the control gets an id).
export function labeled(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, ...parts);
}

// input builds an <input> with a label.
export function input(label, attrs = {}, hint) {
  const el = h('input', { type: 'text', ...attrs });
  return { el, row: labeled(label, el, hint) };
}

// select builds a <select> of [value, text] options with a label.
export function select(label, options, value, attrs = {}) {
  const el = h('select', attrs,
    ...options.map(([v, t]) => h('option', { value: v }, t)));
  if (value !== undefined) el.value = value;
  return { el, row: labeled(label, el) };
}

// checkbox builds a labelled checkbox.
export function checkbox(label, checked, attrs = {}) {
  const el = h('input', { type: 'checkbox', ...attrs });
  el.checked = !!checked;
  if (!el.id) el.id = uid('c');
  return { el, row: h('div', { class: 'field field-check' }, el, h('label', { for: el.id }, label)) };
}

// button builds a button; kind is '', 'primary' or 'danger'.
export function button(text, onclick, kind = '', attrs = {}) {
  const cls = ['btn', kind ? `btn-${kind}` : ''].filter(Boolean).join(' ');
  return h('button', { type: 'button', class: cls, onclick, ...attrs }, text);
}

// form builds a <form> whose submit runs handler (errors become toasts).
export function form(ctx, label, handler, ...children) {
  const f = h('form', { class: 'admin-form', 'aria-label': label }, ...children);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const submit = f.querySelector('[type=submit]');
    if (submit) submit.disabled = true;
    try {
      await handler(f);
    } catch (err) {
      report(ctx, err);
    } finally {
      if (submit) submit.disabled = false;
    }
  });
  return f;
}

// submit is a form's submit button.
export function submit(text, attrs = {}) {
  return h('button', { type: 'submit', class: 'btn btn-primary', ...attrs }, text);
}

// report shows an error as a toast.
export function report(ctx, err) {
  const msg = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  if (ctx && ctx.toast) ctx.toast(msg, 'error');
}

// section is a titled region of a page.
export function section(title, ...children) {
  const hid = uid('s');
  return h('section', { class: 'admin-section', 'aria-labelledby': hid },
    h('h2', { id: hid }, title), ...children);
}

// simpleTable builds an accessible table: columns are header strings, rows
// are arrays of cells (strings or nodes).
export function simpleTable(caption, columns, rows, attrs = {}) {
  if (!rows.length) {
    return h('p', { class: 'empty', ...attrs }, `No ${caption.toLowerCase()}.`);
  }
  return h('table', { class: 'table', ...attrs },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c == null ? '' : c))))));
}

// confirmAction asks before a destructive action; onConfirm runs when
// confirmed (an error it throws is shown in the dialog).
export function confirmAction(title, message, confirmText, onConfirm) {
  return modal(title, h('p', {}, message), [
    { label: confirmText, kind: 'danger', onclick: onConfirm },
  ], 'Cancel');
}

// modal opens an accessible dialog (dom.js) with a Close/Cancel action
// last. Each action is {label, kind, onclick}; an onclick resolving to
// false keeps the dialog open, one that throws shows its error in the
// dialog. It returns dom.js's {el, close, closed}.
export function modal(title, body, actions = [], closeText = 'Close') {
  return dialog(title, body, [
    ...actions.map((a) => ({ label: a.label, kind: a.kind || 'primary', onClick: a.onclick })),
    { label: closeText },
  ]);
}

// tabs renders a keyboard-navigable tab list. items are {id, label,
// render(panel)}; the selected tab is kept in the URL's ?tab= query.
export function tabs(label, items, selected, onSelect) {
  const list = h('div', { role: 'tablist', 'aria-label': label, class: 'tabs' });
  const panelID = uid('tabpanel');
  const panel = h('div', { role: 'tabpanel', class: 'tab-panel', tabindex: '0', id: panelID });
  let current = 0;
  const btns = items.map((it) => {
    const b = h('button', {
      type: 'button', role: 'tab', id: `tab-${it.id}`, class: 'tab',
      'aria-controls': panelID, 'data-tab': it.id,
    }, it.label);
    b.addEventListener('click', () => choose(it.id, true));
    b.addEventListener('keydown', (ev) => {
      const i = items.findIndex((x) => x.id === it.id);
      let j = -1;
      if (ev.key === 'ArrowRight') j = (i + 1) % items.length;
      if (ev.key === 'ArrowLeft') j = (i - 1 + items.length) % items.length;
      if (ev.key === 'Home') j = 0;
      if (ev.key === 'End') j = items.length - 1;
      if (j >= 0) {
        ev.preventDefault();
        choose(items[j].id, true);
        btns[j].focus();
      }
    });
    list.append(b);
    return b;
  });
  async function choose(id, user) {
    const it = items.find((x) => x.id === id) || items[0];
    current += 1;
    const mine = current;
    btns.forEach((b) => {
      const on = b.dataset.tab === it.id;
      b.setAttribute('aria-selected', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
    });
    panel.setAttribute('aria-labelledby', `tab-${it.id}`);
    if (user && onSelect) onSelect(it.id);
    clear(panel);
    panel.append(h('p', { class: 'loading', role: 'status' }, 'Loading…'));
    const node = h('div', { class: 'tab-body' });
    try {
      await it.render(node);
    } catch (err) {
      clear(node);
      node.append(errorBox(err));
    }
    if (mine !== current) return; // another tab was chosen meanwhile
    clear(panel);
    panel.append(node);
  }
  choose(selected, false);
  return { node: h('div', { class: 'tabs-wrap' }, list, panel), choose };
}

// errorBox shows a failed load.
export function errorBox(err) {
  const msg = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  return h('div', { class: 'alert alert-error', role: 'alert' }, msg);
}

// optional calls the API and returns null when the endpoint answers 404
// (a feature that is off or not built into this server).
export async function optional(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 501)) return null;
    throw err;
  }
}

// roleOptions are the repository roles.
export const roleOptions = [['read', 'Read'], ['write', 'Write'], ['admin', 'Admin']];

// roleSelect is a labelled read/write/admin selector.
export function roleSelect(label, value, attrs = {}) {
  return select(label, roleOptions, value, attrs);
}

// inlineSelect is a compact <select> for table cells, named by aria-label.
export function inlineSelect(label, options, value) {
  const el = h('select', { class: 'inline', 'aria-label': label },
    ...options.map(([v, t]) => h('option', { value: v }, t)));
  if (value !== undefined) el.value = value;
  return el;
}

// queryParam reads one parameter of the current URL.
export function queryParam(name) {
  return new URLSearchParams(window.location.search).get(name);
}

// setQueryParam replaces one parameter of the current URL without navigating.
export function setQueryParam(name, value) {
  const u = new URL(window.location.href);
  if (value === null || value === undefined || value === '') u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  window.history.replaceState(window.history.state, '', u.pathname + u.search + u.hash);
}

// b64 base64-encodes a Unicode string.
export function b64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin);
}

// registryHost is the host clients push to: SERVER_HOSTNAME when the
// server has one, else this page's host.
export function registryHost(ctx) {
  return (ctx && ctx.config && ctx.config.server_hostname) || window.location.host;
}

// refocus moves the focus to the element named label (after a re-render
// replaced the one that had it).
export function refocus(label) {
  const el = document.querySelector(`[aria-label="${CSS.escape(label)}"]`);
  if (el) el.focus();
}
