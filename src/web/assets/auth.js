// All authentication lives here. Signing in with a user name and password gets an HttpOnly
// session cookie (sent with every request: credentials: 'same-origin'); a pasted API token is kept
// in sessionStorage and sent as a bearer token instead. Every request carries the
// X-Homeostat-Request header, which the API demands of cookie-authenticated changes (CSRF guard).

const KEY = 'homeostat.token';
const SESSION = 'homeostat.session';
let pending = null;

/** The headers that authenticate a request. */
export function authHeaders() {
  const token = sessionStorage.getItem(KEY);
  const headers = { 'X-Homeostat-Request': '1' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
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
  const hadSession = sessionStorage.getItem(SESSION) === '1';
  sessionStorage.removeItem(SESSION);
  let message = '';
  if (sent) message = 'Your token was not accepted or has expired. Please sign in again.';
  else if (hadSession) message = 'Your session has ended. Please sign in again.';
  return login(message);
}

/** Ends the session (or forgets the token) and asks again. */
export async function signOut() {
  if (sessionStorage.getItem(SESSION) === '1') {
    try {
      await fetch('/api/v1/auth/logout', { method: 'POST', headers: authHeaders(), credentials: 'same-origin' });
    } catch {
      // The daemon is away: the cookie expires by itself.
    }
  }
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SESSION);
  return login();
}

/** Signs in with a user name and password; returns an error message, or '' on success. */
async function passwordLogin(username, password) {
  let response;
  try {
    response = await fetch('/api/v1/auth/login', {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    return 'The daemon does not answer. Try again in a moment.';
  }
  if (response.status === 429) {
    const wait = response.headers.get('Retry-After');
    return `Too many failed sign-ins. Try again in ${wait || 'a few'} seconds.`;
  }
  if (response.status === 401) return 'Wrong user name or password.';
  if (!response.ok) return `Sign-in failed (HTTP ${response.status}).`;
  sessionStorage.removeItem(KEY);
  sessionStorage.setItem(SESSION, '1');
  return '';
}

function prompt(message, resolve) {
  const dialog = document.getElementById('login');
  const form = document.getElementById('login-form');
  const input = document.getElementById('token');
  const username = document.getElementById('username');
  const password = document.getElementById('password');
  const error = document.getElementById('login-error');
  error.textContent = message;
  input.value = '';
  password.value = '';
  const done = () => {
    form.removeEventListener('submit', submit);
    dialog.close();
    resolve();
  };
  const submit = async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token && username.value.trim() && password.value) {
      error.textContent = 'Checking…';
      const problem = await passwordLogin(username.value.trim(), password.value);
      password.value = '';
      if (problem) {
        error.textContent = problem;
        password.focus();
        return;
      }
      done();
      return;
    }
    if (!token) {
      error.textContent = 'Enter a user name and password, or a token.';
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
    done();
  };
  form.addEventListener('submit', submit);
  if (!dialog.open) dialog.showModal();
  username.focus();
}

/** Keeps the sign-in dialog open until signed in (Escape must not dismiss it). */
export function initAuth() {
  document.getElementById('login').addEventListener('cancel', (event) => event.preventDefault());
}
