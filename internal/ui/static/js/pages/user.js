// The signed-in user's settings: account, organizations, application
// tokens (for docker/podman logins without the password), robot accounts
// of the user's namespace, auto-prune
// policies of the user's namespace and usage logs.

import { h, clear, formatTime, copyButton } from '../dom.js';
import { api } from '../api.js';
import {
  enc, input, form, submit, button, section, simpleTable, tabs, queryParam,
  setQueryParam, confirmAction, modal, registryHost, optional,
} from '../admin-kit.js';
import { renderAutoprune, usageBar } from './org-policies.js';
import { renderLogs } from './org-logs.js';
import { renderRobots } from './org-robots.js';

// storageSection shows the storage used by the user's namespace against
// its quota (set by a superuser, or the registry's default).
async function storageSection(username) {
  const usage = await optional('GET', `/ui/namespace/${enc(username)}/usage`);
  const quotas = (await optional('GET', '/user/quota')) || [];
  const q = quotas[0];
  const parts = [h('div', { 'data-test': 'user-usage' },
    usageBar((usage && usage.quota_bytes) || 0, (usage && usage.configured_quota) || 0))];
  if (q && q.default_config) parts.push(h('p', { class: 'hint' }, 'This is the registry\'s default quota.'));
  if (q && (q.limits || []).length) {
    parts.push(simpleTable('Quota limits', ['Kind', 'Threshold'], q.limits.map((l) => [l.type, `${l.limit_percent}%`]), { 'data-test': 'user-quota-limits' }));
  }
  parts.push(h('p', { class: 'hint' }, 'Quotas are set by a superuser.'));
  return section('Storage', ...parts);
}

async function renderAccount(root, ctx) {
  const u = ctx.user;
  const orgRows = (u.organizations || []).map((o) => [
    h('a', { href: `/organization/${enc(o.name)}` }, o.name),
    o.is_org_admin ? 'Administrator' : 'Member',
  ]);
  root.append(section('Account',
    h('dl', { class: 'facts', 'data-test': 'account' },
      h('dt', {}, 'Username'), h('dd', { class: 'mono' }, u.username),
      h('dt', {}, 'E-mail'), h('dd', {}, u.email || '—'),
      h('dt', {}, 'Role'), h('dd', {}, u.super_user ? 'Superuser' : 'User'))),
  await storageSection(u.username),
  section('Organizations',
    simpleTable('Organizations', ['Organization', 'Your role'], orgRows),
    h('p', {}, h('a', { href: '/organization' }, 'Create an organization'))));
}

async function renderTokens(root, ctx) {
  const res = await optional('GET', '/user/apptoken');
  if (!res) {
    root.append(section('Application tokens', h('p', {}, 'Application tokens are not enabled on this registry.')));
    return;
  }
  const reload = async () => { clear(root); await renderTokens(root, ctx); };
  const rows = (res.tokens || []).map((t) => [
    t.title,
    t.created ? formatTime(t.created) : '',
    t.last_accessed ? formatTime(t.last_accessed) : 'Never',
    t.expiration ? formatTime(t.expiration) : 'Never',
    button('Revoke', () => confirmAction(`Revoke ${t.title}?`, 'Clients using this token can no longer log in with it.', 'Revoke token', async () => {
      await api('DELETE', `/user/apptoken/${enc(t.uuid)}`);
      await reload();
    }), 'danger', { 'aria-label': `Revoke token ${t.title}` }),
  ]);
  const title = input('Token title', { required: true, maxLength: 255, autocomplete: 'off' });
  root.append(section('Application tokens',
    h('p', {}, 'Use an application token as the password of docker, podman or other clients (the username is $app).'),
    simpleTable('Application tokens', ['Title', 'Created', 'Last used', 'Expires', ''], rows, { 'data-test': 'app-tokens' }),
    form(ctx, 'Create an application token', async () => {
      const v = await api('POST', '/user/apptoken', { title: title.el.value.trim() });
      await reload();
      const code = v.token.token_code;
      const line = `docker login -u='$app' -p='${code}' ${registryHost(ctx)}`;
      modal(`Token ${v.token.title}`, h('div', {},
        h('p', {}, 'Copy the token now: it is shown only once.'),
        h('div', { class: 'credential' },
          h('div', { class: 'credential-head' }, h('span', {}, 'Token'), copyButton(code, 'Copy token')),
          h('pre', { class: 'code', tabindex: '0' }, code)),
        h('div', { class: 'credential' },
          h('div', { class: 'credential-head' }, h('span', {}, 'Docker login'), copyButton(line, 'Copy docker login')),
          h('pre', { class: 'code', tabindex: '0' }, line))));
    }, h('div', { class: 'form-row' }, title.row, submit('Create token')))));
}

export async function render(root, params, ctx) {
  const name = params.name;
  if (!ctx.user || ctx.user.username !== name) {
    root.append(h('h1', {}, name), h('p', {}, 'Only the user can see their settings.'));
    return;
  }
  root.append(h('div', { class: 'page-head' }, h('h1', {}, name), h('p', { class: 'subtitle' }, 'Your account')));
  const items = [
    { id: 'account', label: 'Account', render: (n) => renderAccount(n, ctx) },
    { id: 'tokens', label: 'Application tokens', render: (n) => renderTokens(n, ctx) },
    { id: 'robots', label: 'Robot accounts', render: (n) => renderRobots(n, ctx, name, { user_namespace: true, is_admin: true }) },
    { id: 'policies', label: 'Auto-prune', render: (n) => renderAutoprune(n, ctx, '/user') },
    { id: 'logs', label: 'Usage logs', render: (n) => renderLogs(n, ctx, '/user') },
  ];
  const t = tabs(`Settings of ${name}`, items, queryParam('tab') || 'account', (id) => setQueryParam('tab', id));
  root.append(t.node);
}
