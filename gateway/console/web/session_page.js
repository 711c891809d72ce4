// One session: connection, counters, subscriptions, queues and will, with
// kick and delete for admins. Refreshed every 3 s until it is gone.
import { api, isAbort } from './api.js';
import { el, kvTable, scrollBox, emptyRow, showMessage, showError, clearError, markReady, isAdmin } from './dom.js';
import { fmtCount, fmtBytes, fmtBool, fmtDuration, fmtRate, secondsSince, fmtValue, DASH } from './format.js';
import { confirmAction } from './dialog.js';
import { poll } from './poll.js';

const REFRESH_MS = 3000;

// clientId: the decoded id, or null when the address could not be decoded.
export function mount(view, clientId) {
  let alive = true;
  const abort = new AbortController();
  const signal = abort.signal;
  const path = clientId === null ? null : `/api/v1/sessions/${encodeURIComponent(clientId)}`;
  let first = true;

  const kick = el('button', { id: 'kick-button', type: 'button', class: 'admin-only', text: 'Kick (disconnect)', disabled: true });
  const remove = el('button', { id: 'delete-button', type: 'button', class: 'admin-only danger', text: 'Delete session', disabled: true });
  const detail = el('div', { id: 'session-detail', 'aria-live': 'off' }, el('p', { class: 'muted', text: 'loading…' }));
  view.append(
    el('p', { class: 'crumb' }, el('a', { href: '#/sessions', text: '‹ Sessions' })),
    el('h1', { class: 'id', text: clientId === null ? 'Session' : clientId || '(empty client id)' }),
    el('div', { class: 'toolbar' }, kick, remove),
    detail);

  function setButtons(enabled) {
    kick.disabled = remove.disabled = !enabled || !isAdmin();
  }

  async function load() {
    try {
      const s = await api.get(path, { signal });
      if (!alive) return;
      detail.replaceChildren(...render(s));
      setButtons(true);
      clearError('session');
    } catch (err) {
      if (!alive || isAbort(err)) return;
      if (err.status === 404) {
        detail.replaceChildren(el('p', { class: 'empty', text: 'no session with this client id' }));
        setButtons(false);
        refresher.stop(); // it will not come back by itself; polling would only log 404s
      } else {
        showError(err, 'session');
      }
    }
    finish();
  }

  function finish() {
    if (first && alive) {
      first = false;
      markReady();
    }
  }

  async function act(question, yes, run) {
    if (!(await confirmAction(question, yes)) || !alive) return;
    setButtons(false);
    try {
      await run();
    } catch (err) {
      if (!alive) return;
      // 409: kick of a session that is offline; the server explains.
      if (err.status === 409) showMessage(err.message, 'warn');
      else showError(err);
      setButtons(true);
    }
  }

  kick.addEventListener('click', () => act(`Disconnect client "${clientId}"? It may reconnect.`, 'Kick', async () => {
    await api.post(`${path}/kick`, undefined, { signal });
    if (!alive) return;
    showMessage(`Client "${clientId}" was disconnected.`, 'ok');
    refresher.refresh();
  }));
  remove.addEventListener('click', () => act(`Delete the session of "${clientId}"? Its subscriptions and queued messages are lost.`, 'Delete', async () => {
    await api.del(path, { signal });
    if (!alive) return;
    showMessage(`Session "${clientId}" was deleted.`, 'ok', { keep: true });
    location.hash = '#/sessions';
  }));

  let refresher = null;
  if (path === null) {
    detail.replaceChildren(el('p', { class: 'empty', text: 'no session: the address holds no valid client id' }));
    finish();
  } else {
    refresher = poll(load, REFRESH_MS);
  }

  return () => {
    alive = false;
    if (refresher) refresher.stop();
    abort.abort();
  };
}

function render(s) {
  const online = s.online === true;
  const will = s.will && typeof s.will === 'object' ? s.will : null;
  return [
    el('div', { class: 'panels' },
      section('Connection', kvTable([
        ['state', el('span', { class: `badge ${online ? 'up' : 'idle'}`, text: online ? 'online' : 'offline' })],
        ['connected for', online ? fmtDuration(secondsSince(s.connected_since)) : DASH],
        ['address', s.address ?? DASH],
        ['user', s.username ?? DASH],
        ['protocol', s.protocol ?? DASH],
        ['keep alive', typeof s.keep_alive === 'number' ? `${s.keep_alive} s` : DASH],
        ['persistent', fmtBool(s.persistent)],
        ['expiry interval', typeof s.expiry_interval === 'number' ? fmtDuration(s.expiry_interval) : DASH],
      ])),
      section('Traffic', kvTable([
        ['messages in', fmtCount(s.messages_in)],
        ['messages out', fmtCount(s.messages_out)],
        ['bytes in', fmtBytes(s.bytes_in)],
        ['bytes out', fmtBytes(s.bytes_out)],
        ['rate', fmtRate(s.rate)],
        ['in flight', fmtCount(s.inflight)],
        ['backlog', fmtCount(s.backlog)],
      ])),
      section('Will', will ? kvTable([
        ['topic', String(will.topic ?? DASH)],
        ['qos', fmtValue(will.qos)],
        ['retain', fmtBool(will.retain)],
        ['size', fmtBytes(will.bytes)],
        ['delay', typeof will.delay_interval === 'number' ? fmtDuration(will.delay_interval) : DASH],
      ]) : el('p', { class: 'muted', text: 'no will message' }))),
    section('Subscriptions', table(
      ['Filter', 'QoS', 'No local', 'Retain as published', 'Retain handling', 'Subscription id'],
      s.subscriptions, 'no subscriptions',
      (sub) => [sub.filter, fmtValue(sub.qos), fmtBool(sub.no_local), fmtBool(sub.retain_as_published), fmtValue(sub.retain_handling), fmtValue(sub.subscription_id)],
      'session-subscriptions')),
    section('Queues', table(
      ['Queue', 'Position', 'Lag', 'Backlog'],
      s.queues, 'no queues',
      (q) => [q.queue, fmtCount(q.position), fmtCount(q.lag), fmtCount(q.backlog)],
      'session-queues')),
  ];
}

function section(title, content) {
  return el('section', { class: 'panel' }, el('h2', { text: title }), content);
}

function table(headers, items, emptyText, cells, id) {
  const list = Array.isArray(items) ? items : [];
  return scrollBox(el('table', { id },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, list.length
      ? list.map((item) => el('tr', {}, cells(item || {}).map((v, i) => el('td', { class: i === 0 ? 'id' : null, text: v ?? DASH }))))
      : emptyRow(headers.length, emptyText))));
}
