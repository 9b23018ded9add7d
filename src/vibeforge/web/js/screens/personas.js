/** Personas and prompt modules: list, create, edit, delete; a persona's image; and a preview
of a resolved system prompt with where each part came from (`POST /templates/resolve`). */

import { allPages, api } from '../api.js';
import { confirmDialog, notify, notifyError } from '../dialog.js';
import { field, h, replace, uid } from '../dom.js';
import { count } from '../format.js';

const MODES = ['reactive', 'autonomous'];
const TRIGGERS = ['always', 'keyword', 'regex'];

function checkbox(label, checked) {
  const input = h('input', { type: 'checkbox', id: uid('check'), checked });
  return { input, field: h('div', { class: 'field inline' }, input, h('label', { for: input.id }, label)) };
}

function blobToDataUrl(blob) {
  // The page's CSP allows images from 'self' and data: only (no blob: URLs).
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function personaImage(persona) {
  if (!persona.image) return null;
  const img = h('img', { class: 'persona-image', alt: `Image of ${persona.name}`, width: 40, height: 40 });
  api(persona.image.url, { blob: true }).then(blobToDataUrl).then((url) => { img.src = url; })
    .catch(() => img.remove());
  return img;
}

/** A form for a new or an existing item; `save(body)` stores it and returns the saved row. */
function editorForm({ title, fields, save, done, submitLabel }) {
  const error = h('p', { class: 'error-text', role: 'alert' });
  const titleId = uid('form-title');
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const form = h('form', { class: 'panel stack card-form', 'aria-labelledby': titleId },
    h('h3', { id: titleId }, title), fields.map((f) => f.field), error, h('div', { class: 'row' }, submit, cancel));
  cancel.addEventListener('click', () => done(null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      done(await save());
    } catch (problem) {
      error.textContent = problem.detail || problem.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function personaForm(persona, done) {
  const name = field('Name', h('input', { required: true, maxlength: 200, autocomplete: 'off', value: persona?.name ?? '' }));
  const description = field('Description', h('input', { maxlength: 10000, autocomplete: 'off', value: persona?.description ?? '' }));
  const mode = field('Mode', h('select', null, MODES.map((m) => h('option', { value: m, selected: persona?.mode === m }, m))));
  const template = field('System prompt template', h('textarea', { rows: 5, value: persona?.template ?? '' }),
    'May pull modules (@name) and variables (${name}); \\@ is a literal @.');
  const active = checkbox('Active', persona ? persona.is_active : true);
  const image = field('Image', h('input', { type: 'file', accept: 'image/png,image/jpeg,image/webp,image/gif' }),
    'PNG, JPEG, WebP or GIF; at most 5 MiB.');
  const save = async () => {
    const body = {
      name: name.input.value.trim(), description: description.input.value, mode: mode.input.value,
      template: template.input.value, is_active: active.input.checked,
    };
    let saved = persona
      ? await api(`/personas/${persona.id}`, { method: 'PUT', body })
      : await api('/personas', { method: 'POST', body });
    const file = image.input.files[0];
    if (file) saved = await api(`/personas/${saved.id}/image`, { method: 'POST', raw: file });
    notify(persona ? `Saved ${saved.name}` : `Created ${saved.name}`);
    return saved;
  };
  return editorForm({
    title: persona ? `Edit ${persona.name}` : 'New persona', submitLabel: persona ? 'Save persona' : 'Create persona',
    fields: [name, description, mode, template, active, image], save, done,
  });
}

function triggerOf(kind, text) {
  if (kind === 'keyword') return { type: 'keyword', keys: text.split(',').map((k) => k.trim()).filter(Boolean) };
  if (kind === 'regex') return { type: 'regex', pattern: text };
  return { type: 'always' };
}

function moduleForm(module, done) {
  const name = field('Name', h('input', { required: true, pattern: '[a-z][a-z0-9_]{0,49}', autocomplete: 'off', value: module?.name ?? '' }),
    'Lower case, digits and _; templates pull it as @name.');
  const description = field('Description', h('input', { maxlength: 10000, autocomplete: 'off', value: module?.description ?? '' }));
  const content = field('Text', h('textarea', { rows: 4, value: module?.content ?? '' }), 'May use other @modules and ${variables}.');
  const trigger = field('Trigger', h('select', null, TRIGGERS.map((t) => h('option', { value: t, selected: module?.trigger?.type === t }, t))));
  const previous = module?.trigger;
  const when = field('Keywords or pattern', h('input', {
    autocomplete: 'off', value: previous?.keys?.join(', ') ?? previous?.pattern ?? '',
  }), 'Keywords separated by commas, or an RE2 pattern; read from the last messages.');
  const active = checkbox('Active', module ? module.is_active : true);
  const save = async () => {
    const body = {
      name: name.input.value.trim(), description: description.input.value, content: content.input.value,
      trigger: triggerOf(trigger.input.value, when.input.value), is_active: active.input.checked,
    };
    // Script modules are edited through the API (their sandbox limits have no form here).
    if (!module) body.kind = 'simple';
    const saved = module
      ? await api(`/modules/${module.id}`, { method: 'PUT', body })
      : await api('/modules', { method: 'POST', body });
    notify(module ? `Saved @${saved.name}` : `Created @${saved.name}`);
    return saved;
  };
  return editorForm({
    title: module ? `Edit @${module.name}` : 'New module', submitLabel: module ? 'Save module' : 'Create module',
    fields: [name, description, content, trigger, when, active], save, done,
  });
}

/** The resolved prompt: each span marked with what produced it; what was left out, and why. */
function resolutionView(resolution, label) {
  const text = [...resolution.text]; // spans count code points
  const spans = resolution.spans.slice().sort((a, b) => a.start - b.start);
  const parts = [];
  let at = 0;
  for (const span of spans) {
    if (span.start < at) continue;
    if (span.start > at) parts.push(text.slice(at, span.start).join(''));
    const origin = span.kind === 'template' ? 'template' : `${span.kind} ${span.name ?? ''}`.trim();
    parts.push(h('mark', { class: `span-${span.kind}`, title: `${origin} · ${span.tokens} tokens`, 'data-origin': origin },
      text.slice(span.start, span.end).join('')));
    at = span.end;
  }
  if (at < text.length) parts.push(text.slice(at).join(''));
  const rows = spans.filter((s) => s.kind !== 'template').map((s) => h('tr', null,
    h('td', null, s.kind), h('td', null, s.name ?? ''), h('td', { class: 'num' }, count(s.tokens)),
    h('td', null, s.trigger ?? ''), h('td', { class: 'hide-narrow' }, s.path.join(' → '))));
  return h('section', { class: 'resolution panel', 'aria-label': label },
    h('h3', null, `${label} · ${count(resolution.tokens)} tokens`),
    h('pre', { class: 'resolved', tabindex: '0', 'aria-label': 'Resolved system prompt' }, parts),
    rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'provenance' },
      h('caption', null, 'Where the parts came from'),
      h('thead', null, h('tr', null, ['Kind', 'Name', 'Tokens', 'Trigger', 'Path'].map((t, i) =>
        h('th', { scope: 'col', class: i === 4 ? 'hide-narrow' : i === 2 ? 'num' : null }, t)))),
      h('tbody', null, rows))) : null,
    resolution.excluded.length ? h('ul', { class: 'excluded small-text', 'aria-label': 'Left out' },
      resolution.excluded.map((e) => h('li', null, `@${e.module} left out: ${e.reason}${e.detail ? ` (${e.detail})` : ''}`))) : null,
    resolution.warnings.map((w) => h('p', { class: 'error-text small-text' }, w)));
}

function table(caption, heads, rows, empty) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', null,
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', null, h('tr', null, heads.map((t, i) => h('th', { scope: 'col', class: i === 1 ? 'hide-narrow' : null }, t)))),
    h('tbody', null, rows)));
}

function actions(label, handlers) {
  return h('div', { class: 'row' }, Object.entries(handlers).map(([verb, handler]) => h('button', {
    type: 'button', class: `small${verb === 'Delete' ? ' danger' : ''}`, 'aria-label': `${verb} ${label}`, onclick: handler,
  }, verb)));
}

export async function render(container) {
  const personaList = h('div');
  const moduleList = h('div');
  const personaEditor = h('div');
  const moduleEditor = h('div');
  const preview = h('div', { 'aria-live': 'polite' });
  const newPersona = h('button', { type: 'button' }, 'New persona');
  const newModule = h('button', { type: 'button' }, 'New module');
  replace(container, h('h1', null, 'Personas and modules'),
    h('p', { class: 'muted' }, 'A persona is a system prompt (a template) its runs speak with; modules are the parts templates pull in with @name. Pick a persona for a session in its chat.'),
    h('h2', null, 'Personas'), personaList, h('div', { class: 'row after-table' }, newPersona), personaEditor, preview,
    h('h2', null, 'Prompt modules'), moduleList, h('div', { class: 'row after-table' }, newModule), moduleEditor);

  const open = (editor, form, back) => {
    replace(editor, form);
    form.querySelector('input, textarea, select')?.focus();
    return () => { replace(editor); back.focus(); };
  };
  const remove = async (what, path, reload) => {
    if (!await confirmDialog({ title: `Delete ${what}?`, body: 'Sessions and templates that name it no longer get it.', confirm: 'Delete', danger: true })) return;
    try {
      await api(path, { method: 'DELETE' });
      reload();
    } catch (error) {
      notifyError(error);
    }
  };
  const showPreview = async (persona) => {
    try {
      const resolution = await api('/templates/resolve', { method: 'POST', body: { persona_id: persona.id } });
      replace(preview, resolutionView(resolution, `Preview of ${persona.name}`));
    } catch (error) {
      replace(preview, h('p', { class: 'error-text', role: 'alert' }, `Preview of ${persona.name}: ${error.detail || error.message}`));
    }
  };

  const reloadPersonas = async () => {
    const personas = await allPages('/personas');
    const rows = await Promise.all(personas.map(async (p) => h('tr', { 'data-persona': p.name },
      h('th', { scope: 'row' }, h('div', { class: 'row' }, await personaImage(p), p.name)),
      h('td', { class: 'hide-narrow' }, p.description),
      h('td', null, p.mode, p.is_active ? '' : h('span', { class: 'muted' }, ' (inactive)')),
      h('td', null, actions(p.name, {
        Preview: () => showPreview(p),
        Edit: () => { const close = open(personaEditor, personaForm(p, (saved) => { close(); if (saved) reloadPersonas(); }), newPersona); },
        Delete: () => remove(p.name, `/personas/${p.id}`, reloadPersonas),
      })))));
    replace(personaList, table('Your personas', ['Name', 'Description', 'Mode', 'Actions'], rows, 'No personas yet.'));
  };
  const reloadModules = async () => {
    const modules = await allPages('/modules');
    const rows = modules.map((m) => h('tr', { 'data-module': m.name },
      h('th', { scope: 'row' }, `@${m.name}`),
      h('td', { class: 'hide-narrow' }, m.description),
      h('td', null, `${m.kind} · ${m.trigger.type}`, m.is_active ? '' : h('span', { class: 'muted' }, ' (inactive)')),
      h('td', null, actions(`@${m.name}`, {
        Edit: () => { const close = open(moduleEditor, moduleForm(m, (saved) => { close(); if (saved) reloadModules(); }), newModule); },
        Delete: () => remove(`@${m.name}`, `/modules/${m.id}`, reloadModules),
      }))));
    replace(moduleList, table('Your prompt modules', ['Name', 'Description', 'Kind and trigger', 'Actions'], rows, 'No modules yet.'));
  };
  newPersona.addEventListener('click', () => {
    const close = open(personaEditor, personaForm(null, (saved) => { close(); if (saved) reloadPersonas(); }), newPersona);
  });
  newModule.addEventListener('click', () => {
    const close = open(moduleEditor, moduleForm(null, (saved) => { close(); if (saved) reloadModules(); }), newModule);
  });
  await Promise.all([reloadPersonas(), reloadModules()]);
}
