// Cluster: this node, the lookup ring (members, epoch, stability) and the
// counters of each part, plus "which gateway holds this client?".
// Sections are rendered generically: their fields grow with the server.
import { api, isAbort } from './api.js';
import { el, kvTable, showError, clearError, markReady } from './dom.js';
import { fmtValue, humanize, DASH } from './format.js';
import { poll } from './poll.js';

const REFRESH_MS = 5000;
const SUMMARY_KEYS = new Set(['enabled', 'node', 'lookup']);

export function mount(view) {
  let alive = true;
  const abort = new AbortController();
  const signal = abort.signal;
  let first = true;

  const content = el('div', { id: 'cluster-view' }, el('p', { class: 'muted', text: 'loading…' }));
  const input = el('input', { id: 'cluster-owner-input', type: 'text', autocomplete: 'off', spellcheck: false, required: true });
  const button = el('button', { id: 'cluster-owner-button', type: 'submit', text: 'Find' });
  const result = el('p', { id: 'cluster-owner-result', role: 'status', text: '' });
  const ownerForm = el('form', { class: 'panel', id: 'cluster-owner', hidden: true },
    el('h2', { text: 'Which gateway holds a client?' }),
    el('div', { class: 'controls' }, el('label', { class: 'field grow' }, el('span', { text: 'Client id' }), input), button),
    result);
  view.append(el('h1', { text: 'Cluster' }), content, ownerForm);

  async function load() {
    try {
      const c = await api.get('/api/v1/cluster', { signal });
      if (!alive) return;
      render(c);
      clearError('cluster');
    } catch (err) {
      if (!alive || isAbort(err)) return;
      showError(err, 'cluster');
      if (first) content.replaceChildren(el('p', { class: 'empty', text: 'could not load the cluster state' }));
    }
    if (first && alive) {
      first = false;
      markReady();
    }
  }

  function render(c) {
    if (c.enabled !== true) {
      content.replaceChildren(el('p', { class: 'empty', text: 'cluster mode is off' }));
      ownerForm.hidden = true;
      return;
    }
    ownerForm.hidden = false;
    const lookup = c.lookup && typeof c.lookup === 'object' ? c.lookup : null;
    const members = lookup && Array.isArray(lookup.members) ? lookup.members : [];
    const summary = [
      ['node', fmtValue(c.node)],
      ['members', members.length
        ? el('ul', { class: 'members' }, members.map((m) => el('li', { text: typeof m === 'string' ? m : JSON.stringify(m) })))
        : DASH],
    ];
    if (lookup) {
      summary.push(['epoch', fmtValue(lookup.epoch)],
        ['stable', stateBadge(lookup.stable)],
        ['complete', stateBadge(lookup.complete)]);
      for (const [key, value] of Object.entries(lookup)) {
        if (!['members', 'epoch', 'stable', 'complete', 'owner_of'].includes(key)) summary.push([humanize(key), fmtValue(value)]);
      }
    } else {
      summary.push(['lookup', 'not enabled (notifications are broadcast)']);
    }
    const sections = Object.entries(c)
      .filter(([key, value]) => !SUMMARY_KEYS.has(key) && value && typeof value === 'object' && !Array.isArray(value))
      .map(([key, value]) => el('section', { class: 'panel' }, el('h2', { text: capitalize(humanize(key)) }),
        kvTable(Object.entries(value).map(([k, v]) => [humanize(k), fmtValue(v)]))));
    content.replaceChildren(
      el('section', { class: 'panel' }, el('h2', { text: 'This node' }), kvTable(summary, { id: 'cluster-summary' })),
      el('div', { class: 'panels' }, sections));
  }

  ownerForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = input.value;
    result.textContent = 'asking…';
    try {
      // The gateway asks the cluster's lookup which member holds the client's session.
      const c = await api.get(`/api/v1/cluster?client=${encodeURIComponent(id)}`, { signal });
      if (!alive) return;
      const found = c.client;
      if (!found || found.answered !== true) {
        result.textContent = c.enabled === true && !c.lookup ? 'the lookup is not enabled on this cluster'
          : 'the lookup did not answer; try again';
        return;
      }
      result.textContent = found.held_by ? `"${id}" is held by ${found.held_by}` : `no gateway holds "${id}"`;
    } catch (err) {
      if (!alive || isAbort(err)) return;
      result.textContent = err.message;
    }
  });

  const refresher = poll(load, REFRESH_MS);

  return () => {
    alive = false;
    refresher.stop();
    abort.abort();
  };
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function stateBadge(value) {
  if (typeof value !== 'boolean') return fmtValue(value);
  return el('span', { class: `badge ${value ? 'up' : 'warn'}`, text: value ? 'yes' : 'no' });
}
