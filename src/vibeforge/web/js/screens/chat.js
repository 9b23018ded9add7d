/** Chat: a session's messages (virtualised), live answers over /ws, stop, sessions, models. */

import { allPages, api } from '../api.js';
import { SessionState } from '../chatstate.js';
import { notify, notifyError } from '../dialog.js';
import { append, h, replace } from '../dom.js';
import { count, money } from '../format.js';
import { href, navigate } from '../router.js';
import { socket } from '../socket.js';
import { VirtualList } from '../vlist.js';
import { AttachmentsPanel } from '../attachments.js';
import { loadProject, projectFrame } from './frame.js';
import { estimateHeight, renderMessage } from './message.js';

const SAVE_EVERY_MS = 250;

function sessionPicker(projectId, sessions, current) {
  // The project's global session is always offered (it is created when first opened).
  const nodes = sessions.filter((s) => s.type === 'node');
  const select = h('select', { 'aria-label': 'Session' },
    h('option', { value: '', selected: current.type === 'global' }, 'Whole project'),
    nodes.map((s) => h('option', { value: s.node_id, selected: s.session_id === current.session_id },
      `File: ${s.node_id}`)));
  select.addEventListener('change', () => navigate(`/p/${projectId}/chat`, { node: select.value }));
  return select;
}

function modelPicker(models, defaultLabel) {
  const saved = localStorage.getItem('vibeforge.model') ?? '';
  const fallback = models.find((m) => m.is_default);
  const select = h('select', { 'aria-label': 'Model', name: 'model' },
    h('option', { value: '' }, fallback ? `Default (${fallback.name})` : `Server default (${defaultLabel})`),
    models.map((m) => h('option', { value: m.id, selected: m.id === saved }, `${m.name} · ${m.model}`)));
  select.addEventListener('change', () => localStorage.setItem('vibeforge.model', select.value));
  return select;
}

function personaPicker(sessionId, personas, current) {
  // Offered once the user has a persona (the Personas screen makes them).
  if (!personas.length && !current) return null;
  const select = h('select', { 'aria-label': 'Persona', name: 'persona' },
    h('option', { value: '' }, 'No persona'),
    personas.map((p) => h('option', { value: p.id, selected: p.id === current }, p.name)));
  select.addEventListener('change', async () => {
    try {
      const chosen = await api(`/sessions/${sessionId}/persona`, { method: 'PUT', body: { persona_id: select.value || null } });
      notify(chosen.persona_id ? `Speaking as ${select.selectedOptions[0].textContent}` : 'No persona');
    } catch (error) {
      notifyError(error, 'Persona not changed');
    }
  });
  return select;
}

function modePicker() {
  const saved = localStorage.getItem('vibeforge.mode') === 'chat' ? 'chat' : 'code';
  const option = (value, label) => {
    const input = h('input', { type: 'radio', name: 'mode', value, checked: value === saved });
    input.addEventListener('change', () => localStorage.setItem('vibeforge.mode', value));
    return h('label', null, input, h('span', null, label));
  };
  return h('fieldset', { class: 'segmented' }, h('legend', { class: 'visually-hidden' }, 'Mode'),
    option('code', 'Code'), option('chat', 'Chat'));
}

export async function render(container, route) {
  const projectId = route.params.project;
  const node = route.query.get('node') || null;
  const [project, opened, models, health] = await Promise.all([
    loadProject(projectId),
    api(`/projects/${projectId}/sessions`, { method: 'POST', body: node ? { node_id: node } : {} }),
    api('/models'),
    api('/health').catch(() => null),
  ]);
  const body = projectFrame(container, projectId, 'chat', project);
  const sessionId = opened.session_id;
  const state = new SessionState(sessionId);
  // The stored messages and the session's proposals, so one made while no browser watched
  // can still be accepted or rejected here.
  const loadHistory = () => Promise.all([
    allPages(`/sessions/${sessionId}/messages`),
    allPages(`/sessions/${sessionId}/proposals`),
  ]);
  const [sessions, history, personas, remembered] = await Promise.all([
    api(`/projects/${projectId}/sessions`).then((page) => page.items),
    loadHistory(),
    allPages('/personas', { is_active: true }).catch(() => []),
    api(`/sessions/${sessionId}/state`).catch(() => null),
  ]);
  state.load(...history);
  const restored = state.restore();
  if (!restored) state.lastSeq = opened.last_seq;
  // A new tab joining a running answer asks for everything the server still holds.
  const joinRunning = !restored && opened.active_run_id;

  const live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const usage = h('span', { class: 'chat-usage', 'aria-live': 'off' });
  const stage = h('span', { class: 'stage', role: 'status' });
  const scroller = h('div', { class: 'messages', role: 'feed', 'aria-label': 'Messages', tabindex: '0', 'aria-busy': 'false' });
  const prompt = h('textarea', { id: 'prompt', rows: 2, placeholder: 'Ask for a change, or a question…' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', class: 'danger', hidden: true }, 'Stop');
  const model = modelPicker(models.items, health?.model?.default ?? 'offline');
  const mode = modePicker();
  const composer = h('form', { class: 'composer', 'aria-label': 'New message' },
    h('label', { for: 'prompt', class: 'visually-hidden' }, 'Message'), prompt, send, stop);
  // A run reads the session's attachments as they are at its start: a message sent while one
  // is uploading or being read waits for it (and is dropped if one fails).
  const waitText = h('span');
  const cancelWait = h('button', { type: 'button', class: 'small', hidden: true }, 'Cancel sending');
  const waitNote = h('p', { class: 'muted small-text wait-note', 'aria-live': 'polite', hidden: true }, waitText, ' ', cancelWait);
  let sendWhenReady = false;
  const chatBox = h('div', { class: 'chat' });
  const attachments = new AttachmentsPanel(sessionId, {
    dropTarget: chatBox,
    onChange: () => {
      const busy = attachments.busy();
      const names = `${busy.join(', ')} ${busy.length > 1 ? 'are' : 'is'} read`;
      if (!busy.length && sendWhenReady) {
        sendWhenReady = false;
        submit();
      }
      waitText.textContent = !busy.length ? '' : sendWhenReady ? `Sends once ${names}.` : `Sending waits until ${names}.`;
      cancelWait.hidden = !sendWhenReady;
      waitNote.hidden = !busy.length;
    },
    onFailure: (name) => {
      if (!sendWhenReady) return;
      sendWhenReady = false;
      notify(`Not sent: ${name} could not be attached`, 'error');
    },
  });
  cancelWait.addEventListener('click', () => {
    sendWhenReady = false;
    attachments.onChange();
    prompt.focus();
  });
  body.append(append(chatBox, [
    h('div', { class: 'chat-bar' }, sessionPicker(projectId, sessions, opened), model,
      personaPicker(sessionId, personas, remembered?.persona_id ?? null), mode, stage, usage),
    scroller, attachments.element, composer, waitNote, live,
    node ? h('p', { class: 'muted small-text' }, 'About ', h('a', { href: href(`/p/${projectId}/code/${node}`) }, node)) : null]));

  const list = new VirtualList(scroller, {
    renderItem: (message) => renderMessage(message, list),
    keyOf: (message) => message.id,
    estimate: estimateHeight,
  });
  const empty = h('p', { class: 'empty' }, 'No messages yet: ask for a change or a question below.');
  scroller.prepend(empty);
  const show = () => {
    list.setItems(state.messages);
    // A feed must hold articles: an empty list is a plain region with a note.
    empty.hidden = state.messages.length > 0;
    scroller.setAttribute('role', state.messages.length ? 'feed' : 'region');
  };

  const updateBar = () => {
    const active = state.activeMessage();
    stop.hidden = !active || !!active.ui.stopping;
    stage.textContent = active ? (active.ui.stopping ? 'stopping…' : `● ${active.stage ?? 'starting'}`) : '';
    const { total, context } = state.totals();
    usage.textContent = `Session: ${count(total.prompt_tokens + total.completion_tokens)} tokens · ${money(total.cost_usd)}`
      + (context ? ` · context ${count(context)} tokens` : '');
  };

  // Chunks are applied to the DOM once a frame: appended to the streaming text node.
  const pending = new Map();
  let probe = [];
  let frame = 0;
  const flush = () => {
    frame = 0;
    for (const [id, text] of pending) {
      const stream = list.elementOf(id)?.querySelector('.stream');
      if (stream?.lastChild?.nodeType === Node.TEXT_NODE) stream.lastChild.appendData(text);
      else list.refresh(id);
    }
    pending.clear();
    list.schedule();
    if (window.__vfProbe && probe.length) window.__vfProbe(probe);
    probe = [];
  };

  let saveTimer = 0;
  const save = () => {
    if (!saveTimer) saveTimer = setTimeout(() => { saveTimer = 0; state.save(); }, SAVE_EVERY_MS);
  };

  const resync = async () => {
    state.load(...(await loadHistory()));
    show();
    updateBar();
  };

  const onEvent = (message, arrivedAt) => {
    if (message.type === 'attachment_state') {
      attachments.apply(message.data || {});
      return;
    }
    const outcome = state.apply(message);
    if (!outcome) return;
    if (outcome.kind === 'chunk') {
      const id = outcome.changed[0];
      if (outcome.thinking) list.refresh(id);
      else pending.set(id, (pending.get(id) ?? '') + outcome.content);
      if (window.__vfProbe) probe.push({ seq: message.seq, arrivedAt });
      if (!frame) frame = requestAnimationFrame(flush);
      save();
      return;
    }
    if (outcome.kind === 'resync') {
      resync();
      return;
    }
    if (outcome.kind === 'code') notify('The project has a new version');
    if (outcome.kind === 'start') show();
    for (const id of outcome.changed) {
      if (!list.index.has(id)) show();
      pending.delete(id);
      list.refresh(id);
      const changed = state.byId.get(id);
      if (changed?.needsFetch) fillUserMessage(changed);
    }
    if (outcome.kind === 'done') {
      const finished = state.byId.get(outcome.changed[0]);
      live.textContent = finished?.status === 'cancelled' ? 'Answer stopped' : 'Answer complete';
    }
    updateBar();
    save();
  };

  const fillUserMessage = async (message) => {
    message.needsFetch = false;
    try {
      const full = await api(`/messages/${message.id}/full`);
      message.content = full.message.content;
      message.created_at = full.message.created_at;
      list.refresh(message.id);
    } catch {
      // Shown as "…": the text is in the stored history anyway.
    }
  };

  const submit = async () => {
    const text = prompt.value.trim();
    if (!text) return;
    if (attachments.busy().length) {
      sendWhenReady = true;
      attachments.onChange();
      return;
    }
    const local = state.addLocalUser(text);
    prompt.value = '';
    show();
    list.toBottom();
    const chosenMode = mode.querySelector('input:checked')?.value ?? 'code';
    try {
      const accepted = await api(`/sessions/${sessionId}/messages`, {
        method: 'POST', query: { wait: 'false' },
        body: { prompt: text, model: model.value || undefined, mode: chosenMode },
      });
      state.runMessage(accepted.run_id, accepted.message_id);
      show();
      updateBar();
    } catch (error) {
      state.dropLocal(local.id);
      prompt.value = text;
      show();
      notifyError(error, 'Not sent');
    }
  };

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  stop.addEventListener('click', async () => {
    const active = state.activeMessage();
    if (!active?.run_id) return;
    // Shown as stopped at once; the partial answer stays as it is.
    active.ui.stopping = true;
    list.refresh(active.id);
    updateBar();
    live.textContent = 'Stopping';
    prompt.focus();
    if (!socket.send('cancel', { run_id: active.run_id })) {
      try {
        await api(`/runs/${active.run_id}/cancel`, { method: 'POST' });
      } catch (error) {
        notifyError(error, 'Not stopped');
      }
    }
  });

  show();
  list.toBottom();
  updateBar();
  const unfollow = socket.followSession(sessionId, onEvent, () => (joinRunning && state.lastSeq === opened.last_seq ? 0 : state.lastSeq));
  const unreply = socket.onReply((message) => {
    if (message.type === 'error') notifyError(message.data, 'Server');
  });
  const onHide = () => state.save();
  window.addEventListener('pagehide', onHide);
  prompt.focus();
  attachments.load().catch((error) => notifyError(error, 'Attachments'));
  // The context size of a reopened session: the prompt of its last request.
  const lastAnswer = [...state.messages].reverse().find((m) => m.role === 'assistant' && m.token_usage);
  if (lastAnswer && !lastAnswer.lastPromptTokens) {
    api(`/messages/${lastAnswer.id}/full`).then((full) => {
      const calls = full.llm_calls.filter((c) => c.status === 'success');
      if (calls.length) lastAnswer.lastPromptTokens = calls[calls.length - 1].prompt_tokens;
      updateBar();
    }).catch(() => {});
  }
  return () => {
    unfollow();
    unreply();
    attachments.dispose();
    state.save();
    clearTimeout(saveTimer);
    cancelAnimationFrame(frame);
    window.removeEventListener('pagehide', onHide);
    list.dispose();
    replace(body);
  };
}
