// The hub's HTTP API and its WebSocket, as the page uses them (described at /api/openapi.json).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, token, body) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the server');
  }
  if (response.status === 204) return null;
  let json = null;
  try {
    json = await response.json();
  } catch (e) {
    // An answer with no JSON body: the status says it all.
  }
  if (!response.ok) {
    throw new ApiError(response.status, json?.code ?? 'error', json?.error ?? `the server said ${response.status}`);
  }
  return json;
}

export const signIn = (name, password) => call('POST', '/api/session', null, password ? { name, password } : { name });
export const signOut = (token) => call('DELETE', '/api/session', token);
export const send = (token, to, content) => call('POST', '/api/messages', token, { to, ...content });
export const users = (token) => call('GET', '/api/users', token);
export const conversations = (token) => call('GET', '/api/conversations', token);
export const rooms = (token) => call('GET', '/api/rooms', token);
export const roomWithMembers = (token, room) => call('GET', `/api/rooms?room=${encodeURIComponent(room)}`, token);
export const joinRoom = (token, room) => call('POST', '/api/rooms/join', token, { room });
export const leaveRoom = (token, room) => call('POST', '/api/rooms/leave', token, { room });
export const setAway = (token, message) => call('POST', '/api/away', token, message ? { message } : {});

export function history(token, withName) {
  const query = withName ? `?with=${encodeURIComponent(withName)}` : '';
  return call('GET', `/api/history${query}`, token);
}

/// A WebSocket that reconnects with back-off until `close()`; `onEvent` gets each event.
export class Live {
  constructor(token, { onEvent, onState }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onState = onState;
    this.delay = 500;
    this.closed = false;
    this.open();
  }

  open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.onState('open');
    };
    ws.onmessage = (m) => {
      try {
        this.onEvent(JSON.parse(m.data));
      } catch (e) {
        console.error('a WebSocket message that is not JSON', e);
      }
    };
    ws.onclose = (e) => {
      if (this.closed) return;
      this.onState(e.code === 1000 ? 'ended' : 'retrying');
      if (e.code === 1000) return; // the session ended: no point coming back
      setTimeout(() => !this.closed && this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 8000);
    };
  }

  sendJson(value) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(value));
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
