/** Sign in: with a one-time code from the link the server printed, or with a pasted token. */

import { api } from '../api.js';
import { getAuth, setAuth } from '../auth.js';
import { field, h, replace } from '../dom.js';
import { navigate } from '../router.js';

function afterSignIn() {
  const target = sessionStorage.getItem('vibeforge.after-signin');
  sessionStorage.removeItem('vibeforge.after-signin');
  if (target && target.startsWith('#/') && !target.startsWith('#/signin')) {
    history.replaceState(null, '', target);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    navigate('/projects', null, { replace: true });
  }
}

export async function render(container, route) {
  const code = route.query.get('code');
  const status = h('p', { role: 'status', class: 'muted' });
  const errorBox = h('p', { role: 'alert', class: 'error-text' });
  if (code) {
    // Out of the address bar and history at once: the code works only once anyway.
    history.replaceState(null, '', '#/signin');
    replace(container, h('h1', null, 'Signing in…'), status, errorBox);
    try {
      const answer = await api('/auth/signin', { method: 'POST', body: { code }, token: null });
      setAuth({ token: answer.token.token, tokenId: answer.token.id, minted: true, email: answer.user.email });
      afterSignIn();
      return;
    } catch (error) {
      errorBox.textContent = `${error.detail || error.message}`;
    }
  } else if (getAuth()) {
    afterSignIn();
    return;
  }
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const tokenField = field('API token', token,
    'The server printed a sign-in link and the admin token when it first started (the token is also in data/admin-token). `vibeforge users signin-link` prints a new link.');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'panel card-form stack', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to vibeforge'),
    tokenField.field, h('div', { class: 'row' }, submit), status, errorBox);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errorBox.textContent = '';
    submit.disabled = true;
    status.textContent = 'Checking the token…';
    const value = token.value.trim();
    try {
      const me = await api('/me', { token: value });
      setAuth({ token: value, minted: false, email: me.email });
      afterSignIn();
    } catch (error) {
      status.textContent = '';
      errorBox.textContent = error.status === 401 ? 'This token is not valid (unknown or revoked).' : error.detail || error.message;
      submit.disabled = false;
      token.focus();
    }
  });
  replace(container, form);
  token.focus();
}
