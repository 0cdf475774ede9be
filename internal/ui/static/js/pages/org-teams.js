// Teams and members of an organization: team roles, members (people and
// robots), repository permissions of teams, and default permissions
// (permission prototypes).

import { h, clear } from '../dom.js';
import { api } from '../api.js';
import {
  enc, repoPath, input, select, form, submit, button, report, section,
  simpleTable, modal, confirmAction, roleSelect, inlineSelect, roleOptions, refocus,
} from '../admin-kit.js';

const teamRoles = [['member', 'Member'], ['creator', 'Creator'], ['admin', 'Admin']];

// teamDialog manages one team's members and repository permissions.
async function teamDialog(ctx, org, team, repos, onChange) {
  const body = h('div', { class: 'team-detail', 'data-test': 'team-detail' });
  const base = `/organization/${enc(org)}/team/${enc(team)}`;
  async function load() {
    const [mem, perms] = await Promise.all([api('GET', `${base}/members`), api('GET', `${base}/permissions`)]);
    clear(body);
    const memberRows = (mem.members || []).map((m) => [
      h('span', { class: 'mono' }, m.name),
      m.is_robot ? 'Robot' : 'User',
      mem.can_edit ? button('Remove', async () => {
        try {
          await api('DELETE', `${base}/members/${enc(m.name)}`);
          await load();
          onChange();
        } catch (err) { report(ctx, err); }
      }, 'danger', { 'aria-label': `Remove ${m.name} from ${team}` }) : '',
    ]);
    body.append(h('h3', {}, 'Members'),
      simpleTable('Team members', ['Name', 'Kind', ''], memberRows, { 'data-test': 'team-members' }));
    if (mem.can_edit) {
      const who = input('User or robot to add', { required: true, autocomplete: 'off', placeholder: `username or ${org}+robot` });
      body.append(form(ctx, `Add a member to ${team}`, async () => {
        await api('PUT', `${base}/members/${enc(who.el.value.trim())}`, {});
        ctx.toast(`Added ${who.el.value.trim()} to ${team}`, 'success');
        await load();
        onChange();
      }, h('div', { class: 'form-row' }, who.row, submit('Add member'))));
    }
    const permRows = (perms.permissions || []).map((p) => {
      const repo = `${org}/${p.repository.name}`;
      const role = { el: inlineSelect(`Role of ${team} on ${p.repository.name}`, roleOptions, p.role) };
      role.el.addEventListener('change', async () => {
        try {
          await api('PUT', `/repository/${repoPath(repo)}/permissions/team/${enc(team)}`, { role: role.el.value });
          ctx.toast(`${team} now has ${role.el.value} on ${p.repository.name}`, 'success');
        } catch (err) { report(ctx, err); }
      });
      return [p.repository.name, role.el, button('Remove', async () => {
        try {
          await api('DELETE', `/repository/${repoPath(repo)}/permissions/team/${enc(team)}`);
          await load();
          onChange();
        } catch (err) { report(ctx, err); }
      }, 'danger', { 'aria-label': `Remove ${team} from ${p.repository.name}` })];
    });
    body.append(h('h3', {}, 'Repository permissions'),
      simpleTable('Team repository permissions', ['Repository', 'Role', ''], permRows, { 'data-test': 'team-permissions' }));
    const have = new Set((perms.permissions || []).map((p) => p.repository.name));
    const free = repos.filter((r) => !have.has(r));
    if (free.length && mem.can_edit) {
      const repo = select('Repository', free.map((r) => [r, r]));
      const role = roleSelect('Role', 'read');
      body.append(form(ctx, `Grant ${team} a repository permission`, async () => {
        await api('PUT', `/repository/${repoPath(`${org}/${repo.el.value}`)}/permissions/team/${enc(team)}`, { role: role.el.value });
        await load();
        onChange();
      }, h('div', { class: 'form-row' }, repo.row, role.row, submit('Add permission'))));
    }
  }
  await load();
  return modal(`Team ${team}`, body);
}

// renderTeams fills the teams and members tab.
export async function renderTeams(root, ctx, org, orgView) {
  const admin = orgView.is_admin;
  const reload = async () => {
    const v = await api('GET', `/organization/${enc(org)}`);
    clear(root);
    await renderTeams(root, ctx, org, v);
  };
  const repoRes = await api('GET', `/repository?namespace=${enc(org)}`);
  const repos = (repoRes.repositories || []).map((r) => r.name);
  const teams = orgView.ordered_teams || Object.keys(orgView.teams || {});
  const rows = teams.map((name) => {
    const t = orgView.teams[name];
    const role = { el: inlineSelect(`Role of team ${name}`, teamRoles, t.role) };
    role.el.disabled = !admin;
    role.el.addEventListener('change', async () => {
      try {
        await api('PUT', `/organization/${enc(org)}/team/${enc(name)}`, { role: role.el.value });
        ctx.toast(`Team ${name} is now ${role.el.value}`, 'success');
      } catch (err) {
        report(ctx, err);
        role.el.value = t.role;
      }
    });
    const actions = h('div', { class: 'actions' });
    if (t.can_view) {
      actions.append(button('Manage', async () => {
        let changed = false;
        try {
          const d = await teamDialog(ctx, org, name, repos, () => { changed = true; });
          await d.closed;
          if (changed) {
            await reload();
            refocus(`Manage team ${name}`);
          }
        } catch (err) { report(ctx, err); }
      }, '',
        { 'aria-label': `Manage team ${name}` }));
    }
    if (admin && name !== 'owners') {
      actions.append(button('Delete', () => confirmAction(`Delete team ${name}?`, 'Its members lose the roles the team gave them.', 'Delete team', async () => {
        await api('DELETE', `/organization/${enc(org)}/team/${enc(name)}`);
        await reload();
      }), 'danger', { 'aria-label': `Delete team ${name}` }));
    }
    return [h('span', { class: 'mono', 'data-test': 'team-name' }, name), t.description || '', role.el,
      String(t.member_count), String(t.repo_count), actions];
  });
  const parts = [simpleTable('Teams', ['Team', 'Description', 'Role', 'Members', 'Repositories', 'Actions'], rows, { 'data-test': 'teams-table' })];
  if (admin) {
    const name = input('Team name', { required: true, autocomplete: 'off' });
    const role = select('Team role', teamRoles, 'member');
    const desc = input('Team description');
    parts.push(form(ctx, 'Create team', async () => {
      const n = name.el.value.trim();
      await api('PUT', `/organization/${enc(org)}/team/${enc(n)}`, { role: role.el.value, description: desc.el.value });
      ctx.toast(`Created team ${n}`, 'success');
      await reload();
    }, h('h3', {}, 'Create team'), h('div', { class: 'form-row' }, name.row, role.row, desc.row, submit('Create team'))));
  }
  root.append(section('Teams', ...parts));

  if (admin) {
    const mem = await api('GET', `/organization/${enc(org)}/members`);
    const memberRows = (mem.members || []).map((m) => [
      h('span', { class: 'mono' }, m.name),
      (m.teams || []).map((t) => t.name).join(', '),
      (m.repositories || []).join(', '),
      button('Remove', () => confirmAction(`Remove ${m.name} from ${org}?`, 'They leave every team and lose their direct repository roles.', 'Remove member', async () => {
        await api('DELETE', `/organization/${enc(org)}/members/${enc(m.name)}`);
        await reload();
      }), 'danger', { 'aria-label': `Remove member ${m.name}` }),
    ]);
    root.append(section('Members',
      simpleTable('Members', ['Member', 'Teams', 'Direct repository roles', ''], memberRows, { 'data-test': 'members-table' })));
  }
}

// renderDefaultPermissions fills the default permissions tab: roles given
// automatically on every new repository of the organization.
export async function renderDefaultPermissions(root, ctx, org, orgView) {
  const res = await api('GET', `/organization/${enc(org)}/prototypes`);
  const reload = async () => { clear(root); await renderDefaultPermissions(root, ctx, org, orgView); };
  const rows = (res.prototypes || []).map((p) => [
    p.activating_user ? p.activating_user.name : 'Anyone',
    `${p.delegate.name} (${p.delegate.kind === 'team' ? 'team' : (p.delegate.is_robot ? 'robot' : 'user')})`,
    p.role,
    button('Delete', async () => {
      try {
        await api('DELETE', `/organization/${enc(org)}/prototypes/${enc(p.id)}`);
        await reload();
      } catch (err) { report(ctx, err); }
    }, 'danger', { 'aria-label': `Delete default permission for ${p.delegate.name}` }),
  ]);
  const teams = orgView.ordered_teams || Object.keys(orgView.teams || {});
  const kind = select('Grant to', [['team', 'Team'], ['user', 'User or robot']], 'team');
  const team = select('Team', teams.map((t) => [t, t]));
  const user = input('User or robot name', { autocomplete: 'off', placeholder: `username or ${org}+robot` });
  const role = roleSelect('Default role', 'read');
  const creator = input('Only for repositories created by (optional)', { autocomplete: 'off' });
  const sync = () => {
    team.row.hidden = kind.el.value !== 'team';
    user.row.hidden = kind.el.value === 'team';
  };
  kind.el.addEventListener('change', sync);
  sync();
  root.append(section('Default permissions',
    h('p', {}, 'Roles granted automatically on every repository created in this organization.'),
    simpleTable('Default permissions', ['Repository creator', 'Applies to', 'Role', ''], rows, { 'data-test': 'prototypes-table' }),
    form(ctx, 'Add a default permission', async () => {
      const body = {
        role: role.el.value,
        delegate: kind.el.value === 'team' ? { kind: 'team', name: team.el.value } : { kind: 'user', name: user.el.value.trim() },
      };
      if (creator.el.value.trim()) body.activating_user = { name: creator.el.value.trim() };
      await api('POST', `/organization/${enc(org)}/prototypes`, body);
      ctx.toast('Default permission added', 'success');
      await reload();
    }, h('h3', {}, 'Add default permission'), h('div', { class: 'form-row' }, kind.row, team.row, user.row, role.row, creator.row, submit('Add default permission')))));
}
