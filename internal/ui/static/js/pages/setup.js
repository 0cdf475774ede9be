// First-run setup: create the first user, a superuser, on an empty server.
import { h, field, errorBox } from '../dom.js';
import { api, signIn, uiConfig } from '../api.js';

export async function render(root, _params, ctx) {
  const cfg = await uiConfig(true);
  const box = h('div', { class: 'auth-box panel' }, h('h1', null, 'Set up Wharf'));
  root.append(box);
  if (!cfg.needs_setup) {
    box.append(h('p', null, 'This server is already set up.'), h('p', null, h('a', { href: '/signin' }, 'Sign in')));
    return;
  }
  box.append(h('p', null, 'Create the first account. It becomes a superuser who can manage every organization, user and setting.'));
  const user = field('Username', { name: 'username', autocomplete: 'username', required: true, 'data-test': 'setup-username', hint: 'Lower-case letters, digits, ".", "_" and "-".' });
  const email = field('Email', { type: 'email', name: 'email', autocomplete: 'email', 'data-test': 'setup-email' });
  const pass = field('Password', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minLength: 8, 'data-test': 'setup-password', hint: 'At least 8 characters.' });
  const pass2 = field('Confirm password', { type: 'password', name: 'password2', autocomplete: 'new-password', required: true, 'data-test': 'setup-password2' });
  const status = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-test': 'setup-submit' }, 'Create superuser');
  box.append(h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      status.textContent = '';
      if (pass.input.value !== pass2.input.value) {
        status.append(errorBox('The passwords do not match.'));
        pass2.input.focus();
        return;
      }
      submit.disabled = true;
      try {
        const username = user.input.value.trim();
        await api('POST', '/user/initialize', { username, email: email.input.value.trim(), password: pass.input.value });
        await uiConfig(true);
        await signIn(username, pass.input.value);
        await ctx.refresh();
        ctx.toast(`Welcome, ${username}`, 'success');
        ctx.navigate('/');
      } catch (err) {
        status.append(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    },
  }, user, email, pass, pass2, status, submit));
  setTimeout(() => user.input.focus(), 0);
}
