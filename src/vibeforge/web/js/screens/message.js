/** One message of a chat: its text, status, usage and cost, diff, and proposal actions. */

import { api } from '../api.js';
import { notify, notifyError } from '../dialog.js';
import { h } from '../dom.js';
import { diffView } from '../diff.js';
import { count, money, short, usageLine, when } from '../format.js';
import { renderMessageText } from '../markdown.js';
import { FINAL } from '../chatstate.js';

const STATUS_TEXT = {
  streaming: 'answering', success: 'done', needs_input: 'needs your answer', error: 'failed',
  cancelled: 'stopped', interrupted: 'interrupted', archived: 'archived',
};
const ROLES = ['coder', 'fixer', 'evaluator', 'judge', 'chat'];

/** Rough height before an item is measured: enough that scrolling rarely jumps. */
export function estimateHeight(message) {
  const text = message.content || '';
  const lines = text.split('\n').length + Math.floor(text.length / 90);
  return 70 + Math.min(lines, 400) * 21;
}

function statusBadge(message) {
  if (message.role !== 'assistant') return null;
  const stopping = message.ui.stopping && !FINAL.has(message.status);
  const status = stopping ? 'cancelled' : message.status;
  const live = !FINAL.has(status);
  const text = live ? (message.stage ? `${message.stage}…` : 'answering…') : STATUS_TEXT[status] ?? status;
  return h('span', { class: `badge ${live ? 'live' : status}`, 'data-status': status }, text);
}

/** The usage of a run by role (coder, fixer, evaluator, judge), from its LLM calls. */
export function usageByRole(calls) {
  const rows = new Map();
  for (const call of calls) {
    const row = rows.get(call.role) ?? { role: call.role, calls: 0, prompt: 0, completion: 0, cost: null, failed: 0 };
    row.calls += 1;
    row.prompt += call.prompt_tokens;
    row.completion += call.completion_tokens;
    if (call.status !== 'success') row.failed += 1;
    if (call.cost_usd !== null) row.cost = (row.cost ?? 0) + call.cost_usd;
    rows.set(call.role, row);
  }
  return [...rows.values()].sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role));
}

function detailsTable(calls) {
  return h('table', { class: 'details' },
    h('caption', { class: 'visually-hidden' }, 'Usage of this run by role'),
    h('thead', null, h('tr', null, ['Role', 'Calls', 'Prompt', 'Completion', 'Cost'].map((t, i) =>
      h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
    h('tbody', null, usageByRole(calls).map((row) => h('tr', null,
      h('td', null, row.role), h('td', { class: 'num' }, `${row.calls}${row.failed ? ` (${row.failed} failed)` : ''}`),
      h('td', { class: 'num' }, count(row.prompt)), h('td', { class: 'num' }, count(row.completion)),
      h('td', { class: 'num' }, money(row.cost))))));
}

function proposalBox(message, view) {
  const proposal = message.proposal;
  const pending = proposal.status === 'pending';
  const decide = async (action) => {
    try {
      const answer = await api(`/proposals/${proposal.proposal_id}/${action}`, { method: 'POST' });
      proposal.status = answer.status;
      proposal.version_id = answer.version_id;
      notify(action === 'accept' ? `Applied as version ${short(answer.version_id)}` : 'Proposal rejected');
    } catch (error) {
      notifyError(error, action === 'accept' ? 'Not applied' : 'Not rejected');
      if (error.status === 409) proposal.status = 'conflict';
    }
    view.refresh(message.id);
  };
  const toggle = h('button', { type: 'button', class: 'small', 'aria-expanded': String(!!message.ui.showProposal) },
    message.ui.showProposal ? 'Hide changes' : 'Show changes');
  toggle.addEventListener('click', () => { message.ui.showProposal = !message.ui.showProposal; view.refresh(message.id); });
  return h('div', { class: 'proposal', 'data-proposal': proposal.proposal_id, 'data-status': proposal.status },
    h('div', null, h('strong', null, 'Proposal: '), proposal.commit_message || 'a change',
      ' — ', h('span', { class: 'proposal-status' }, proposal.status),
      proposal.version_id ? ` as version ${short(proposal.version_id)}` : ''),
    h('div', { class: 'paths' }, (proposal.paths || []).join(', ')),
    h('div', { class: 'row' },
      pending ? h('button', { type: 'button', class: 'small primary', onclick: () => decide('accept') }, 'Accept') : null,
      pending ? h('button', { type: 'button', class: 'small', onclick: () => decide('reject') }, 'Reject') : null,
      proposal.diff ? toggle : null),
    message.ui.showProposal && proposal.diff ? diffView(proposal.diff, { label: 'Proposal diff', heading: 'h2' }) : null);
}

/** The card of one message; `view.refresh(id)` re-renders it after a change. */
export function renderMessage(message, view) {
  const assistant = message.role === 'assistant';
  const head = h('div', { class: 'msg-head' },
    h('span', { class: 'role' }, assistant ? 'Assistant' : 'You'),
    h('span', null, when(message.created_at)),
    assistant && message.model ? h('span', null, message.model) : null,
    statusBadge(message));
  const body = h('div', { class: 'msg-body' });
  if (message.thinking) body.append(h('div', { class: 'msg-text thinking' }, message.thinking));
  if (assistant && !FINAL.has(message.status)) {
    // While streaming, chunks are appended to this one text node (see chat.js).
    const stream = h('div', { class: 'msg-text stream' });
    if (message.partialUnknown) stream.append(h('span', { class: 'muted' }, '… '));
    stream.append(document.createTextNode(message.content || ''));
    body.append(stream);
  } else {
    body.append(renderMessageText(message.content || (assistant ? '' : '…')));
  }
  const card = h('div', { class: `msg ${message.role}`, 'data-message': message.id }, head, body);
  if (message.error) card.append(h('div', { class: 'msg-error', role: 'note' }, message.error));
  if (message.proposal) card.append(proposalBox(message, view));
  else if (message.diff) {
    const toggle = h('button', { type: 'button', class: 'small', 'aria-expanded': String(!!message.ui.showDiff) },
      message.ui.showDiff ? 'Hide diff' : 'Show diff');
    toggle.addEventListener('click', () => { message.ui.showDiff = !message.ui.showDiff; view.refresh(message.id); });
    card.append(h('div', { class: 'row' }, toggle));
    if (message.ui.showDiff) card.append(diffView(message.diff, { label: 'Message diff', heading: 'h2' }));
  }
  if (assistant && message.token_usage) {
    const details = h('button', { type: 'button', class: 'small', 'aria-expanded': String(!!message.ui.details) },
      message.ui.details ? 'Hide usage by role' : 'Usage by role');
    details.addEventListener('click', async () => {
      if (message.ui.details) {
        message.ui.details = null;
      } else {
        try {
          message.ui.details = (await api(`/messages/${message.id}/full`)).llm_calls;
        } catch (error) {
          notifyError(error);
        }
      }
      view.refresh(message.id);
    });
    card.append(h('div', { class: 'msg-foot' },
      h('span', { class: 'usage', 'data-cost': message.token_usage.cost_usd ?? '' }, usageLine(message.token_usage)),
      FINAL.has(message.status) ? details : null));
    if (message.ui.details) card.append(detailsTable(message.ui.details));
  }
  return card;
}
