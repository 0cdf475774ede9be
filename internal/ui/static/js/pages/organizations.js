// The organizations the signed-in user belongs to, and creating one.

import { h } from '../dom.js';
import { api, currentUser } from '../api.js';
import { input, form, submit, section, simpleTable } from '../admin-kit.js';

export async function render(root, params, ctx) {
  const user = ctx.user || await currentUser();
  root.append(h('div', { class: 'page-head' }, h('h1', {}, 'Organizations')));
  if (!user) {
    root.append(h('p', {}, 'Sign in to see your organizations.'));
    return;
  }
  const rows = (user.organizations || []).map((o) => [
    h('a', { href: `/organization/${encodeURIComponent(o.name)}`, 'data-test': 'org-link' }, o.name),
    o.is_org_admin ? 'Administrator' : 'Member',
  ]);
  root.append(section('Your organizations',
    simpleTable('Organizations', ['Organization', 'Your role'], rows, { 'data-test': 'orgs-table' })));
  const name = input('Organization name', { required: true, autocomplete: 'off', pattern: '[a-z0-9]+([._\\-][a-z0-9]+)*', minLength: 2 },
    'Lowercase letters and digits, with single . _ - between them.');
  const email = input('Contact e-mail (optional)', { type: 'email', autocomplete: 'email' });
  root.append(section('Create organization',
    form(ctx, 'Create organization', async () => {
      const n = name.el.value.trim();
      const body = { name: n };
      if (email.el.value.trim()) body.email = email.el.value.trim();
      await api('POST', '/organization/', body);
      ctx.toast(`Created organization ${n}`, 'success');
      await ctx.refresh();
      ctx.navigate(`/organization/${encodeURIComponent(n)}`);
    }, h('div', { class: 'form-row' }, name.row, email.row, submit('Create organization')))));
}
