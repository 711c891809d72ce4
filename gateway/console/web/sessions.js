// Sessions list: server-side search, filter, sort and paging (50 a page;
// there may be 20,000 sessions), refreshed every 3 s.
import { api, isAbort } from './api.js';
import { el, scrollBox, emptyRow, keepFocus, showError, clearError, markReady } from './dom.js';
import { fmtNum, fmtRate, fmtDuration, secondsSince, DASH } from './format.js';
import { poll, debounce } from './poll.js';

const PAGE = 50;
const REFRESH_MS = 3000;
const SORTS = [
  ['client_id', 'client id'],
  ['backlog', 'backlog'],
  ['inflight', 'in flight'],
  ['rate', 'rate'],
  ['connected', 'connected time'],
];
const COLUMNS = ['Client id', 'State', 'User', 'Address', 'Protocol', 'Connected for', 'Backlog', 'In flight', 'Rate'];

// Kept between visits, so coming back from a session page shows the same page.
const query = { q: '', state: '', sort: 'client_id', order: 'asc', offset: 0 };

function sessionHref(clientId) {
  return `#/sessions/${encodeURIComponent(clientId)}`;
}

export function mount(view) {
  let alive = true;
  let inflight = null; // AbortController of the request under way
  let firstRender = true;

  const options = (pairs, selected) => pairs.map(([value, label]) => el('option', { value, text: label, selected: value === selected }));
  const search = el('input', { id: 'session-search', type: 'search', value: query.q, placeholder: 'client id, user or address', autocomplete: 'off', spellcheck: false });
  const stateSelect = el('select', { id: 'session-state' }, options([['', 'all'], ['online', 'online'], ['offline', 'offline']], query.state));
  const sortSelect = el('select', { id: 'session-sort' }, options(SORTS, query.sort));
  const orderSelect = el('select', { id: 'session-order' }, options([['asc', 'ascending'], ['desc', 'descending']], query.order));
  const field = (label, control) => el('label', { class: 'field' }, el('span', { text: label }), control);
  const controls = el('form', { class: 'controls', role: 'search', on: { submit: (e) => e.preventDefault() } },
    field('Search', search), field('State', stateSelect), field('Sort by', sortSelect), field('Order', orderSelect));

  const tbody = el('tbody', {}, emptyRow(COLUMNS.length, 'loading…'));
  const table = el('table', { id: 'sessions-table', class: 'rows' },
    el('thead', {}, el('tr', {}, COLUMNS.map((c, i) => el('th', { scope: 'col', class: i >= 6 ? 'num' : null, text: c })))),
    tbody);
  const prev = el('button', { id: 'sessions-prev', type: 'button', text: '‹ Previous', disabled: true });
  const next = el('button', { id: 'sessions-next', type: 'button', text: 'Next ›', disabled: true });
  const total = el('span', { id: 'sessions-total', 'aria-live': 'polite', text: ' ' });
  view.append(el('h1', { text: 'Sessions' }), controls, scrollBox(table), el('div', { class: 'pager' }, prev, total, next));

  // --- loading ---
  async function load() {
    const controller = new AbortController();
    inflight = controller;
    const params = new URLSearchParams({ sort: query.sort, order: query.order, limit: String(PAGE), offset: String(query.offset) });
    if (query.q) params.set('q', query.q);
    if (query.state) params.set('state', query.state);
    try {
      const data = await api.get(`/api/v1/sessions?${params}`, { signal: controller.signal });
      if (!alive || inflight !== controller) return;
      const count = typeof data.total === 'number' ? data.total : 0;
      const rows = Array.isArray(data.sessions) ? data.sessions : [];
      // Sessions went away and the page is past the end: go to the last page.
      if (!rows.length && count > 0 && query.offset >= count) {
        query.offset = Math.max(0, Math.floor((count - 1) / PAGE) * PAGE);
        reload();
        return;
      }
      render(rows, count);
      clearError('sessions');
    } catch (err) {
      if (!alive || isAbort(err)) return;
      showError(err, 'sessions');
      if (firstRender) tbody.replaceChildren(emptyRow(COLUMNS.length, 'could not load sessions'));
    } finally {
      if (inflight === controller) inflight = null;
    }
    if (alive && firstRender && !controller.signal.aborted) {
      firstRender = false;
      markReady();
    }
  }

  function render(rows, count) {
    keepFocus(tbody, 'data-client-id', () => {
      tbody.replaceChildren(...(rows.length ? rows.map(row) : [emptyRow(COLUMNS.length, query.q || query.state ? 'no matching sessions' : 'no sessions')]));
    });
    const first = rows.length ? query.offset + 1 : 0;
    total.textContent = rows.length ? `${first}–${query.offset + rows.length} of ${count}` : `0 of ${count}`;
    prev.disabled = query.offset === 0;
    next.disabled = query.offset + PAGE >= count;
  }

  function row(s) {
    const id = String(s.client_id ?? '');
    const online = s.online === true;
    return el('tr', { class: 'link-row', dataset: { clientId: id } },
      el('td', { class: 'id' }, el('a', { href: sessionHref(id), text: id === '' ? '(empty)' : id })),
      el('td', {}, el('span', { class: `badge ${online ? 'up' : 'idle'}`, text: online ? 'online' : 'offline' })),
      el('td', { text: s.username ?? DASH }),
      el('td', { text: s.address ?? DASH }),
      el('td', { text: s.protocol ?? DASH }),
      el('td', { text: online ? fmtDuration(secondsSince(s.connected_since)) : DASH }),
      el('td', { class: 'num', text: fmtNum(s.backlog) }),
      el('td', { class: 'num', text: fmtNum(s.inflight) }),
      el('td', { class: 'num', text: fmtRate(s.rate) }));
  }

  // --- interaction ---
  // Loads now, dropping an older request still under way.
  function reload() {
    if (inflight) inflight.abort();
    pager.refresh();
  }
  // A change of search, filter or sort starts again at the first page.
  function requery() {
    query.offset = 0;
    reload();
  }
  const typed = debounce(() => {
    if (search.value === query.q) return;
    query.q = search.value;
    requery();
  }, 250);
  search.addEventListener('input', typed);
  stateSelect.addEventListener('change', () => { query.state = stateSelect.value; requery(); });
  sortSelect.addEventListener('change', () => {
    query.sort = sortSelect.value;
    // Counts read best largest first; names and connect times oldest/A first.
    query.order = ['backlog', 'inflight', 'rate'].includes(query.sort) ? 'desc' : 'asc';
    orderSelect.value = query.order;
    requery();
  });
  orderSelect.addEventListener('change', () => { query.order = orderSelect.value; requery(); });
  prev.addEventListener('click', () => { query.offset = Math.max(0, query.offset - PAGE); reload(); });
  next.addEventListener('click', () => { query.offset += PAGE; reload(); });
  // The whole row opens the session; the id cell is also a real link for keyboards.
  tbody.addEventListener('click', (event) => {
    const tr = event.target.closest('tr[data-client-id]');
    if (!tr || event.target.closest('a')) return;
    location.hash = sessionHref(tr.dataset.clientId);
  });

  const pager = poll(load, REFRESH_MS);

  return () => {
    alive = false;
    typed.cancel();
    pager.stop();
    if (inflight) inflight.abort();
  };
}
