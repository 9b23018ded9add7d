/** Unified diffs: parsed into files and hunks, shown unified or side by side. */

import { h } from './dom.js';
import { highlight, languageOf } from './highlight.js';

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

function stripPrefix(path) {
  if (!path || path === '/dev/null') return null;
  return path.replace(/^[ab]\//, '').replace(/\t.*$/, '');
}

/** `[{oldPath, newPath, hunks: [{header, lines: [{kind, text, old, new}]}]}]` */
export function parseDiff(text) {
  const files = [];
  let file = null;
  let hunk = null;
  let oldLine = 0;
  let newLine = 0;
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const startFile = () => {
    file = { oldPath: null, newPath: null, hunks: [], notes: [] };
    files.push(file);
  };
  let lastHunk = null;
  let oldLeft = 0;
  let newLeft = 0;
  for (const line of lines) {
    if (!hunk && line.startsWith('\\') && lastHunk) {
      lastHunk.lines.push({ kind: '\\', text: line, old: null, new: null });
      continue;
    }
    if (hunk) {
      // Inside a hunk its counts decide, so a removed line "-- x" is never a "--- " header.
      const kind = line[0] || ' ';
      const body = line.slice(1);
      if (kind === '+') {
        hunk.lines.push({ kind, text: body, old: null, new: newLine++ });
        newLeft -= 1;
      } else if (kind === '-') {
        hunk.lines.push({ kind, text: body, old: oldLine++, new: null });
        oldLeft -= 1;
      } else if (kind === '\\') {
        hunk.lines.push({ kind, text: line, old: null, new: null });
      } else {
        hunk.lines.push({ kind: ' ', text: body, old: oldLine++, new: newLine++ });
        oldLeft -= 1;
        newLeft -= 1;
      }
      if (oldLeft <= 0 && newLeft <= 0) {
        lastHunk = hunk;
        hunk = null;
      }
      continue;
    }
    if (line.startsWith('diff --git ')) {
      startFile();
      const match = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
      if (match) [file.oldPath, file.newPath] = [match[1], match[2]];
      continue;
    }
    if (line.startsWith('--- ')) {
      if (!file || file.hunks.length) startFile();
      file.oldPath = stripPrefix(line.slice(4));
      continue;
    }
    if (line.startsWith('+++ ') && file) {
      file.newPath = stripPrefix(line.slice(4));
      continue;
    }
    const header = HUNK.exec(line);
    if (header) {
      if (!file) startFile();
      oldLine = Number(header[1]);
      newLine = Number(header[3]);
      oldLeft = header[2] === undefined ? 1 : Number(header[2]);
      newLeft = header[4] === undefined ? 1 : Number(header[4]);
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      if (oldLeft <= 0 && newLeft <= 0) {
        lastHunk = hunk;
        hunk = null;
      }
      continue;
    }
    if (file && line) file.notes.push(line);
  }
  return files;
}

/** Side-by-side rows of a hunk: deletions paired with the additions that follow them. */
export function pairRows(lines) {
  const rows = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.kind === '-' || line.kind === '+') {
      const dels = [];
      const adds = [];
      while (i < lines.length && lines[i].kind === '-') dels.push(lines[i++]);
      while (i < lines.length && lines[i].kind === '+') adds.push(lines[i++]);
      for (let k = 0; k < Math.max(dels.length, adds.length); k += 1) {
        rows.push({ left: dels[k] ?? null, right: adds[k] ?? null });
      }
      continue;
    }
    rows.push({ left: line, right: line });
    i += 1;
  }
  return rows;
}

function code(text, language, cls) {
  return h('td', { class: `dcode ${cls || ''}` }, highlight(text, language));
}

function fileTitle(file) {
  if (file.oldPath && file.newPath && file.oldPath !== file.newPath) {
    return `${file.oldPath} → ${file.newPath}`;
  }
  if (!file.oldPath && file.newPath) return `${file.newPath} (new)`;
  if (file.oldPath && !file.newPath) return `${file.oldPath} (deleted)`;
  return file.newPath || file.oldPath || 'file';
}

const SIGN_LABEL = { '+': 'added', '-': 'removed', ' ': '' };

function unifiedTable(file, language) {
  const body = h('tbody');
  for (const hunk of file.hunks) {
    body.append(h('tr', { class: 'hunk' }, h('td', { colspan: 4 }, hunk.header)));
    for (const line of hunk.lines) {
      const cls = line.kind === '+' ? 'add' : line.kind === '-' ? 'del' : '';
      body.append(h('tr', { class: cls },
        h('td', { class: 'ln' }, line.old ?? ''),
        h('td', { class: 'ln' }, line.new ?? ''),
        h('td', { class: 'sign', title: SIGN_LABEL[line.kind] || undefined }, line.kind === '\\' ? '' : line.kind),
        code(line.text, line.kind === '\\' ? null : language)));
    }
  }
  return h('table', { class: 'diff unified' },
    h('thead', { class: 'visually-hidden' }, h('tr', null,
      h('th', { scope: 'col' }, 'Old line'), h('th', { scope: 'col' }, 'New line'),
      h('th', { scope: 'col' }, 'Change'), h('th', { scope: 'col' }, 'Code'))),
    body);
}

function splitTable(file, language) {
  const body = h('tbody');
  for (const hunk of file.hunks) {
    body.append(h('tr', { class: 'hunk' }, h('td', { colspan: 4 }, hunk.header)));
    for (const { left, right } of pairRows(hunk.lines)) {
      const same = left === right;
      const side = (line, which) => {
        if (!line) return [h('td', { class: 'ln empty' }), h('td', { class: 'dcode empty' })];
        const changed = !same && line.kind !== ' ';
        const cls = changed ? (which === 'old' ? 'del' : 'add') : '';
        return [
          h('td', { class: `ln ${cls ? `${cls}-ln` : ''}` }, which === 'old' ? line.old ?? '' : line.new ?? ''),
          code(line.text, line.kind === '\\' ? null : language, cls),
        ];
      };
      body.append(h('tr', null, side(left, 'old'), side(right, 'new')));
    }
  }
  return h('table', { class: 'diff split' },
    h('thead', { class: 'visually-hidden' }, h('tr', null,
      h('th', { scope: 'col' }, 'Old line'), h('th', { scope: 'col' }, 'Old code'),
      h('th', { scope: 'col' }, 'New line'), h('th', { scope: 'col' }, 'New code'))),
    body);
}

/** The view mode a new diff opens in: side by side where there is room. */
export function defaultDiffMode() {
  const saved = localStorage.getItem('vibeforge.diffMode');
  if (saved === 'split' || saved === 'unified') return saved;
  return window.innerWidth >= 900 ? 'split' : 'unified';
}

/** A diff with its unified / side-by-side switch. */
export function diffView(text, { mode = defaultDiffMode(), label = 'Diff', heading = 'h3' } = {}) {
  const files = parseDiff(text || '');
  const holder = h('div', { class: 'diff-body' });
  const unified = h('button', { type: 'button', class: 'small', 'aria-pressed': String(mode === 'unified') }, 'Unified');
  const split = h('button', { type: 'button', class: 'small', 'aria-pressed': String(mode === 'split') }, 'Side by side');
  const render = (next) => {
    mode = next;
    unified.setAttribute('aria-pressed', String(mode === 'unified'));
    split.setAttribute('aria-pressed', String(mode === 'split'));
    holder.replaceChildren();
    if (!files.length || files.every((f) => !f.hunks.length && !f.notes.length)) {
      holder.append(h('p', { class: 'muted' }, 'No changes.'));
      return;
    }
    for (const file of files) {
      const language = languageOf(file.newPath || file.oldPath);
      const table = mode === 'split' ? splitTable(file, language) : unifiedTable(file, language);
      holder.append(h('section', { class: 'diff-file', 'aria-label': fileTitle(file) },
        h(heading, { class: 'diff-title' }, fileTitle(file)),
        file.notes.length && !file.hunks.length ? h('p', { class: 'muted small-text' }, file.notes.join(' ')) : null,
        h('div', { class: 'diff-scroll' }, table)));
    }
  };
  unified.addEventListener('click', () => { localStorage.setItem('vibeforge.diffMode', 'unified'); render('unified'); });
  split.addEventListener('click', () => { localStorage.setItem('vibeforge.diffMode', 'split'); render('split'); });
  render(mode);
  return h('div', { class: 'diff-view' },
    h('div', { class: 'diff-controls', role: 'group', 'aria-label': `${label} layout` }, unified, split),
    holder);
}
