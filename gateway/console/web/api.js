// fetch() wrapper for the gateway's JSON API. Same origin only: the HttpOnly
// session cookie authenticates every call, the token never leaves the login form.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

let onUnauthorized = () => {};

// app.js shows the login form from here when a cookie has expired.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function isAbort(err) {
  return !!err && err.name === 'AbortError';
}

// body: undefined sends none. handle401: false for whoami and login, which
// expect a 401 and deal with it themselves.
async function request(method, path, { body, signal, handle401 = true } = {}) {
  const headers = { Accept: 'application/json' };
  // The server refuses changes not declared as JSON (forms can be sent cross-site).
  if (method !== 'GET') headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, 'the gateway did not answer (network error)');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null; // an error page from a proxy, say; the status still tells
    }
  }
  if (response.status === 401 && handle401) onUnauthorized();
  if (!response.ok) {
    // Without the API's {"error"} body (a proxy, an old gateway) say which call failed.
    const message = data && typeof data.error === 'string' ? data.error
      : `${method} ${path.split('?')[0]}: ${response.status} ${response.statusText || 'error'}`;
    throw new ApiError(response.status, message);
  }
  return data && typeof data === 'object' ? data : {};
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body, options) => request('POST', path, { ...options, body }),
  del: (path, options) => request('DELETE', path, options),
};
