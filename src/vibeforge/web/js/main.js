/** Start-up: the top bar, sign-in state, the socket, and rendering the current route. */

import { api } from './api.js';
import { clearAuth, getAuth, onAuthChange } from './auth.js';
import { notifyError } from './dialog.js';
import { h, replace } from './dom.js';
import { currentRoute, navigate } from './router.js';
import './screens/index.js';
import { socket } from './socket.js';

const main = document.getElementById('main');
let dispose = null;
let renderCount = 0;

const CONNECTION_TEXT = {
  idle: 'offline', connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…',
};

function showChrome(auth) {
  document.getElementById('top-nav').hidden = !auth;
  document.getElementById('top-right').hidden = !auth;
  document.getElementById('who').textContent = auth?.email ?? '';
}

function markNav(screen) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    const current = screen && (link.dataset.nav === screen.name
      || (link.dataset.nav === 'projects' && screen.path.startsWith('/p/')));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function render() {
  const route = currentRoute();
  const auth = getAuth();
  if (!route.screen) {
    navigate('/projects', null, { replace: true });
    return;
  }
  if (!route.screen.public && !auth) {
    sessionStorage.setItem('vibeforge.after-signin', location.hash);
    navigate('/signin', null, { replace: true });
    return;
  }
  renderCount += 1;
  const mine = renderCount;
  if (typeof dispose === 'function') dispose();
  dispose = null;
  markNav(route.screen);
  document.title = `${route.screen.title} · vibeforge`;
  try {
    const module = await route.screen.load();
    if (mine !== renderCount) return;
    const container = h('div', { class: 'screen', 'data-screen': route.screen.name });
    replace(main, container);
    const result = await module.render(container, route);
    if (mine !== renderCount) {
      if (typeof result === 'function') result();
      return;
    }
    dispose = result;
  } catch (error) {
    if (mine !== renderCount) return;
    replace(main, h('div', { class: 'panel' }, h('h1', null, 'Something went wrong'),
      h('p', { class: 'error-text' }, error?.detail || error?.message || String(error))));
  }
}

async function signOut() {
  const auth = getAuth();
  // A token this browser got from a sign-in link is its own: revoke it. A pasted token may
  // be in use elsewhere (a script, the CLI), so it is only forgotten here.
  if (auth?.minted && auth.tokenId) {
    try {
      await api(`/auth/tokens/${auth.tokenId}`, { method: 'DELETE' });
    } catch (error) {
      if (error.status !== 401) notifyError(error, 'The token was not revoked');
    }
  }
  clearAuth();
}

function start() {
  const conn = document.getElementById('conn');
  socket.onStatus((state) => {
    conn.textContent = CONNECTION_TEXT[state] ?? state;
    conn.dataset.state = state;
  });
  document.getElementById('sign-out').addEventListener('click', signOut);
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  onAuthChange((auth) => {
    showChrome(auth);
    if (auth) socket.connect();
    if (!auth) {
      socket.disconnect();
      if (currentRoute().screen?.name !== 'signin') navigate('/signin', null, { replace: true });
    }
  });
  showChrome(getAuth());
  socket.connect();
  window.addEventListener('hashchange', render);
  window.addEventListener('unhandledrejection', (event) => notifyError(event.reason));
  render();
}

start();
