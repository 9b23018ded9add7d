/** The REST client: JSON in and out, the bearer token, and the single error shape. */

import { clearAuth, getToken } from './auth.js';

/** An error answer `{error, detail}` (or a network failure: status 0). */
export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

/** Call the API: `api('/projects', {method: 'POST', body: {...}, query: {...}})`; `raw` sends
a Blob or FormData as it is instead of JSON; `blob: true` answers the body as a Blob. */
export async function api(path, { method = 'GET', body, raw, blob = false, query, signal, token } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = { Accept: 'application/json' };
  const bearer = token ?? getToken();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // FormData sets its own multipart boundary; a Blob says its own type.
  if (raw instanceof Blob && raw.type) headers['Content-Type'] = raw.type;
  let response;
  try {
    response = await fetch(url, {
      method, headers, signal, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network_error', 'the server cannot be reached');
  }
  if (response.status === 204) return null;
  if (blob && response.ok) return response.blob();
  const type = response.headers.get('content-type') || '';
  const data = type.includes('json') ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    if (response.status === 401 && bearer && token === undefined) clearAuth();
    const code = data?.error || `http_${response.status}`;
    throw new ApiError(response.status, code, data?.detail || response.statusText, data);
  }
  return data;
}

/** A file path for a URL: each component encoded, the slashes kept. */
export function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Every item of a paged list (`{items, next}`), following the cursors. */
export async function allPages(path, query = {}, { signal, limit = 500 } = {}) {
  const items = [];
  let cursor;
  do {
    const page = await api(path, { query: { ...query, limit, cursor }, signal });
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}
