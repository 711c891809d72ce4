// DOM helpers shared by the views. Server data only ever enters the page as
// text nodes or properties, never as markup: client ids, topics and payloads
// are chosen by whoever connects to the gateway.

// el('td', {class: 'num', text: '3'}, child, ...): keys with a dash (aria-*,
// data-*) and "role" become attributes, the rest are element properties.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else if (key === 'role' || key.includes('-')) node.setAttribute(key, value === true ? '' : String(value));
    else node[key] = value;
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false).map(toNode));
  return node;
}

function toNode(child) {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

// A table inside a horizontally scrolling box, so wide tables never widen a phone page.
export function scrollBox(table) {
  return el('div', { class: 'table-wrap' }, table);
}

// A two-column key/value table: rows are [label, value] with value a string or node.
export function kvTable(rows, props = {}) {
  return el('table', { class: 'kv', ...props },
    el('tbody', {}, rows.map(([label, value]) => el('tr', {}, el('th', { scope: 'row', text: label }), el('td', {}, value)))));
}

// A row with one cell across the table, for "no sessions" and the like.
export function emptyRow(columns, text) {
  return el('tr', { class: 'empty' }, el('td', { colSpan: columns, text }));
}

// Rebuilding a table every few seconds would drop keyboard focus; put it back
// on the element with the same key (e.g. data-client-id) when it still exists.
export function keepFocus(container, attribute, rebuild) {
  const active = document.activeElement;
  const holder = active && container.contains(active) ? active.closest(`[${attribute}]`) : null;
  const key = holder ? holder.getAttribute(attribute) : null;
  const tag = active ? active.tagName : null;
  rebuild();
  if (key === null) return;
  for (const candidate of container.querySelectorAll(`[${attribute}]`)) {
    if (candidate.getAttribute(attribute) !== key) continue;
    const target = candidate.tagName === tag ? candidate : candidate.querySelector(tag);
    if (target) target.focus();
    return;
  }
}

// --- The message line under the nav (role=status) -------------------------

let current = { source: null, kind: null, keep: false };

// kind: "ok", "info", "warn" or "error". keep: survive the next view switch,
// for "session deleted" shown while going back to the list.
export function showMessage(text, kind = 'info', { keep = false, source = null } = {}) {
  const box = document.getElementById('message');
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  current = { source, kind, keep };
}

export function clearMessage() {
  showMessage('', 'info');
}

// Errors from a poll carry their source so the next good poll can clear them.
export function showError(err, source = null) {
  if (!err || err.name === 'AbortError' || err.status === 401) return; // 401: the login form says it
  showMessage(err.message || String(err), 'error', { source });
}

export function clearError(source) {
  if (current.kind === 'error' && current.source === source) clearMessage();
}

export function onViewSwitch() {
  if (current.keep) current.keep = false;
  else clearMessage();
}

// --- Page state read by tests and by the views ---------------------------

export function markReady() {
  document.body.dataset.ready = '1';
}

export function isAdmin() {
  return document.body.dataset.role === 'admin';
}
