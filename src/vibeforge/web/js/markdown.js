/** Messages as text: fenced code blocks highlighted, everything else shown as written. */

import { h } from './dom.js';
import { highlight, languageOf } from './highlight.js';

const FENCE = /^(\s*)(```+|~~~+)\s*([\w+#.-]*)[^\n]*$/;

/** Split a message into text and code parts: `[{code: bool, text, language}]`. */
export function splitFences(text) {
  const parts = [];
  const lines = text.split('\n');
  let buffer = [];
  let fence = null;
  let language = null;
  let lastTextLine = '';
  const flush = (code) => {
    if (buffer.length || code) parts.push({ code, text: buffer.join('\n'), language });
    buffer = [];
  };
  for (const line of lines) {
    if (fence === null) {
      const match = FENCE.exec(line);
      if (match) {
        flush(false);
        fence = match[2];
        // The fence's language, else the file named on the line before (edit blocks do so).
        language = languageOf(match[3]) ?? languageOf(lastTextLine.trim());
        continue;
      }
      if (line.trim()) lastTextLine = line;
      buffer.push(line);
    } else if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') {
      flush(true);
      fence = null;
      language = null;
    } else {
      buffer.push(line);
    }
  }
  if (fence !== null) flush(true);
  else flush(false);
  return parts;
}

/** A message body: text as written, code blocks highlighted. */
export function renderMessageText(text) {
  const box = h('div', { class: 'msg-text' });
  for (const part of splitFences(text || '')) {
    if (part.code) {
      box.append(h('pre', { tabindex: '0', 'aria-label': 'Code' }, h('code', null, highlight(part.text, part.language))));
    } else if (part.text.trim()) {
      box.append(h('span', null, part.text.replace(/^\n+|\n+$/g, '')), '\n');
    }
  }
  return box;
}
