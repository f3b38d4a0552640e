//! Web sessions. A signed-in web user is one hub session, held by a bearer token, whatever
//! the number of WebSockets (tabs) it has open: the hub sees it come online at sign-in and
//! leave at sign-out, or once it has had no WebSocket and no request for the linger time.
//!
//! Like every connection, a web session has an outbox the hub task fills. Its pump task
//! drains it: each line is either the answer to the session's command in flight, handed to
//! the request that waits for it, or an event, handed to every WebSocket of the session.
//! Commands go one at a time per session, so the next answer always belongs to the one in
//! flight, even when a message to an offline name is answered only once it is stored.

use crate::outbox::{Out, Outbox};
use crate::router::HubMsg;
use crate::Shared;
use hub::{Command, Protocol, SessionId};
use proto::web::{ErrorCode, ServerEvent};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, oneshot, watch};

/// Events a WebSocket may be behind before it is closed as too slow (the ring is allocated
/// whole, per session: kept small).
const WS_BACKLOG: usize = 256;
/// How often a session checks whether it has lingered long enough.
const LINGER_CHECK: Duration = Duration::from_millis(250);

/// The hub task is gone: the server is stopping, or the session ended.
#[derive(Debug)]
pub(crate) struct Gone;

pub(crate) struct WebSession {
    pub session: SessionId,
    pub name: String,
    /// Signed in with an account's password, not as a guest.
    pub account: bool,
    pub token: String,
    outbox: Arc<Outbox>,
    /// One command at a time: the next answer is the one in flight's.
    turn: tokio::sync::Mutex<()>,
    waiting: Mutex<Option<oneshot::Sender<Option<ErrorCode>>>>,
    /// Events for the session's WebSockets, as JSON text.
    events: broadcast::Sender<Arc<str>>,
    sockets: AtomicUsize,
    /// Events that came while no WebSocket was open (at sign-in, what waited for an account;
    /// during a page reload, what was said meanwhile), for the next one to open. Guarded with
    /// the socket count, so that an event goes to the backlog or to the sockets, never both
    /// or neither.
    backlog: Mutex<Backlog>,
    last_request: Mutex<Instant>,
    /// Set to `true` when the session has ended, after its last word to its WebSockets.
    ended: watch::Sender<bool>,
    /// Asks the pump to end the session.
    stop: tokio::sync::Notify,
}

/// Every web session, by token.
#[derive(Default)]
pub(crate) struct Sessions {
    by_token: Mutex<FxHashMap<String, Arc<WebSession>>>,
}

impl Sessions {
    /// The session `token` holds, marked as just used.
    pub fn get(&self, token: &str) -> Option<Arc<WebSession>> {
        let s = self.by_token.lock().expect("sessions lock").get(token).cloned()?;
        *s.last_request.lock().expect("session lock") = Instant::now();
        Some(s)
    }

    /// Opens a hub session for a web user and logs it in as `name`. On success the session
    /// is registered under a new token and its pump runs until it ends.
    pub async fn open(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        origin: IpAddr,
        name: String,
        verified: bool,
    ) -> Result<Result<Arc<WebSession>, ErrorCode>, Gone> {
        let session = shared.new_session();
        let outbox = Arc::new(Outbox::default());
        let (events, _) = broadcast::channel(WS_BACKLOG);
        let web = Arc::new(WebSession {
            session,
            name: name.clone(),
            account: verified,
            token: new_token(),
            outbox: outbox.clone(),
            turn: tokio::sync::Mutex::new(()),
            waiting: Mutex::new(None),
            events,
            sockets: AtomicUsize::new(0),
            backlog: Mutex::new(Backlog { events: VecDeque::new(), bytes: 0, limit: shared.config.outbound_limit }),
            last_request: Mutex::new(Instant::now()),
            ended: watch::channel(false).0,
            stop: tokio::sync::Notify::new(),
        });
        let connected = HubMsg::Connected { session, protocol: Protocol::Web, origin, outbox };
        shared.hub.send(connected).await.map_err(|_| Gone)?;
        tokio::spawn(pump(web.clone(), self.clone(), shared.clone()));
        match web.command(shared, Command::Login { name, verified }).await {
            Ok(None) => {
                self.by_token.lock().expect("sessions lock").insert(web.token.clone(), web.clone());
                tracing::debug!(session = session.0, name = %web.name, "web session opened");
                Ok(Ok(web))
            }
            Ok(Some(code)) => {
                web.end();
                Ok(Err(code))
            }
            Err(Gone) => {
                web.end();
                Err(Gone)
            }
        }
    }

    fn remove(&self, token: &str) {
        self.by_token.lock().expect("sessions lock").remove(token);
    }
}

impl WebSession {
    /// Whose history this session reads: an account's, or this guest session's alone.
    pub fn identity(&self) -> store::Identity<'_> {
        store::Identity { name: &self.name, guest: (!self.account).then_some(self.session.0 as i64) }
    }

    /// Runs one command and returns the hub's answer: `None` for OK, else why not.
    pub async fn command(&self, shared: &Shared, command: Command) -> Result<Option<ErrorCode>, Gone> {
        let _turn = self.turn.lock().await;
        if self.has_ended() {
            return Err(Gone);
        }
        let (tx, rx) = oneshot::channel();
        *self.waiting.lock().expect("session lock") = Some(tx);
        shared.hub.send(HubMsg::Command { session: self.session, command }).await.map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    /// A new WebSocket's feed of events, and a watch that turns `true` when the session ends.
    /// The socket counts as attached until [`WebSession::detach`].
    /// Also returns the events that came while no WebSocket was open, marked `"replayed"`, to
    /// send first.
    pub fn attach(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>, watch::Receiver<bool>) {
        let mut backlog = self.backlog.lock().expect("backlog lock");
        self.sockets.fetch_add(1, Ordering::Relaxed);
        let replay = backlog.events.drain(..).collect();
        backlog.bytes = 0;
        (replay, self.events.subscribe(), self.ended.subscribe())
    }

    pub fn detach(&self) {
        self.sockets.fetch_sub(1, Ordering::Relaxed);
        *self.last_request.lock().expect("session lock") = Instant::now();
    }

    /// Hands an event to every WebSocket of the session (the echo of what it sent).
    pub fn publish(&self, event: &ServerEvent) {
        let text = serde_json::to_string(event).expect("plain data serialises");
        let _ = self.events.send(text.into());
    }

    /// Ends the session (sign-out): its pump tells the hub and closes its WebSockets.
    pub fn end(&self) {
        self.stop.notify_one();
    }

    pub fn has_ended(&self) -> bool {
        *self.ended.borrow()
    }

    fn lingered(&self, linger: Duration) -> bool {
        self.sockets.load(Ordering::Relaxed) == 0 && self.last_request.lock().expect("session lock").elapsed() >= linger
    }
}

/// 32 random bytes, hex.
fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Carries what the hub task queued for a web session to the request waiting for an answer
/// and to the session's WebSockets, until the session ends: signed out, lingered without a
/// WebSocket, closed by the hub, overflowed, or the server stops.
async fn pump(web: Arc<WebSession>, sessions: Arc<Sessions>, shared: Arc<Shared>) {
    let linger = shared.config.web_linger();
    let mut check = tokio::time::interval(LINGER_CHECK);
    let reason = 'run: loop {
        tokio::select! {
            _ = std::future::poll_fn(|cx| web.outbox.poll(cx, true)) => {
                let (items, overflowed) = web.outbox.take();
                if overflowed {
                    break 'run "too slow";
                }
                for out in items {
                    match out {
                        Out::Bytes(bytes) => {
                            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                                dispatch(&web, line);
                            }
                        }
                        Out::Close => break 'run "closed by the server",
                        Out::Park(_) | Out::Resume => {}
                    }
                }
            }
            _ = web.stop.notified() => break 'run "signed out",
            _ = check.tick() => {
                if web.lingered(linger) {
                    break 'run "idle";
                }
            }
        }
    };
    sessions.remove(&web.token);
    web.publish(&ServerEvent::Closing { reason: reason.into() });
    web.ended.send_replace(true);
    web.waiting.lock().expect("session lock").take();
    let _ = shared.hub.send(HubMsg::Disconnected { session: web.session }).await;
    tracing::debug!(session = web.session.0, name = %web.name, reason, "web session ended");
}

/// One line from the hub task: an answer for the waiting request, or an event for the
/// WebSockets.
fn dispatch(web: &WebSession, line: &[u8]) {
    if line.starts_with(br#"{"type":"reply""#) {
        if let Ok(ServerEvent::Reply { error }) = serde_json::from_slice(line) {
            if let Some(tx) = web.waiting.lock().expect("session lock").take() {
                let _ = tx.send(error);
            }
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(line) else { return };
    let mut backlog = web.backlog.lock().expect("backlog lock");
    if web.sockets.load(Ordering::Relaxed) > 0 {
        let _ = web.events.send(text.into());
    } else if let Some(rest) = text.strip_prefix('{') {
        backlog.push(format!("{{\"replayed\":true,{rest}").into());
    }
}

/// Events kept for the next WebSocket, the oldest dropped past `limit` bytes (one is always
/// kept, however large).
struct Backlog {
    events: VecDeque<Arc<str>>,
    bytes: usize,
    limit: usize,
}

impl Backlog {
    fn push(&mut self, event: Arc<str>) {
        self.bytes += event.len();
        self.events.push_back(event);
        while self.bytes > self.limit && self.events.len() > 1 {
            let dropped = self.events.pop_front().expect("more than one");
            self.bytes -= dropped.len();
        }
    }
}
