// All authentication lives here. For now: a bearer token kept in sessionStorage, asked for with a
// small form; every request also sends cookies (credentials: 'same-origin') so a session cookie
// can replace the token later without touching the pages.

const KEY = 'homeostat.token';
let pending = null;

/** The headers that authenticate a request (empty when no token is stored). */
export function authHeaders() {
  const token = sessionStorage.getItem(KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** An API error: HTTP status, the API's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Fetches JSON from the API; on 401 asks for a token and retries. Throws ApiError otherwise. */
export async function fetchJson(path, { method = 'GET', body, signal } = {}) {
  for (;;) {
    // While the sign-in form is up, wait for it instead of collecting more 401s.
    if (pending) await pending;
    const headers = { Accept: 'application/json', ...authHeaders() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
    if (response.status === 401) {
      await unauthorized(headers);
      continue;
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || `http_${response.status}`,
        error.message || response.statusText || 'request failed');
    }
    return data;
  }
}

/** Shows the sign-in form (once, however many requests wait) and resolves when signed in. */
export function login(message = '') {
  if (!pending) {
    pending = new Promise((resolve) => prompt(message, resolve)).finally(() => {
      pending = null;
    });
  }
  return pending;
}

/** After a 401 for a request sent with `headers`: forgets that token (unless another has replaced
 *  it meanwhile) and asks to sign in, saying why when a token had been sent. */
export function unauthorized(headers) {
  const sent = headers.Authorization || '';
  // Signed in again since this request left: just retry with the new token.
  if (sent !== (authHeaders().Authorization || '')) return Promise.resolve();
  sessionStorage.removeItem(KEY);
  return login(sent ? 'Your token was not accepted or has expired. Please sign in again.' : '');
}

/** Forgets the token and asks again. */
export function signOut() {
  sessionStorage.removeItem(KEY);
  return login();
}

function prompt(message, resolve) {
  const dialog = document.getElementById('login');
  const form = document.getElementById('login-form');
  const input = document.getElementById('token');
  const error = document.getElementById('login-error');
  error.textContent = message;
  input.value = '';
  const submit = async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = 'Enter a token.';
      return;
    }
    error.textContent = 'Checking…';
    let status = 0;
    try {
      const response = await fetch('/api/v1/error-monitoring/status', {
        headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
        credentials: 'same-origin',
        cache: 'no-store',
      });
      status = response.status;
    } catch {
      error.textContent = 'The daemon does not answer. Try again in a moment.';
      return;
    }
    if (status === 401) {
      error.textContent = 'This token was not accepted.';
      input.select();
      return;
    }
    sessionStorage.setItem(KEY, token);
    form.removeEventListener('submit', submit);
    dialog.close();
    resolve();
  };
  form.addEventListener('submit', submit);
  if (!dialog.open) dialog.showModal();
  input.focus();
}

/** Keeps the sign-in dialog open until signed in (Escape must not dismiss it). */
export function initAuth() {
  document.getElementById('login').addEventListener('cancel', (event) => event.preventDefault());
}
