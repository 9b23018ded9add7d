/** Test cases of a project: list, create, edit, delete; run one or the suite and watch it.

A run answers a suite run at once (`?wait=false`); the screen polls it
(`GET /projects/{id}/test-suites/{suite}`) until it ends, then shows each test's status, pass
rate with its interval, flakiness, output and the version that broke it.
*/

import { allPages, api } from '../api.js';
import { confirmDialog, notify, notifyError } from '../dialog.js';
import { field, h, replace } from '../dom.js';
import { money, short, when } from '../format.js';
import { href } from '../router.js';
import { loadProject, projectFrame } from './frame.js';

const POLL_MS = 700;
const FINAL_SUITE = new Set(['finished', 'cancelled', 'error']);
const RUN_STATUS = { queued: 'queued', running: 'running', passed: 'passed', failed: 'failed', error: 'error', cancelled: 'cancelled' };

function parseTags(text) {
  return text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
}

function statusBadge(status) {
  const kind = status === 'passed' ? 'success' : status === 'failed' || status === 'error' ? 'error' : 'live';
  return h('span', { class: `badge ${kind}`, 'data-status': status }, RUN_STATUS[status] ?? status);
}

function percent(value) {
  return value === null || value === undefined ? '—' : `${Math.round(value * 100)} %`;
}

/** The form creating a test, or editing `test`; `done()` after a save or cancel. */
function testForm(projectId, test, done) {
  const name = h('input', { required: true, maxlength: 200, autocomplete: 'off', value: test?.name ?? '' });
  const input = h('textarea', { rows: 3, value: test?.input_prompt ?? '' });
  const expected = h('textarea', { rows: 2, value: test?.expected_behavior ?? '' });
  const checks = h('textarea', { rows: 4, spellcheck: 'false', value: JSON.stringify(test?.checks ?? [], null, 1) });
  const tags = h('input', { autocomplete: 'off', value: (test?.tags ?? []).join(', ') });
  const error = h('p', { class: 'error-text', role: 'alert' });
  const titleId = test ? 'edit-test' : 'new-test';
  const save = h('button', { type: 'submit', class: 'primary' }, test ? 'Save test' : 'Create test');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const form = h('form', { class: 'panel stack card-form', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, test ? `Edit ${test.name}` : 'New test'),
    field('Name', name).field,
    field('Input', input, 'What the program gets on stdin (and in VIBEFORGE_INPUT).').field,
    field('Expected behaviour', expected, 'Optional: judged by an LLM once the checks pass.').field,
    field('Checks (JSON)', checks, 'A list, e.g. [{"type": "contains", "value": "hello"}]; types: equals, contains, not_contains, regex, json_path, exit_code, max_duration_ms, stderr_empty.').field,
    field('Tags', tags, 'Separated by commas or spaces.').field,
    error, h('div', { class: 'row' }, save, cancel));
  cancel.addEventListener('click', () => done(null));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    let parsed;
    try {
      parsed = JSON.parse(checks.value.trim() || '[]');
      if (!Array.isArray(parsed)) throw new Error('not a list');
    } catch (problem) {
      error.textContent = `Checks must be a JSON list: ${problem.message}`;
      checks.focus();
      return;
    }
    const body = {
      name: name.value.trim(), input_prompt: input.value, checks: parsed, tags: parseTags(tags.value),
      expected_behavior: expected.value.trim() || null,
    };
    save.disabled = true;
    try {
      const saved = test
        ? await api(`/tests/${test.id}`, { method: 'PATCH', body })
        : await api(`/projects/${projectId}/tests`, { method: 'POST', body });
      notify(test ? `Saved ${saved.name}` : `Created ${saved.name}`);
      done(saved);
    } catch (problem) {
      error.textContent = problem.detail || problem.message;
    } finally {
      save.disabled = false;
    }
  });
  return { form, focus: () => name.focus() };
}

/** Words of a command line: a JSON list as it is, else split at spaces. */
function parseCommand(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed);
  return trimmed.split(/\s+/).filter(Boolean);
}

/** How the program is run for tests (`GET/PATCH /projects/{id}/test-settings`). */
function settingsForm(projectId, current) {
  const command = h('input', { autocomplete: 'off', spellcheck: 'false', value: JSON.stringify(current.run_command) });
  const timeout = h('input', { type: 'number', min: 0.1, max: 600, step: 'any', value: String(current.timeout_s) });
  const memory = h('input', { type: 'number', min: 64, max: 8192, step: 1, value: String(current.memory_mb) });
  const judge = h('input', { autocomplete: 'off', value: current.judge_model ?? '', placeholder: 'the run’s own model' });
  const onApply = h('input', { type: 'checkbox', id: 'run-on-apply', checked: current.run_tests_on_apply });
  const error = h('p', { class: 'error-text', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save settings');
  const form = h('form', { class: 'stack card-form', 'aria-label': 'Test settings' },
    field('Run command', command, 'A JSON list or words separated by spaces; {main_file} is the main file; the input arrives on stdin.').field,
    h('div', { class: 'row' }, field('Time limit (s)', timeout).field, field('Memory (MB)', memory).field),
    field('Judge model', judge, 'A model config’s name or id; empty: the run’s own model.').field,
    h('div', { class: 'field inline' }, onApply, h('label', { for: onApply.id }, 'Run the tests on every applied proposal')),
    error, save);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    let argv;
    try {
      argv = parseCommand(command.value);
    } catch (problem) {
      error.textContent = `Run command: ${problem.message}`;
      return;
    }
    try {
      const saved = await api(`/projects/${projectId}/test-settings`, {
        method: 'PATCH',
        body: {
          run_command: argv, timeout_s: Number(timeout.value), memory_mb: Number(memory.value),
          judge_model: judge.value.trim() || null, run_tests_on_apply: onApply.checked,
        },
      });
      command.value = JSON.stringify(saved.run_command);
      notify('Test settings saved');
    } catch (problem) {
      error.textContent = problem.detail || problem.message;
    }
  });
  return h('details', { class: 'panel test-settings' }, h('summary', null, 'Test settings'), form);
}

function runDetails(run, projectId) {
  const regression = run.regression
    ? h('p', { class: 'error-text regression' }, 'Broken by version ',
      h('a', { href: href(`/p/${projectId}/versions`) }, h('code', null, short(run.regression.version_id))),
      ` (it passed at ${short(run.regression.last_passed_version_id)})`)
    : null;
  const checks = run.checks.length
    ? h('ul', { class: 'checks small-text' }, run.checks.map((c) => h('li', null,
      `${c.passed === true ? '✓' : c.passed === false ? '✗' : '?'} ${c.type}`,
      c.detail ? ` — ${c.detail}` : '')))
    : null;
  return h('div', { class: 'test-run', 'data-run': run.id },
    h('div', { class: 'row small-text' }, statusBadge(run.status), `at ${short(run.version_id)}`,
      run.model ? ` · ${run.model}` : '', run.duration_ms !== null ? ` · ${Math.round(run.duration_ms)} ms` : '',
      run.cost_usd ? ` · ${money(run.cost_usd)}` : '', run.killed_reason ? ` · stopped: ${run.killed_reason}` : ''),
    run.reason ? h('p', { class: 'small-text' }, run.reason) : null,
    regression, checks,
    h('h3', { class: 'small-text' }, 'Output'),
    h('pre', { class: 'output', tabindex: '0', 'aria-label': 'Output' }, run.output || '(nothing)'),
    run.stderr ? h('pre', { class: 'output stderr', tabindex: '0', 'aria-label': 'Errors' }, run.stderr) : null);
}

const KIND_TITLE = { suite: 'Suite run', test: 'Test run', replay: 'Replay' };

/** The results of one suite run: a row per test × model, the runs below. `view` keeps which
runs are unfolded across polls and does `stop(suite)` and `replay(run)`. */
function suiteView(suite, projectId, view) {
  const s = suite.summary;
  const running = !FINAL_SUITE.has(suite.status);
  const nameOf = (run) => s.tests.find((t) => t.test_id === run.test_id)?.name ?? short(run.test_id);
  const stop = running ? h('button', { type: 'button', class: 'small danger', onclick: () => view.stop(suite) }, 'Stop runs') : null;
  const box = (run) => {
    const label = `${nameOf(run)} · run ${run.repeat_index + 1} · ${run.status}`;
    const replay = FINAL_SUITE.has(suite.status) && run.status !== 'cancelled'
      ? h('button', { type: 'button', class: 'small', 'aria-label': `Replay ${nameOf(run)} run ${run.repeat_index + 1}`, onclick: () => view.replay(run) },
        'Replay (recorded LLM answers, no cost)')
      : null;
    const details = h('details', { class: 'run-box', open: view.open.has(run.id) || (!view.touched.has(run.id) && suite.runs.length <= 3) },
      h('summary', null, label), runDetails(run, projectId), replay);
    details.addEventListener('toggle', () => {
      view.touched.add(run.id);
      if (details.open) view.open.add(run.id);
      else view.open.delete(run.id);
    });
    return details;
  };
  return h('section', { class: 'suite', 'aria-labelledby': 'suite-title', 'data-suite': suite.id, 'data-status': suite.status, 'data-kind': suite.kind },
    h('h2', { id: 'suite-title' }, KIND_TITLE[suite.kind] ?? 'Run', ' ',
      h('span', { class: 'muted small-text' }, `${when(suite.created_at)} at ${short(suite.version_id)}`), ' ', stop),
    h('p', { class: 'suite-summary', role: 'status' },
      running ? `Running… ${s.passed + s.failed + s.error + s.cancelled} of ${s.total} done` : `${suite.status}:`,
      ` ${s.passed} passed, ${s.failed} failed, ${s.error} error`, s.flaky ? `, ${s.flaky} flaky` : '',
      s.cost_usd ? ` · ${money(s.cost_usd)}` : ''),
    h('div', { class: 'table-wrap' }, h('table', { class: 'suite-tests' },
      h('caption', { class: 'visually-hidden' }, 'Results by test'),
      h('thead', null, h('tr', null, ['Test', 'Status', 'Pass rate', 'Runs', 'Model'].map((t, i) =>
        h('th', { scope: 'col', class: i === 4 ? 'hide-narrow' : null }, t)))),
      h('tbody', null, s.tests.map((t) => h('tr', { 'data-test': t.test_id },
        h('th', { scope: 'row' }, t.name),
        h('td', null, statusBadge(t.status), t.flaky ? h('span', { class: 'badge flaky' }, 'flaky') : null),
        h('td', { class: 'pass-rate' }, percent(t.pass_rate),
          t.ci_low !== null && t.runs > 1 ? h('span', { class: 'muted small-text' }, ` (${percent(t.ci_low)}–${percent(t.ci_high)})`) : null),
        h('td', { class: 'num' }, `${t.passed}/${t.runs}`),
        h('td', { class: 'hide-narrow' }, t.model)))))),
    suite.runs.map(box));
}

export async function render(container, route) {
  const projectId = route.params.project;
  const [project, settings] = await Promise.all([
    loadProject(projectId), api(`/projects/${projectId}/test-settings`),
  ]);
  const body = projectFrame(container, projectId, 'tests', project);
  const list = h('div', { class: 'table-wrap' });
  const editor = h('div');
  const results = h('div');
  const newTest = h('button', { type: 'button' }, 'New test');
  const runAll = h('button', { type: 'button', class: 'primary' }, 'Run all tests');
  const repeat = h('input', { type: 'number', min: 1, max: 50, value: '1', class: 'repeat' });
  body.append(h('h2', null, 'Tests'),
    h('div', { class: 'row tests-bar' }, newTest, runAll, field('Runs per test', repeat).field),
    list, editor, settingsForm(projectId, settings), results);

  let timer = 0;
  let disposed = false;
  const view = {
    open: new Set(),
    touched: new Set(),
    stop: async (suite) => {
      const live = suite.runs.filter((run) => run.status === 'queued' || run.status === 'running');
      const stopped = await Promise.allSettled(live.map((run) => api(`/test-runs/${run.id}/cancel`, { method: 'POST' })));
      const failed = stopped.find((outcome) => outcome.status === 'rejected');
      if (failed) notifyError(failed.reason, 'Not stopped');
    },
    replay: (run) => start(`/test-runs/${run.id}/replay`, { judge: 'recorded' }),
  };
  const watch = async (suite) => {
    clearTimeout(timer);
    replace(results, suiteView(suite, projectId, view));
    if (FINAL_SUITE.has(suite.status) || disposed) {
      if (!disposed) reload();
      return;
    }
    timer = setTimeout(async () => {
      try {
        watch(await api(`/projects/${projectId}/test-suites/${suite.id}`));
      } catch (error) {
        notifyError(error, 'Results');
      }
    }, POLL_MS);
  };

  const start = async (path, payload) => {
    try {
      watch(await api(path, { method: 'POST', query: { wait: 'false' }, body: payload }));
    } catch (error) {
      notifyError(error, 'Not run');
    }
  };

  const edit = (test) => {
    const { form, focus } = testForm(projectId, test, (saved) => {
      replace(editor);
      if (saved) reload();
      newTest.focus();
    });
    replace(editor, form);
    focus();
  };

  const row = (test, last) => {
    const run = h('button', { type: 'button', class: 'small', 'aria-label': `Run ${test.name}` }, 'Run');
    run.addEventListener('click', () => start(`/tests/${test.id}/run`, { repeat: Number(repeat.value) || 1 }));
    const change = h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${test.name}` }, 'Edit');
    change.addEventListener('click', () => edit(test));
    const remove = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${test.name}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!await confirmDialog({ title: `Delete ${test.name}?`, body: 'Its runs stay in the history.', confirm: 'Delete test', danger: true })) return;
      try {
        await api(`/tests/${test.id}`, { method: 'DELETE' });
        reload();
      } catch (error) {
        notifyError(error);
      }
    });
    return h('tr', { 'data-test': test.id },
      h('th', { scope: 'row' }, test.name),
      h('td', { class: 'hide-narrow' }, test.tags.join(', ')),
      h('td', { class: 'last-result' }, last ? statusBadge(last.status) : h('span', { class: 'muted' }, 'not run'),
        last?.regression ? h('span', { class: 'error-text small-text' }, ` broken by ${short(last.regression.version_id)}`) : null),
      h('td', null, h('div', { class: 'row' }, run, change, remove)));
  };

  const reload = async () => {
    const tests = await allPages(`/projects/${projectId}/tests`);
    // The latest run of each test (one small request each).
    const lasts = await Promise.all(tests.map((t) => api(`/tests/${t.id}/runs`, { query: { limit: 1 } })
      .then((page) => page.items[0] ?? null).catch(() => null)));
    if (disposed) return;
    runAll.disabled = !tests.length;
    replace(list, tests.length
      ? h('table', { class: 'tests' },
        h('caption', { class: 'visually-hidden' }, 'The project’s tests'),
        h('thead', null, h('tr', null, ['Name', 'Tags', 'Last result', 'Actions'].map((t, i) =>
          h('th', { scope: 'col', class: i === 1 ? 'hide-narrow' : null }, t)))),
        h('tbody', null, tests.map((test, i) => row(test, lasts[i]))))
      : h('p', { class: 'empty' }, 'No tests yet: a test gives the program an input and checks what it does.'));
  };

  newTest.addEventListener('click', () => edit(null));
  runAll.addEventListener('click', () => start(`/projects/${projectId}/tests:run`, {}));
  await reload();
  return () => {
    disposed = true;
    clearTimeout(timer);
  };
}
