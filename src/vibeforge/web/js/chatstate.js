/** One session's messages and live runs, built from stored messages and `/ws` events.

Every numbered event is applied at most once (`seq` above the last one seen), so a replay
that overlaps what was already shown adds nothing twice. What a reload would lose (the last
`seq` and the partial answers of running messages) is kept in the tab's session storage, so
a reloaded page subscribes with `after_seq` and continues exactly where it stopped.
*/

export const FINAL = new Set(['success', 'needs_input', 'error', 'cancelled', 'interrupted']);
const STORE_PREFIX = 'vibeforge.session.';

/** A stored proposal (`GET /sessions/{id}/proposals`) as a message shows it. */
export function proposalView(row) {
  return {
    proposal_id: row.id, status: row.status, paths: row.paths, diff: row.diff,
    commit_message: row.commit_message, version_id: row.version_id,
  };
}

export class SessionState {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.messages = [];
    this.byId = new Map();
    this.byRun = new Map(); // run id -> message id
    this.lastSeq = 0;
    this.pendingUser = null; // the id of a sent message not yet acknowledged
    this.localCount = 0;
  }

  /** Replace the messages with stored ones (oldest first) and the session's proposals. */
  load(rows, proposals = []) {
    this.messages = [];
    this.byId.clear();
    this.byRun.clear();
    // Newest first: a message with several proposals shows its latest.
    const byMessage = new Map();
    for (const row of proposals) {
      if (row.message_id && !byMessage.has(row.message_id)) byMessage.set(row.message_id, proposalView(row));
    }
    for (const row of rows) {
      const message = { ...row, ui: {} };
      if (message.status === 'streaming') message.partialUnknown = true;
      if (byMessage.has(message.id)) message.proposal = byMessage.get(message.id);
      this.add(message);
    }
  }

  add(message) {
    this.messages.push(message);
    this.byId.set(message.id, message);
    if (message.run_id && message.role === 'assistant') this.byRun.set(message.run_id, message.id);
    return message;
  }

  /** A message the user just sent, shown before the server acknowledges it. */
  addLocalUser(prompt) {
    this.localCount += 1;
    const message = this.add({
      id: `local-${this.localCount}`, role: 'user', content: prompt, status: 'success',
      created_at: new Date().toISOString(), ui: {}, local: true,
    });
    this.pendingUser = message.id;
    return message;
  }

  /** Drop a local message whose sending failed. */
  dropLocal(id) {
    const message = this.byId.get(id);
    if (!message) return;
    this.messages.splice(this.messages.indexOf(message), 1);
    this.byId.delete(id);
    if (this.pendingUser === id) this.pendingUser = null;
  }

  rename(oldId, newId) {
    const message = this.byId.get(oldId);
    if (!message || this.byId.has(newId)) return;
    this.byId.delete(oldId);
    message.id = newId;
    message.local = false;
    this.byId.set(newId, message);
  }

  /** The assistant message a run writes, created when first heard of. */
  runMessage(runId, messageId, model) {
    const known = this.byId.get(messageId ?? this.byRun.get(runId));
    if (known) {
      this.byRun.set(runId, known.id);
      return known;
    }
    if (!messageId) return null;
    return this.add({
      id: messageId, role: 'assistant', run_id: runId, content: '', thinking: '',
      status: 'streaming', model, created_at: new Date().toISOString(), ui: {},
    });
  }

  /** The message that is still running, if any. */
  activeMessage() {
    for (let i = this.messages.length - 1; i >= 0; i -= 1) {
      const message = this.messages[i];
      if (message.role === 'assistant' && !FINAL.has(message.status)) return message;
    }
    return null;
  }

  /**
   * Apply one server event; returns {changed: [message ids], kind} or null if it was already
   * applied or concerns nothing shown. `kind` tells the view what to do beyond re-rendering.
   */
  apply(event) {
    const { type, seq } = event;
    const data = event.data || {};
    if (seq > 0) {
      if (seq <= this.lastSeq) return null;
      this.lastSeq = seq;
    }
    switch (type) {
      case 'chat_session_start': {
        const changed = [];
        if (data.user_message_id && !this.byId.has(data.user_message_id)) {
          if (this.pendingUser && this.byId.has(this.pendingUser)) {
            this.rename(this.pendingUser, data.user_message_id);
          } else {
            this.add({
              id: data.user_message_id, role: 'user', content: '', status: 'success',
              created_at: new Date().toISOString(), ui: {}, needsFetch: true,
            });
          }
          changed.push(data.user_message_id);
        }
        this.pendingUser = null;
        const existing = this.byId.get(data.message_id);
        if (existing && FINAL.has(existing.status)) return { changed, kind: 'none' };
        const message = this.runMessage(data.run_id, data.message_id, data.model);
        // The run starts here: whatever was shown for it is replaced by what follows.
        message.content = '';
        message.thinking = '';
        message.partialUnknown = false;
        message.status = 'streaming';
        message.model = data.model ?? message.model;
        message.trace_id = data.trace_id ?? message.trace_id;
        changed.push(message.id);
        return { changed, kind: 'start' };
      }
      case 'chunk': {
        const message = this.runMessage(data.run_id);
        if (!message || FINAL.has(message.status)) return null;
        if (data.content) message.content += data.content;
        if (data.thinking) message.thinking = (message.thinking || '') + data.thinking;
        return { changed: [message.id], kind: 'chunk', content: data.content || '', thinking: data.thinking || '' };
      }
      case 'stage_update': {
        const message = this.runMessage(data.run_id);
        if (!message || FINAL.has(message.status)) return null;
        message.stage = data.status === 'running' ? data.stage : `${data.stage} ${data.status}`;
        return { changed: [message.id], kind: 'stage' };
      }
      case 'token_usage': {
        const message = this.runMessage(data.run_id, data.message_id);
        if (!message) return null;
        if (!FINAL.has(message.status)) message.token_usage = data.total;
        message.lastPromptTokens = data.usage?.prompt_tokens ?? message.lastPromptTokens;
        return { changed: [message.id], kind: 'usage' };
      }
      case 'proposal': {
        const message = this.runMessage(data.run_id);
        if (!message) return null;
        message.proposal = {
          proposal_id: data.proposal_id, status: data.status, paths: data.paths,
          diff: data.diff, commit_message: data.commit_message, version_id: data.version_id,
        };
        return { changed: [message.id], kind: 'proposal' };
      }
      case 'done': {
        const message = this.runMessage(data.run_id, data.message_id);
        if (!message) return null;
        Object.assign(message, {
          status: data.status, content: data.content ?? message.content, diff: data.diff,
          token_usage: data.token_usage, error: data.error, error_code: data.error_code,
          stage: null, partialUnknown: false,
        });
        if (message.proposal && data.proposal_status) {
          message.proposal.status = data.proposal_status;
          message.proposal.version_id = data.version_id ?? message.proposal.version_id;
        }
        return { changed: [message.id], kind: 'done' };
      }
      case 'cancelled':
      case 'interrupted': {
        const message = this.runMessage(data.run_id, data.message_id);
        if (!message) return null;
        message.status = type;
        message.stage = null;
        return { changed: [message.id], kind: 'done' };
      }
      case 'error': {
        const message = data.run_id ? this.runMessage(data.run_id) : null;
        if (!message) return null;
        message.error = data.detail;
        message.error_code = data.code;
        return { changed: [message.id], kind: 'error' };
      }
      case 'code_changed':
        return { changed: [], kind: 'code' };
      case 'session_start':
        return { changed: [], kind: 'none' };
      case 'snapshot':
        this.lastSeq = Math.max(this.lastSeq, data.last_seq || 0);
        return { changed: [], kind: data.reason === 'replay_unavailable' ? 'resync' : 'none' };
      default:
        return null;
    }
  }

  /** Persist what a reload needs: the last seq and the running messages' partial text. */
  save() {
    const live = this.messages
      .filter((m) => m.role === 'assistant' && !FINAL.has(m.status))
      .map((m) => ({ id: m.id, run_id: m.run_id, content: m.content, thinking: m.thinking,
        stage: m.stage, token_usage: m.token_usage, partialUnknown: !!m.partialUnknown }));
    try {
      sessionStorage.setItem(STORE_PREFIX + this.sessionId,
        JSON.stringify({ lastSeq: this.lastSeq, live }));
    } catch {
      // Storage full or disabled: a reload then starts from a snapshot.
    }
  }

  /** Restore a saved state over freshly loaded messages; true when there was one. */
  restore() {
    let saved;
    try {
      saved = JSON.parse(sessionStorage.getItem(STORE_PREFIX + this.sessionId) || 'null');
    } catch {
      saved = null;
    }
    if (!saved || typeof saved.lastSeq !== 'number') return false;
    this.lastSeq = saved.lastSeq;
    for (const entry of saved.live || []) {
      const message = this.byId.get(entry.id);
      if (!message || FINAL.has(message.status)) continue;
      Object.assign(message, {
        content: entry.content || '', thinking: entry.thinking || '', stage: entry.stage,
        token_usage: entry.token_usage ?? message.token_usage,
        partialUnknown: entry.partialUnknown,
      });
      if (entry.run_id) this.byRun.set(entry.run_id, message.id);
    }
    return true;
  }

  /** Sums over the session's answers: tokens, cost, and the last request's prompt size. */
  totals() {
    const total = { prompt_tokens: 0, completion_tokens: 0, cost_usd: null, calls: 0 };
    let context = null;
    for (const message of this.messages) {
      const usage = message.token_usage;
      if (!usage) continue;
      total.prompt_tokens += usage.prompt_tokens || 0;
      total.completion_tokens += usage.completion_tokens || 0;
      total.calls += usage.calls || 0;
      if (usage.cost_usd !== null && usage.cost_usd !== undefined) {
        total.cost_usd = (total.cost_usd || 0) + usage.cost_usd;
      }
      if (message.lastPromptTokens) context = message.lastPromptTokens;
    }
    return { total, context };
  }
}
