/** The frame of every project screen: the project's name and its tabs. */

import { api } from '../api.js';
import { h } from '../dom.js';
import { href } from '../router.js';

/** The tabs of a project; a new project screen adds itself here. */
export const PROJECT_TABS = [
  { name: 'chat', label: 'Chat', path: (id) => `/p/${id}/chat` },
  { name: 'code', label: 'Code', path: (id) => `/p/${id}/code` },
  { name: 'versions', label: 'Versions', path: (id) => `/p/${id}/versions` },
  { name: 'tests', label: 'Tests', path: (id) => `/p/${id}/tests` },
  { name: 'project-usage', label: 'Usage', path: (id) => `/p/${id}/usage` },
];

const names = new Map();

/** The project (cached for the tab titles); throws the API's error. */
export async function loadProject(projectId) {
  const project = await api(`/projects/${projectId}`);
  names.set(projectId, project.name);
  return project;
}

/** The header and tabs; returns the element the screen fills. */
export function projectFrame(container, projectId, active, project) {
  const title = h('h1', null, project?.name ?? names.get(projectId) ?? 'Project');
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Project' },
    PROJECT_TABS.map((tab) => h('a', {
      href: href(tab.path(projectId)),
      'aria-current': tab.name === active ? 'page' : null,
    }, tab.label)));
  const body = h('div', { class: 'project-body' });
  container.append(h('div', { class: 'project-head' }, title, tabs), body);
  return body;
}
