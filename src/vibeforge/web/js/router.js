/** Hash routes and the screen registry: every screen is registered here, loaded on demand.

A screen module exports `render(container, route)` and may return a function that disposes
of what it set up (sockets, timers) when the route changes. New screens (test cases, personas
and modules, attachments) are added with `registerScreen` in `screens/index.js`.
*/

const screens = [];

/** Add a screen: `{name, path: '/p/:project/code/*', load: () => import(...), title, public}`. */
export function registerScreen(screen) {
  const parts = screen.path.split('/').filter(Boolean);
  screens.push({ ...screen, parts });
}

/** The registered screens (for navigation menus). */
export function registeredScreens() {
  return screens.slice();
}

/** The current route: `{path, query, screen, params}` (screen null when nothing matches). */
export function currentRoute() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [pathPart, queryPart = ''] = raw.split('?');
  const path = pathPart || '/';
  const query = new URLSearchParams(queryPart);
  const segments = path.split('/').filter(Boolean);
  for (const screen of screens) {
    const params = match(screen.parts, segments);
    if (params) return { path, query, screen, params };
  }
  return { path, query, screen: null, params: {} };
}

function match(parts, segments) {
  const params = {};
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i];
    if (part === '*') {
      params.rest = segments.slice(i).map(decodeURIComponent).join('/');
      return params;
    }
    if (i >= segments.length) return null;
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(segments[i]);
    else if (part !== segments[i]) return null;
  }
  return parts.length === segments.length ? params : null;
}

/** The `#/...` link of a path and query (values left out when empty). */
export function href(path, query) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

/** Go to a route (replace: without a new history entry). */
export function navigate(path, query, { replace = false } = {}) {
  const target = href(path, query);
  if (replace) history.replaceState(null, '', target);
  else location.hash = target.slice(1);
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

/** A path segment for a file path inside a route (each component encoded). */
export function pathSegment(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}
