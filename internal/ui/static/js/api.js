// The client of Wharf's Quay-compatible API (/api/v1/). Requests carry the
// session cookie; state-changing ones carry the session's CSRF token.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

let csrf = null;
let userPromise = null;
// signedIn is false once GET /user/ said there is no session: then there
// is no CSRF token to fetch either.
let signedIn = null;
let configPromise = null;

// setCsrfToken stores the token a sign-in returned.
export function setCsrfToken(token) { csrf = token || null; }

async function csrfToken() {
  if (csrf) return csrf;
  if (signedIn === false) return null;
  const res = await fetch('/api/v1/csrf_token', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (res.ok) {
    const body = await res.json();
    csrf = body.csrf_token || null;
  }
  return csrf;
}

function errorMessage(status, body, fallback) {
  if (body && typeof body === 'object') {
    return body.error_message || body.message || body.detail || body.error_description || body.error || fallback;
  }
  return fallback || `Request failed (${status})`;
}

// api sends a request to /api/v1 + path (or path when it starts with /api/)
// and returns the decoded JSON, or null for an empty answer. It throws an
// ApiError with Quay's error message.
export async function api(method, path, body, retried = false) {
  const url = path.startsWith('/api/') ? path : `/api/v1${path.startsWith('/') ? '' : '/'}${path}`;
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD') {
    const t = await csrfToken();
    if (t) headers['X-CSRF-Token'] = t;
  }
  const res = await fetch(url, init);
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = text; }
  }
  if (!res.ok) {
    const msg = errorMessage(res.status, data, res.statusText);
    if (res.status === 403 && !retried && /csrf/i.test(String(msg))) {
      csrf = null;
      return api(method, path, body, true);
    }
    throw new ApiError(res.status, msg, data);
  }
  return data;
}

// enc encodes one path segment; encRepo keeps the slashes of a repository.
export const enc = (s) => encodeURIComponent(s);
export const encRepo = (s) => String(s).split('/').map(encodeURIComponent).join('/');

// currentUser returns the signed-in user (Quay's GET /user/), or null.
export function currentUser(force = false) {
  if (force || !userPromise) {
    userPromise = api('GET', '/user/').then((u) => {
      signedIn = true;
      return u;
    }, (err) => {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        signedIn = false;
        return null;
      }
      userPromise = null;
      throw err;
    });
  }
  return userPromise;
}

// noSession records that the server said nobody is signed in (GET
// /ui/config's signed_in), so currentUser answers null without asking.
export function noSession() {
  signedIn = false;
  userPromise = Promise.resolve(null);
  return null;
}

// uiConfig returns what the UI needs to know about the server.
export function uiConfig(force = false) {
  if (force || !configPromise) {
    configPromise = api('GET', '/ui/config').catch((err) => {
      configPromise = null;
      throw err;
    });
  }
  return configPromise;
}

// sessionChanged forgets what is known about the session, after the
// server started one some other way (sign-up).
export function sessionChanged() {
  csrf = null;
  signedIn = null;
  userPromise = null;
}

export async function signIn(username, password) {
  csrf = null;
  const res = await api('POST', '/signin', { username, password });
  setCsrfToken(res && res.csrf_token);
  signedIn = true;
  userPromise = null;
  return res;
}

export async function signOut() {
  try {
    await api('POST', '/signout');
  } finally {
    csrf = null;
    signedIn = false;
    userPromise = null;
  }
}

// listAll follows Quay's next_page tokens (at most max pages).
export async function listAll(path, key, max = 20) {
  const out = [];
  let next = '';
  for (let i = 0; i < max; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', next ? `${path}${sep}next_page=${enc(next)}` : path);
    out.push(...(page[key] || []));
    if (!page.next_page) break;
    next = page.next_page;
  }
  return out;
}

// pager follows Quay's next_page tokens in batches: each more() loads up
// to pages further pages and returns their items; done says whether the
// server has nothing after them.
export function pager(path, key, pages = 20) {
  let next = '';
  let done = false;
  return {
    get done() { return done; },
    async more() {
      const out = [];
      for (let i = 0; i < pages && !done; i += 1) {
        const sep = path.includes('?') ? '&' : '?';
        const page = await api('GET', next ? `${path}${sep}next_page=${enc(next)}` : path);
        out.push(...((page && page[key]) || []));
        if (page && page.next_page) next = page.next_page;
        else done = true;
      }
      return out;
    },
  };
}
