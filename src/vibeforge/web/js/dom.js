/** Building DOM nodes without a framework: `h(tag, props, ...children)`. */

/** An element with properties (`class`, `on*` handlers, attributes) and children. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
      else if (key === 'text') el.textContent = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, numbers, nested arrays; null and false are skipped). */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
/** A page-unique id for pairing labels with controls. */
export function uid(prefix = 'f') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form field: returns {field, input}. */
export function field(label, input, hint) {
  const id = input.id || uid();
  input.id = id;
  const hintEl = hint ? h('span', { class: 'muted small-text', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return { field: h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl), input };
}
