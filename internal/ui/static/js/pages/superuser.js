// The superuser panel: users, organizations, the registry's read-only
// switch, storage usage and background jobs.

import { h, clear, formatBytes, formatTime, copyButton } from '../dom.js';
import { api } from '../api.js';
import {
  enc, input, form, submit, button, report, section, simpleTable, tabs,
  queryParam, setQueryParam, confirmAction, modal, optional,
} from '../admin-kit.js';
import { usageBar } from './org-policies.js';
import { renderLogs } from './org-logs.js';

// quotaDialog shows a user namespace's storage use and sets, changes or
// removes its quota (Quay's /superuser/users/{namespace}/quota).
async function quotaDialog(ctx, username) {
  const base = `/superuser/users/${enc(username)}/quota`;
  const [usage, quotas] = await Promise.all([api('GET', `/ui/namespace/${enc(username)}/usage`), api('GET', base)]);
  const q = (quotas || []).find((x) => x.id !== null && x.id !== undefined);
  const limit = input(`Quota of ${username}`, { required: true, placeholder: '10 GiB', autocomplete: 'off' }, 'A size such as 500 MiB or 10 GiB.');
  limit.el.value = q ? q.limit : '';
  const body = h('div', { 'data-test': 'su-user-quota' },
    usageBar(usage.quota_bytes || 0, usage.configured_quota || 0),
    q ? simpleTable('Quota limits', ['Kind', 'Threshold'], (q.limits || []).map((l) => [l.type, `${l.limit_percent}%`])) : h('p', { class: 'hint' }, 'No quota of its own.'),
    limit.row);
  const actions = [{
    label: 'Save quota',
    onclick: async () => {
      const v = limit.el.value.trim();
      if (!v) throw new Error('Enter a size such as 10 GiB.');
      if (q) await api('PUT', `${base}/${q.id}`, { limit: v });
      else await api('POST', base, { limit: v });
      ctx.toast(`Quota of ${username} saved`, 'success');
    },
  }];
  if (q) {
    actions.push({
      label: 'Remove quota',
      kind: 'danger',
      onclick: async () => {
        await api('DELETE', `${base}/${q.id}`);
        ctx.toast(`Quota of ${username} removed`, 'success');
      },
    });
  }
  modal(`Storage quota of ${username}`, body, actions);
}

async function renderUsers(root, ctx) {
  const res = await api('GET', '/superuser/users/');
  const reload = async () => { clear(root); await renderUsers(root, ctx); };
  const rows = (res.users || []).map((u) => {
    const self = ctx.user && ctx.user.username === u.username;
    const actions = h('div', { class: 'actions' });
    actions.append(button('Quota', () => quotaDialog(ctx, u.username).catch((err) => report(ctx, err)), '', { 'aria-label': `Quota of ${u.username}` }));
    if (!self) {
      actions.append(
        button(u.enabled ? 'Disable' : 'Enable', async () => {
          try {
            await api('PUT', `/superuser/users/${enc(u.username)}`, { enabled: !u.enabled });
            ctx.toast(`${u.username} ${u.enabled ? 'disabled' : 'enabled'}`, 'success');
            await reload();
          } catch (err) { report(ctx, err); }
        }, '', { 'aria-label': `${u.enabled ? 'Disable' : 'Enable'} ${u.username}` }),
        button('Delete', () => confirmAction(`Delete ${u.username}?`, 'The user, their namespace and its repositories are deleted.', 'Delete user', async () => {
          await api('DELETE', `/superuser/users/${enc(u.username)}`);
          await reload();
        }), 'danger', { 'aria-label': `Delete ${u.username}` }));
    }
    return [h('span', { class: 'mono' }, u.username), u.email || '', u.super_user ? 'Superuser' : '',
      u.enabled ? 'Enabled' : 'Disabled', u.last_accessed ? formatTime(u.last_accessed) : 'Never', actions];
  });
  const name = input('Username', { required: true, autocomplete: 'off' });
  const email = input('E-mail (optional)', { type: 'email', autocomplete: 'off' });
  root.append(section('Users',
    simpleTable('Users', ['User', 'E-mail', 'Role', 'Status', 'Last seen', 'Actions'], rows, { 'data-test': 'su-users' }),
    form(ctx, 'Create user', async () => {
      const body = { username: name.el.value.trim() };
      if (email.el.value.trim()) body.email = email.el.value.trim();
      const v = await api('POST', '/superuser/users/', body);
      await reload();
      modal(`Created ${v.username}`, h('div', {},
        h('p', {}, 'Give this temporary password to the user. It is shown only once.'),
        h('div', { class: 'credential' },
          h('pre', { class: 'code', 'data-test': 'new-user-password', tabindex: '0' }, v.password),
          copyButton(v.password, 'Copy password'))));
    }, h('h3', {}, 'Create user'), h('div', { class: 'form-row' }, name.row, email.row, submit('Create user')))));
}

async function renderOrganizations(root, ctx) {
  const res = await api('GET', '/superuser/organizations/');
  const reload = async () => { clear(root); await renderOrganizations(root, ctx); };
  const rows = (res.organizations || []).map((o) => {
    const qr = o.quota_report || {};
    return [
      h('a', { href: `/organization/${enc(o.name)}` }, o.name),
      o.email || '',
      String(o.repositories),
      usageBar(qr.quota_bytes || 0, qr.configured_quota || 0),
      button('Delete', () => confirmAction(`Delete ${o.name}?`, 'Every repository, team and robot of the organization is deleted.', 'Delete organization', async () => {
        await api('DELETE', `/superuser/organizations/${enc(o.name)}`);
        await reload();
      }), 'danger', { 'aria-label': `Delete organization ${o.name}` }),
    ];
  });
  root.append(section('Organizations',
    simpleTable('Organizations', ['Organization', 'E-mail', 'Repositories', 'Storage', ''], rows, { 'data-test': 'su-orgs' })));
}

async function renderRegistryState(root, ctx) {
  const st = await api('GET', '/superuser/registrystate');
  const reload = async () => { clear(root); await renderRegistryState(root, ctx); };
  const readOnly = st.state === 'readonly';
  const parts = [
    h('p', {}, 'The registry is ', h('strong', { 'data-test': 'registry-state' }, readOnly ? 'read-only' : 'accepting writes'), '.'),
  ];
  if (st.config_state === 'readonly') {
    parts.push(h('p', { class: 'hint' }, 'REGISTRY_STATE in the configuration makes it read-only; the switch cannot undo that.'));
  }
  const toggle = h('input', { type: 'checkbox', id: 'registry-readonly', role: 'switch', checked: st.switch_state === 'readonly' });
  toggle.setAttribute('aria-checked', st.switch_state === 'readonly' ? 'true' : 'false');
  toggle.addEventListener('change', async () => {
    try {
      await api('PUT', '/superuser/registrystate', { state: toggle.checked ? 'readonly' : 'normal' });
      ctx.toast(toggle.checked ? 'The registry is now read-only' : 'The registry accepts writes again', 'success');
      await reload();
    } catch (err) {
      report(ctx, err);
      toggle.checked = !toggle.checked;
    }
  });
  parts.push(h('div', { class: 'field field-check' }, toggle,
    h('label', { for: 'registry-readonly' }, 'Read-only: refuse pushes and every API change (maintenance, migrations)')));
  root.append(section('Registry state', ...parts));
}

async function renderStorage(root) {
  const [s, repl] = await Promise.all([api('GET', '/superuser/registrysize/'), optional('GET', '/superuser/storage/replication')]);
  const rows = (s.namespaces || []).filter((n) => n.repositories > 0 || n.quota_bytes > 0)
    .sort((a, b) => b.quota_bytes - a.quota_bytes)
    .map((n) => [n.name, n.kind === 'org' ? 'Organization' : 'User', String(n.repositories),
      formatBytes(n.quota_bytes), n.configured_quota ? formatBytes(n.configured_quota) : '—']);
  root.append(section('Storage',
    h('dl', { class: 'facts', 'data-test': 'su-storage' },
      h('dt', {}, 'Stored blobs'), h('dd', {}, `${s.blobs} (${formatBytes(s.size_bytes)})`),
      h('dt', {}, 'Repositories'), h('dd', {}, String(s.repositories)),
      h('dt', {}, 'Manifests'), h('dd', {}, String(s.manifests)),
      h('dt', {}, 'Tags'), h('dd', {}, String(s.tags))),
    h('h3', {}, 'Usage by namespace'),
    simpleTable('Namespaces', ['Namespace', 'Kind', 'Repositories', 'Used', 'Quota'], rows),
    h('p', { class: 'hint' }, 'Blobs shared by several namespaces count once in the total and once in each namespace.')));
  if (repl) {
    const locRows = (repl.locations || []).map((l) => [
      h('span', { class: 'mono' }, l.name),
      [l.name === repl.preferred_location ? 'This node' : '', l.default ? 'Default' : '', l.configured ? '' : 'Not configured']
        .filter(Boolean).join(', '),
      String(l.present), String(l.pending), String(l.failed), String(l.deleting),
    ]);
    root.append(section('Storage replication',
      h('p', {}, `${repl.blobs} blobs; replicated by default to ${(repl.default_locations || []).join(', ') || 'no location'}.`),
      simpleTable('Storage locations', ['Location', 'Role', 'Present', 'Pending', 'Failed', 'Deleting'], locRows, { 'data-test': 'su-replication' })));
  }
}

async function renderJobs(root) {
  const j = await optional('GET', '/superuser/jobs');
  if (!j) {
    root.append(section('Background jobs', h('p', {}, 'Job statistics are not available on this server.')));
    return;
  }
  const order = ['available', 'scheduled', 'running', 'retryable', 'pending', 'completed', 'discarded', 'cancelled'];
  const states = Object.keys(j.states || {}).sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  root.append(section('Background jobs',
    simpleTable('Jobs by state', ['State', 'Jobs'], states.map((s) => [s, String(j.states[s])]), { 'data-test': 'su-jobs' }),
    h('p', { class: 'hint' }, 'Completed and cancelled jobs are kept for a day, discarded ones for a week.')));
}

export async function render(root, params, ctx) {
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Superuser panel')));
  if (!ctx.user || !ctx.user.super_user) {
    root.append(h('p', { role: 'alert' }, 'Only superusers may open this page.'));
    return;
  }
  const items = [
    { id: 'users', label: 'Users', render: (n) => renderUsers(n, ctx) },
    { id: 'organizations', label: 'Organizations', render: (n) => renderOrganizations(n, ctx) },
    { id: 'state', label: 'Registry state', render: (n) => renderRegistryState(n, ctx) },
    { id: 'storage', label: 'Storage', render: (n) => renderStorage(n, ctx) },
    { id: 'jobs', label: 'Jobs', render: (n) => renderJobs(n, ctx) },
    { id: 'logs', label: 'Usage logs', render: (n) => renderLogs(n, ctx, '/superuser') },
  ];
  const t = tabs('Superuser panel', items, queryParam('tab') || 'users', (id) => setQueryParam('tab', id));
  root.append(t.node);
}
