// Live updates: reads GET /api/v1/events (server-sent events) with fetch() and a stream reader,
// since EventSource cannot send an Authorization header; reconnects with backoff by itself.
import { authHeaders, unauthorized } from './auth.js';

/** With no bytes (not even the keep-alive comment) for this long, the connection is renewed. */
const SILENCE_MS = 45000;

/** Connects and keeps connecting: `onEvent(name, data)` per event, `onState(state)` with
 *  `connecting`, `live`, `reconnecting`; `onOpen()` after every (re)connection. */
export function connectEvents({ onEvent, onState, onOpen }) {
  let failures = 0;
  const loop = async () => {
    for (;;) {
      onState(failures ? 'reconnecting' : 'connecting');
      const abort = new AbortController();
      let watchdog = setTimeout(() => abort.abort(), SILENCE_MS);
      const alive = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => abort.abort(), SILENCE_MS);
      };
      const headers = { Accept: 'text/event-stream', ...authHeaders() };
      try {
        const response = await fetch('/api/v1/events', {
          headers,
          credentials: 'same-origin',
          cache: 'no-store',
          signal: abort.signal,
        });
        if (response.status === 401) {
          clearTimeout(watchdog);
          await unauthorized(headers);
          continue;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        onState('live');
        onOpen();
        await readEvents(response.body, onEvent, alive);
      } catch {
        // Connection refused, reset or aborted: retried below.
      } finally {
        clearTimeout(watchdog);
      }
      failures += 1;
      onState('reconnecting');
      const delay = Math.min(15000, 250 * 2 ** Math.min(failures, 6)) * (0.75 + Math.random() / 2);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  };
  loop();
}

/** Parses an SSE byte stream (`event:` and `data:` lines, blank line ends an event). */
async function readEvents(body, onEvent, alive) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let name = 'message';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    alive();
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (data.length) dispatch(onEvent, name, data.join('\n'));
        name = 'message';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') name = text;
        else if (field === 'data') data.push(text);
      }
    }
  }
}

function dispatch(onEvent, name, text) {
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    data = { raw: text };
  }
  onEvent(name, data);
}
