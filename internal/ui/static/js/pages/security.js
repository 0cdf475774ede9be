// Security report of one manifest: vulnerabilities grouped by package, with
// severity, installed and fixed-in versions, links, and filters.
import { h, append, clear, field, table, severityBadge, SEVERITIES, shortDigest, loading } from '../dom.js';
import { api, enc, encRepo } from '../api.js';

const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));

function links(text) {
  return String(text || '').split(/\s+/).filter((u) => /^https?:\/\//i.test(u))
    .map((u) => h('a', { href: u, rel: 'noopener nofollow noreferrer', target: '_blank' }, u.replace(/^https?:\/\//i, '').slice(0, 60)));
}

export async function render(root, params, ctx) {
  const { repo, digest } = params;
  root.append(
    h('nav', { 'aria-label': 'Breadcrumb', class: 'muted' },
      h('a', { href: '/repository' }, 'Repositories'), ' / ',
      h('a', { href: `/repository/${encRepo(repo)}` }, repo)),
    h('div', { class: 'page-header' }, h('h1', null, 'Security report'),
      h('code', { class: 'digest', title: digest }, `${repo}@${shortDigest(digest)}`)));
  const body = h('div', null, loading());
  root.append(body);
  const report = await api('GET', `/repository/${encRepo(repo)}/manifest/${enc(digest)}/security?vulnerabilities=true`);
  clear(body);
  if (report.status !== 'scanned' || !report.data) {
    const text = {
      queued: 'This manifest has not been scanned yet. Scans run shortly after a push.',
      unsupported: 'The scanner does not support this manifest (for example an index or a non-image artifact). Open the report of one of its platforms instead.',
      failed: 'The scan of this manifest failed.',
    }[report.status] || `Scan status: ${report.status}`;
    body.append(h('div', { class: 'alert alert-info', role: 'status', 'data-test': 'scan-status' }, text),
      h('button', { type: 'button', class: 'btn', onclick: () => ctx.navigate(location.pathname + location.search, { replace: true }) }, 'Check again'));
    return;
  }
  const features = (report.data.Layer && report.data.Layer.Features) || [];
  const all = [];
  for (const f of features) for (const v of f.Vulnerabilities || []) all.push(v);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  for (const v of all) counts[SEVERITIES.includes(v.Severity) ? v.Severity : 'Unknown'] += 1;
  const fixable = all.filter((v) => v.FixedBy).length;

  const summary = h('section', { class: 'panel', 'aria-labelledby': 'sum-heading' },
    h('h2', { id: 'sum-heading' }, 'Summary'),
    all.length
      ? h('div', { class: 'sec-summary', 'data-test': 'severity-summary' }, SEVERITIES.filter((s) => counts[s]).map((s) => severityBadge(s, counts[s])))
      : h('p', { class: 'badge badge-ok', 'data-test': 'severity-summary' }, 'No known vulnerabilities'),
    h('p', { class: 'muted' }, `${all.length} vulnerabilities in ${features.filter((f) => (f.Vulnerabilities || []).length).length} of ${features.length} packages; ${fixable} have a fix.`));

  const onlyFixable = field('Fixable only', { type: 'checkbox', checked: ctx.query.get('fixable') === 'true', 'data-test': 'fixable-only' });
  const minSev = field('Minimum severity', { type: 'select', options: SEVERITIES.map((s) => ({ value: s, label: s })), value: 'Unknown', 'data-test': 'min-severity' });
  const search = field('Search packages and advisories', { type: 'search', 'data-test': 'vuln-search' });
  const status = h('p', { class: 'muted', role: 'status' });
  const list = h('div', { 'data-test': 'packages' });

  const draw = () => {
    const needle = search.input.value.trim().toLowerCase();
    const min = RANK[minSev.input.value] ?? RANK.Unknown;
    const groups = [];
    for (const f of features) {
      const vulns = (f.Vulnerabilities || []).filter((v) => (!onlyFixable.input.checked || v.FixedBy)
        && (RANK[v.Severity] ?? RANK.Unknown) <= min
        && (!needle || f.Name.toLowerCase().includes(needle) || String(v.Name).toLowerCase().includes(needle)));
      if (vulns.length) {
        vulns.sort((a, b) => (RANK[a.Severity] ?? 9) - (RANK[b.Severity] ?? 9) || String(a.Name).localeCompare(String(b.Name)));
        groups.push({ f, vulns, worst: RANK[vulns[0].Severity] ?? 9 });
      }
    }
    groups.sort((a, b) => a.worst - b.worst || a.f.Name.localeCompare(b.f.Name));
    const shown = groups.reduce((n, g) => n + g.vulns.length, 0);
    status.textContent = `Showing ${shown} vulnerabilities in ${groups.length} packages.`;
    append(clear(list), [groups.length ? groups.map(({ f, vulns }) => h('section', { class: 'panel pkg', 'data-package': f.Name },
      h('div', { class: 'pkg-head' },
        h('h3', null, f.Name),
        h('span', { class: 'muted' }, `installed ${f.Version}`),
        f.VersionFormat ? h('span', { class: 'badge badge-private' }, f.VersionFormat) : null,
        h('span', { class: 'sec-summary' }, SEVERITIES.map((s) => {
          const n = vulns.filter((v) => v.Severity === s).length;
          return n ? severityBadge(s, n) : null;
        }))),
      table([
        { label: 'Advisory', render: (v) => h('strong', null, v.Name) },
        { label: 'Severity', render: (v) => severityBadge(v.Severity) },
        { label: 'Installed', render: () => h('code', null, f.Version) },
        { label: 'Fixed in', render: (v) => (v.FixedBy ? h('code', { 'data-test': 'fixed-in' }, v.FixedBy) : h('span', { class: 'muted' }, 'no fix yet')) },
        { label: 'Description', render: (v) => h('span', null, String(v.Description || '').slice(0, 300)) },
        { label: 'Links', render: (v) => links(v.Link) },
      ], vulns, { caption: `Vulnerabilities of ${f.Name}` }))) : h('p', { class: 'empty' }, 'No vulnerability matches the filters.')]);
  };
  for (const c of [onlyFixable.input, minSev.input]) c.addEventListener('change', draw);
  search.input.addEventListener('input', draw);
  root.append(summary,
    h('section', { class: 'panel', 'aria-labelledby': 'vuln-heading' },
      h('h2', { id: 'vuln-heading' }, 'Vulnerabilities by package'),
      h('div', { class: 'filters', role: 'group', 'aria-label': 'Filters' }, onlyFixable, minSev, search),
      status),
    list);
  draw();
}
