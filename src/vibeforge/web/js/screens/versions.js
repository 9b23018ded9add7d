/** Versions: the list, a diff between any two of them, and revert. */

import { api } from '../api.js';
import { confirmDialog, notify, notifyError } from '../dialog.js';
import { h, replace } from '../dom.js';
import { diffView } from '../diff.js';
import { short, when } from '../format.js';
import { href, navigate } from '../router.js';
import { loadProject, projectFrame } from './frame.js';

function versionLabel(version) {
  return `${short(version.id)} · ${version.message.split('\n')[0].slice(0, 50)}`;
}

/** The latest test results at a version (when the project has tests that ran there). */
function testSummary(projectId, tests) {
  if (!tests?.total) return null;
  const clean = tests.passed === tests.total;
  return h('a', {
    class: `badge tests-badge ${clean ? 'success' : 'error'}`, href: href(`/p/${projectId}/tests`),
    'aria-label': `Tests at this version: ${tests.passed} of ${tests.total} passed`,
  }, `tests ${tests.passed}/${tests.total}`);
}

export async function render(container, route) {
  const projectId = route.params.project;
  const project = await loadProject(projectId);
  const body = projectFrame(container, projectId, 'versions', project);
  const to = route.query.get('to');
  const from = route.query.get('from');
  const versions = [];
  let next;
  const load = async () => {
    const page = await api(`/projects/${projectId}/versions`, { query: { limit: 100, cursor: next } });
    versions.push(...page.items);
    next = page.next;
  };
  await load();

  const fromSelect = h('select', { id: 'cmp-from' });
  const toSelect = h('select', { id: 'cmp-to' });
  const fillSelects = () => {
    replace(fromSelect, h('option', { value: '' }, 'its parent'),
      versions.map((v) => h('option', { value: v.id, selected: v.id === from }, versionLabel(v))));
    replace(toSelect, versions.map((v, i) => h('option', { value: v.id, selected: to ? v.id === to : i === 0 }, versionLabel(v))));
  };
  fillSelects();
  const compare = h('button', { type: 'submit', class: 'primary' }, 'Show diff');
  const compareForm = h('form', { class: 'row panel', 'aria-label': 'Compare versions' },
    h('label', { for: 'cmp-to' }, 'Changes in'), toSelect,
    h('label', { for: 'cmp-from' }, 'since'), fromSelect, compare);
  compareForm.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`/p/${projectId}/versions`, { to: toSelect.value, from: fromSelect.value });
  });

  const diffBox = h('section', { 'aria-label': 'Diff', class: 'diff-section' });
  const table = h('tbody');
  const moreBox = h('div');
  const rows = () => {
    replace(table, versions.map((v, i) => {
      const diffButton = h('button', { type: 'button', class: 'small', 'aria-label': `Diff of ${short(v.id)}` }, 'Diff');
      diffButton.addEventListener('click', () => navigate(`/p/${projectId}/versions`, { to: v.id }));
      const revert = h('button', { type: 'button', class: 'small', disabled: i === 0, 'aria-label': `Revert to ${short(v.id)}` }, 'Revert to this');
      revert.addEventListener('click', async () => {
        const sure = await confirmDialog({
          title: `Revert to ${short(v.id)}?`,
          body: `A new version restores the files as they were in "${v.message.split('\n')[0]}". Nothing is lost: every version stays.`,
          confirm: 'Revert',
        });
        if (!sure) return;
        try {
          const written = await api(`/projects/${projectId}/revert`, { method: 'POST', body: { version_id: v.id } });
          notify(written.changed ? `Reverted: new version ${short(written.version_id)}` : 'Nothing to revert: the files are already so');
          navigate(`/p/${projectId}/versions`, { to: written.version_id, t: Date.now() });
        } catch (error) {
          notifyError(error, 'Not reverted');
        }
      });
      return h('tr', { 'data-version': v.id, 'aria-current': v.id === (to || versions[0]?.id) ? 'true' : null },
        h('td', null, h('code', null, short(v.id))),
        h('td', { class: 'vmsg' }, v.message, testSummary(projectId, v.tests)),
        h('td', { class: 'hide-narrow' }, when(v.created_at)),
        h('td', null, h('div', { class: 'row' }, diffButton, revert)));
    }));
    replace(moreBox, next ? h('button', { type: 'button', onclick: async () => { await load(); fillSelects(); rows(); } }, 'Show older versions') : null);
  };
  rows();

  body.append(h('h2', null, 'Compare'), compareForm, diffBox,
    h('h2', null, 'History'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'versions' },
      h('caption', { class: 'visually-hidden' }, 'Versions, newest first'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Message'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Time'), h('th', { scope: 'col' }, 'Actions'))),
      table)),
    moreBox);

  const target = to || versions[0]?.id;
  if (target) {
    try {
      const diff = await api(`/projects/${projectId}/versions/${target}/diff`, { query: { against: from || undefined } });
      const title = diff.against ? `${short(diff.version_id)} against ${short(diff.against)}` : `${short(diff.version_id)} (the first version)`;
      replace(diffBox, h('h3', null, `Diff: ${title}`), diffView(diff.diff, { label: 'Version diff', heading: 'h4' }));
    } catch (error) {
      replace(diffBox, h('p', { class: 'error-text', role: 'alert' }, error.detail || error.message));
    }
  }
}
