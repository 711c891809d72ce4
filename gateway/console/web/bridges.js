// Bridges to other brokers: state, backlog, and message rates from the
// difference of the counters between two polls (every 2 s).
import { api, isAbort } from './api.js';
import { el, scrollBox, emptyRow, showError, clearError, markReady } from './dom.js';
import { fmtNum, fmtRate, fmtDuration, fmtAgo, fmtCount, secondsSince, DASH } from './format.js';
import { poll } from './poll.js';

const REFRESH_MS = 2000;
const COLUMNS = ['Name', 'Address', 'State', 'For', 'Backlog', 'Out', 'In', 'Connects', 'Failures', 'Last error', 'When'];

export function mount(view) {
  let alive = true;
  const abort = new AbortController();
  let previous = new Map(); // name -> {at, out, in}
  let first = true;

  const tbody = el('tbody', {}, emptyRow(COLUMNS.length, 'loading…'));
  const table = el('table', { id: 'bridges-table' },
    el('thead', {}, el('tr', {}, COLUMNS.map((c, i) => el('th', { scope: 'col', class: i >= 4 && i <= 8 ? 'num' : null, text: c })))),
    tbody);
  view.append(el('h1', { text: 'Bridges' }), scrollBox(table));

  async function load() {
    try {
      const data = await api.get('/api/v1/bridges', { signal: abort.signal });
      if (!alive) return;
      const bridges = (Array.isArray(data.bridges) ? data.bridges : []).filter((b) => b && typeof b === 'object');
      const now = performance.now();
      const current = new Map();
      tbody.replaceChildren(...(bridges.length
        ? bridges.map((b) => {
          const name = String(b.name ?? '');
          const before = previous.get(name);
          const seconds = before ? (now - before.at) / 1000 : 0;
          current.set(name, { at: now, out: b.messages_out, in: b.messages_in });
          return row(b, name, rate(b.messages_out, before && before.out, seconds), rate(b.messages_in, before && before.in, seconds));
        })
        : [emptyRow(COLUMNS.length, 'no bridges configured')]));
      previous = current;
      clearError('bridges');
    } catch (err) {
      if (!alive || isAbort(err)) return;
      showError(err, 'bridges');
      if (first) tbody.replaceChildren(emptyRow(COLUMNS.length, 'could not load bridges'));
    }
    if (first && alive) {
      first = false;
      markReady();
    }
  }

  const refresher = poll(load, REFRESH_MS);

  return () => {
    alive = false;
    refresher.stop();
    abort.abort();
  };
}

// null until two polls are known, or when the counter went back (a restart).
function rate(now, before, seconds) {
  if (typeof now !== 'number' || typeof before !== 'number' || seconds <= 0 || now < before) return null;
  return (now - before) / seconds;
}

function row(b, name, outRate, inRate) {
  const up = b.connected === true;
  const errorAt = b.last_error_at_ms ?? b.last_error_at;
  return el('tr', { dataset: { bridge: name } },
    el('td', { class: 'id', text: name }),
    el('td', { text: b.address ?? DASH }),
    el('td', { class: `state ${up ? 'up' : 'down'}`, text: up ? 'up' : 'down' }),
    el('td', { text: fmtDuration(secondsSince(b.since_ms)) }),
    el('td', { class: 'num', text: fmtNum(b.backlog) }),
    el('td', { class: 'num', text: fmtRate(outRate) }),
    el('td', { class: 'num', text: fmtRate(inRate) }),
    el('td', { class: 'num', text: fmtCount(b.connects) }),
    el('td', { class: `num${b.connect_failures > 0 ? ' warn-text' : ''}`, text: fmtCount(b.connect_failures) }),
    el('td', { class: 'error-text', text: b.last_error ?? DASH }),
    el('td', { text: b.last_error ? fmtAgo(errorAt) : DASH }));
}
