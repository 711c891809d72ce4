// Retained messages under a prefix: a table, a payload preview, and delete
// for admins. Used by the topics view, which chooses the prefix.
import { api, isAbort } from './api.js';
import { el, scrollBox, emptyRow, keepFocus, showMessage, showError, isAdmin } from './dom.js';
import { fmtBytes, fmtValue, renderPayload, DASH } from './format.js';
import { confirmAction } from './dialog.js';

const LIMIT = 200;

export function createRetained({ signal, onLoaded = () => {} }) {
  let prefix = '';
  let seq = 0; // answers to older requests are dropped
  let shownTopic = null;

  const input = el('input', { id: 'retained-prefix', type: 'text', autocomplete: 'off', spellcheck: false, placeholder: 'e.g. sensors/' });
  const show = el('button', { id: 'retained-show', type: 'submit', text: 'Show' });
  const form = el('form', { class: 'controls' },
    el('label', { class: 'field grow' }, el('span', { text: 'Topic prefix' }), input), show);
  const total = el('p', { id: 'retained-total', class: 'muted', text: ' ' });
  const tbody = el('tbody', {}, emptyRow(5, 'loading…'));
  const table = el('table', { id: 'retained-table', class: 'rows' },
    el('thead', {}, el('tr', {},
      ['Topic', 'QoS', 'Size', 'Preview'].map((h) => el('th', { scope: 'col', text: h })),
      el('th', { scope: 'col', class: 'admin-only' }, el('span', { class: 'visually-hidden', text: 'Actions' })))),
    tbody);
  const meta = el('p', { id: 'retained-meta', class: 'muted', text: 'Choose a message to see its payload.' });
  const preview = el('pre', { id: 'retained-preview', tabIndex: 0, 'aria-label': 'payload' });
  const element = el('section', { class: 'panel retained' },
    el('h2', { text: 'Retained messages' }), form, total, scrollBox(table),
    el('h3', { text: 'Payload' }), meta, preview);

  async function load(nextPrefix = prefix) {
    prefix = nextPrefix;
    input.value = prefix;
    const mine = ++seq;
    try {
      const data = await api.get(`/api/v1/retained?prefix=${encodeURIComponent(prefix)}&limit=${LIMIT}`, { signal });
      if (mine !== seq) return;
      const rows = Array.isArray(data.retained) ? data.retained : [];
      const count = typeof data.total === 'number' ? data.total : rows.length;
      total.textContent = `${count > rows.length ? `first ${rows.length} of ${count}` : count} retained under "${prefix || '(all)'}"`;
      keepFocus(tbody, 'data-topic', () => {
        tbody.replaceChildren(...(rows.length ? rows.map(row) : [emptyRow(5, 'no retained messages here')]));
      });
    } catch (err) {
      if (isAbort(err) || mine !== seq) return;
      showError(err);
      tbody.replaceChildren(emptyRow(5, 'could not load retained messages'));
    }
    onLoaded();
  }

  function row(m) {
    const topic = String(m.topic ?? '');
    const remove = el('button', {
      type: 'button', class: 'delete-retained admin-only danger small', text: 'Delete',
      disabled: !isAdmin(), 'aria-label': `delete retained message on ${topic}`,
    });
    return el('tr', { class: 'link-row', dataset: { topic } },
      el('td', { class: 'id' }, el('button', { type: 'button', class: 'link', text: topic })),
      el('td', { text: fmtValue(m.qos) }),
      el('td', { class: 'num', text: fmtBytes(m.bytes) }),
      el('td', { class: 'preview', text: m.preview ?? '' }),
      el('td', { class: 'admin-only' }, remove));
  }

  async function open(topic) {
    shownTopic = topic;
    meta.textContent = `loading "${topic}"…`;
    try {
      const m = await api.get(`/api/v1/retained/${encodeURIComponent(topic)}`, { signal });
      if (shownTopic !== topic) return;
      const { kind, text } = renderPayload(m.payload);
      preview.textContent = text;
      preview.dataset.kind = kind;
      meta.textContent = `${m.topic ?? topic} · QoS ${fmtValue(m.qos)} · ${fmtBytes(m.bytes)}${m.truncated ? ' · truncated, only the start is shown' : ''}`;
    } catch (err) {
      if (isAbort(err) || shownTopic !== topic) return;
      meta.textContent = err.status === 404 ? `no retained message on "${topic}" any more` : DASH;
      preview.textContent = '';
      delete preview.dataset.kind;
      if (err.status !== 404) showError(err);
    }
  }

  async function remove(topic) {
    if (!(await confirmAction(`Delete the retained message on "${topic}"?`, 'Delete')) || signal.aborted) return;
    try {
      await api.del(`/api/v1/retained/${encodeURIComponent(topic)}`, { signal });
      showMessage(`Retained message on "${topic}" deleted.`, 'ok');
      if (shownTopic === topic) {
        shownTopic = null;
        preview.textContent = '';
        delete preview.dataset.kind;
        meta.textContent = 'Choose a message to see its payload.';
      }
    } catch (err) {
      if (isAbort(err)) return;
      showError(err);
    }
    load();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load(input.value);
  });
  tbody.addEventListener('click', (event) => {
    const tr = event.target.closest('tr[data-topic]');
    if (!tr) return;
    if (event.target.closest('.delete-retained')) remove(tr.dataset.topic);
    else open(tr.dataset.topic);
  });

  return { element, load };
}
