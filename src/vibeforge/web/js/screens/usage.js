/** Usage: tokens and cost by day, by model and by role (all projects, or one). */

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { count, money } from '../format.js';
import { navigate } from '../router.js';
import { loadProject, projectFrame } from './frame.js';

const PERIODS = [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['all', 'All time']];

function groupTable(title, report, keyLabel) {
  const rows = report.groups;
  return h('section', { 'aria-label': title },
    h('h2', null, title),
    rows.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'usage-table', 'data-group': report.group_by },
        h('thead', null, h('tr', null, [keyLabel, 'Calls', 'Prompt', 'Completion', 'Cost'].map((t, i) =>
          h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
        h('tbody', null, rows.map((row) => h('tr', null,
          h('th', { scope: 'row' }, row.key),
          h('td', { class: 'num' }, `${count(row.calls)}${row.failed_calls ? ` (${row.failed_calls} failed)` : ''}`),
          h('td', { class: 'num' }, count(row.prompt_tokens)),
          h('td', { class: 'num' }, count(row.completion_tokens)),
          h('td', { class: 'num' }, money(row.cost_usd))))),
      ))
      : h('p', { class: 'muted' }, 'No calls in this period.'));
}

export async function render(container, route) {
  const projectId = route.params.project ?? null;
  let body = container;
  if (projectId) body = projectFrame(container, projectId, 'project-usage', await loadProject(projectId));
  const period = route.query.get('period') || '30';
  const query = { project_id: projectId };
  if (period !== 'all') {
    query.from = new Date(Date.now() - Number(period) * 86400000).toISOString();
  }
  const select = h('select', { id: 'usage-period' },
    PERIODS.map(([value, label]) => h('option', { value, selected: value === period }, label)));
  select.addEventListener('change', () => navigate(route.path, { period: select.value }));
  const [byDay, byModel, byRole] = await Promise.all(['day', 'model', 'role'].map((group) =>
    api('/usage', { query: { ...query, group_by: group } })));
  const total = byDay.total;
  replace(body,
    projectId ? null : h('h1', null, 'Usage'),
    h('div', { class: 'row' }, h('label', { for: 'usage-period' }, 'Period'), select),
    h('p', { class: 'panel', 'data-total': total.total_tokens },
      h('strong', null, `${count(total.total_tokens)} tokens`), ` (${count(total.prompt_tokens)} prompt, `,
      `${count(total.completion_tokens)} completion) in ${count(total.calls)} calls · `,
      h('strong', null, money(total.cost_usd)),
      total.estimated_calls ? ` · ${count(total.estimated_calls)} calls estimated (the provider reported no usage)` : ''),
    groupTable('By day (UTC)', byDay, 'Day'),
    groupTable('By model', byModel, 'Model'),
    groupTable('By role', byRole, 'Role'),
    h('p', { class: 'muted small-text' },
      `${count(byDay.counters.runs)} runs: ${count(byDay.counters.fix_iterations)} fix iterations, `
      + `${count(byDay.counters.eval_rejections)} reviewer rejections, ${count(byDay.counters.malformed_edits)} malformed edits.`));
}
