/** Code: the file tree, a file at the head or any of its versions, editing by hand. */

import { api, encodePath } from '../api.js';
import { confirmDialog, notify, notifyError } from '../dialog.js';
import { field, h, replace } from '../dom.js';
import { bytes, short, when } from '../format.js';
import { highlight, languageOf } from '../highlight.js';
import { href, navigate, pathSegment } from '../router.js';
import { socket } from '../socket.js';
import { loadProject, projectFrame } from './frame.js';

/** Nested folders of a flat path list: {dirs: Map(name -> node), files: [entry]}. */
export function buildTree(entries) {
  const root = { dirs: new Map(), files: [] };
  for (const entry of entries) {
    const parts = entry.path.split('/');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!node.dirs.has(part)) node.dirs.set(part, { dirs: new Map(), files: [] });
      node = node.dirs.get(part);
    }
    node.files.push({ ...entry, name: parts[parts.length - 1] });
  }
  return root;
}

function treeList(node, projectId, current, prefix = '') {
  const list = h('ul', null);
  for (const name of [...node.dirs.keys()].sort()) {
    const folder = `${prefix}${name}/`;
    const open = current?.startsWith(folder) || prefix === '';
    list.append(h('li', null, h('details', { open },
      h('summary', null, name), treeList(node.dirs.get(name), projectId, current, folder))));
  }
  for (const file of node.files.sort((a, b) => a.name.localeCompare(b.name))) {
    list.append(h('li', null, h('a', {
      href: href(`/p/${projectId}/code/${pathSegment(file.path)}`),
      'aria-current': file.path === current ? 'page' : null,
      title: `${file.path} (${bytes(file.size)})`,
    }, file.name)));
  }
  return list;
}

/** A code view: line numbers and highlighted source. */
export function codeBlock(content, path) {
  const lines = content.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' }, lines.map((_, i) => i + 1).join('\n'));
  const source = h('pre', { class: 'src' }, h('code', null, highlight(content, languageOf(path))));
  return h('div', { class: 'code', tabindex: '0', role: 'region', 'aria-label': `Content of ${path}` }, gutter, source);
}

function editor(projectId, path, content, done) {
  const isNew = path === null;
  const pathInput = h('input', { value: path ?? '', required: true, autocomplete: 'off', spellcheck: 'false' });
  const text = h('textarea', { rows: 20, spellcheck: 'false' });
  text.value = content;
  const message = h('input', { autocomplete: 'off', placeholder: isNew ? 'Add a file' : `Edit ${path}` });
  const save = h('button', { type: 'submit', class: 'primary' }, isNew ? 'Create file' : 'Save');
  const cancel = h('button', { type: 'button', onclick: () => done(null) }, 'Cancel');
  const form = h('form', { class: 'stack', 'aria-label': isNew ? 'New file' : `Edit ${path}` },
    isNew ? field('Path', pathInput).field : null,
    field(isNew ? 'Content' : `Content of ${path}`, text).field,
    field('Version message', message, 'Optional: describes the new version.').field,
    h('div', { class: 'row' }, save, cancel));
  text.addEventListener('keydown', (event) => {
    // Tab indents inside the editor; Escape leaves it so the keyboard is never trapped.
    if (event.key === 'Tab' && !event.shiftKey && !event.ctrlKey && text.dataset.tabs === 'on') {
      event.preventDefault();
      text.setRangeText('    ', text.selectionStart, text.selectionEnd, 'end');
    } else if (event.key === 'Escape') {
      text.dataset.tabs = 'off';
    } else if (event.key !== 'Tab') {
      text.dataset.tabs = 'on';
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const target = isNew ? pathInput.value.trim() : path;
    save.disabled = true;
    try {
      const written = await api(`/projects/${projectId}/files/${encodePath(target)}`, {
        method: 'PUT', body: { content: text.value, message: message.value.trim() || null },
      });
      notify(written.changed ? `Saved ${target} as version ${short(written.version_id)}` : 'No change: the content was already there');
      done(target);
    } catch (error) {
      notifyError(error, 'Not saved');
      save.disabled = false;
    }
  });
  setTimeout(() => (isNew ? pathInput : text).focus(), 0);
  return form;
}

export async function render(container, route) {
  const projectId = route.params.project;
  const project = await loadProject(projectId);
  const body = projectFrame(container, projectId, 'code', project);
  const path = route.params.rest || null;
  const version = route.query.get('v');
  const tree = h('nav', { class: 'tree', 'aria-label': 'Files' });
  const view = h('section', { class: 'file-view', 'aria-label': 'File' });
  body.append(h('div', { class: 'code-layout' }, tree, view));

  const showTree = async () => {
    const files = await api(`/projects/${projectId}/files`);
    replace(tree,
      h('div', { class: 'row spread' }, h('strong', null, files.items.length === 1 ? '1 file' : `${files.items.length} files`),
        h('button', { type: 'button', class: 'small', onclick: () => showEditor(null, '') }, 'New file')),
      files.items.length ? treeList(buildTree(files.items), projectId, path) : h('p', { class: 'muted' }, 'No files.'));
    return files;
  };
  const showEditor = (filePath, content) => {
    replace(view, editor(projectId, filePath, content, (saved) => {
      if (saved && (saved !== path || version)) navigate(`/p/${projectId}/code/${pathSegment(saved)}`);
      else Promise.all([showTree(), showFile()]);
    }));
  };
  const showFile = async () => {
    if (!path) {
      replace(view, h('p', { class: 'muted' }, 'Choose a file, or create one.'));
      return;
    }
    let file;
    try {
      file = await api(`/projects/${projectId}/files/${encodePath(path)}`, { query: { version_id: version } });
    } catch (error) {
      replace(view, h('p', { class: 'error-text', role: 'alert' }, error.status === 404
        ? `${path} does not exist${version ? ` in version ${short(version)}` : ''}.`
        : error.detail || error.message));
      return;
    }
    const versions = await api(`/projects/${projectId}/files/${encodePath(path)}/versions`, { query: { limit: 100 } });
    const picker = h('select', { 'aria-label': 'Version of this file' },
      h('option', { value: '', selected: !version }, 'Newest version'),
      versions.items.map((v) => h('option', { value: v.id, selected: v.id === version },
        `${short(v.id)} · ${when(v.created_at)} · ${v.message.split('\n')[0].slice(0, 60)}`)));
    picker.addEventListener('change', () => navigate(`/p/${projectId}/code/${pathSegment(path)}`, { v: picker.value }));
    const atHead = !version;
    const edit = h('button', { type: 'button', disabled: !atHead, title: atHead ? null : 'Edit the newest version' }, 'Edit');
    edit.addEventListener('click', () => showEditor(path, file.content));
    const remove = h('button', { type: 'button', class: 'danger', disabled: !atHead }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!await confirmDialog({ title: `Delete ${path}?`, body: 'The deletion is a new version; older versions keep the file.', confirm: 'Delete file', danger: true })) return;
      try {
        await api(`/projects/${projectId}/files/${encodePath(path)}`, { method: 'DELETE' });
        notify(`Deleted ${path}`);
        navigate(`/p/${projectId}/code`);
      } catch (error) {
        notifyError(error, 'Not deleted');
      }
    });
    replace(view,
      h('div', { class: 'file-bar' }, h('span', { class: 'path' }, path), picker, edit, remove,
        h('a', { class: 'button', href: href(`/p/${projectId}/chat`, { node: path }) }, 'Chat about this file')),
      h('p', { class: 'muted small-text' }, `Version ${short(file.version_id)}`),
      codeBlock(file.content, path));
  };

  await Promise.all([showTree(), showFile()]);
  // Someone (the agent, another tab) changed the project: refresh what is shown at the head.
  let refreshing = null;
  const stop = socket.followProject(projectId, (message) => {
    if (message.type !== 'code_changed' || refreshing) return;
    refreshing = setTimeout(async () => {
      refreshing = null;
      await showTree();
      if (!version && !view.querySelector('form')) await showFile();
    }, 150);
  });
  return () => {
    stop();
    clearTimeout(refreshing);
  };
}
