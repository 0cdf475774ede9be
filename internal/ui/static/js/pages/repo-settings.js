// Repository settings: permissions of users, robots and teams;
// notifications (event, method, minimum severity, test); mirroring
// configuration and status; repository state; auto-prune and immutability
// policies; usage logs.

import { h, clear, formatTime } from '../dom.js';
import { api } from '../api.js';
import {
  enc, repoPath, input, select, checkbox, form, submit, button, report,
  section, simpleTable, tabs, queryParam, setQueryParam, roleSelect,
  confirmAction, optional, errorBox, inlineSelect, roleOptions,
} from '../admin-kit.js';
import { renderAutoprune, renderImmutability } from './org-policies.js';
import { renderLogs } from './org-logs.js';

// renderState switches the repository between NORMAL, READ_ONLY and MIRROR.
async function renderState(root, ctx, repo, info) {
  const state = select('Repository state', [
    ['NORMAL', 'Normal: pushes allowed'],
    ['READ_ONLY', 'Read-only: no pushes, no tag changes'],
    ['MIRROR', 'Mirror: only the mirroring robot pushes'],
  ], info.state || 'NORMAL');
  root.append(section('Repository state',
    h('p', {}, 'Current state: ', h('strong', { 'data-test': 'repo-state' }, info.state || 'NORMAL')),
    form(ctx, 'Change the repository state', async () => {
      await api('PUT', `/repository/${repoPath(repo)}/changestate`, { state: state.el.value });
      ctx.toast(`Repository is now ${state.el.value}`, 'success');
      clear(root);
      await renderState(root, ctx, repo, { ...info, state: state.el.value });
    }, h('div', { class: 'form-row' }, state.row, submit('Change state')))));
}

// renderPermissions lists and edits the roles of users, robots and teams.
async function renderPermissions(root, ctx, repo, info) {
  const base = `/repository/${repoPath(repo)}/permissions`;
  const [users, teams] = await Promise.all([api('GET', `${base}/user/`), api('GET', `${base}/team/`)]);
  const reload = async () => { clear(root); await renderPermissions(root, ctx, repo, info); };
  const row = (kind, name, p, label) => {
    const role = { el: inlineSelect(`Role of ${name}`, roleOptions, p.role) };
    role.el.addEventListener('change', async () => {
      try {
        await api('PUT', `${base}/${kind}/${enc(name)}`, { role: role.el.value });
        ctx.toast(`${name} now has ${role.el.value}`, 'success');
      } catch (err) {
        report(ctx, err);
        role.el.value = p.role;
      }
    });
    return [h('span', { class: 'mono' }, name), label, role.el,
      button('Remove', () => confirmAction(`Remove the role of ${name}?`, `${name} loses its direct role on ${repo}.`, 'Remove', async () => {
        await api('DELETE', `${base}/${kind}/${enc(name)}`);
        await reload();
      }), 'danger', { 'aria-label': `Remove permission of ${name}` })];
  };
  const rows = [
    ...Object.values(users.permissions || {}).map((p) => row('user', p.name, p, p.is_robot ? 'Robot' : 'User')),
    ...Object.values(teams.permissions || {}).map((p) => row('team', p.name, p, 'Team')),
  ];
  const kind = select('Grant to', [['user', 'User or robot'], ['team', 'Team']], 'user');
  const who = input('Name', { required: true, autocomplete: 'off', placeholder: `username, ${info.namespace}+robot or team` });
  const role = roleSelect('Role', 'read');
  root.append(section('Permissions',
    simpleTable('Permissions', ['Name', 'Kind', 'Role', ''], rows, { 'data-test': 'repo-permissions' }),
    form(ctx, 'Add a permission', async () => {
      const name = who.el.value.trim();
      await api('PUT', `${base}/${kind.el.value}/${enc(name)}`, { role: role.el.value });
      ctx.toast(`Granted ${role.el.value} to ${name}`, 'success');
      await reload();
    }, h('h3', {}, 'Add permission'), h('div', { class: 'form-row' }, kind.row, who.row, role.row, submit('Add permission')))));
}

const events = [
  ['repo_push', 'Push to repository'],
  ['vulnerability_found', 'Vulnerability found'],
  ['repo_image_expiry', 'Image expiring'],
  ['repo_mirror_sync_started', 'Mirror sync started'],
  ['repo_mirror_sync_success', 'Mirror sync succeeded'],
  ['repo_mirror_sync_failed', 'Mirror sync failed'],
  ['quota_warning', 'Quota warning'],
  ['quota_error', 'Quota exceeded'],
];
const methods = [
  ['webhook', 'Webhook POST'],
  ['slack', 'Slack'],
  ['email', 'E-mail'],
  ['quay_notification', 'In-app notification'],
];
// Quay's vulnerability priorities by index; the level is the least severe
// priority that notifies.
const severities = [['1', 'Critical'], ['2', 'High or worse'], ['3', 'Medium or worse'], ['4', 'Low or worse'], ['5', 'Negligible or worse'], ['6', 'Any (including Unknown)']];

function describeConfig(n) {
  const c = n.config || {};
  if (n.method === 'email') return c.email || '';
  if (n.method === 'quay_notification') return c.target ? `${c.target.kind} ${c.target.name}` : '';
  return c.url || '';
}

// renderNotifications lists, creates, tests and deletes notifications.
async function renderNotifications(root, ctx, repo, info) {
  const base = `/repository/${repoPath(repo)}/notification/`;
  const res = await optional('GET', base);
  if (!res) {
    root.append(section('Notifications', h('p', {}, 'Notifications are not enabled on this registry.')));
    return;
  }
  const reload = async () => { clear(root); await renderNotifications(root, ctx, repo, info); };
  const label = (list, v) => (list.find(([k]) => k === v) || [v, v])[1];
  const rows = (res.notifications || []).map((n) => {
    const actions = h('div', { class: 'actions' },
      button('Test', async () => {
        try {
          await api('POST', `${base}${enc(n.uuid)}/test`);
          ctx.toast(`Test notification queued for ${n.title || label(events, n.event)}`, 'success');
        } catch (err) { report(ctx, err); }
      }, '', { 'aria-label': `Test notification ${n.title || n.uuid}` }));
    if (n.number_of_failures > 0) {
      actions.append(button('Reset failures', async () => {
        try {
          await api('POST', `${base}${enc(n.uuid)}`);
          await reload();
        } catch (err) { report(ctx, err); }
      }, '', { 'aria-label': `Reset failures of ${n.title || n.uuid}` }));
    }
    actions.append(button('Delete', () => confirmAction('Delete this notification?', n.title || label(events, n.event), 'Delete notification', async () => {
      await api('DELETE', `${base}${enc(n.uuid)}`);
      await reload();
    }), 'danger', { 'aria-label': `Delete notification ${n.title || n.uuid}` }));
    const sev = n.event === 'vulnerability_found' && n.event_config && n.event_config.level !== undefined
      ? ` (${label(severities, String(n.event_config.level))})` : '';
    return [n.title || '', `${label(events, n.event)}${sev}`, label(methods, n.method), describeConfig(n),
      n.disabled ? `Disabled after ${n.number_of_failures} failures` : String(n.number_of_failures), actions];
  });

  const title = input('Title', { autocomplete: 'off' });
  const event = select('When this happens', events, 'repo_push');
  const level = select('Minimum severity', severities, '3');
  const days = input('Days before expiry', { type: 'number', min: 1, value: 7 });
  const method = select('Notify by', methods, 'webhook');
  const url = input('URL', { type: 'url', placeholder: 'https://example.com/hook' });
  const email = input('E-mail address', { type: 'email' });
  const targetKind = select('Notify', [['user', 'User'], ['team', 'Team'], ['org', 'Organization']], 'user');
  const targetName = input('User, team or organization name', { autocomplete: 'off' });
  const secret = input('Signing secret (optional, HMAC-SHA256)', { type: 'password', autocomplete: 'new-password' });
  const sync = () => {
    level.row.hidden = event.el.value !== 'vulnerability_found';
    days.row.hidden = event.el.value !== 'repo_image_expiry';
    const m = method.el.value;
    url.row.hidden = !(m === 'webhook' || m === 'slack');
    secret.row.hidden = m !== 'webhook';
    email.row.hidden = m !== 'email';
    targetKind.row.hidden = m !== 'quay_notification';
    targetName.row.hidden = m !== 'quay_notification';
  };
  event.el.addEventListener('change', sync);
  method.el.addEventListener('change', sync);
  sync();
  root.append(section('Notifications',
    simpleTable('Notifications', ['Title', 'Event', 'Method', 'Target', 'Failures', 'Actions'], rows, { 'data-test': 'notifications-table' }),
    form(ctx, 'Create a notification', async () => {
      const m = method.el.value;
      const config = {};
      if (m === 'webhook' || m === 'slack') config.url = url.el.value.trim();
      if (m === 'webhook' && secret.el.value) config.secret = secret.el.value;
      if (m === 'email') config.email = email.el.value.trim();
      if (m === 'quay_notification') config.target = { kind: targetKind.el.value, name: targetName.el.value.trim() };
      const eventConfig = {};
      if (event.el.value === 'vulnerability_found') eventConfig.level = Number(level.el.value);
      if (event.el.value === 'repo_image_expiry') eventConfig.days = Number(days.el.value);
      await api('POST', base, { title: title.el.value.trim(), event: event.el.value, method: m, config, eventConfig });
      ctx.toast('Notification created', 'success');
      await reload();
    }, h('h3', {}, 'Create notification'),
    h('div', { class: 'form-row' }, title.row, event.row, level.row, days.row),
    h('div', { class: 'form-row' }, method.row, url.row, secret.row, email.row, targetKind.row, targetName.row),
    submit('Create notification'))));
}

// toLocalInput formats a time for <input type=datetime-local> (UTC).
function toLocalInput(v) {
  const d = v ? new Date(v) : new Date();
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString().slice(0, 16);
}

// proxySummary describes a mirror's proxy settings in one line.
function proxySummary(p) {
  if (!p || (!p.http_proxy && !p.https_proxy)) return 'None';
  const parts = [];
  if (p.http_proxy) parts.push(`HTTP ${p.http_proxy}`);
  if (p.https_proxy) parts.push(`HTTPS ${p.https_proxy}`);
  if (p.no_proxy) parts.push(`except ${p.no_proxy}`);
  return parts.join(' · ');
}

// renderMirror shows and edits the repository's mirroring configuration.
async function renderMirror(root, ctx, repo, info) {
  const base = `/repository/${repoPath(repo)}/mirror`;
  let cfg = null;
  try {
    cfg = await api('GET', base);
  } catch (err) {
    if (err.status !== 404) throw err;
    if (/not enabled/i.test(err.message)) {
      root.append(section('Mirroring', h('p', { 'data-test': 'mirror-unavailable' }, 'Repository mirroring is not enabled on this registry.')));
      return;
    }
    // Otherwise: not configured yet.
  }
  const reload = async () => { clear(root); await renderMirror(root, ctx, repo, info); };
  const parts = [];
  if (info.state !== 'MIRROR') {
    parts.push(h('p', { class: 'hint' }, 'Mirroring runs only while the repository is in the MIRROR state (see the State tab).'));
  }
  if (cfg) {
    parts.push(h('dl', { class: 'facts', 'data-test': 'mirror-status' },
      h('dt', {}, 'Status'), h('dd', {}, cfg.sync_status || 'NEVER_RUN'),
      h('dt', {}, 'Enabled'), h('dd', {}, cfg.is_enabled ? 'Yes' : 'No'),
      h('dt', {}, 'Next sync'), h('dd', {}, cfg.sync_start_date ? formatTime(cfg.sync_start_date) : '—'),
      h('dt', {}, 'Sync deadline'), h('dd', {}, cfg.sync_expiration_date ? formatTime(cfg.sync_expiration_date) : '—'),
      h('dt', {}, 'Retries left'), h('dd', {}, cfg.sync_retries_remaining === undefined ? '—' : String(cfg.sync_retries_remaining)),
      h('dt', {}, 'Last sync'), h('dd', {}, cfg.last_sync_start ? formatTime(cfg.last_sync_start) : 'Never',
        cfg.last_sync_result ? ` · ${cfg.last_sync_result}` : '',
        cfg.tags_synced !== undefined && cfg.last_sync_start ? ` · ${cfg.tags_synced} tags synced, ${cfg.tags_failed || 0} failed` : ''),
      h('dt', {}, 'Architectures'), h('dd', { 'data-test': 'mirror-architectures' }, (cfg.architecture_filter || []).length ? cfg.architecture_filter.join(', ') : 'All'),
      h('dt', {}, 'Proxy'), h('dd', { 'data-test': 'mirror-proxy' }, proxySummary((cfg.external_registry_config || {}).proxy)),
      cfg.last_sync_error ? h('dt', {}, 'Last error') : null,
      cfg.last_sync_error ? h('dd', { class: 'mono' }, cfg.last_sync_error) : null),
    h('div', { class: 'actions' },
      button('Sync now', async () => {
        try {
          await api('POST', `${base}/sync-now`);
          ctx.toast('Sync requested', 'success');
          await reload();
        } catch (err) { report(ctx, err); }
      }),
      button('Cancel sync', async () => {
        try {
          await api('POST', `${base}/sync-cancel`);
          await reload();
        } catch (err) { report(ctx, err); }
      })));
  }
  const c = cfg || {};
  const ext = input('Source repository', { required: true, placeholder: 'quay.io/namespace/repository', autocomplete: 'off' });
  ext.el.value = c.external_reference || '';
  const tags = input('Tags to mirror (comma-separated globs)', { required: true, placeholder: 'latest, v*' });
  tags.el.value = c.root_rule && c.root_rule.rule_value ? c.root_rule.rule_value.join(', ') : '';
  const interval = input('Sync interval (seconds)', { type: 'number', min: 60, required: true });
  interval.el.value = String(c.sync_interval || 86400);
  const start = input('First sync (UTC)', { type: 'datetime-local', required: true });
  start.el.value = toLocalInput(c.sync_start_date);
  const robot = input('Robot that pushes', { required: true, placeholder: `${info.namespace}+mirror`, autocomplete: 'off' });
  robot.el.value = c.robot_username || '';
  const user = input('Source username (optional)', { autocomplete: 'off' });
  user.el.value = c.external_registry_username || '';
  const pass = input('Source password (optional; blank keeps the stored one)', { type: 'password', autocomplete: 'new-password' });
  const tlsCfg = c.external_registry_config || {};
  const verify = checkbox('Verify the source registry\'s TLS certificate', tlsCfg.verify_tls !== false);
  const arch = input('Architectures to mirror (comma-separated; empty: all)', { placeholder: 'amd64, arm64', autocomplete: 'off' },
    'Of a multi-architecture image, only these platforms are copied.');
  arch.el.value = (c.architecture_filter || []).join(', ');
  const proxy = tlsCfg.proxy || {};
  const httpProxy = input('HTTP proxy', { type: 'url', placeholder: 'http://proxy.example:3128', autocomplete: 'off' });
  httpProxy.el.value = proxy.http_proxy || '';
  const httpsProxy = input('HTTPS proxy', { type: 'url', placeholder: 'http://proxy.example:3128', autocomplete: 'off' });
  httpsProxy.el.value = proxy.https_proxy || '';
  const noProxy = input('No proxy for (comma-separated hosts)', { placeholder: 'localhost, .internal.example', autocomplete: 'off' });
  noProxy.el.value = proxy.no_proxy || '';
  const enabled = checkbox('Enabled', c.is_enabled !== false);
  parts.push(form(ctx, 'Mirroring configuration', async () => {
    const body = {
      external_reference: ext.el.value.trim(),
      root_rule: { rule_kind: 'tag_glob_csv', rule_value: tags.el.value.split(',').map((t) => t.trim()).filter(Boolean) },
      sync_interval: Number(interval.el.value),
      sync_start_date: `${start.el.value.length === 16 ? `${start.el.value}:00` : start.el.value}Z`,
      robot_username: robot.el.value.trim(),
      external_registry_username: user.el.value.trim() || null,
      external_registry_config: {
        verify_tls: verify.el.checked,
        proxy: { http_proxy: httpProxy.el.value.trim(), https_proxy: httpsProxy.el.value.trim(), no_proxy: noProxy.el.value.trim() },
      },
      architecture_filter: arch.el.value.split(',').map((a) => a.trim()).filter(Boolean),
      is_enabled: enabled.el.checked,
    };
    if (pass.el.value) body.external_registry_password = pass.el.value;
    await api(cfg ? 'PUT' : 'POST', base, body);
    ctx.toast('Mirroring saved', 'success');
    await reload();
  }, h('h3', {}, cfg ? 'Change mirroring' : 'Set up mirroring'),
  h('div', { class: 'form-row' }, ext.row, tags.row),
  h('div', { class: 'form-row' }, interval.row, start.row, robot.row),
  h('div', { class: 'form-row' }, user.row, pass.row),
  h('div', { class: 'form-row' }, arch.row),
  h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Proxy for the source registry'),
    h('div', { class: 'form-row' }, httpProxy.row, httpsProxy.row, noProxy.row)),
  verify.row, enabled.row, submit('Save mirroring')));
  root.append(section('Mirroring', ...parts));
}

export async function render(root, params, ctx) {
  const repo = params.repo;
  let info;
  try {
    info = await api('GET', `/repository/${repoPath(repo)}`);
  } catch (err) {
    root.append(h('h1', {}, repo), errorBox(err));
    return;
  }
  root.append(h('div', { class: 'page-head' },
    h('h1', {}, `Settings of ${repo}`),
    h('p', {}, h('a', { href: `/repository/${repo}` }, 'Back to the repository'))));
  if (!info.can_admin) {
    root.append(errorBox(new Error('You need the admin role on this repository to change its settings.')));
    return;
  }
  const items = [
    { id: 'permissions', label: 'Permissions', render: (n) => renderPermissions(n, ctx, repo, info) },
    { id: 'notifications', label: 'Notifications', render: (n) => renderNotifications(n, ctx, repo, info) },
    { id: 'mirroring', label: 'Mirroring', render: (n) => renderMirror(n, ctx, repo, info) },
    { id: 'state', label: 'State', render: (n) => renderState(n, ctx, repo, info) },
    {
      id: 'policies',
      label: 'Policies',
      render: async (n) => {
        const a = h('div', {});
        const b = h('div', {});
        n.append(a, b);
        await Promise.all([renderAutoprune(a, ctx, `/repository/${repoPath(repo)}`), renderImmutability(b, ctx, `/repository/${repoPath(repo)}`)]);
      },
    },
    { id: 'logs', label: 'Usage logs', render: (n) => renderLogs(n, ctx, `/repository/${repoPath(repo)}`) },
  ];
  const t = tabs(`Settings of ${repo}`, items, queryParam('tab') || 'permissions', (id) => setQueryParam('tab', id));
  root.append(t.node);
}

