/** A chat session's attachments: upload (a button, or files dropped on the chat), each one's
extraction state as it changes (`attachment_state` events, a poll as a safety net), remove.

`busy()` names the attachments still uploading or being read (a message waits for them);
`onFailure(name)` tells of one that could not be attached or read.
*/

import { allPages, api } from './api.js';
import { notifyError } from './dialog.js';
import { h, replace } from './dom.js';
import { bytes, count } from './format.js';

const WORKING = new Set(['uploading', 'uploaded', 'extracting']);
const STATE_TEXT = { uploading: 'uploading…', uploaded: 'waiting…', extracting: 'reading…', ready: 'ready', failed: 'failed' };
const POLL_MS = 1500;
const RANK = { uploading: 0, uploaded: 1, extracting: 2, ready: 3, failed: 3 };

export class AttachmentsPanel {
  constructor(sessionId, { dropTarget, onChange, onFailure }) {
    this.sessionId = sessionId;
    this.items = new Map(); // id (or a local id while uploading) -> attachment
    this.onChange = onChange ?? (() => {});
    this.onFailure = onFailure ?? (() => {});
    this.local = 0;
    this.input = h('input', { type: 'file', multiple: true, hidden: true });
    this.button = h('button', { type: 'button', class: 'small' }, 'Attach files');
    this.list = h('ul', { class: 'attachments', 'aria-label': 'Attachments' });
    this.live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
    this.element = h('div', { class: 'attachments-bar' }, this.button, this.input, this.list, this.live);
    this.button.addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      this.upload([...this.input.files]);
      this.input.value = '';
    });
    this.drop = dropTarget;
    this.onDrag = (event) => {
      if (![...(event.dataTransfer?.types ?? [])].includes('Files')) return;
      event.preventDefault();
      dropTarget.classList.toggle('dropping', event.type !== 'dragleave');
    };
    this.onDrop = (event) => {
      if (!event.dataTransfer?.files?.length) return;
      event.preventDefault();
      dropTarget.classList.remove('dropping');
      this.upload([...event.dataTransfer.files]);
    };
    for (const type of ['dragenter', 'dragover', 'dragleave']) dropTarget.addEventListener(type, this.onDrag);
    dropTarget.addEventListener('drop', this.onDrop);
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  async load() {
    for (const row of await allPages('/attachments', { session_id: this.sessionId })) {
      if (row.session_id === this.sessionId) this.items.set(row.id, row);
    }
    this.show();
  }

  /** The names of attachments not yet ready to be read by a run. */
  busy() {
    return [...this.items.values()].filter((a) => WORKING.has(a.state)).map((a) => a.name);
  }

  async upload(files) {
    await Promise.all(files.map(async (file) => {
      this.local += 1;
      const localId = `uploading-${this.local}`;
      this.items.set(localId, { id: localId, name: file.name, size: file.size, state: 'uploading', kind: '' });
      this.show();
      const form = new FormData();
      form.append('file', file, file.name);
      try {
        const stored = await api('/attachments', { method: 'POST', query: { session_id: this.sessionId }, raw: form });
        // An event may have told of it already: keep whichever is further along.
        const known = this.items.get(stored.id);
        if (!known || RANK[stored.state] >= RANK[known.state]) this.put(localId, stored.id, stored);
        else this.items.delete(localId);
        this.live.textContent = stored.deduplicated ? `${file.name} was attached already` : `${file.name} uploaded`;
      } catch (error) {
        this.items.delete(localId);
        notifyError(error, `${file.name} not attached`);
        this.onFailure(file.name);
      }
      this.show();
    }));
  }

  /** Put `value` under `key` in the place of `old` (the list keeps its order). */
  put(old, key, value) {
    this.items = new Map([...this.items].filter(([k]) => k !== key).map(([k, v]) => (k === old ? [key, value] : [k, v])));
    if (!this.items.has(key)) this.items.set(key, value);
  }

  /** An `attachment_state` event of this session. */
  apply(data) {
    if (data.session_id !== this.sessionId) return;
    if (data.state === 'deleted') {
      this.items.delete(data.attachment_id);
    } else {
      // The event of an upload may come before its answer: it takes the upload's place.
      const uploading = [...this.items.values()].find((a) => a.state === 'uploading' && a.name === data.name && a.size === data.size);
      const known = this.items.get(data.attachment_id) ?? {};
      if (data.state === 'failed' && known.state !== 'failed') this.onFailure(data.name);
      const merged = { ...known, ...data, id: data.attachment_id };
      if (!this.items.has(data.attachment_id) && uploading) this.put(uploading.id, data.attachment_id, merged);
      else this.items.set(data.attachment_id, merged);
      if (data.state === 'ready' || data.state === 'failed') this.live.textContent = `${data.name} ${data.state}`;
    }
    this.show();
  }

  async poll() {
    const waiting = [...this.items.values()].filter((a) => a.state === 'uploaded' || a.state === 'extracting');
    for (const attachment of waiting) {
      try {
        const now = await api(`/attachments/${attachment.id}`);
        if (now.state === 'failed') this.onFailure(now.name);
        this.items.set(attachment.id, now);
      } catch (error) {
        if (error.status === 404) this.items.delete(attachment.id);
      }
    }
    if (waiting.length) this.show();
  }

  async remove(attachment) {
    try {
      await api(`/attachments/${attachment.id}`, { method: 'DELETE' });
      this.items.delete(attachment.id);
      this.live.textContent = `${attachment.name} removed`;
      this.show();
      this.button.focus();
    } catch (error) {
      notifyError(error, 'Not removed');
    }
  }

  show() {
    replace(this.list, [...this.items.values()].map((a) => {
      const state = h('span', { class: `badge ${a.state === 'ready' ? 'success' : a.state === 'failed' ? 'error' : 'live'}` }, STATE_TEXT[a.state] ?? a.state);
      const detail = a.state === 'ready' && a.tokens !== null && a.tokens !== undefined
        ? `${count(a.tokens)} tokens` : a.state === 'failed' ? a.error ?? a.error_code ?? '' : bytes(a.size ?? 0);
      const remove = a.state === 'uploading' ? null
        : h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${a.name}`, onclick: () => this.remove(a) }, '×');
      return h('li', { 'data-attachment': a.name, 'data-state': a.state }, h('span', { class: 'att-name' }, a.name), state,
        h('span', { class: 'muted small-text' }, detail), remove);
    }));
    this.list.hidden = this.items.size === 0;
    this.onChange();
  }

  dispose() {
    clearInterval(this.timer);
    for (const type of ['dragenter', 'dragover', 'dragleave']) this.drop.removeEventListener(type, this.onDrag);
    this.drop.removeEventListener('drop', this.onDrop);
  }
}
