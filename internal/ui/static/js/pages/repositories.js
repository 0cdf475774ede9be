// Repositories: every repository the user can see, across namespaces, with
// a search box and the create-repository dialog.
import { h, clear, field, table, dialog, formatTime, loading, errorBox } from '../dom.js';
import { api, pager, encRepo } from '../api.js';
import { inline } from '../markdown.js';

// PAGES is how many pages of 100 repositories one load fetches.
const PAGES = 20;

function firstLine(text) {
  const line = String(text || '').split('\n').map((l) => l.replace(/^[#>*\-\s]+/, '').trim()).find((l) => l) || '';
  return line.length > 140 ? `${line.slice(0, 140)}…` : line;
}

function createDialog(ctx) {
  const namespaces = [ctx.user.username, ...(ctx.user.organizations || []).map((o) => o.name)];
  const preset = ctx.query.get('namespace');
  const ns = field('Namespace', { type: 'select', options: namespaces.map((n) => ({ value: n, label: n, selected: n === preset })), 'data-test': 'create-namespace' });
  const name = field('Repository name', { name: 'repository', required: true, 'data-test': 'create-name', hint: 'Lower-case letters, digits and separators; "/" makes nested names.' });
  const pub = field('Public', { type: 'radio', name: 'visibility', value: 'public' });
  const priv = field('Private', { type: 'radio', name: 'visibility', value: 'private', checked: true });
  const desc = field('Description (Markdown)', { type: 'textarea', name: 'description', 'data-test': 'create-description' });
  const body = h('div', null, ns, name,
    h('fieldset', null, h('legend', null, 'Visibility'), pub, priv), desc);
  dialog('Create repository', body, [
    { label: 'Cancel' },
    {
      label: 'Create',
      kind: 'primary',
      submit: true,
      onClick: async () => {
        const repository = name.input.value.trim();
        if (!repository) throw new Error('Enter a repository name.');
        await api('POST', '/repository', {
          namespace: ns.input.value,
          repository,
          visibility: pub.input.checked ? 'public' : 'private',
          description: desc.input.value,
          repo_kind: 'image',
        });
        ctx.toast(`Created ${ns.input.value}/${repository}`, 'success');
        ctx.navigate(`/repository/${encRepo(`${ns.input.value}/${repository}`)}`);
      },
    },
  ]);
}

export async function render(root, _params, ctx) {
  const q = ctx.query.get('q') || '';
  const nsFilter = ctx.query.get('namespace') || '';
  const header = h('div', { class: 'page-header' },
    h('h1', null, q ? `Search: ${q}` : nsFilter ? `Repositories in ${nsFilter}` : 'Repositories'),
    ctx.user ? h('button', { type: 'button', class: 'btn btn-primary', 'data-test': 'create-repository', onclick: () => createDialog(ctx) }, 'Create repository') : null);
  const filter = field('Filter repositories', { type: 'search', value: q, 'data-test': 'repo-filter', placeholder: 'name or description' });
  const listBox = h('div', { class: 'table-wrap' }, loading());
  const count = h('p', { class: 'muted', role: 'status' });
  const side = [];
  if (ctx.user && (ctx.user.organizations || []).length) {
    side.push(h('div', { class: 'panel' }, h('h2', null, 'Organizations'),
      h('ul', null, ctx.user.organizations.map((o) => h('li', null,
        h('a', { href: `/organization/${encodeURIComponent(o.name)}` }, o.name), ' ',
        h('a', { href: `/repository?namespace=${encodeURIComponent(o.name)}`, class: 'muted' }, '(repositories)'))))));
  }
  root.append(header, h('div', { class: 'grid-2' }, h('div', null, filter, count, listBox), h('div', null, side)));

  // The first 20 pages (2,000 repositories) load at once; "Load more"
  // follows next_page for the next 20.
  const path = nsFilter ? `/repository?namespace=${encodeURIComponent(nsFilter)}` : '/repository?public=true';
  const pages = pager(path, 'repositories', PAGES);
  let repos;
  try {
    repos = await pages.more();
  } catch (err) {
    clear(listBox).append(errorBox(err));
    return;
  }
  const sortRepos = () => repos.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  sortRepos();
  const more = h('button', {
    type: 'button',
    class: 'btn',
    'data-test': 'load-more-repos',
    hidden: pages.done,
    onclick: async () => {
      more.disabled = true;
      try {
        repos.push(...await pages.more());
        sortRepos();
        draw();
      } catch (err) {
        ctx.toast(err.message, 'error');
      } finally {
        more.disabled = false;
        more.hidden = pages.done;
      }
    },
  }, 'Load more repositories');
  listBox.after(more);
  const draw = () => {
    const needle = filter.input.value.trim().toLowerCase();
    const rows = repos.filter((r) => !needle || `${r.namespace}/${r.name}`.toLowerCase().includes(needle) || String(r.description || '').toLowerCase().includes(needle));
    count.textContent = `${rows.length} of ${repos.length}${pages.done ? '' : '+'} repositories`;
    clear(listBox).append(table([
      { label: 'Repository', render: (r) => h('a', { href: `/repository/${encRepo(`${r.namespace}/${r.name}`)}`, 'data-test': 'repo-link' }, `${r.namespace}/${r.name}`) },
      { label: 'Visibility', render: (r) => h('span', { class: ['badge', r.is_public ? 'badge-public' : 'badge-private'] }, r.is_public ? 'public' : 'private') },
      { label: 'Description', render: (r) => h('span', { class: 'muted' }, inline(firstLine(r.description))) },
      { label: 'Created', render: (r) => formatTime(r.last_modified) },
    ], rows, { caption: 'Repositories you can see', empty: needle ? 'No repository matches the filter.' : 'No repositories yet.' }));
  };
  filter.input.addEventListener('input', draw);
  draw();
}
