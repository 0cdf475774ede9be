// Quota and usage, auto-prune and immutability policies. The policy
// sections serve organizations and repositories alike: base is the API path
// of the namespace or repository.

import { h, clear, formatBytes } from '../dom.js';
import { api } from '../api.js';
import {
  enc, input, select, checkbox, form, submit, button, report, section,
  simpleTable, optional, confirmAction,
} from '../admin-kit.js';

// usageBar shows used of limit bytes as a <meter> (accessible, no inline
// style) with a text summary.
export function usageBar(used, limit) {
  const pct = limit > 0 ? Math.min(100, Math.round((used / limit) * 100)) : 0;
  const summary = limit > 0
    ? `${formatBytes(used)} of ${formatBytes(limit)} used (${pct}%)`
    : `${formatBytes(used)} used, no quota configured`;
  const parts = [];
  if (limit > 0) {
    parts.push(h('meter', {
      class: 'usage-meter', min: 0, max: limit, low: Math.round(limit * 0.8), high: Math.round(limit * 0.95),
      optimum: 0, value: Math.min(used, limit), 'aria-label': 'Storage used',
    }, `${pct}%`));
  }
  parts.push(h('p', { class: 'usage-text', 'data-test': 'usage-text' }, summary));
  return h('div', { class: 'usage' }, ...parts);
}

// renderQuota fills the quota tab of an organization.
export async function renderQuota(root, ctx, org, orgView) {
  const reload = async () => {
    const v = await api('GET', `/organization/${enc(org)}`);
    clear(root);
    await renderQuota(root, ctx, org, v);
  };
  const report0 = orgView.quota_report || {};
  const quotas = (await optional('GET', `/organization/${enc(org)}/quota`)) || [];
  const q = quotas[0];
  const limit = q ? q.limit_bytes : (report0.configured_quota || 0);
  const parts = [usageBar(report0.quota_bytes || 0, limit)];
  if (q) {
    parts.push(simpleTable('Quota limits', ['Kind', 'Threshold'], (q.limits || []).map((l) => [
      l.type, `${l.limit_percent}%`,
    ]), { 'data-test': 'quota-limits' }));
  }
  if (ctx.user && ctx.user.super_user) {
    const lim = input('Quota', { required: true, placeholder: '10 GiB', value: q ? q.limit : '' });
    lim.el.value = q ? q.limit : '';
    parts.push(form(ctx, 'Set the storage quota', async () => {
      if (q) await api('PUT', `/organization/${enc(org)}/quota/${q.id}`, { limit: lim.el.value.trim() });
      else await api('POST', `/organization/${enc(org)}/quota`, { limit: lim.el.value.trim() });
      ctx.toast('Quota saved', 'success');
      await reload();
    }, h('h3', {}, 'Storage quota'), h('div', { class: 'form-row' }, lim.row, submit('Save quota'))));
    if (q) {
      const kind = select('Limit kind', [['Warning', 'Warning'], ['Reject', 'Reject']], 'Warning');
      const pct = input('Threshold (percent)', { type: 'number', min: 1, max: 100, required: true });
      parts.push(form(ctx, 'Add a quota limit', async () => {
        await api('POST', `/organization/${enc(org)}/quota/${q.id}/limit`, { type: kind.el.value, threshold_percent: Number(pct.el.value) });
        await reload();
      }, h('div', { class: 'form-row' }, kind.row, pct.row, submit('Add limit'))),
      button('Remove quota', () => confirmAction(`Remove the quota of ${org}?`, 'Pushes are no longer limited by size.', 'Remove quota', async () => {
        await api('DELETE', `/organization/${enc(org)}/quota/${q.id}`);
        await reload();
      }), 'danger'));
    }
  } else {
    parts.push(h('p', { class: 'hint' }, 'Quotas are set by a superuser.'));
  }
  root.append(section('Quota and usage', ...parts));
}

// describePrune is a readable summary of an auto-prune policy.
function describePrune(p) {
  const what = p.method === 'number_of_tags' ? `Keep the newest ${p.value} tags` : `Remove tags older than ${p.value}`;
  if (!p.tagPattern) return what;
  return `${what} ${p.tagPatternMatches === false ? 'not matching' : 'matching'} /${p.tagPattern}/`;
}

// renderAutoprune lists and edits the auto-prune policies at base
// (/organization/{org} or /repository/{repo}).
export async function renderAutoprune(root, ctx, base) {
  const res = await optional('GET', `${base}/autoprunepolicy/`);
  const box = h('div', {});
  if (!res) {
    root.append(section('Auto-prune policies', h('p', {}, 'Auto-prune is not available on this registry.')));
    return;
  }
  const reload = async () => { clear(root); await renderAutoprune(root, ctx, base); };
  const rows = (res.policies || []).map((p) => [
    h('span', { 'data-test': 'prune-policy' }, describePrune(p)),
    button('Delete', async () => {
      try {
        await api('DELETE', `${base}/autoprunepolicy/${enc(p.uuid)}`);
        await reload();
      } catch (err) { report(ctx, err); }
    }, 'danger', { 'aria-label': `Delete policy: ${describePrune(p)}` }),
  ]);
  const method = select('Prune method', [['number_of_tags', 'By number of tags'], ['creation_date', 'By age']], 'number_of_tags');
  const value = input('Value', { required: true, autocomplete: 'off' }, 'A number of tags to keep, or an age such as 7d, 2w, 1m, 1y.');
  const pattern = input('Tag pattern (optional)', { autocomplete: 'off', placeholder: '^v[0-9]+' });
  const matches = checkbox('Apply to tags matching the pattern (uncheck: not matching)', true);
  box.append(
    simpleTable('Auto-prune policies', ['Policy', ''], rows, { 'data-test': 'prune-table' }),
    form(ctx, 'Create an auto-prune policy', async () => {
      const body = {
        method: method.el.value,
        value: method.el.value === 'number_of_tags' ? Number(value.el.value) : value.el.value.trim(),
      };
      if (pattern.el.value.trim()) {
        body.tagPattern = pattern.el.value.trim();
        body.tagPatternMatches = matches.el.checked;
      }
      await api('POST', `${base}/autoprunepolicy/`, body);
      ctx.toast('Auto-prune policy created', 'success');
      await reload();
    }, h('h3', {}, 'Create auto-prune policy'),
    h('div', { class: 'form-row' }, method.row, value.row, pattern.row), matches.row, submit('Create policy')));
  root.append(section('Auto-prune policies',
    h('p', {}, 'Tags beyond these limits are removed automatically. Immutable tags are never pruned.'), box));
}

// renderImmutability lists and edits the immutability policies at base.
export async function renderImmutability(root, ctx, base) {
  const res = await optional('GET', `${base}/immutabilitypolicy/`);
  if (!res) {
    root.append(section('Immutability policies', h('p', {}, 'Immutability policies are not available on this registry.')));
    return;
  }
  const reload = async () => { clear(root); await renderImmutability(root, ctx, base); };
  const rows = (res.policies || []).map((p) => [
    h('span', { class: 'mono' }, `/${p.tagPattern}/`),
    p.tagPatternMatches === false ? 'Tags not matching' : 'Tags matching',
    button('Delete', async () => {
      try {
        await api('DELETE', `${base}/immutabilitypolicy/${enc(p.uuid)}`);
        await reload();
      } catch (err) { report(ctx, err); }
    }, 'danger', { 'aria-label': `Delete immutability policy ${p.tagPattern}` }),
  ]);
  const pattern = input('Immutable tag pattern', { required: true, autocomplete: 'off', placeholder: '^v[0-9]+\\.[0-9]+\\.[0-9]+$' });
  const matches = checkbox('Tags matching the pattern are immutable (uncheck: tags not matching)', true);
  root.append(section('Immutability policies',
    h('p', {}, 'Tags covered by a policy cannot be overwritten, moved or deleted.'),
    simpleTable('Immutability policies', ['Pattern', 'Applies to', ''], rows, { 'data-test': 'immutability-table' }),
    form(ctx, 'Create an immutability policy', async () => {
      await api('POST', `${base}/immutabilitypolicy/`, { tagPattern: pattern.el.value.trim(), tagPatternMatches: matches.el.checked });
      ctx.toast('Immutability policy created', 'success');
      await reload();
    }, h('h3', {}, 'Create immutability policy'), h('div', { class: 'form-row' }, pattern.row), matches.row, submit('Create immutability policy'))));
}
