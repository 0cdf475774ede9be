// The application shell: header, router, toasts and error display.
import { h, clear, link, errorBox, loading } from './dom.js';
import { ApiError, currentUser, uiConfig, signOut, noSession } from './api.js';
import { routes } from './routes.js';
import { matcher } from './router.js';

const main = document.getElementById('main');
const header = document.getElementById('header');
const toasts = document.getElementById('toasts');

// toast shows a short message; kind is info, success or error.
export function toast(message, kind = 'info') {
  const el = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : null }, message);
  toasts.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

const match = matcher(routes);

let user = null;
let config = {};
let renderToken = 0;

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function renderHeader() {
  clear(header);
  const search = h('input', { type: 'search', id: 'global-search', name: 'q', placeholder: 'Search repositories', value: new URLSearchParams(location.search).get('q') || '' });
  const form = h('form', {
    class: 'search-form',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      navigate(`/search?q=${encodeURIComponent(search.value.trim())}`);
    },
  }, h('label', { for: 'global-search', class: 'visually-hidden' }, 'Search repositories'), search);
  const nav = h('nav', { class: 'main-nav', 'aria-label': 'Main' },
    h('ul', null,
      h('li', null, link('/repository', 'Repositories')),
      user ? h('li', null, link('/organization', 'Organizations')) : null,
      user && user.super_user ? h('li', null, link('/superuser', 'Superuser')) : null));
  const account = user
    ? h('div', { class: 'user-menu' },
      h('span', { class: 'username', 'data-test': 'username' }, user.username),
      h('button', { type: 'button', class: 'btn btn-small', 'data-test': 'signout', onclick: doSignOut }, 'Sign out'))
    : h('div', { class: 'user-menu' }, link(location.pathname === '/signin' || location.pathname === '/setup'
      ? '/signin' : `/signin?next=${encodeURIComponent(location.pathname + location.search)}`, 'Sign in'));
  header.append(h('div', { class: 'header-inner' },
    link('/', h('span', { class: 'brand' }, 'Wharf')), nav, form, account));
}

async function doSignOut() {
  try {
    await signOut();
  } catch (err) {
    toast(err.message, 'error');
  }
  user = null;
  toast('Signed out', 'success');
  navigate('/signin');
}

function notFound(root) {
  document.title = 'Not found · Wharf';
  root.append(h('h1', null, 'Page not found'),
    h('p', null, 'There is nothing at ', h('code', null, location.pathname), '.'),
    h('p', null, link('/', 'Go to the repositories')));
}

async function refresh() {
  user = await currentUser(true);
  renderHeader();
  return user;
}

// render draws the page of the current URL.
async function render() {
  const token = ++renderToken;
  // Dialogs belong to the page they were opened on.
  document.querySelectorAll('dialog[open]').forEach((d) => d.close());
  const root = clear(main);
  root.append(loading());
  try {
    // GET /ui/config says whether the request carried a session; without
    // one GET /user/ is not asked (its 401 would be logged by the browser).
    config = await uiConfig(true).catch(() => ({}));
    user = config.signed_in === false ? noSession() : await currentUser();
  } catch (err) {
    clear(root).append(errorBox(err));
    return;
  }
  if (token !== renderToken) return;
  renderHeader();
  const path = location.pathname;
  if (config.needs_setup && path !== '/setup') {
    navigate('/setup', { replace: true });
    return;
  }
  const m = match(path);
  clear(root);
  if (!m) {
    notFound(root);
    return;
  }
  if (!m.route.public && !user && !config.anonymous_access) {
    navigate(`/signin?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    return;
  }
  document.title = `${m.route.title} · Wharf`;
  if (config.registry_state === 'readonly') {
    root.append(h('div', { class: 'alert alert-warn', role: 'status', 'data-test': 'readonly-banner' },
      'The registry is read-only: pulls work, but pushes and changes are refused until a superuser turns writes back on.'));
  }
  const pageRoot = h('div', { class: 'page' });
  root.append(pageRoot);
  const ctx = {
    user,
    config,
    query: new URLSearchParams(location.search),
    navigate,
    toast,
    refresh,
  };
  try {
    const mod = await m.route.load();
    if (token !== renderToken) return;
    await mod.render(pageRoot, m.params, ctx);
    const heading = pageRoot.querySelector('h1');
    if (heading && heading.textContent) document.title = `${heading.textContent} · Wharf`;
  } catch (err) {
    if (token !== renderToken) return;
    if (err instanceof ApiError && err.status === 401 && !m.route.public) {
      navigate(`/signin?next=${encodeURIComponent(path + location.search)}`, { replace: true });
      return;
    }
    clear(pageRoot).append(h('h1', null, err instanceof ApiError && err.status === 404 ? 'Not found' : 'Something went wrong'), errorBox(err));
  }
  if (focusMain) main.focus({ preventScroll: true });
  focusMain = true;
}

let focusMain = false;

// Links: same-origin clicks are routed here, the rest behave normally.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a');
  if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/oauth2/') || url.pathname.startsWith('/static/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener('popstate', () => render());

render();
