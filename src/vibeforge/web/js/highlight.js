/** Syntax highlighting: one regular expression of alternatives per language, into spans.

Small on purpose: it colours keywords, strings, comments, numbers, names called and a few
language-specific tokens, which is what makes code readable at a glance; it is not a parser.
*/

const STRING_DQ = String.raw`"(?:\\.|[^"\\\n])*"?`;
const STRING_SQ = String.raw`'(?:\\.|[^'\\\n])*'?`;
const NUMBER = String.raw`\b(?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)[jJlLuUfFnN]?\b`;
const CALL = String.raw`[A-Za-z_$][\w$]*(?=\s*\()`;
const IDENT = String.raw`[A-Za-z_$][\w$]*`;

const words = (text) => new Set(text.split(' '));

const C_LIKE_KEYWORDS = words(
  'auto break case catch class const continue default defer delete do else enum export extends ' +
  'false final finally fn for func function go goto if impl implements import in instanceof interface ' +
  'let loop match mod mut namespace new nil null override package private protected pub public ' +
  'return self static struct super switch this throw throws trait true try type typedef typeof ' +
  'union unsafe use using var virtual void volatile where while yield async await of as from ' +
  'get set readonly declare abstract sealed when val fun object companion lateinit crate dyn ref',
);
const LANGUAGES = {
  python: {
    rules: [
      ['t-com', '#.*'],
      ['t-str', String.raw`[rRbBuUfF]{0,2}(?:"""[\s\S]*?(?:"""|$(?![\s\S]))|'''[\s\S]*?(?:'''|$(?![\s\S])))`],
      ['t-str', `[rRbBuUfF]{0,2}(?:${STRING_DQ}|${STRING_SQ})`],
      ['t-meta', String.raw`@[\w.]+`],
      ['t-num', NUMBER],
      ['call', CALL],
      ['word', IDENT],
    ],
    keywords: words(
      'and as assert async await break class continue def del elif else except False finally ' +
      'for from global if import in is lambda None nonlocal not or pass raise return True try ' +
      'while with yield match case',
    ),
    builtins: words(
      'print len range str int float dict list set tuple bool open super self cls isinstance ' +
      'enumerate zip map filter sorted min max sum any all type object Exception ValueError',
    ),
  },
  javascript: {
    rules: [
      ['t-com', String.raw`\/\/.*|\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))`],
      ['t-str', String.raw`\x60(?:\\[\s\S]|[^\\\x60])*\x60?`],
      ['t-str', `${STRING_DQ}|${STRING_SQ}`],
      ['t-num', NUMBER],
      ['call', CALL],
      ['word', IDENT],
    ],
    keywords: C_LIKE_KEYWORDS,
    builtins: words('console window document Math JSON Object Array Promise Map Set Number String Error undefined'),
  },
  clike: {
    rules: [
      ['t-com', String.raw`\/\/.*|\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))`],
      ['t-meta', String.raw`^\s*#\s*\w+.*|#\[[^\]\n]*\]`],
      ['t-str', String.raw`\x60[^\x60]*\x60?`],
      ['t-str', `${STRING_DQ}|${STRING_SQ}`],
      ['t-num', NUMBER],
      ['call', CALL],
      ['word', IDENT],
    ],
    keywords: C_LIKE_KEYWORDS,
    builtins: words('int char bool float double long short unsigned string String usize i32 i64 u8 u32 u64 f32 f64 byte rune error Vec Option Result Some None Ok Err'),
  },
  json: {
    rules: [
      ['t-key', `${STRING_DQ}(?=\\s*:)`],
      ['t-str', STRING_DQ],
      ['t-num', String.raw`-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`],
      ['word', IDENT],
    ],
    keywords: words('true false null'),
  },
  css: {
    rules: [
      ['t-com', String.raw`\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))`],
      ['t-str', `${STRING_DQ}|${STRING_SQ}`],
      ['t-meta', String.raw`@[\w-]+`],
      ['t-attr', String.raw`[\w-]+(?=\s*:(?!:))`],
      ['t-num', String.raw`#[\da-fA-F]{3,8}\b|-?\d*\.?\d+(?:px|em|rem|%|vh|vw|s|ms|fr|deg)?`],
    ],
  },
  html: {
    rules: [
      ['t-com', String.raw`<!--[\s\S]*?(?:-->|$(?![\s\S]))`],
      ['t-tag', String.raw`<\/?[\w:-]+|\/?>`],
      ['t-attr', String.raw`[\w:-]+(?==)`],
      ['t-str', `${STRING_DQ}|${STRING_SQ}`],
    ],
  },
  shell: {
    rules: [
      ['t-com', String.raw`(?:^|\s)#.*`],
      ['t-str', `${STRING_DQ}|${STRING_SQ}`],
      ['t-attr', String.raw`\$\{[^}\n]*\}|\$[\w@#?*]+`],
      ['t-num', NUMBER],
      ['word', String.raw`[A-Za-z_][\w-]*`],
    ],
    keywords: words('if then else elif fi for in do done while until case esac function return local export set unset echo cd exit'),
  },
  config: {
    rules: [
      ['t-com', String.raw`(?:^|\s)[#;].*`],
      ['t-meta', String.raw`^\s*\[[^\]\n]*\]`],
      ['t-key', String.raw`^\s*-?\s*[\w."'-]+(?=\s*[:=])`],
      ['t-str', `${STRING_DQ}|${STRING_SQ}`],
      ['t-num', NUMBER],
      ['word', IDENT],
    ],
    keywords: words('true false null yes no on off True False None'),
  },
  markdown: {
    rules: [
      ['t-kw', String.raw`^#{1,6} .*`],
      ['t-str', String.raw`\x60[^\x60\n]+\x60`],
      ['t-meta', String.raw`^\s*(?:[-*+]|\d+\.)\s`],
      ['t-attr', String.raw`\[[^\]\n]*\]\([^)\n]*\)`],
    ],
  },
  diff: {
    rules: [
      ['t-meta', String.raw`^@@.*|^(?:diff|index) .*|^(?:\+\+\+|---) .*`],
      ['t-add', String.raw`^\+.*`],
      ['t-del', String.raw`^-.*`],
    ],
  },
};

const EXTENSIONS = {
  py: 'python', pyi: 'python', js: 'javascript', mjs: 'javascript', cjs: 'javascript',
  ts: 'javascript', tsx: 'javascript', jsx: 'javascript', json: 'json', css: 'css',
  scss: 'css', html: 'html', htm: 'html', xml: 'html', svg: 'html', vue: 'html',
  sh: 'shell', bash: 'shell', zsh: 'shell', toml: 'config', yaml: 'config', yml: 'config',
  ini: 'config', cfg: 'config', env: 'config', md: 'markdown', markdown: 'markdown',
  diff: 'diff', patch: 'diff', c: 'clike', h: 'clike', cc: 'clike', cpp: 'clike',
  hpp: 'clike', java: 'clike', go: 'clike', rs: 'clike', kt: 'clike', swift: 'clike',
  cs: 'clike', php: 'clike', rb: 'python', dart: 'clike', scala: 'clike',
};
const ALIASES = {
  py: 'python', python3: 'python', js: 'javascript', ts: 'javascript', typescript: 'javascript',
  node: 'javascript', sh: 'shell', bash: 'shell', console: 'shell', yml: 'config',
  yaml: 'config', toml: 'config', ini: 'config', udiff: 'diff', patch: 'diff', md: 'markdown',
  c: 'clike', cpp: 'clike', java: 'clike', go: 'clike', rust: 'clike', rs: 'clike',
  kotlin: 'clike', swift: 'clike', csharp: 'clike', xml: 'html',
};

const compiled = new Map();
const MAX_HIGHLIGHT_CHARS = 300000;

/** The language of a file name, or of a fence's info string; null when unknown. */
export function languageOf(nameOrFence) {
  if (!nameOrFence) return null;
  const lower = nameOrFence.toLowerCase();
  if (LANGUAGES[lower]) return lower;
  if (ALIASES[lower]) return ALIASES[lower];
  const base = lower.split('/').pop();
  if (base === 'dockerfile' || base === 'makefile') return 'shell';
  const dot = base.lastIndexOf('.');
  return dot >= 0 ? EXTENSIONS[base.slice(dot + 1)] ?? null : null;
}

function compile(name) {
  if (!compiled.has(name)) {
    const language = LANGUAGES[name];
    const source = language.rules.map(([, pattern]) => `(${pattern})`).join('|');
    compiled.set(name, { language, regex: new RegExp(source, 'gm') });
  }
  return compiled.get(name);
}

/** A fragment of text and spans coloured for `language` (plain text when unknown or huge). */
export function highlight(text, language) {
  const fragment = document.createDocumentFragment();
  if (!language || !LANGUAGES[language] || text.length > MAX_HIGHLIGHT_CHARS) {
    fragment.append(text);
    return fragment;
  }
  const { language: spec, regex } = compile(language);
  regex.lastIndex = 0;
  let plain = '';
  let last = 0;
  let match;
  const flush = () => {
    if (plain) fragment.append(plain);
    plain = '';
  };
  const span = (cls, value) => {
    flush();
    const el = document.createElement('span');
    el.className = cls;
    el.textContent = value;
    fragment.append(el);
  };
  while ((match = regex.exec(text)) !== null) {
    if (match[0] === '') {
      regex.lastIndex += 1;
      continue;
    }
    plain += text.slice(last, match.index);
    last = match.index + match[0].length;
    const rule = spec.rules[match.slice(1).findIndex((group) => group !== undefined)][0];
    const value = match[0];
    if (rule === 'word' || rule === 'call') {
      if (spec.keywords?.has(value)) span('t-kw', value);
      else if (spec.builtins?.has(value)) span('t-bi', value);
      else if (rule === 'call') span('t-fn', value);
      else plain += value;
    } else {
      span(rule, value);
    }
  }
  plain += text.slice(last);
  flush();
  return fragment;
}
