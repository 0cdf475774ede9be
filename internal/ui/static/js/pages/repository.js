// Repository page: pull command, description, tags (size, last modified,
// digest, platforms, expiration, immutability, security summary), tag
// actions, manifest details with labels and referrers, tag history with
// restore, visibility and deletion.
import {
  h, append, clear, field, table, dialog, confirmDialog, copyButton, copyField, severityBadge, SEVERITIES,
  formatBytes, formatTime, shortDigest, loading, errorBox, toDate,
} from '../dom.js';
import { api, enc, encRepo, ApiError } from '../api.js';
import { markdown } from '../markdown.js';

const TAG_PAGES = 10;

// limited runs at most n of the tasks it is given at once (the per-tag
// security summaries of a long tag list).
function limited(n) {
  let running = 0;
  const queue = [];
  const next = () => {
    if (running >= n || !queue.length) return;
    running += 1;
    const { task, resolve, reject } = queue.shift();
    task().then(resolve, reject).finally(() => {
      running -= 1;
      next();
    });
  };
  return (task) => new Promise((resolve, reject) => {
    queue.push({ task, resolve, reject });
    next();
  });
}

const securityQueue = limited(4);

async function allTags(repo, activeOnly, extra = '') {
  const out = [];
  for (let page = 1; page <= TAG_PAGES; page += 1) {
    const res = await api('GET', `/repository/${encRepo(repo)}/tag/?onlyActiveTags=${activeOnly}&limit=100&page=${page}${extra}`);
    out.push(...(res.tags || []));
    if (!res.has_additional) break;
  }
  return out;
}

// Small cache of manifest views shared by the rows of one page.
function manifestCache(repo) {
  const cache = new Map();
  return (digest) => {
    if (!cache.has(digest)) {
      cache.set(digest, api('GET', `/repository/${encRepo(repo)}/manifest/${enc(digest)}`).catch((err) => {
        cache.delete(digest);
        throw err;
      }));
    }
    return cache.get(digest);
  };
}

function platformLabel(p) {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/') || 'unknown';
}

// indexSummary adds up the reports of an index's platforms: the counts per
// severity, how many have a fix, and how many platforms are not scanned.
async function indexSummary(repo, tag, getManifest) {
  const m = await getManifest(tag.manifest_digest);
  const counts = {};
  let fixable = 0;
  let pending = 0;
  await Promise.all((m.platforms || []).map((p) => securityQueue(() => api('GET', `/repository/${encRepo(repo)}/manifest/${enc(p.digest)}/security`))
    .then((r) => {
      if (r.status !== 'scanned' || !r.data) {
        pending += 1;
        return;
      }
      for (const f of (r.data.Layer && r.data.Layer.Features) || []) {
        for (const v of f.Vulnerabilities || []) {
          const sev = SEVERITIES.includes(v.Severity) ? v.Severity : 'Unknown';
          counts[sev] = (counts[sev] || 0) + 1;
          if (v.FixedBy) fixable += 1;
        }
      }
    }, () => { pending += 1; })));
  return { counts, fixable, pending, platforms: (m.platforms || []).length };
}

function securityCell(repo, tag, ctx, getManifest) {
  const cell = h('div', { class: 'sec-summary', 'data-test': 'tag-security', 'aria-live': 'polite' }, h('span', { class: 'muted' }, '…'));
  const reportLink = (label, cls) => h('a', {
    href: `/repository/${encRepo(repo)}/manifest/${enc(tag.manifest_digest)}/security`,
    class: cls,
    'aria-label': `Security report of ${tag.name}`,
  }, label);
  securityQueue(() => api('GET', `/repository/${encRepo(repo)}/tag/${enc(tag.name)}/security`)).then((s) => {
    clear(cell);
    if (s.status !== 'scanned' && tag.is_manifest_list) {
      const perPlatform = h('button', {
        type: 'button',
        class: 'btn-link',
        'aria-label': `Security reports of the platforms of ${tag.name}`,
        onclick: () => detailsDialog(repo, tag, getManifest, ctx),
      }, 'Per platform');
      indexSummary(repo, tag, getManifest).then((sum) => {
        const present = SEVERITIES.filter((sev) => sum.counts[sev] > 0);
        clear(cell).append(...present.map((sev) => severityBadge(sev, sum.counts[sev])));
        if (!present.length && !sum.pending) cell.append(h('span', { class: 'badge badge-ok' }, 'No vulnerabilities'));
        if (sum.pending) cell.append(h('span', { class: 'badge badge-info' }, `${sum.pending} of ${sum.platforms} not scanned`));
        if (sum.fixable) cell.append(h('span', { class: 'muted' }, ` ${sum.fixable} fixable`));
        cell.append(' ', perPlatform);
      }).catch(() => { clear(cell).append(perPlatform); });
      return;
    }
    if (s.status !== 'scanned') {
      const text = { queued: 'Queued', unsupported: 'Unsupported', failed: 'Scan failed' }[s.status] || s.status;
      cell.append(h('span', { class: 'badge badge-info' }, text), ' ', reportLink('Details'));
      return;
    }
    const counts = s.summary || {};
    const present = SEVERITIES.filter((sev) => counts[sev] > 0);
    if (!present.length) {
      cell.append(reportLink(h('span', { class: 'badge badge-ok' }, 'No vulnerabilities')));
      return;
    }
    cell.append(reportLink(present.map((sev) => severityBadge(sev, counts[sev]))));
    if (s.fixable) cell.append(h('span', { class: 'muted' }, ` ${s.fixable} fixable`));
  }).catch((err) => {
    clear(cell).append(h('span', { class: 'muted', title: err.message }, ctx.config.features && ctx.config.features.SECURITY_SCANNER === false ? 'Scanner off' : '—'));
  });
  return cell;
}

function manifestCell(tag, getManifest) {
  const cell = h('div', null, h('code', { class: 'digest', title: tag.manifest_digest, 'data-test': 'tag-digest' }, shortDigest(tag.manifest_digest)));
  if (tag.is_manifest_list) {
    const plats = h('span', { class: 'platforms' });
    cell.append(h('div', { 'data-test': 'tag-platforms' }, h('span', { class: 'muted' }, 'index: '), plats));
    getManifest(tag.manifest_digest).then((m) => {
      const list = m.platforms || [];
      append(plats, [list.length ? list.map((p) => h('span', { class: 'badge badge-info', 'data-test': 'platform' }, platformLabel(p))) : 'no platforms']);
    }).catch(() => { plats.append('?'); });
  }
  return cell;
}

async function detailsDialog(repo, tag, getManifest, ctx) {
  const body = h('div', null, loading());
  dialog(`Manifest of ${tag.name}`, body, [{ label: 'Close' }]);
  try {
    const base = `/repository/${encRepo(repo)}/manifest/${enc(tag.manifest_digest)}`;
    const [m, labels, refs] = await Promise.all([
      getManifest(tag.manifest_digest),
      api('GET', `${base}/labels`),
      api('GET', `${base}/referrers`),
    ]);
    append(clear(body), [
      h('dl', { class: 'props' },
        h('dt', null, 'Digest'), h('dd', null, h('code', { class: 'digest' }, m.digest), ' ', copyButton(m.digest, `Copy digest of ${tag.name}`)),
        h('dt', null, 'Media type'), h('dd', null, m.media_type),
        m.artifact_type && m.artifact_type !== m.config_media_type ? [h('dt', null, 'Artifact type'), h('dd', null, m.artifact_type)] : null,
        m.config_media_type ? [h('dt', null, 'Config'), h('dd', null, m.config_media_type)] : null,
        h('dt', null, 'Size'), h('dd', null, formatBytes(m.size)),
        m.subject ? [h('dt', null, 'Subject'), h('dd', null, h('code', { class: 'digest' }, m.subject))] : null),
      m.is_manifest_list
        ? [h('h3', null, 'Platforms'), table([
          { label: 'Platform', render: (p) => platformLabel(p) },
          { label: 'Digest', render: (p) => h('code', { class: 'digest', title: p.digest }, shortDigest(p.digest)) },
          { label: 'Size', class: 'num', render: (p) => formatBytes(p.size) },
          {
            label: 'Security',
            render: (p) => h('a', { href: `/repository/${encRepo(repo)}/manifest/${enc(p.digest)}/security`, 'aria-label': `Security report of ${platformLabel(p)}` }, 'Report'),
          },
        ], m.platforms || [], { empty: 'No platforms.', label: `Platforms of ${tag.name}` })]
        : [h('h3', null, 'Layers'), table([
          { label: '#', render: (l) => String(l.index + 1) },
          { label: 'Digest', render: (l) => h('code', { class: 'digest', title: l.blob_digest }, shortDigest(l.blob_digest)) },
          { label: 'Size', class: 'num', render: (l) => formatBytes(l.compressed_size) },
        ], m.layers || [], { empty: 'No layers.', label: `Layers of ${tag.name}` })],
      h('h3', null, 'Labels'),
      table([
        { label: 'Key', render: (l) => h('code', null, l.key) },
        { label: 'Value', render: (l) => h('span', { 'data-test': 'label-value' }, l.value) },
      ], labels.labels || [], { empty: 'No labels.', class: 'labels-table', label: `Labels of ${tag.name}` }),
      h('h3', null, 'Referrers (signatures, SBOMs, attestations)'),
      table([
        { label: 'Artifact type', render: (r) => r.artifactType || r.mediaType },
        { label: 'Digest', render: (r) => h('code', { class: 'digest', title: r.digest }, shortDigest(r.digest)) },
        { label: 'Size', class: 'num', render: (r) => formatBytes(r.size) },
        { label: 'Annotations', render: (r) => Object.entries(r.annotations || {}).map(([k, v]) => h('div', null, h('code', null, k), ' = ', v)) },
      ], refs.referrers || [], { empty: 'Nothing refers to this manifest.', class: 'referrers-table', label: `Referrers of ${tag.name}` }),
    ]);
  } catch (err) {
    clear(body).append(errorBox(err));
  }
  void ctx;
}

function tagDialog(repo, ctx, reload, { name = '', digest = '', title = 'Add or move a tag' } = {}) {
  const tagField = field('Tag name', { value: name, required: true, 'data-test': 'tagdialog-name' });
  const digestField = field('Manifest digest', { value: digest, required: true, class: 'mono', 'data-test': 'tagdialog-digest', hint: 'The tag is created, or moved when it exists.' });
  dialog(title, h('div', null, tagField, digestField), [
    { label: 'Cancel' },
    {
      label: 'Save tag',
      kind: 'primary',
      submit: true,
      onClick: async () => {
        const t = tagField.input.value.trim();
        const d = digestField.input.value.trim();
        if (!t || !d) throw new Error('Enter a tag name and a manifest digest.');
        await api('PUT', `/repository/${encRepo(repo)}/tag/${enc(t)}`, { manifest_digest: d });
        ctx.toast(`Tag ${t} now points at ${shortDigest(d)}`, 'success');
        reload();
      },
    },
  ]);
}

function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function editDialog(repo, tag, info, ctx, reload) {
  const exp = toDate(tag.end_ts);
  const expField = field('Expires at (local time; empty: never)', { type: 'datetime-local', value: exp ? toLocalInput(exp) : '', 'data-test': 'tagedit-expiration' });
  const immField = field('Immutable (cannot be moved, deleted or expire)', { type: 'checkbox', checked: !!tag.immutable, disabled: tag.immutable && !info.can_admin, 'data-test': 'tagedit-immutable' });
  dialog(`Edit tag ${tag.name}`, h('div', null, expField, immField), [
    { label: 'Cancel' },
    {
      label: 'Save',
      kind: 'primary',
      submit: true,
      onClick: async () => {
        const body = {};
        if (immField.input.checked !== !!tag.immutable) body.immutable = immField.input.checked;
        if (!immField.input.checked) {
          const v = expField.input.value;
          const when = v ? new Date(v) : null;
          const old = exp ? exp.getTime() : null;
          if ((when ? when.getTime() : null) !== old) body.expiration = when ? Math.floor(when.getTime() / 1000) : null;
        }
        if (!Object.keys(body).length) return true;
        await api('PUT', `/repository/${encRepo(repo)}/tag/${enc(tag.name)}`, body);
        ctx.toast(`Updated ${tag.name}`, 'success');
        reload();
        return true;
      },
    },
  ]);
}

function pullCommand(ctx, repo, ref) {
  const host = (ctx.config && ctx.config.server_hostname) || location.host;
  const sep = ref.startsWith('sha256:') ? '@' : ':';
  return `podman pull ${host}/${repo}${sep}${ref}`;
}

function tagsSection(repo, info, ctx) {
  const section = h('section', { class: 'panel', 'aria-labelledby': 'tags-heading' });
  const listBox = h('div', { class: 'table-wrap' }, loading());
  const filter = field('Filter tags', { type: 'search', 'data-test': 'tag-filter' });
  const getManifest = manifestCache(repo);
  let tags = [];
  let seq = 0;
  const reload = async () => {
    const mine = ++seq;
    clear(listBox).append(loading());
    let fresh;
    try {
      fresh = await allTags(repo, true);
    } catch (err) {
      if (mine === seq) clear(listBox).append(errorBox(err));
      return;
    }
    // A slower, older reload must not overwrite a newer one.
    if (mine !== seq) return;
    tags = fresh;
    tags.sort((a, b) => b.start_ts - a.start_ts || a.name.localeCompare(b.name));
    draw();
    section.dispatchEvent(new CustomEvent('tags-changed', { detail: tags }));
  };
  const draw = () => {
    const needle = filter.input.value.trim().toLowerCase();
    const rows = tags.filter((t) => !needle || t.name.toLowerCase().includes(needle));
    const cols = [
      {
        label: 'Tag',
        render: (t) => h('div', null, h('strong', { 'data-test': 'tag-name' }, t.name),
          t.immutable ? h('span', { class: 'badge badge-immutable', title: 'This tag cannot be moved, deleted or expire' }, 'immutable') : null),
      },
    ];
    if (!ctx.config.features || ctx.config.features.SECURITY_SCANNER !== false) {
      cols.push({ label: 'Security', render: (t) => securityCell(repo, t, ctx, getManifest) });
    }
    cols.push(
      { label: 'Size', class: 'num', render: (t) => (t.is_manifest_list ? '—' : formatBytes(t.size)) },
      { label: 'Last modified', render: (t) => formatTime(t.start_ts) },
      { label: 'Expires', render: (t) => (t.end_ts ? formatTime(t.end_ts) : h('span', { class: 'muted' }, 'Never')) },
      { label: 'Manifest', render: (t) => manifestCell(t, getManifest) },
      {
        label: 'Actions',
        class: 'actions',
        render: (t) => [
          copyButton(pullCommand(ctx, repo, t.name), `Copy pull command for ${t.name}`),
          h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Details of ${t.name}`, onclick: () => detailsDialog(repo, t, getManifest, ctx) }, 'Details'),
          info.can_write ? h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Add a tag to the manifest of ${t.name}`, onclick: () => tagDialog(repo, ctx, reload, { digest: t.manifest_digest, title: `Add a tag to ${shortDigest(t.manifest_digest)}` }) }, 'Add tag') : null,
          info.can_write ? h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Edit ${t.name}`, onclick: () => editDialog(repo, t, info, ctx, reload) }, 'Edit') : null,
          info.can_write && !t.immutable ? h('button', {
            type: 'button',
            class: 'btn btn-small btn-danger',
            'aria-label': `Delete tag ${t.name}`,
            'data-test': 'delete-tag',
            onclick: () => confirmDialog(`Delete tag ${t.name}?`, `The tag ${t.name} is removed. You can restore it from the tag history while the time machine keeps it.`, 'Delete tag', async () => {
              await api('DELETE', `/repository/${encRepo(repo)}/tag/${enc(t.name)}`);
              ctx.toast(`Deleted tag ${t.name}`, 'success');
              reload();
            }),
          }, 'Delete') : null,
        ],
      },
    );
    clear(listBox).append(table(cols, rows, {
      caption: `${rows.length} tag${rows.length === 1 ? '' : 's'}`,
      empty: needle ? 'No tag matches the filter.' : 'No tags yet. Push an image to this repository to see it here.',
      class: 'tags-table',
      rowAttrs: (t) => ({ 'data-tag': t.name }),
    }));
  };
  filter.input.addEventListener('input', draw);
  section.append(
    h('div', { class: 'page-header' },
      h('h2', { id: 'tags-heading' }, 'Tags'),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'btn btn-small', onclick: reload, 'data-test': 'reload-tags' }, 'Reload'),
        info.can_write ? h('button', { type: 'button', class: 'btn btn-small', 'data-test': 'add-tag', onclick: () => tagDialog(repo, ctx, reload) }, 'Add or move tag') : null)),
    filter, listBox);
  reload();
  section.reload = reload;
  return section;
}

function historySection(repo, info, ctx, reloadTags) {
  const section = h('section', { class: 'panel', 'aria-labelledby': 'history-heading' });
  const box = h('div', { class: 'table-wrap' });
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    clear(box).append(loading());
    let rows;
    try {
      rows = await allTags(repo, false);
    } catch (err) {
      if (mine === seq) clear(box).append(errorBox(err));
      return;
    }
    if (mine !== seq) return;
    const now = Date.now() / 1000;
    rows.sort((a, b) => (b.end_ts || b.start_ts) - (a.end_ts || a.start_ts));
    clear(box).append(table([
      { label: 'Tag', render: (t) => h('strong', null, t.name) },
      { label: 'Manifest', render: (t) => h('code', { class: 'digest', title: t.manifest_digest }, shortDigest(t.manifest_digest)) },
      { label: 'From', render: (t) => formatTime(t.start_ts) },
      { label: 'Until', render: (t) => (t.end_ts ? formatTime(t.end_ts) : h('span', { class: 'muted' }, 'now')) },
      {
        label: 'Event',
        render: (t) => {
          if (!t.end_ts) return h('span', { class: 'badge badge-ok' }, 'current');
          if (t.end_ts > now) return h('span', { class: 'badge badge-warn' }, 'expires');
          return h('span', { class: 'badge badge-private' }, 'ended');
        },
      },
      {
        label: 'Actions',
        class: 'actions',
        render: (t) => (info.can_write && t.end_ts && t.end_ts <= now ? h('button', {
          type: 'button',
          class: 'btn btn-small',
          'aria-label': `Restore ${t.name} to ${shortDigest(t.manifest_digest)}`,
          'data-test': 'restore-tag',
          'data-tag': t.name,
          onclick: async (e) => {
            e.target.disabled = true;
            try {
              await api('POST', `/repository/${encRepo(repo)}/tag/${enc(t.name)}/restore`, { manifest_digest: t.manifest_digest });
              ctx.toast(`Restored ${t.name} to ${shortDigest(t.manifest_digest)}`, 'success');
              reloadTags();
              load();
            } catch (err) {
              e.target.disabled = false;
              ctx.toast(err.message, 'error');
            }
          },
        }, 'Restore') : null),
      },
    ], rows, { caption: 'Tag history (moves, deletions and expiries within the time machine window)', empty: 'No history yet.', class: 'history-table' }));
  };
  section.append(
    h('div', { class: 'page-header' },
      h('h2', { id: 'history-heading' }, 'Tag history'),
      h('button', { type: 'button', class: 'btn btn-small', 'data-test': 'show-history', onclick: load }, 'Show history')),
    h('p', { class: 'muted' }, info.tag_expiration_s
      ? `Deleted and moved tags can be restored for ${Math.round(info.tag_expiration_s / 86400 * 10) / 10} days.`
      : 'The time machine is off for this namespace: deleted tags cannot be restored.'),
    box);
  section.load = load;
  return section;
}

function descriptionSection(repo, info, ctx) {
  const body = h('div', { 'data-test': 'description' });
  const draw = () => {
    clear(body).append(info.description ? markdown(info.description) : h('p', { class: 'muted' }, 'No description.'));
  };
  draw();
  const edit = () => {
    const ta = field('Description (Markdown)', { type: 'textarea', value: info.description || '', 'data-test': 'description-input' });
    ta.input.value = info.description || '';
    dialog('Edit description', ta, [
      { label: 'Cancel' },
      {
        label: 'Save',
        kind: 'primary',
        onClick: async () => {
          await api('PUT', `/repository/${encRepo(repo)}`, { description: ta.input.value });
          info.description = ta.input.value;
          draw();
          ctx.toast('Description saved', 'success');
        },
      },
    ]);
  };
  return h('section', { class: 'panel', 'aria-labelledby': 'desc-heading' },
    h('div', { class: 'page-header' }, h('h2', { id: 'desc-heading' }, 'Description'),
      info.can_write ? h('button', { type: 'button', class: 'btn btn-small', 'data-test': 'edit-description', onclick: edit }, 'Edit description') : null),
    body);
}

function adminSection(repo, info, ctx) {
  const toVis = info.is_public ? 'private' : 'public';
  return h('section', { class: 'panel', 'aria-labelledby': 'admin-heading' },
    h('h2', { id: 'admin-heading' }, 'Visibility and deletion'),
    h('p', null, `This repository is ${info.is_public ? 'public: anyone who can reach the registry may pull it' : 'private: only people and robots with a permission may pull it'}.`),
    h('div', { class: 'toolbar' },
      h('button', {
        type: 'button',
        class: 'btn',
        'data-test': 'toggle-visibility',
        onclick: () => confirmDialog(`Make ${repo} ${toVis}?`, toVis === 'public' ? 'Anyone will be able to pull it.' : 'Only people and robots with a permission will be able to pull it.', `Make ${toVis}`, async () => {
          await api('POST', `/repository/${encRepo(repo)}/changevisibility`, { visibility: toVis });
          ctx.toast(`${repo} is now ${toVis}`, 'success');
          ctx.navigate(location.pathname, { replace: true });
        }),
      }, `Make ${toVis}`),
      h('button', {
        type: 'button',
        class: 'btn btn-danger',
        'data-test': 'delete-repository',
        onclick: () => confirmDialog(`Delete ${repo}?`, 'Every tag and manifest of the repository is deleted. This cannot be undone.', 'Delete repository', async () => {
          await api('DELETE', `/repository/${encRepo(repo)}`);
          ctx.toast(`Deleted ${repo}`, 'success');
          ctx.navigate('/repository');
        }),
      }, 'Delete repository')));
}

export async function render(root, params, ctx) {
  const repo = params.repo;
  let info;
  try {
    info = await api('GET', `/repository/${encRepo(repo)}?includeTags=false`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) throw new ApiError(403, `You may not see ${repo}.`, err.body);
    throw err;
  }
  const ns = info.namespace;
  // The pull command names "latest", or the newest tag when there is none.
  const pullBox = h('div', null, copyField(pullCommand(ctx, repo, 'latest'), 'Copy pull command'));
  root.append(
    h('nav', { 'aria-label': 'Breadcrumb', class: 'muted' },
      h('a', { href: '/repository' }, 'Repositories'), ' / ',
      h('a', { href: info.is_organization ? `/organization/${enc(ns)}` : `/repository?namespace=${enc(ns)}` }, ns)),
    h('div', { class: 'page-header' },
      h('h1', null, `${info.namespace}/${info.name}`),
      h('div', { class: 'toolbar' },
        h('span', { class: ['badge', info.is_public ? 'badge-public' : 'badge-private'], 'data-test': 'visibility' }, info.is_public ? 'public' : 'private'),
        info.state && info.state !== 'NORMAL' ? h('span', { class: 'badge badge-warn' }, info.state) : null,
        info.can_admin ? h('a', { class: 'btn btn-small', href: `/repository/${encRepo(repo)}/settings`, 'data-test': 'repo-settings' }, 'Settings') : null)),
    h('section', { class: 'panel', 'aria-labelledby': 'pull-heading' },
      h('h2', { id: 'pull-heading' }, 'Pull this repository'),
      pullBox),
    descriptionSection(repo, info, ctx));
  const tags = tagsSection(repo, info, ctx);
  tags.addEventListener('tags-changed', (e) => {
    const list = e.detail || [];
    const ref = !list.length || list.some((t) => t.name === 'latest') ? 'latest' : list[0].name;
    clear(pullBox).append(copyField(pullCommand(ctx, repo, ref), 'Copy pull command'));
  });
  const history = historySection(repo, info, ctx, () => tags.reload());
  root.append(tags, history);
  if (info.can_admin) root.append(adminSection(repo, info, ctx));
}
