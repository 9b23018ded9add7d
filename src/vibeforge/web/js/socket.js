/** The one WebSocket to `/ws`: authentication, subscriptions, reconnects with replay.

Each followed session says which `seq` it has seen; after a dropped connection every follow
is subscribed again with `after_seq`, so the server replays exactly what was missed. A ping
every 20 s finds a dead connection that never reported closing.
*/

import { clearAuth, getToken } from './auth.js';

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000;
const CLOSE_UNAUTHORIZED = 4401;

class LiveSocket {
  constructor() {
    this.ws = null;
    this.state = 'idle';
    this.sessions = new Map(); // session id -> {handler, afterSeq}
    this.projects = new Map(); // project id -> Set(handler)
    this.replies = new Set(); // handlers of seq-0 replies (errors of commands)
    this.statusListeners = new Set();
    this.retry = 0;
    this.timer = null;
    this.lastHeard = 0;
    window.addEventListener('online', () => this.reconnectSoon(0));
  }

  /** Open the connection if signed in (a no-op when already open or opening). */
  connect() {
    if (this.ws || !getToken()) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    this.setState('connecting');
    ws.addEventListener('open', () => {
      // The token goes in the first frame, not the URL, so no log line ever holds it.
      ws.send(JSON.stringify({ type: 'auth', data: { token: getToken() } }));
      this.retry = 0;
      this.lastHeard = performance.now();
      this.setState('open');
      for (const [sessionId, follow] of this.sessions) this.subscribeSession(sessionId, follow);
      for (const projectId of this.projects.keys()) this.send('subscribe', { project_id: projectId });
      this.startPing();
    });
    ws.addEventListener('message', (event) => this.receive(event));
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopPing();
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.setState('idle');
        clearAuth();
        return;
      }
      this.setState('reconnecting');
      this.reconnectSoon();
    });
  }

  /** Close for good (sign-out). */
  disconnect() {
    clearTimeout(this.timer);
    this.stopPing();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.sessions.clear();
    this.projects.clear();
    this.setState('idle');
  }

  /** Drop the current connection and open a new one (as after a network failure). */
  reconnectSoon(delay) {
    clearTimeout(this.timer);
    const wait = delay ?? Math.min(5000, 250 * 2 ** this.retry) * (0.75 + Math.random() / 2);
    this.retry += 1;
    this.timer = setTimeout(() => {
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
      this.ws = null;
      this.connect();
    }, wait);
  }

  receive(event) {
    this.lastHeard = performance.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    const data = message.data || {};
    const sessionId = data.session_id ?? data.session?.session_id;
    const follow = sessionId ? this.sessions.get(sessionId) : null;
    if (follow) follow.handler(message, event.timeStamp);
    const projectId = data.project_id;
    if (projectId && !sessionId && this.projects.has(projectId)) {
      for (const handler of this.projects.get(projectId)) handler(message);
    } else if (projectId && message.type === 'code_changed' && this.projects.has(projectId)) {
      for (const handler of this.projects.get(projectId)) handler(message);
    }
    if (!message.seq && !sessionId && !projectId) {
      for (const handler of this.replies) handler(message);
    }
  }

  /** Follow a session: `handler(message, arrivedAt)`; `afterSeq()` is its last seen seq
   * (null: ask for a snapshot). Returns the function that stops following. */
  followSession(sessionId, handler, afterSeq) {
    const follow = { handler, afterSeq };
    this.sessions.set(sessionId, follow);
    this.connect();
    if (this.state === 'open') this.subscribeSession(sessionId, follow);
    return () => {
      if (this.sessions.get(sessionId) === follow) this.sessions.delete(sessionId);
    };
  }

  subscribeSession(sessionId, follow) {
    const after = follow.afterSeq();
    const data = { session_id: sessionId };
    if (after !== null && after !== undefined) data.after_seq = after;
    this.send('subscribe', data);
  }

  /** Follow a project's file changes; returns the function that stops following. */
  followProject(projectId, handler) {
    if (!this.projects.has(projectId)) this.projects.set(projectId, new Set());
    this.projects.get(projectId).add(handler);
    this.connect();
    if (this.state === 'open') this.send('subscribe', { project_id: projectId });
    return () => this.projects.get(projectId)?.delete(handler);
  }

  /** Hear replies addressed to this client alone (errors of commands, cancel results). */
  onReply(handler) {
    this.replies.add(handler);
    return () => this.replies.delete(handler);
  }

  /** Send a command; false when the socket is not open. */
  send(type, data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type, data }));
    return true;
  }

  onStatus(listener) {
    this.statusListeners.add(listener);
    listener(this.state);
    return () => this.statusListeners.delete(listener);
  }

  setState(state) {
    this.state = state;
    for (const listener of this.statusListeners) listener(state);
  }

  startPing() {
    this.stopPing();
    this.pinger = setInterval(() => {
      if (performance.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        this.ws?.close(4000, 'silent');
        return;
      }
      this.send('ping', { ts: Date.now() });
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearInterval(this.pinger);
  }
}

/** The page's socket. */
export const socket = new LiveSocket();
