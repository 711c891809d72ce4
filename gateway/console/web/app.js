// Entry point: login, the header, the nav and the hash router. Each view
// module exports mount(container) -> unmount(); only one view is mounted.
import { api, setUnauthorizedHandler } from './api.js';
import { showError, onViewSwitch, clearMessage } from './dom.js';
import { closeConfirm } from './dialog.js';
import * as overview from './overview.js';
import * as sessions from './sessions.js';
import * as sessionPage from './session_page.js';
import * as topics from './topics.js';
import * as bridges from './bridges.js';
import * as cluster from './cluster.js';

const VIEWS = { overview, sessions, topics, bridges, cluster };

const $ = (id) => document.getElementById(id);
let unmount = null;
let loggedIn = false;

// "#/sessions/<percent-encoded id>" -> {name, mount}; anything unknown is the overview.
function parseRoute(hash) {
  const [name, ...rest] = hash.replace(/^#\/?/, '').split('/');
  if (name === 'sessions' && rest.length && rest.join('/') !== '') {
    let id = null;
    try {
      id = decodeURIComponent(rest.join('/'));
    } catch {
      id = null; // malformed %-escape typed by hand; the page says so
    }
    return { name, mount: (container) => sessionPage.mount(container, id) };
  }
  const view = Object.prototype.hasOwnProperty.call(VIEWS, name) ? name : 'overview';
  return { name: view, mount: (container) => VIEWS[view].mount(container) };
}

function stopView() {
  closeConfirm();
  if (!unmount) return;
  const stop = unmount;
  unmount = null;
  try {
    stop();
  } catch (err) {
    showError(err);
  }
}

function route() {
  if (!loggedIn) return;
  stopView();
  document.body.dataset.ready = '0';
  onViewSwitch();
  const { name, mount } = parseRoute(location.hash);
  for (const link of $('nav').querySelectorAll('a[data-view]')) {
    const active = link.dataset.view === name;
    link.classList.toggle('active', active);
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const container = $('view');
  container.replaceChildren();
  try {
    unmount = mount(container);
  } catch (err) {
    showError(err);
    document.body.dataset.ready = '1';
  }
}

// --- login state ---------------------------------------------------------

function enterApp(who) {
  const role = who && who.role === 'admin' ? 'admin' : 'read';
  document.body.dataset.role = role;
  $('role').textContent = role === 'admin' ? 'admin' : 'read only';
  $('logout').hidden = !(who && who.login_required);
  $('login-screen').hidden = true;
  $('app').hidden = false;
  $('login-error').textContent = '';
  loggedIn = true;
  route();
}

function showLogin(reason = '') {
  stopView();
  loggedIn = false;
  delete document.body.dataset.role;
  document.body.dataset.ready = '0';
  clearMessage();
  $('view').replaceChildren();
  $('app').hidden = true;
  $('role').textContent = '';
  $('logout').hidden = true;
  $('login-screen').hidden = false;
  $('login-error').textContent = reason;
  $('token').focus();
}

// Any 401 after login: the cookie expired or the token changed.
setUnauthorizedHandler(() => {
  if (loggedIn) showLogin('Your login has expired; enter the token again.');
});

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const submit = $('login-submit');
  const token = $('token');
  $('login-error').textContent = '';
  submit.disabled = true;
  try {
    const answer = await api.post('/api/v1/login', { token: token.value }, { handle401: false });
    token.value = ''; // it now lives only in the HttpOnly cookie
    enterApp({ role: answer.role, login_required: true });
  } catch (err) {
    $('login-error').textContent = err.status === 401 ? err.message || 'wrong token' : `Login failed: ${err.message}`;
    token.select();
  } finally {
    submit.disabled = false;
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await api.post('/api/v1/logout', {}, { handle401: false });
  } catch (err) {
    if (err.status !== 401) {
      showError(err);
      return; // the cookie may still be valid: do not pretend to be logged out
    }
  }
  showLogin();
});

window.addEventListener('hashchange', route);

async function start() {
  try {
    // whoami answers 200 either way, so a logged-out page load logs no error.
    const who = await api.get('/api/v1/whoami', { handle401: false });
    if (who.logged_in === false) showLogin();
    else enterApp(who);
  } catch (err) {
    if (err.status === 401) {
      showLogin();
    } else {
      // Cannot tell: show the pages read-only (the server still checks every
      // call) with the reason, rather than a login form that may not apply.
      enterApp({ role: 'read', login_required: false });
      showError(err);
    }
  }
}

start();
