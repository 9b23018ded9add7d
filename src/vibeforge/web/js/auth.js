/** The signed-in token, kept in the browser's local storage, and sign-out. */

const KEY = 'vibeforge.auth';
const listeners = new Set();

/** {token, tokenId?, minted?, email?} or null when signed out. */
export function getAuth() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || 'null');
    return value && typeof value.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** The bearer token, or null. */
export function getToken() {
  return getAuth()?.token ?? null;
}

/** Remember a token (minted: the client got it from a sign-in link and may revoke it). */
export function setAuth(auth) {
  localStorage.setItem(KEY, JSON.stringify(auth));
  for (const listener of listeners) listener(auth);
}

/** Forget the token and everything kept for this browser tab. */
export function clearAuth() {
  localStorage.removeItem(KEY);
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith('vibeforge.')) sessionStorage.removeItem(key);
  }
  for (const listener of listeners) listener(null);
}

/** Call `listener(auth | null)` whenever this tab signs in or out. */
export function onAuthChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Another tab signing out signs this one out too.
window.addEventListener('storage', (event) => {
  if (event.key === KEY) for (const listener of listeners) listener(getAuth());
});
