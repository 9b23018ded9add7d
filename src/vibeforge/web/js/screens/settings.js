/** Settings: model configs (create, test, set default, replace the key, delete).

API keys are write-only: the form sends them, the server never returns them (the list shows
only whether a key is stored).
*/

import { api } from '../api.js';
import { confirmDialog, notify, notifyError } from '../dialog.js';
import { field, h, replace, uid } from '../dom.js';
import { short } from '../format.js';

const PROVIDERS = ['openai', 'openrouter', 'anthropic', 'ollama', 'openai-compatible', 'offline'];

function numberOrNull(input) {
  return input.value.trim() === '' ? null : Number(input.value);
}

function createForm(reload) {
  const name = h('input', { required: true, maxlength: 200, autocomplete: 'off' });
  const provider = h('select', null, PROVIDERS.map((p) => h('option', { value: p }, p)));
  const model = h('input', { required: true, maxlength: 200, autocomplete: 'off', placeholder: 'e.g. gpt-4o-mini' });
  const baseUrl = h('input', { type: 'url', autocomplete: 'off', placeholder: 'the provider default' });
  const key = h('input', { type: 'password', autocomplete: 'new-password', spellcheck: 'false' });
  const input = h('input', { type: 'number', min: 0, step: 'any', inputmode: 'decimal' });
  const output = h('input', { type: 'number', min: 0, step: 'any', inputmode: 'decimal' });
  const isDefault = h('input', { type: 'checkbox', id: uid('model-default') });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add model');
  const form = h('form', { class: 'panel stack card-form', 'aria-labelledby': 'new-model' },
    h('h2', { id: 'new-model' }, 'New model config'),
    field('Name', name).field, field('Provider', provider).field, field('Model', model).field,
    field('Base URL', baseUrl, 'Leave empty for the provider’s own address.').field,
    field('API key', key, 'Stored encrypted; never shown again.').field,
    h('fieldset', null, h('legend', null, 'Prices (USD per million tokens, optional)'),
      h('div', { class: 'row' }, field('Input', input).field, field('Output', output).field)),
    h('div', { class: 'field inline' }, isDefault, h('label', { for: isDefault.id }, 'Use as my default')),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), provider: provider.value, model: model.value.trim(), is_default: isDefault.checked };
    if (baseUrl.value.trim()) body.base_url = baseUrl.value.trim();
    if (key.value) body.api_key = key.value;
    if (numberOrNull(input) !== null || numberOrNull(output) !== null) {
      body.prices = { input_per_million: numberOrNull(input) ?? 0, output_per_million: numberOrNull(output) ?? 0 };
    }
    submit.disabled = true;
    try {
      await api('/models', { method: 'POST', body });
      key.value = '';
      notify(`Added ${body.name}`);
      reload();
    } catch (error) {
      notifyError(error, 'Not added');
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function modelRow(config, reload) {
  const result = h('span', { class: 'small-text', role: 'status' });
  const test = h('button', { type: 'button', class: 'small', 'aria-label': `Test ${config.name}` }, 'Test');
  test.addEventListener('click', async () => {
    test.disabled = true;
    result.textContent = 'testing…';
    try {
      const answer = await api(`/models/${config.id}/test`, { method: 'POST' });
      result.textContent = answer.ok === false
        ? `failed: ${answer.error ?? answer.detail ?? 'error'}`
        : `ok${answer.latency_ms !== undefined ? ` in ${Math.round(answer.latency_ms)} ms` : ''}`;
    } catch (error) {
      result.textContent = `failed: ${error.detail || error.message}`;
    } finally {
      test.disabled = false;
    }
  });
  const makeDefault = h('button', { type: 'button', class: 'small', disabled: config.is_default, 'aria-label': `Make ${config.name} the default` }, 'Set default');
  makeDefault.addEventListener('click', async () => {
    try {
      await api(`/models/${config.id}`, { method: 'PATCH', body: { is_default: true } });
      reload();
    } catch (error) {
      notifyError(error);
    }
  });
  const changeKey = h('button', { type: 'button', class: 'small', 'aria-label': `Replace the API key of ${config.name}` }, 'Replace key');
  const keyCell = h('td', null, config.has_api_key ? 'stored' : 'none', ' ', changeKey);
  changeKey.addEventListener('click', () => {
    const key = h('input', { type: 'password', autocomplete: 'new-password', 'aria-label': `New API key for ${config.name}` });
    const save = h('button', { type: 'submit', class: 'small primary' }, 'Save key');
    const form = h('form', { class: 'row' }, key, save);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api(`/models/${config.id}`, { method: 'PATCH', body: { api_key: key.value || null } });
        notify('Key replaced');
        reload();
      } catch (error) {
        notifyError(error);
      }
    });
    replace(keyCell, form);
    key.focus();
  });
  const remove = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${config.name}` }, 'Delete');
  remove.addEventListener('click', async () => {
    if (!await confirmDialog({ title: `Delete ${config.name}?`, body: 'Sessions using it fall back to your default model.', confirm: 'Delete', danger: true })) return;
    try {
      await api(`/models/${config.id}`, { method: 'DELETE' });
      reload();
    } catch (error) {
      notifyError(error);
    }
  });
  const prices = config.prices
    ? `$${config.prices.input_per_million} / $${config.prices.output_per_million}` : '—';
  return h('tr', { 'data-model': config.name },
    h('th', { scope: 'row' }, config.name, config.is_default ? h('span', { class: 'badge success' }, ' default') : null),
    h('td', null, `${config.provider} · ${config.model}`, h('div', { class: 'muted small-text' }, config.base_url ?? '')),
    keyCell, h('td', { class: 'hide-narrow' }, prices),
    h('td', null, h('div', { class: 'row' }, test, makeDefault, remove), result));
}

export async function render(container) {
  const list = h('div', { class: 'table-wrap' });
  const [me, health] = await Promise.all([api('/me'), api('/health').catch(() => null)]);
  const reload = async () => {
    const models = await api('/models');
    replace(list, models.items.length
      ? h('table', { class: 'models' },
        h('caption', { class: 'visually-hidden' }, 'Your model configs'),
        h('thead', null, h('tr', null, ['Name', 'Provider and model', 'API key', 'Prices in / out', 'Actions'].map((t, i) =>
          h('th', { scope: 'col', class: i === 3 ? 'hide-narrow' : null }, t)))),
        h('tbody', null, models.items.map((config) => modelRow(config, reload))))
      : h('p', { class: 'empty' }, 'No model configs: runs use the server default.'));
  };
  replace(container, h('h1', null, 'Settings'),
    h('p', { class: 'muted' }, `Signed in as ${me.email}${me.is_admin ? ' (administrator)' : ''} · user ${short(me.id)}`),
    h('h2', null, 'Models'),
    health ? h('p', { class: 'muted small-text' }, `Server default: ${health.model.default} (${health.model.why})`) : null,
    list, createForm(reload));
  await reload();
}
