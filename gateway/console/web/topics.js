// Topics: the subscribed filters as a tree (split on "/"), with subscribers
// and message rate per branch, refreshed every 3 s; choosing a branch lists
// its retained messages.
import { api, isAbort } from './api.js';
import { el, showError, clearError, markReady } from './dom.js';
import { fmtNum, fmtRate, DASH } from './format.js';
import { poll } from './poll.js';
import { createRetained } from './retained.js';

const REFRESH_MS = 3000;
const MAX_CHILDREN = 500; // per level shown, so one huge branch cannot stall the page
const AUTO_EXPAND_NODES = 200; // a tree this small starts fully open

// Kept between visits: which branches are open and which is chosen.
const expanded = new Set();
let autoExpanded = false;
let selected = null;

export function mount(view) {
  let alive = true;
  const abort = new AbortController();
  const signal = abort.signal;
  let previous = null; // {at, messages: Map filter -> count} from the last poll
  let rates = new Map();
  let root = null;
  let first = true;
  let retainedReady = false;

  const summary = el('p', { id: 'topics-summary', class: 'muted', text: ' ' });
  const tree = el('ul', { id: 'topic-tree', class: 'tree', 'aria-label': 'subscribed topic filters' });
  const retained = createRetained({ signal, onLoaded: () => { retainedReady = true; ready(); } });
  view.append(el('h1', { text: 'Topics' }),
    el('div', { class: 'split' },
      el('section', { class: 'panel' }, el('h2', { text: 'Subscribed filters' }), summary, tree),
      retained.element));

  function ready() {
    if (first && root && retainedReady && alive) {
      first = false;
      markReady();
    }
  }

  async function load() {
    try {
      const data = await api.get('/api/v1/topics?limit=10000', { signal });
      if (!alive) return;
      const topics = (Array.isArray(data.topics) ? data.topics : []).filter((t) => t && typeof t.filter === 'string');
      measureRates(topics);
      root = buildTree(topics, rates);
      if (!autoExpanded && countNodes(root) <= AUTO_EXPAND_NODES) {
        autoExpanded = true;
        forEachNode(root, (n) => { if (n.children.size) expanded.add(n.path); });
      }
      const total = typeof data.total === 'number' ? data.total : topics.length;
      summary.textContent = `${total} filter${total === 1 ? '' : 's'}${total > topics.length ? `, first ${topics.length} shown` : ''}`;
      render();
      clearError('topics');
    } catch (err) {
      if (!alive || isAbort(err)) return;
      showError(err, 'topics');
      if (!root) {
        root = buildTree([], new Map());
        summary.textContent = 'could not load the filters';
      }
    }
    ready();
  }

  // "messages" counts since a queue went live: the rate is the difference
  // between two polls. Unknown on the first poll and after a counter reset.
  function measureRates(topics) {
    const now = performance.now();
    const counts = new Map(topics.map((t) => [t.filter, t.messages]));
    rates = new Map();
    if (previous) {
      const seconds = (now - previous.at) / 1000;
      for (const [filter, count] of counts) {
        const before = previous.messages.get(filter);
        if (typeof count === 'number' && typeof before === 'number' && count >= before && seconds > 0) {
          rates.set(filter, (count - before) / seconds);
        }
      }
    }
    previous = { at: now, messages: counts };
  }

  function render() {
    if (!root) return;
    // Rebuilding loses focus; put it back on the same node's same button.
    const active = document.activeElement;
    const focusLi = active && tree.contains(active) ? active.closest('li[data-path]') : null;
    const focusPath = focusLi ? focusLi.dataset.path : null;
    const focusClass = active && active.classList.contains('toggle') ? 'toggle' : 'node-name';
    const nodes = sortedChildren(root);
    tree.replaceChildren(...(nodes.length ? nodes.map(renderNode) : [el('li', { class: 'empty', text: 'no subscriptions' })]));
    if (focusPath !== null) {
      const li = [...tree.querySelectorAll('li[data-path]')].find((x) => x.dataset.path === focusPath);
      const target = li && li.querySelector(`:scope > .node > .${focusClass}`);
      if (target) target.focus();
    }
  }

  function renderNode(n) {
    const open = expanded.has(n.path);
    const label = n.name === '' ? '(empty level)' : n.name;
    const row = el('div', { class: `node${selected === n.path ? ' selected' : ''}` },
      n.children.size
        ? el('button', { type: 'button', class: 'toggle', text: open ? '▾' : '▸', 'aria-expanded': String(open), 'aria-label': `${open ? 'collapse' : 'expand'} ${n.path || label}` })
        : el('span', { class: 'toggle-space' }),
      el('button', { type: 'button', class: `node-name${n.name === '' ? ' muted' : ''}`, text: label, title: n.path, 'aria-current': selected === n.path ? 'true' : null }),
      el('span', { class: 'node-subs', title: 'subscribers', text: `${fmtNum(n.subscribers)} sub` }),
      el('span', { class: 'node-rate', title: 'messages per second', text: n.rateKnown ? fmtRate(n.rate) : DASH }));
    const li = el('li', { dataset: { path: n.path } }, row);
    if (open && n.children.size) {
      const children = sortedChildren(n);
      const shown = children.slice(0, MAX_CHILDREN).map(renderNode);
      if (children.length > MAX_CHILDREN) shown.push(el('li', { class: 'muted', text: `… ${children.length - MAX_CHILDREN} more` }));
      li.append(el('ul', {}, shown));
    }
    return li;
  }

  tree.addEventListener('click', (event) => {
    const li = event.target.closest('li[data-path]');
    if (!li || !tree.contains(li)) return;
    const path = li.dataset.path;
    if (event.target.closest('.toggle')) {
      if (expanded.has(path)) expanded.delete(path);
      else expanded.add(path);
    } else {
      selected = path;
      retained.load(retainedPrefix(path));
    }
    render();
  });

  const refresher = poll(load, REFRESH_MS);
  retained.load(selected === null ? '' : retainedPrefix(selected));

  return () => {
    alive = false;
    refresher.stop();
    abort.abort();
  };
}

// --- the tree ---------------------------------------------------------------

function makeNode(name, path) {
  return { name, path, children: new Map(), subscribers: 0, rate: 0, rateKnown: false };
}

// Each node sums the subscribers and rates of the filters at and below it.
// Shared subscriptions ("$share/group/a/b") fall under a "$share" branch.
function buildTree(topics, rates) {
  const root = makeNode('', '');
  for (const t of topics) {
    const filter = t.shared && !t.filter.startsWith('$share/') ? `$share/${t.filter}` : t.filter;
    const subscribers = typeof t.subscribers === 'number' ? t.subscribers : 0;
    const rate = rates.get(t.filter);
    let node = root;
    let path = '';
    filter.split('/').forEach((level, i) => {
      path = i === 0 ? level : `${path}/${level}`;
      let child = node.children.get(level);
      if (!child) {
        child = makeNode(level, path);
        node.children.set(level, child);
      }
      node = child;
      node.subscribers += subscribers;
      if (rate !== undefined) {
        node.rate += rate;
        node.rateKnown = true;
      }
    });
  }
  return root;
}

function sortedChildren(node) {
  return [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function forEachNode(node, fn) {
  for (const child of node.children.values()) {
    fn(child);
    forEachNode(child, fn);
  }
}

function countNodes(node) {
  let n = 0;
  forEachNode(node, () => { n += 1; });
  return n;
}

// Retained messages sit on plain topics: a branch through a wildcard or a
// $share group maps to the plain levels before the wildcard.
function retainedPrefix(path) {
  let levels = path.split('/'); // "" is a top-level empty level (filter "/a"): prefix "/"
  if (levels[0] === '$share') levels = levels.slice(2);
  const wildcard = levels.findIndex((l) => l === '+' || l === '#');
  if (wildcard >= 0) levels = levels.slice(0, wildcard);
  return levels.length ? `${levels.join('/')}/` : '';
}
