// Sign in: username and password (when enabled) and each OIDC provider.
import { h, clear, field, errorBox } from '../dom.js';
import { api, signIn, sessionChanged, ApiError } from '../api.js';

function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') ? next : '/';
}

export async function render(root, _params, ctx) {
  const cfg = ctx.config || {};
  const features = cfg.features || {};
  const next = safeNext(ctx.query.get('next'));
  if (ctx.user) {
    root.append(h('div', { class: 'auth-box panel' },
      h('h1', null, 'Signed in'),
      h('p', null, 'You are signed in as ', h('strong', null, ctx.user.username), '.'),
      h('p', null, h('a', { href: next }, 'Continue'))));
    return;
  }
  const box = h('div', { class: 'auth-box panel' }, h('h1', null, 'Sign in to Wharf'));
  root.append(box);
  if (ctx.query.get('error')) box.append(errorBox(ctx.query.get('error_description') || ctx.query.get('error')));
  if (features.DIRECT_LOGIN !== false) {
    const user = field('Username', { name: 'username', autocomplete: 'username', required: true, 'data-test': 'signin-username' });
    const pass = field('Password', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, 'data-test': 'signin-password' });
    const status = h('div', { 'aria-live': 'assertive' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-test': 'signin-submit' }, 'Sign in');
    const form = h('form', {
      class: 'signin-form',
      onsubmit: async (e) => {
        e.preventDefault();
        status.textContent = '';
        submit.disabled = true;
        try {
          await signIn(user.input.value.trim(), pass.input.value);
          await ctx.refresh();
          ctx.toast('Signed in', 'success');
          ctx.navigate(next);
        } catch (err) {
          pass.input.value = '';
          status.append(errorBox(err instanceof ApiError && err.status === 403 ? new Error('Invalid username or password') : err));
          user.input.focus();
        } finally {
          submit.disabled = false;
        }
      },
    }, user, pass, status, submit);
    box.append(form);
    setTimeout(() => user.input.focus(), 0);
  }
  if (features.USER_CREATION) {
    box.append(h('p', { class: 'muted' }, 'No account yet? ',
      h('button', { type: 'button', class: 'btn-link', 'data-test': 'show-signup', onclick: () => signUp(box, ctx, next) }, 'Create an account')));
  }
  const providers = cfg.oidc_providers || [];
  if (providers.length) {
    box.append(h('div', { class: 'oidc-buttons' },
      h('p', { class: 'muted' }, features.DIRECT_LOGIN === false ? 'Sign in with:' : 'Or sign in with:'),
      providers.map((p) => h('a', {
        class: 'btn',
        href: `/oauth2/${encodeURIComponent(p.name)}/authorize${next !== '/' ? `?redirect=${encodeURIComponent(next)}` : ''}`,
        'data-external': '',
        'data-test': `oidc-${p.name}`,
      }, `Sign in with ${p.display_name || p.name}`))));
  }
  if (features.DIRECT_LOGIN === false && !providers.length) {
    box.append(h('p', null, 'No sign-in method is enabled on this server.'));
  }
}

// signUp replaces the sign-in form with the account creation form
// (FEATURE_USER_CREATION).
function signUp(box, ctx, next) {
  clear(box);
  const user = field('Username', { name: 'username', autocomplete: 'username', required: true, 'data-test': 'signup-username' });
  const email = field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: true, 'data-test': 'signup-email' });
  const pass = field('Password', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minLength: 8, hint: 'At least 8 characters.', 'data-test': 'signup-password' });
  const status = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-test': 'signup-submit' }, 'Create account');
  box.append(h('h1', null, 'Create an account'), h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      clear(status);
      submit.disabled = true;
      try {
        await api('POST', '/user/', { username: user.input.value.trim(), email: email.input.value.trim(), password: pass.input.value });
        sessionChanged();
        await ctx.refresh();
        ctx.toast('Account created', 'success');
        ctx.navigate(next);
      } catch (err) {
        status.append(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    },
  }, user, email, pass, status, submit),
  h('p', null, h('a', { href: '/signin' }, 'Back to sign in')));
  user.input.focus();
}
