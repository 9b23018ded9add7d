/** Modal confirmations and short notices (announced to screen readers). */

import { h } from './dom.js';

/** Ask before doing something; resolves true when confirmed. */
export function confirmDialog({ title, body, confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const yes = h('button', { type: 'submit', class: danger ? 'danger solid' : 'primary', value: 'yes' }, confirm);
    const no = h('button', { type: 'submit', value: 'no' }, 'Cancel');
    const dialog = h('dialog', { 'aria-labelledby': titleId },
      h('form', { method: 'dialog', class: 'stack' },
        h('h2', { id: titleId }, title),
        body ? h('p', null, body) : null,
        h('div', { class: 'row' }, yes, no)));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/** A notice that disappears by itself. */
export function notify(text, kind = 'info', ms = 5000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const toast = h('div', { class: `toast ${kind}` }, text);
  box.append(toast);
  setTimeout(() => toast.remove(), ms);
}

/** Report an error from the API (or anything thrown) as a notice. */
export function notifyError(error, prefix = '') {
  const text = error?.detail || error?.message || String(error);
  notify(prefix ? `${prefix}: ${text}` : text, 'error', 8000);
}
