// Overview: tiles and one-hour charts fed by /history then the /live
// event stream (one sample a second), plus /stats every 5 s for drops,
// store use and version.
import { api, isAbort } from './api.js';
import { el, kvTable, scrollBox, emptyRow, showError, clearError, markReady } from './dom.js';
import { fmtNum, fmtRate, fmtBytes, fmtCount, fmtDuration, humanize, DASH } from './format.js';
import { createPlot, BYTE_STEPS } from './plots.js';
import { poll } from './poll.js';
import { Samples } from './samples.js';

const TILES = [
  { id: 'stat-connections', label: 'Connected clients', column: 'connections', format: fmtNum },
  { id: 'stat-sessions-online', label: 'Sessions online', column: 'sessions_online', format: fmtNum },
  { id: 'stat-sessions-offline', label: 'Sessions offline', column: 'sessions_offline', format: fmtNum },
  { id: 'stat-subscriptions', label: 'Subscriptions', column: 'subscriptions', format: fmtNum },
  { id: 'stat-msgs-in', label: 'Messages in', column: 'messages_in_per_s', format: fmtRate },
  { id: 'stat-msgs-out', label: 'Messages out', column: 'messages_out_per_s', format: fmtRate },
  { id: 'stat-bytes-in', label: 'Bytes in', column: 'bytes_in_per_s', format: (v) => (v === null ? DASH : `${fmtBytes(v)}/s`) },
  { id: 'stat-bytes-out', label: 'Bytes out', column: 'bytes_out_per_s', format: (v) => (v === null ? DASH : `${fmtBytes(v)}/s`) },
  { id: 'stat-retained', label: 'Retained', column: 'retained', format: fmtNum },
  { id: 'stat-store', label: 'Store used / limit', wide: true },
];

const PLOTS = [
  { id: 'plot-messages', title: 'Messages per second', series: [
    { column: 'messages_in_per_s', label: 'in/s', stroke: '#2563eb' },
    { column: 'messages_out_per_s', label: 'out/s', stroke: '#16a34a' }] },
  { id: 'plot-bytes', title: 'Bytes per second', format: fmtBytes, steps: BYTE_STEPS, series: [
    { column: 'bytes_in_per_s', label: 'in/s', stroke: '#2563eb' },
    { column: 'bytes_out_per_s', label: 'out/s', stroke: '#16a34a' }] },
  { id: 'plot-clients', title: 'Clients', series: [
    { column: 'connections', label: 'connections', stroke: '#2563eb' },
    { column: 'sessions_online', label: 'sessions online', stroke: '#16a34a' },
    { column: 'subscriptions', label: 'subscriptions', stroke: '#7c3aed' }] },
  { id: 'plot-drops', title: 'Drops and backlog', series: [
    { column: 'drops_per_s', label: 'drops/s', stroke: '#dc2626' },
    { column: 'backlog', label: 'backlog', stroke: '#d97706', right: true }] },
];

const HISTORY_RETRY_MS = 5000;
const FALLBACK_POLL_MS = 2000;
const STATS_POLL_MS = 5000;

export function mount(view) {
  const abort = new AbortController();
  const signal = abort.signal;
  let alive = true;
  let samples = new Samples([]);
  let stats = null;
  let live = null;
  let fallback = null;
  let retryTimer = 0;

  // --- layout ---
  const about = el('p', { class: 'about', id: 'about', text: ' ' });
  const paused = el('p', { class: 'notice', id: 'live-paused', hidden: true, text: 'live updates paused; refreshing every 2 s' });
  const tileValues = new Map();
  const tiles = el('div', { class: 'tiles' }, TILES.map((t) => {
    const value = el('span', { class: 'tile-value', id: t.id, text: DASH });
    tileValues.set(t.id, value);
    return el('div', { class: t.wide ? 'tile wide' : 'tile' }, el('span', { class: 'tile-label', text: t.label }), value);
  }));
  const plotBoxes = PLOTS.map((p) => el('div', { class: 'plot', id: p.id }));
  const charts = el('div', { class: 'charts' }, PLOTS.map((p, i) =>
    el('figure', { class: 'chart' }, el('figcaption', { text: p.title }), plotBoxes[i])));
  const storeMeter = el('meter', { id: 'store-meter', min: 0, max: 1, value: 0, 'aria-label': 'store used' });
  const storeText = el('span', { class: 'meter-text', text: DASH });
  const dropsBody = el('tbody', {}, emptyRow(2, 'loading…'));
  const dropsTable = el('table', { id: 'drops-table' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Reason' }), el('th', { scope: 'col', class: 'num', text: 'Count' }))),
    dropsBody);
  const totalsBox = el('div', {});
  view.append(
    el('h1', { text: 'Overview' }), about, paused, tiles, charts,
    el('div', { class: 'panels' },
      el('section', { class: 'panel' }, el('h2', { text: 'Store' }), el('div', { class: 'meter-row' }, storeMeter, storeText), totalsBox),
      el('section', { class: 'panel' }, el('h2', { text: 'Drops since start' }), scrollBox(dropsTable))));

  const plots = PLOTS.map((p, i) => createPlot(plotBoxes[i], { series: p.series, format: p.format || fmtNum, steps: p.steps }));

  // --- rendering ---
  function draw() {
    PLOTS.forEach((p, i) => plots[i].setData([samples.xs, ...p.series.map((s) => samples.column(s.column))]));
    for (const t of TILES) if (t.column) tileValues.get(t.id).textContent = t.format(samples.latest(t.column));
    drawStore();
  }

  function drawStore() {
    const store = (stats && stats.store) || {};
    const used = samples.latest('store_bytes') ?? store.message_bytes ?? null;
    const limit = typeof store.limit_bytes === 'number' && store.limit_bytes > 0 ? store.limit_bytes : null;
    const text = `${fmtBytes(used)} / ${limit === null ? 'no limit' : fmtBytes(limit)}`;
    tileValues.get('stat-store').textContent = text;
    storeText.textContent = text;
    storeMeter.max = limit || 1;
    storeMeter.value = limit && used !== null ? Math.min(used, limit) : 0;
    storeMeter.low = (limit || 1) * 0.75;
    storeMeter.high = (limit || 1) * 0.9;
    storeMeter.optimum = 0;
  }

  function drawStats() {
    about.textContent = `tidegate ${stats.version ?? '?'} · up ${fmtDuration(stats.uptime_seconds)}`;
    const drops = Object.entries(stats.drops || {})
      .filter(([, n]) => typeof n === 'number' && n > 0)
      .sort((a, b) => b[1] - a[1]);
    dropsBody.replaceChildren(...(drops.length
      ? drops.map(([reason, n]) => el('tr', { dataset: { reason } },
        el('td', { text: humanize(reason) }), el('td', { class: 'num warn-text', text: fmtCount(n) })))
      : [emptyRow(2, 'no drops')]));
    const m = stats.messages || {};
    const b = stats.bytes || {};
    const s = stats.store || {};
    totalsBox.replaceChildren(kvTable([
      ['messages stored', fmtCount(s.messages)],
      ['store map size', fmtBytes(s.map_bytes)],
      ['retained', `${fmtCount(stats.retained?.count)} (${fmtBytes(stats.retained?.bytes)})`],
      ['messages received', fmtCount(m.received)],
      ['messages sent', fmtCount(m.sent)],
      ['published without subscribers', fmtCount(m.no_subscribers)],
      ['bytes received', fmtBytes(b.received)],
      ['bytes sent', fmtBytes(b.sent)],
    ]));
    drawStore();
  }

  // --- data ---
  async function loadHistory() {
    try {
      const history = await api.get('/api/v1/history', { signal });
      if (!alive) return;
      samples = new Samples(history.columns);
      for (const row of history.samples || []) samples.add(row);
      samples.trim();
      draw();
      clearError('history');
      markReady();
      openLive();
    } catch (err) {
      if (!alive || isAbort(err)) return;
      showError(err, 'history');
      markReady(); // rendered, if only the error
      retryTimer = setTimeout(loadHistory, HISTORY_RETRY_MS);
    }
  }

  function addRows(rows) {
    let added = false;
    for (const row of rows) added = samples.add(row) || added;
    if (!added) return;
    samples.trim();
    draw();
  }

  function openLive() {
    if (!alive || typeof EventSource !== 'function') return startFallback();
    const source = new EventSource('/api/v1/live');
    live = source;
    source.addEventListener('sample', (event) => {
      let row;
      try {
        row = JSON.parse(event.data);
      } catch {
        return; // a malformed event; the next one comes in a second
      }
      addRows([row]);
    });
    source.addEventListener('error', () => {
      // While CONNECTING the browser retries by itself. CLOSED means the
      // server refused the stream (503: too many live streams; or 401).
      if (source.readyState !== EventSource.CLOSED || !alive) return;
      source.close();
      live = null;
      paused.hidden = false;
      startFallback();
    });
  }

  function startFallback() {
    if (fallback || !alive) return;
    fallback = poll(async () => {
      try {
        const since = samples.lastMs ?? 0;
        const history = await api.get(`/api/v1/history?since_ms=${encodeURIComponent(since)}`, { signal });
        if (!alive) return;
        if (!samples.columns.length && Array.isArray(history.columns)) samples = new Samples(history.columns);
        addRows(history.samples || []);
        clearError('history');
      } catch (err) {
        if (alive && !isAbort(err)) showError(err, 'history');
      }
    }, FALLBACK_POLL_MS);
  }

  const statsPoll = poll(async () => {
    try {
      const next = await api.get('/api/v1/stats', { signal });
      if (!alive) return;
      stats = next;
      drawStats();
      clearError('stats');
    } catch (err) {
      if (alive && !isAbort(err)) showError(err, 'stats');
    }
  }, STATS_POLL_MS);

  loadHistory();

  return () => {
    alive = false;
    abort.abort();
    clearTimeout(retryTimer);
    statsPoll.stop();
    if (fallback) fallback.stop();
    if (live) live.close();
    for (const plot of plots) plot.destroy();
  };
}
