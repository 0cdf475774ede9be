// Robot accounts of an organization: create, permissions, credentials
// (token, docker login line, Kubernetes pull secret), regenerate, delete and
// keyless federation.

import { h, clear, copyButton, formatTime } from '../dom.js';
import { api } from '../api.js';
import {
  enc, repoPath, input, form, submit, button, report, section, simpleTable,
  modal, confirmAction, roleSelect, select, b64, registryHost, inlineSelect, roleOptions, refocus,
} from '../admin-kit.js';

// loginCommand is the docker login line for a robot.
export function loginCommand(user, token, host) {
  return `docker login -u='${user}' -p='${token}' ${host}`;
}

// pullSecretYAML is a Kubernetes Secret of type kubernetes.io/dockerconfigjson
// holding the robot's credentials for host.
export function pullSecretYAML(user, token, host) {
  const auth = b64(`${user}:${token}`);
  const config = JSON.stringify({ auths: { [host]: { auth, email: '' } } });
  const name = `${user.replace(/[^a-z0-9-]/g, '-')}-pull-secret`;
  return [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    `  name: ${name}`,
    'data:',
    `  .dockerconfigjson: ${b64(config)}`,
    'type: kubernetes.io/dockerconfigjson',
    '',
  ].join('\n');
}

// credentialBlock shows one copyable value.
function credentialBlock(label, value, testID) {
  const id = `cred-${testID}`;
  return h('div', { class: 'credential' },
    h('div', { class: 'credential-head' },
      h('span', { class: 'credential-label', id: `${id}-label` }, label),
      copyButton(value, `Copy ${label.toLowerCase()}`)),
    h('pre', { class: 'code', id, 'data-test': testID, 'aria-labelledby': `${id}-label`, tabindex: '0' }, value));
}

// showCredentials opens the credentials dialog of a robot.
export function showCredentials(ctx, name, token) {
  const host = registryHost(ctx);
  const body = h('div', { class: 'credentials', 'data-test': 'robot-credentials' },
    h('p', {}, 'Use these credentials to push and pull as the robot. Keep the token secret.'),
    credentialBlock('Username', name, 'robot-username'),
    credentialBlock('Token', token, 'robot-token'),
    credentialBlock('Docker login', loginCommand(name, token, host), 'robot-docker-login'),
    credentialBlock('Podman login', `podman login -u='${name}' -p='${token}' ${host}`, 'robot-podman-login'),
    credentialBlock('Kubernetes pull secret', pullSecretYAML(name, token, host), 'robot-k8s-secret'));
  return modal(`Credentials for ${name}`, body);
}

// robotsPath is the API path of the robots of a namespace: an
// organization's, or the signed-in user's own (view.user_namespace).
function robotsPath(ns, view) {
  return view && view.user_namespace ? '/user/robots' : `/organization/${enc(ns)}/robots`;
}

// robotPermissionsDialog lists and edits a robot's repository roles.
async function robotPermissionsDialog(ctx, org, orgView, robot, repos, onChange) {
  const short = robot.name.split('+')[1];
  const body = h('div', { class: 'robot-perms' });
  async function load() {
    const res = await api('GET', `${robotsPath(org, orgView)}/${enc(short)}/permissions`);
    clear(body);
    const rows = (res.permissions || []).map((p) => {
      const repo = `${org}/${p.repository.name}`;
      const role = { el: inlineSelect(`Role of ${robot.name} on ${p.repository.name}`, roleOptions, p.role) };
      role.el.addEventListener('change', async () => {
        try {
          await api('PUT', `/repository/${repoPath(repo)}/permissions/user/${enc(robot.name)}`, { role: role.el.value });
          ctx.toast(`${robot.name} now has ${role.el.value} on ${p.repository.name}`, 'success');
          onChange();
        } catch (err) { report(ctx, err); }
      });
      return [p.repository.name, role.el, button('Remove', async () => {
        try {
          await api('DELETE', `/repository/${repoPath(repo)}/permissions/user/${enc(robot.name)}`);
          await load();
          onChange();
        } catch (err) { report(ctx, err); }
      }, 'danger', { 'aria-label': `Remove ${robot.name} from ${p.repository.name}` })];
    });
    body.append(simpleTable('Repository permissions', ['Repository', 'Role', ''], rows, { 'data-test': 'robot-permissions' }));
    const have = new Set((res.permissions || []).map((p) => p.repository.name));
    const free = repos.filter((r) => !have.has(r.name));
    if (free.length) {
      const repo = select('Repository', free.map((r) => [r.name, r.name]));
      const role = roleSelect('Role', 'read');
      body.append(form(ctx, 'Add a repository permission', async () => {
        await api('PUT', `/repository/${repoPath(`${org}/${repo.el.value}`)}/permissions/user/${enc(robot.name)}`, { role: role.el.value });
        ctx.toast(`Granted ${role.el.value} on ${repo.el.value} to ${robot.name}`, 'success');
        await load();
        onChange();
      }, h('div', { class: 'form-row' }, repo.row, role.row, submit('Add permission'))));
    } else {
      body.append(h('p', { class: 'hint' }, repos.length ? 'The robot has a role on every repository.' : 'The organization has no repositories yet.'));
    }
  }
  await load();
  return modal(`Permissions of ${robot.name}`, body);
}

// federationDialog edits the issuer/subject pairs that may exchange an OIDC
// token for the robot's credentials.
async function federationDialog(ctx, org, orgView, robot) {
  const short = robot.name.split('+')[1];
  const path = `${robotsPath(org, orgView)}/${enc(short)}/federation`;
  const entries = (await api('GET', path)) || [];
  const rowsBox = h('div', { class: 'federation-rows', 'data-test': 'federation-rows' });
  const addRow = (issuer = '', subject = '') => {
    const n = rowsBox.children.length + 1;
    const iss = input(`Issuer URL ${n}`, { value: issuer, placeholder: 'https://token.actions.githubusercontent.com', name: 'issuer' });
    const sub = input(`Subject ${n}`, { value: subject, placeholder: 'repo:org/project:ref:refs/heads/main', name: 'subject' });
    iss.el.value = issuer;
    sub.el.value = subject;
    const row = h('div', { class: 'form-row federation-row' }, iss.row, sub.row);
    row.append(button('Remove', () => row.remove(), 'danger', { 'aria-label': `Remove federation row ${n}` }));
    rowsBox.append(row);
  };
  entries.forEach((e) => addRow(e.issuer, e.subject));
  if (!entries.length) addRow();
  const body = h('div', {},
    h('p', {}, 'Workloads holding an OIDC token from one of these issuers, with a matching subject, can exchange it for a short-lived token of this robot (keyless authentication).'),
    rowsBox,
    button('Add row', () => addRow(), ''));
  modal(`Federation for ${robot.name}`, body, [
    {
      label: 'Save federation',
      onclick: async () => {
        const list = [...rowsBox.querySelectorAll('.federation-row')].map((r) => ({
          issuer: r.querySelector('[name=issuer]').value.trim(),
          subject: r.querySelector('[name=subject]').value.trim(),
        })).filter((e) => e.issuer || e.subject);
        try {
          if (list.length) await api('POST', path, list);
          else await api('DELETE', path);
          ctx.toast(`Federation of ${robot.name} saved`, 'success');
          return true;
        } catch (err) {
          report(ctx, err);
          return false;
        }
      },
    },
  ]);
}

// renderRobots fills the robot accounts tab of an organization, or of the
// signed-in user's namespace when orgView is {user_namespace: true,
// is_admin: true}.
export async function renderRobots(root, ctx, org, orgView) {
  const [res, repoRes] = await Promise.all([
    api('GET', `${robotsPath(org, orgView)}?permissions=true&token=false`),
    api('GET', `/repository?namespace=${enc(org)}`),
  ]);
  const repos = (repoRes.repositories || []).map((r) => ({ name: r.name }));
  const reload = async () => { clear(root); await renderRobots(root, ctx, org, orgView); };
  const admin = orgView.is_admin;

  const rows = (res.robots || []).map((r) => {
    const short = r.name.split('+')[1];
    const actions = h('div', { class: 'actions' });
    if (admin) {
      actions.append(
        button('Credentials', async () => {
          try {
            const full = await api('GET', `${robotsPath(org, orgView)}/${enc(short)}`);
            showCredentials(ctx, full.name, full.token);
          } catch (err) { report(ctx, err); }
        }, '', { 'aria-label': `Show credentials of ${r.name}` }),
        button('Permissions', async () => {
          let changed = false;
          try {
            const d = await robotPermissionsDialog(ctx, org, orgView, r, repos, () => { changed = true; });
            await d.closed;
            if (changed) {
              await reload();
              refocus(`Permissions of ${r.name}`);
            }
          } catch (err) { report(ctx, err); }
        }, '',
          { 'aria-label': `Permissions of ${r.name}` }),
        button('Federation', () => federationDialog(ctx, org, orgView, r).catch((err) => report(ctx, err)), '',
          { 'aria-label': `Federation of ${r.name}` }),
        button('Regenerate', () => {
          let fresh = null;
          const d = confirmAction(`Regenerate the token of ${r.name}?`,
            'The current token stops working at once. Clients using it must log in again.', 'Regenerate token', async () => {
              fresh = await api('POST', `${robotsPath(org, orgView)}/${enc(short)}/regenerate`);
            });
          d.closed.then(() => { if (fresh) showCredentials(ctx, fresh.name, fresh.token); });
        }, '', { 'aria-label': `Regenerate token of ${r.name}` }),
        button('Delete', () => confirmAction(`Delete ${r.name}?`, 'The robot and its permissions are removed.', 'Delete robot', async () => {
          await api('DELETE', `${robotsPath(org, orgView)}/${enc(short)}`);
          ctx.toast(`Deleted ${r.name}`, 'success');
          await reload();
        }), 'danger', { 'aria-label': `Delete ${r.name}` }));
    }
    return [
      h('span', { class: 'mono', 'data-test': 'robot-name' }, r.name),
      r.description || '',
      (r.teams || []).map((t) => t.name).join(', '),
      (r.repositories || []).join(', '),
      r.created ? formatTime(r.created) : '',
      r.last_accessed ? formatTime(r.last_accessed) : 'Never',
      actions,
    ];
  });

  const parts = [simpleTable('Robot accounts', ['Name', 'Description', 'Teams', 'Repositories', 'Created', 'Last used', 'Actions'], rows, { 'data-test': 'robots-table' })];
  if (admin) {
    const name = input('Robot name', { required: true, pattern: '[a-z][a-z0-9_]{1,254}', autocomplete: 'off' },
      `Becomes ${org}+name: 2-255 lowercase letters, digits or underscores, starting with a letter.`);
    const desc = input('Description', { maxlength: 255 });
    parts.push(form(ctx, 'Create robot account', async () => {
      const short = name.el.value.trim();
      const v = await api('PUT', `${robotsPath(org, orgView)}/${enc(short)}`, { description: desc.el.value });
      ctx.toast(`Created ${v.name}`, 'success');
      await reload();
      showCredentials(ctx, v.name, v.token);
    }, h('h3', {}, 'Create robot account'), h('div', { class: 'form-row' }, name.row, desc.row, submit('Create robot'))));
  }
  root.append(section('Robot accounts', ...parts));
}
