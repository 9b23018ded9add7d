/** Projects: the list (name, last activity, sessions), create, rename, delete. */

import { api } from '../api.js';
import { confirmDialog, notify, notifyError } from '../dialog.js';
import { field, h, replace } from '../dom.js';
import { ago } from '../format.js';
import { href, navigate } from '../router.js';

function createForm(onCreated) {
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const description = h('input', { name: 'description', maxlength: 10000, autocomplete: 'off' });
  const mainFile = h('input', { name: 'main_file', value: 'main.py', required: true, autocomplete: 'off' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create project');
  const form = h('form', { class: 'panel stack', 'aria-labelledby': 'new-project' },
    h('h2', { id: 'new-project' }, 'New project'),
    h('div', { class: 'row' }, field('Name', name).field, field('Description', description).field,
      field('Main file', mainFile).field),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const project = await api('/projects', {
        method: 'POST',
        body: { name: name.value.trim(), description: description.value, main_file: mainFile.value.trim() },
      });
      notify(`Created ${project.name}`);
      onCreated(project);
    } catch (error) {
      notifyError(error, 'Not created');
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function projectRow(project, reload) {
  const sessions = h('td', { class: 'num' }, '…');
  api(`/projects/${project.id}/sessions`)
    .then((page) => { sessions.textContent = String(page.items.length); })
    .catch(() => { sessions.textContent = '?'; });
  const nameCell = h('td', null,
    h('a', { href: href(`/p/${project.id}/chat`) }, project.name),
    project.description ? h('div', { class: 'muted small-text' }, project.description) : null);
  const rename = h('button', { type: 'button', class: 'small', 'aria-label': `Rename ${project.name}` }, 'Rename');
  const remove = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${project.name}` }, 'Delete');
  const row = h('tr', { 'data-project': project.id }, nameCell,
    h('td', { class: 'hide-narrow' }, ago(project.updated_at)), sessions,
    h('td', null, h('div', { class: 'row' }, rename, remove)));
  rename.addEventListener('click', () => {
    const input = h('input', { value: project.name, 'aria-label': `New name for ${project.name}`, maxlength: 200, required: true });
    const save = h('button', { type: 'submit', class: 'small primary' }, 'Save');
    const cancel = h('button', { type: 'button', class: 'small' }, 'Cancel');
    const form = h('form', { class: 'row' }, input, save, cancel);
    cancel.addEventListener('click', reload);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api(`/projects/${project.id}`, { method: 'PATCH', body: { name: input.value.trim() } });
        notify('Renamed');
        reload();
      } catch (error) {
        notifyError(error, 'Not renamed');
      }
    });
    replace(nameCell, form);
    input.focus();
    input.select();
  });
  remove.addEventListener('click', async () => {
    const sure = await confirmDialog({
      title: `Delete ${project.name}?`,
      body: 'Its files, versions and conversations are removed for good.',
      confirm: 'Delete project', danger: true,
    });
    if (!sure) return;
    try {
      await api(`/projects/${project.id}`, { method: 'DELETE' });
      notify(`Deleted ${project.name}`);
      reload();
    } catch (error) {
      notifyError(error, 'Not deleted');
    }
  });
  return row;
}

export async function render(container) {
  const list = h('div', { class: 'table-wrap' });
  const more = h('div');
  const load = async (cursor, append) => {
    const page = await api('/projects', { query: { limit: 50, cursor } });
    let body = list.querySelector('tbody');
    if (!append || !body) {
      body = h('tbody');
      replace(list, page.items.length || append
        ? h('table', { class: 'projects' },
          h('caption', { class: 'visually-hidden' }, 'Your projects'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'),
            h('th', { scope: 'col', class: 'hide-narrow' }, 'Last activity'),
            h('th', { scope: 'col', class: 'num' }, 'Sessions'), h('th', { scope: 'col' }, 'Actions'))),
          body)
        : h('p', { class: 'empty' }, 'No projects yet: create one above.'));
    }
    for (const project of page.items) body.append(projectRow(project, () => load()));
    replace(more, page.next
      ? h('button', { type: 'button', onclick: () => load(page.next, true) }, 'Show more')
      : null);
  };
  replace(container, h('h1', null, 'Projects'),
    createForm((project) => navigate(`/p/${project.id}/code`)),
    h('h2', null, 'Your projects'), list, more);
  await load();
}
