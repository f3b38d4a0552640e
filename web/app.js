// Switchboard's web client: sign in, the lobby, rooms (IRC's channels too), who is online,
// direct conversations with anyone reachable (JPC devices too, online or not), images,
// typing, live over a WebSocket.

import * as api from './api.js';

const $ = (id) => document.getElementById(id);
const fold = (name) => name.toLowerCase();
const LOBBY = 'lobby';
const SUPPORT = 'support';
const PROTOCOLS = {
  web: 'web',
  chatos: 'ChatOS',
  chathack: 'ChatHack',
  jpc: 'JPC',
  nl: 'NL Chat',
  account: 'account',
  desk: 'desk',
  peerchat: 'PeerChat',
  irc: 'IRC',
};

const state = {
  token: null,
  me: null,
  live: null,
  /// The room shown: 'lobby' or a person's folded name.
  current: LOBBY,
  /// Room key → { name, messages, unread, loaded, pending }
  rooms: new Map(),
  /// Folded name → { name, protocol, online }
  users: new Map(),
  /// Rooms joined: folded room name ('#…') → { name, topic, members: Map(folded → member) }
  joined: new Map(),
  /// Conversation or room key → folded typist → { name, timer clearing their notice }
  typing: new Map(),
  typingSent: { to: null, at: 0, timer: null },
};

// ---------- rooms and messages ----------

function room(key, name) {
  let r = state.rooms.get(key);
  if (!r) {
    r = { name: name ?? key, messages: [], unread: 0, loaded: false, pending: [] };
    state.rooms.set(key, r);
  }
  return r;
}

const isRoom = (key) => key.startsWith('#');

function roomOf(message) {
  if (message.to === null || message.to === undefined) return [LOBBY, 'Lobby'];
  if (isRoom(message.to)) return [fold(message.to), message.to];
  const other = fold(message.from) === fold(state.me) ? message.to : message.from;
  return [fold(other), other];
}

function sameMessage(a, b) {
  if (a.id != null && b.id != null) return a.id === b.id; // both from the history's store
  return a.from === b.from && a.text === b.text && a.image === b.image && Math.abs(a.at - b.at) < 15000;
}

function receive(message) {
  const [key, name] = roomOf(message);
  const r = room(key, name);
  // What came while no page was open is sent again when one opens: it may be in the
  // history already.
  if (message.replayed && r.messages.concat(r.pending).some((m) => sameMessage(m, message))) return;
  if (!r.loaded) {
    r.pending.push(message);
  } else {
    r.messages.push(message);
  }
  if (key === state.current) {
    if (r.loaded) appendMessage(message, true);
  } else if (fold(message.from) !== fold(state.me)) {
    r.unread += 1;
  }
  clearTyping(key, fold(message.from));
  renderSidebar();
}

async function load(key) {
  const r = room(key);
  if (r.loaded) return;
  try {
    const { messages } = await api.history(state.token, key === LOBBY ? null : r.name);
    r.messages = messages.concat(r.pending.filter((p) => !messages.some((m) => sameMessage(m, p))));
    r.pending = [];
    r.loaded = true;
  } catch (e) {
    handleError(e);
  }
}

async function open(key, name) {
  state.current = key;
  const r = room(key, name);
  r.unread = 0;
  renderHeader();
  renderSidebar();
  $('messages').replaceChildren();
  await load(key);
  if (state.current !== key) return;
  const list = $('messages');
  list.replaceChildren();
  for (const m of r.messages) appendMessage(m, false);
  list.scrollTop = list.scrollHeight;
  renderTyping();
  $('text').focus();
}

// The support desk: a conversation with `support`, answered by an NL Chat operator.
async function contactSupport() {
  await refreshUsers(); // whether an operator is there now
  open(SUPPORT, SUPPORT);
}

// ---------- rendering ----------

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function imageType(base64) {
  if (base64.startsWith('iVBOR')) return 'image/png';
  if (base64.startsWith('/9j/')) return 'image/jpeg';
  if (base64.startsWith('R0lG')) return 'image/gif';
  if (base64.startsWith('UklGR')) return 'image/webp';
  if (base64.startsWith('Qk')) return 'image/bmp';
  return null;
}

function appendMessage(m, scroll) {
  const list = $('messages');
  const mine = fold(m.from) === fold(state.me);
  const li = document.createElement('li');
  li.className = mine ? 'msg mine' : 'msg';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = m.from;
  const at = document.createElement('time');
  at.dateTime = new Date(m.at).toISOString();
  at.textContent = timeFormat.format(new Date(m.at));
  meta.append(from, at);
  const body = document.createElement('div');
  body.className = 'body';
  if (m.image !== undefined && m.image !== null) {
    const type = imageType(m.image);
    if (type) {
      const img = document.createElement('img');
      img.src = `data:${type};base64,${m.image}`;
      img.alt = `an image from ${m.from}`;
      img.className = 'inline-image';
      img.onload = () => scroll && (list.scrollTop = list.scrollHeight);
      body.append(img);
    } else {
      const a = document.createElement('a');
      a.href = `data:application/octet-stream;base64,${m.image}`;
      a.download = `from-${m.from}`;
      a.textContent = 'a file (download)';
      body.append(a);
    }
  } else {
    body.textContent = m.text;
  }
  li.append(meta, body);
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  list.append(li);
  if (scroll && (nearBottom || mine)) list.scrollTop = list.scrollHeight;
}

function badge(protocol) {
  const b = document.createElement('span');
  b.className = `badge p-${protocol}`;
  b.textContent = PROTOCOLS[protocol] ?? protocol;
  return b;
}

function entry(key, label, { protocol, online, unread, kind, away }) {
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = key === state.current ? 'entry current' : 'entry';
  button.dataset[kind] = label;
  const dot = document.createElement('span');
  dot.className = online ? (away ? 'dot on away' : 'dot on') : 'dot';
  if (away) button.title = `away: ${away}`;
  const text = document.createElement('span');
  text.className = 'label';
  text.textContent = kind === 'room' ? `# ${label}` : label;
  button.append(dot, text);
  if (protocol) button.append(badge(protocol));
  if (unread) {
    const u = document.createElement('span');
    u.className = 'unread';
    u.textContent = unread;
    button.append(u);
  }
  button.onclick = () => open(key, label);
  li.append(button);
  return li;
}

/// A list's entries, or a quiet word when it has none.
function fill(list, entries, none) {
  if (entries.length) {
    list.replaceChildren(...entries);
  } else {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = none;
    list.replaceChildren(li);
  }
}

function renderSidebar() {
  const lobby = room(LOBBY, 'Lobby');
  const joined = [...state.joined.entries()].map(([k, j]) =>
    entry(k, j.name.slice(1), { online: true, unread: room(k, j.name).unread, kind: 'room' }),
  );
  $('rooms').replaceChildren(entry(LOBBY, 'lobby', { online: true, unread: lobby.unread, kind: 'room' }), ...joined);
  const convs = [...state.rooms.entries()].filter(([k]) => k !== LOBBY && !isRoom(k));
  fill(
    $('conversations'),
    convs.map(([k, r]) => {
      const u = state.users.get(k);
      const { protocol, online, away } = u ?? {};
      return entry(k, r.name, { protocol, online, away, unread: r.unread, kind: 'conversation' });
    }),
    'none yet: pick someone below',
  );
  const people = [...state.users.values()].filter((u) => fold(u.name) !== fold(state.me) && u.name !== SUPPORT);
  const online = people.filter((u) => u.online);
  fill(
    $('online'),
    online.map((u) =>
      entry(fold(u.name), u.name, { protocol: u.protocol, online: true, away: u.away, kind: 'person' }),
    ),
    'nobody else yet',
  );
  $('online-count').textContent = online.length ? `${online.length}` : '';
  fill(
    $('offline'),
    people
      .filter((u) => !u.online)
      .map((u) => entry(fold(u.name), u.name, { protocol: u.protocol, online: false, kind: 'person' })),
    'none',
  );
}

function renderHeader() {
  const key = state.current;
  $('leave-room').hidden = !isRoom(key);
  if (isRoom(key)) {
    const j = state.joined.get(key);
    const members = j ? [...j.members.values()].map((m) => (m.op ? '@' : m.voice ? '+' : '') + m.name) : [];
    $('room-title').textContent = `# ${(j?.name ?? room(key).name).slice(1)}`;
    const who = `${members.length} here: ${members.join(', ')}`;
    $('room-subtitle').textContent = j?.topic ? `${j.topic} · ${who}` : who;
    $('attach-label').classList.add('disabled');
    $('attach-label').title = 'Images go to a person, not to a room';
    $('image-input').disabled = true;
  } else if (key === LOBBY) {
    $('room-title').textContent = '# lobby';
    $('room-subtitle').textContent = 'Everyone on the web, IRC, ChatOS, ChatHack and the PeerChat mesh';
    $('attach-label').classList.add('disabled');
    $('attach-label').title = 'Images go to a person, not to the lobby';
    $('image-input').disabled = true;
  } else if (key === SUPPORT) {
    const desk = state.users.get(SUPPORT);
    $('room-title').textContent = 'Support';
    $('room-subtitle').textContent = desk?.online
      ? 'Write here and the next free operator answers'
      : 'No operator is online now: your message is kept';
    $('attach-label').classList.add('disabled');
    $('attach-label').title = 'The support desk takes text only';
    $('image-input').disabled = true;
  } else {
    const r = room(key);
    const u = state.users.get(key);
    $('room-title').textContent = r.name;
    $('room-subtitle').textContent = u
      ? `${u.online ? (u.away ? `away: ${u.away}` : 'online') : 'offline: messages wait for them'} · ${PROTOCOLS[u.protocol] ?? u.protocol}`
      : 'not online';
    // ChatOS and ChatHack carry no images: say so before anyone tries.
    const images = !u?.online || u.protocol === 'web' || u.protocol === 'jpc';
    $('attach-label').classList.toggle('disabled', !images);
    $('attach-label').title = images ? 'Send an image' : `${PROTOCOLS[u.protocol] ?? u.protocol} cannot receive images`;
    $('image-input').disabled = !images;
  }
}

// ---------- typing ----------

function clearTyping(key, who) {
  const typists = state.typing.get(key);
  clearTimeout(typists?.get(who)?.timer);
  typists?.delete(who);
  renderTyping();
}

function renderTyping() {
  const key = state.current;
  const names = [...(state.typing.get(key)?.values() ?? [])].map((t) => t.name);
  const text = names.length > 1 ? `${names.join(', ')} are typing…` : `${names[0]} is typing…`;
  $('typing').textContent = key !== LOBBY && names.length ? text : '';
}

function typed() {
  const key = state.current;
  if (key === LOBBY) return;
  const to = room(key).name;
  const t = state.typingSent;
  const now = Date.now();
  if (t.to !== to || now - t.at > 3000) {
    state.live?.sendJson({ type: 'typing', to, active: true });
    t.to = to;
    t.at = now;
  }
  clearTimeout(t.timer);
  t.timer = setTimeout(stopTyping, 4000);
}

function stopTyping() {
  const t = state.typingSent;
  clearTimeout(t.timer);
  if (t.to) state.live?.sendJson({ type: 'typing', to: t.to, active: false });
  t.to = null;
}

// ---------- live events ----------

function onEvent(e) {
  switch (e.type) {
    case 'message':
      receive(e);
      break;
    case 'typing': {
      if (e.replayed) break; // old news
      // Typing in a room shows in the room, else in the conversation with the typist.
      const key = isRoom(e.to) ? fold(e.to) : fold(e.from);
      const who = fold(e.from);
      if (!state.typing.has(key)) state.typing.set(key, new Map());
      const typists = state.typing.get(key);
      clearTimeout(typists.get(who)?.timer);
      if (e.active) {
        typists.set(who, { name: e.from, timer: setTimeout(() => clearTyping(key, who), 6000) });
      } else {
        typists.delete(who);
      }
      renderTyping();
      break;
    }
    case 'presence':
      if (e.name === SUPPORT) {
        state.users.set(SUPPORT, { name: SUPPORT, protocol: 'desk', online: e.online });
      } else if (e.online) {
        state.users.set(fold(e.name), { name: e.name, protocol: e.protocol, online: true });
      } else {
        refreshUsers();
        // Who leaves the hub leaves its rooms.
        for (const j of state.joined.values()) j.members.delete(fold(e.name));
        if (isRoom(state.current)) renderHeader();
      }
      renderSidebar();
      if (fold(e.name) === state.current) renderHeader();
      break;
    case 'away': {
      const u = state.users.get(fold(e.name));
      if (u) {
        u.away = e.message;
        renderSidebar();
        if (fold(e.name) === state.current) renderHeader();
      }
      break;
    }
    case 'renamed': {
      // The same user under a new name: in the list of users and in every room.
      const from = fold(e.from);
      const to = fold(e.to);
      const u = state.users.get(from);
      state.users.delete(from);
      state.users.set(to, { ...(u ?? { online: true, protocol: e.protocol }), name: e.to });
      for (const j of state.joined.values()) {
        const m = j.members.get(from);
        if (m) {
          j.members.delete(from);
          j.members.set(to, { ...m, name: e.to });
        }
      }
      if (fold(state.me) === from) state.me = e.to;
      renderSidebar();
      if (state.current === from || isRoom(state.current)) renderHeader();
      break;
    }
    case 'closing':
      signedOut(`You were signed out (${e.reason}).`);
      break;
    case 'room_joined': {
      const key = fold(e.room);
      if (fold(e.name) === fold(state.me)) {
        state.joined.set(key, { name: e.room, topic: null, members: new Map() });
        room(key, e.room);
      }
      state.joined.get(key)?.members.set(fold(e.name), { name: e.name, op: false, voice: false });
      renderSidebar();
      if (key === state.current) renderHeader();
      break;
    }
    case 'room_state': {
      const key = fold(e.room);
      const j = state.joined.get(key) ?? { name: e.room, members: new Map() };
      j.topic = e.topic ?? null;
      j.members = new Map(e.members.map((m) => [fold(m.name), m]));
      state.joined.set(key, j);
      renderSidebar();
      if (key === state.current) renderHeader();
      break;
    }
    case 'room_left': {
      const key = fold(e.room);
      if (fold(e.name) === fold(state.me)) {
        state.joined.delete(key);
        state.rooms.delete(key);
        if (e.by) toast(`${e.by} put you out of ${e.room}${e.reason ? `: ${e.reason}` : ''}`);
        if (key === state.current) open(LOBBY, 'Lobby');
      } else {
        state.joined.get(key)?.members.delete(fold(e.name));
      }
      renderSidebar();
      if (key === state.current) renderHeader();
      break;
    }
    case 'room_topic': {
      const j = state.joined.get(fold(e.room));
      if (j) j.topic = e.topic || null;
      if (fold(e.room) === state.current) renderHeader();
      break;
    }
    case 'room_invited':
      toast(`${e.by} invites you to ${e.room}`);
      break;
    default:
      break;
  }
}

function onLiveState(s) {
  const c = $('connection');
  c.className = `connection ${s}`;
  c.textContent = { open: 'live', retrying: 'reconnecting…', ended: 'ended' }[s] ?? s;
  if (s === 'open') refreshUsers();
  if (s === 'retrying') checkSession();
}

/// Away with the message typed, or back with none.
async function setAway(e) {
  e.preventDefault();
  const message = $('away-text').value.trim();
  try {
    await api.setAway(state.token, message);
    $('away-text').placeholder = message ? 'Away: clear and press Enter to be back' : 'Away? Say why, press Enter';
  } catch (err) {
    handleError(err);
  }
}

async function refreshUsers() {
  try {
    const { users } = await api.users(state.token);
    state.users = new Map(users.map((u) => [fold(u.name), u]));
    renderSidebar();
    renderHeader();
  } catch (e) {
    handleError(e);
  }
}

async function checkSession() {
  try {
    await api.users(state.token);
  } catch (e) {
    handleError(e);
  }
}

// ---------- errors ----------

let toastTimer = null;
function toast(message) {
  const t = $('toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 6000);
}

function handleError(e) {
  if (e instanceof api.ApiError && e.status === 401 && state.token) {
    signedOut('Your session ended: sign in again.');
  } else {
    toast(e.message);
  }
}

// ---------- sending ----------

async function sendText(event) {
  event.preventDefault();
  const input = $('text');
  const text = input.value;
  if (!text.trim()) return;
  const to = state.current === LOBBY ? LOBBY : room(state.current).name;
  $('send').disabled = true;
  try {
    await api.send(state.token, to, { text });
    input.value = '';
    autosize();
    stopTyping();
  } catch (e) {
    handleError(e);
  } finally {
    $('send').disabled = false;
    input.focus();
  }
}

function sendImage() {
  const input = $('image-input');
  const file = input.files[0];
  if (!file || state.current === LOBBY) return;
  const to = room(state.current).name;
  const reader = new FileReader();
  reader.onload = async () => {
    const base64 = String(reader.result).split(',', 2)[1] ?? '';
    try {
      await api.send(state.token, to, { image: base64 });
    } catch (e) {
      handleError(e);
    } finally {
      input.value = '';
    }
  };
  reader.onerror = () => toast('could not read that file');
  reader.readAsDataURL(file);
}

function autosize() {
  const t = $('text');
  t.style.height = 'auto';
  t.style.height = `${Math.min(t.scrollHeight, 160)}px`;
  t.style.overflowY = t.scrollHeight > 160 ? 'auto' : 'hidden';
}

// ---------- signing in and out ----------

async function enter(token, me) {
  state.token = token;
  state.me = me;
  state.rooms = new Map();
  state.users = new Map();
  state.joined = new Map();
  state.current = LOBBY;
  sessionStorage.setItem('switchboard', JSON.stringify({ token, me }));
  $('signin').hidden = true;
  $('chat').hidden = false;
  $('me').textContent = me;
  $('me-avatar').textContent = me.slice(0, 1).toUpperCase();
  state.live = new api.Live(token, { onEvent, onState: onLiveState });
  try {
    const { conversations } = await api.conversations(token);
    for (const name of conversations) room(fold(name), name);
  } catch (e) {
    handleError(e);
  }
  await refreshUsers();
  await refreshRooms();
  await open(LOBBY, 'Lobby');
}

/// The rooms this session is in (a page opened again finds them), with their members.
async function refreshRooms() {
  try {
    const { rooms } = await api.rooms(state.token);
    for (const r of rooms.filter((r) => r.joined)) {
      const { rooms: [full] } = await api.roomWithMembers(state.token, r.name);
      const members = new Map((full?.members ?? []).map((m) => [fold(m.name), m]));
      state.joined.set(fold(r.name), { name: r.name, topic: r.topic ?? null, members });
      room(fold(r.name), r.name);
    }
    renderSidebar();
  } catch (e) {
    handleError(e);
  }
}

async function joinRoom(event) {
  event.preventDefault();
  const input = $('room-name');
  let name = input.value.trim();
  if (!name) return;
  if (!name.startsWith('#')) name = `#${name}`;
  try {
    await api.joinRoom(state.token, name);
    input.value = '';
    open(fold(name), state.joined.get(fold(name))?.name ?? name);
  } catch (e) {
    handleError(e);
  }
}

async function leaveRoom() {
  const key = state.current;
  if (!isRoom(key)) return;
  try {
    await api.leaveRoom(state.token, state.joined.get(key)?.name ?? room(key).name);
  } catch (e) {
    handleError(e);
  }
}

function signedOut(message) {
  state.live?.close();
  state.live = null;
  state.token = null;
  sessionStorage.removeItem('switchboard');
  $('chat').hidden = true;
  $('signin').hidden = false;
  const error = $('signin-error');
  error.textContent = message ?? '';
  error.hidden = !message;
}

async function signIn(event) {
  event.preventDefault();
  const name = $('name').value.trim();
  const password = $('password').value;
  const error = $('signin-error');
  error.hidden = true;
  $('join').disabled = true;
  try {
    const session = await api.signIn(name, password || undefined);
    $('password').value = '';
    await enter(session.token, session.name);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  } finally {
    $('join').disabled = false;
  }
}

async function signOut() {
  const token = state.token;
  signedOut(null);
  try {
    await api.signOut(token);
  } catch (e) {
    // Gone already: nothing to do.
  }
}

async function resume() {
  const saved = JSON.parse(sessionStorage.getItem('switchboard') ?? 'null');
  if (!saved) return;
  try {
    await api.users(saved.token);
    await enter(saved.token, saved.me);
  } catch (e) {
    sessionStorage.removeItem('switchboard');
  }
}

$('signin-form').addEventListener('submit', signIn);
$('composer').addEventListener('submit', sendText);
$('signout').addEventListener('click', signOut);
$('contact-support').addEventListener('click', contactSupport);
$('join-room').addEventListener('submit', joinRoom);
$('leave-room').addEventListener('click', leaveRoom);
$('away-form').addEventListener('submit', setAway);
$('image-input').addEventListener('change', sendImage);
$('text').addEventListener('input', () => {
  autosize();
  typed();
});
$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});
resume();
