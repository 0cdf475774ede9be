// The organization page: teams and members, robot accounts, default
// permissions, quota and usage, auto-prune and immutability policies, usage
// logs and settings. Tabs are kept in ?tab= so a tab can be linked.

import { h, clear } from '../dom.js';
import { api } from '../api.js';
import {
  enc, input, form, submit, button, section, simpleTable, tabs,
  queryParam, setQueryParam, confirmAction, errorBox, select,
} from '../admin-kit.js';
import { renderRobots } from './org-robots.js';
import { renderTeams, renderDefaultPermissions } from './org-teams.js';
import { renderQuota, renderAutoprune, renderImmutability } from './org-policies.js';
import { renderLogs } from './org-logs.js';

// renderRepositories lists the organization's repositories.
async function renderRepositories(root, ctx, org) {
  const res = await api('GET', `/repository?namespace=${enc(org)}`);
  const rows = (res.repositories || []).map((r) => {
    const full = `${r.namespace}/${r.name}`;
    return [
      h('a', { href: `/repository/${full}` }, r.name),
      r.is_public ? 'Public' : 'Private',
      r.state && r.state !== 'NORMAL' ? r.state : '',
      h('a', { href: `/repository/${full}/settings`, 'aria-label': `Settings of ${full}` }, 'Settings'),
    ];
  });
  root.append(section('Repositories',
    simpleTable('Repositories', ['Repository', 'Visibility', 'State', ''], rows, { 'data-test': 'org-repos' })));
}

// formatWindow names a time-machine window given in seconds.
export function formatWindow(seconds) {
  const n = Number(seconds);
  if (!n) return 'None';
  const units = [[604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [size, name] of units) {
    if (n % size === 0) {
      const k = n / size;
      return `${k} ${name}${k === 1 ? '' : 's'}`;
    }
  }
  return `${n} seconds`;
}

// renderSettings edits the organization's e-mail and time-machine window and
// deletes it.
async function renderSettings(root, ctx, org, orgView) {
  const email = input('Contact e-mail', { type: 'email', autocomplete: 'email' });
  email.el.value = orgView.email || '';
  // The server's TAG_EXPIRATION_OPTIONS, plus the current window when an
  // option was removed from the configuration since it was chosen.
  const options = (ctx.config && ctx.config.tag_expiration_options) || [0, 86400, 604800, 1209600, 2419200];
  const windows = options.map((v) => [v, formatWindow(v)]);
  if (!windows.some(([v]) => v === orgView.tag_expiration_s) && orgView.tag_expiration_s !== undefined) {
    windows.push([orgView.tag_expiration_s, `${formatWindow(orgView.tag_expiration_s)} (no longer offered)`]);
  }
  const tm = select('Time machine (how long deleted tags stay restorable)', windows.map(([v, t]) => [String(v), t]), String(orgView.tag_expiration_s));
  root.append(section('Settings',
    form(ctx, 'Organization settings', async () => {
      await api('PUT', `/organization/${enc(org)}`, { email: email.el.value.trim(), tag_expiration_s: Number(tm.el.value) });
      ctx.toast('Settings saved', 'success');
    }, email.row, tm.row, submit('Save settings'))));
  root.append(section('Delete organization',
    h('p', {}, 'Deleting the organization deletes its repositories, teams and robot accounts. This cannot be undone.'),
    button('Delete organization', () => confirmAction(`Delete ${org}?`, `Every repository of ${org} is deleted.`, 'Delete organization', async () => {
      await api('DELETE', `/organization/${enc(org)}`);
      ctx.toast(`Deleted ${org}`, 'success');
      ctx.navigate('/');
    }), 'danger')));
}

export async function render(root, params, ctx) {
  const org = params.name;
  clear(root);
  let view;
  try {
    view = await api('GET', `/organization/${enc(org)}`);
  } catch (err) {
    root.append(h('h1', {}, org), errorBox(err));
    return;
  }
  document.title = `${org} · Wharf`;
  root.append(h('div', { class: 'page-head' },
    h('h1', { 'data-test': 'org-name' }, view.name),
    h('p', { class: 'subtitle' }, view.is_admin ? 'Organization · you are an administrator' : (view.is_member ? 'Organization · member' : 'Organization'))));
  if (!view.is_member) {
    const host = h('div', {});
    root.append(host);
    await renderRepositories(host, ctx, org).catch((err) => host.append(errorBox(err)));
    return;
  }
  const items = [
    { id: 'repositories', label: 'Repositories', render: (n) => renderRepositories(n, ctx, org) },
    { id: 'teams', label: 'Teams and members', render: (n) => renderTeams(n, ctx, org, view) },
    { id: 'robots', label: 'Robot accounts', render: (n) => renderRobots(n, ctx, org, view) },
  ];
  if (view.is_admin) {
    items.push(
      { id: 'defaults', label: 'Default permissions', render: (n) => renderDefaultPermissions(n, ctx, org, view) },
      { id: 'quota', label: 'Quota', render: (n) => renderQuota(n, ctx, org, view) },
      {
        id: 'policies',
        label: 'Policies',
        render: async (n) => {
          const a = h('div', {});
          const b = h('div', {});
          n.append(a, b);
          await Promise.all([renderAutoprune(a, ctx, `/organization/${enc(org)}`), renderImmutability(b, ctx, `/organization/${enc(org)}`)]);
        },
      },
      { id: 'logs', label: 'Usage logs', render: (n) => renderLogs(n, ctx, `/organization/${enc(org)}`) },
      { id: 'settings', label: 'Settings', render: (n) => renderSettings(n, ctx, org, view) },
    );
  } else {
    items.push({ id: 'quota', label: 'Quota', render: (n) => renderQuota(n, ctx, org, view) });
  }
  const t = tabs(`Organization ${org}`, items, queryParam('tab') || 'repositories', (id) => setQueryParam('tab', id));
  root.append(t.node);
}
