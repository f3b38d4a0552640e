//! Web sessions. A signed-in web user is one hub session, held by a bearer token, whatever
//! the number of WebSockets (tabs) it has open: the hub sees it come online at sign-in and
//! leave at sign-out, or once it has had no WebSocket and no request for the linger time.
//!
//! Like every connection, a web session has an outbox the hub task fills. Its pump task
//! drains it: each line is either the answer to the session's command in flight, handed to
//! the request that waits for it, or an event, handed to every WebSocket of the session.
//! Commands go one at a time per session, so the next answer always belongs to the one in
//! flight, even when a message to an offline name is answered only once it is stored.

use super::feed::{Counted, Feed, Reader};
use crate::msg::HubMsg;
use crate::net::outbox::{Outbox, Outgoing};
use crate::Shared;
use hub::{Command, SessionId};
use proto::web::{ErrorCode, ServerEvent};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// A session's own queue may hold this many times the outbound limit (see `Sessions::open`).
const PUMP_SLACK: usize = 8;

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
    /// The session's bucket of chat messages (`Shared::meter`).
    tat: Mutex<u64>,
    waiting: Mutex<Option<oneshot::Sender<Option<ErrorCode>>>>,
    /// Events for the session's WebSockets, as JSON text, and the ends of pages.
    events: Arc<Feed<WsItem>>,
    sockets: AtomicUsize,
    /// Events that came while no WebSocket was open (at sign-in, what waited for an account;
    /// during a page reload, what was said meanwhile), for the next one to open. Guarded with
    /// the socket count, so that an event goes to the backlog or to the sockets, never both
    /// or neither.
    backlog: Mutex<Backlog>,
    /// The page of queued messages being handed over, kept until a WebSocket wrote it (then
    /// the hub is told, and the next page comes): a socket that opens meanwhile gets it too.
    page: Mutex<Option<Page>>,
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
        let web = Arc::new(WebSession {
            session,
            name: name.clone(),
            account: verified,
            token: new_token(),
            outbox: outbox.clone(),
            turn: tokio::sync::Mutex::new(()),
            tat: Mutex::new(0),
            waiting: Mutex::new(None),
            // A socket's own queue is bounded so (`run_socket`); this one holds only what came
            // since its last turn.
            events: Arc::new(Feed::new(shared.config.outbound_limit)),
            sockets: AtomicUsize::new(0),
            backlog: Mutex::new(Backlog { events: VecDeque::new(), bytes: 0, limit: shared.config.outbound_limit }),
            page: Mutex::new(None),
            last_request: Mutex::new(Instant::now()),
            ended: watch::channel(false).0,
            stop: tokio::sync::Notify::new(),
        });
        // The session's queue only feeds its pump, which never waits: what piles up there is
        // what the hub task queued before the pump's next turn on a core. The bound of what a
        // page may leave unread is its WebSockets' (`run_socket`); this one only keeps a pump
        // that could not run from holding memory without bound.
        let limit = shared.config.outbound_limit.saturating_mul(PUMP_SLACK);
        // A web session is not one connection: its figures are counted as plain HTTP's.
        let connected = HubMsg::Connected { session, door: super::SPEC.door, tls: false, origin, outbox, limit };
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

    /// Runs one command and returns the hub's answer: `None` for OK, else why not. A chat
    /// message over the session's rate waits its turn (and holds the session's next commands
    /// back meanwhile, as a connection that is read no further).
    pub async fn command(&self, shared: &Shared, command: Command) -> Result<Option<ErrorCode>, Gone> {
        let _turn = self.turn.lock().await;
        let wait = shared.meter(&mut self.tat.lock().expect("session lock"), &command);
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
        if self.has_ended() {
            return Err(Gone);
        }
        let (tx, rx) = oneshot::channel();
        *self.waiting.lock().expect("session lock") = Some(tx);
        shared.hub.send(HubMsg::Command { session: self.session, command }).await.map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }

    /// A new WebSocket's feed of events, and a watch that turns `true` when the session ends.
    /// The socket counts as attached until [`WebSession::detach`]. What it sends first: the
    /// events that came while no WebSocket was open, and the page of queued messages being
    /// handed over, if any, all marked `"replayed"`.
    pub fn attach(&self) -> Attached {
        let mut backlog = self.backlog.lock().expect("backlog lock");
        self.sockets.fetch_add(1, Ordering::Relaxed);
        let mut replay: Vec<WsItem> = backlog.events.drain(..).map(WsItem::Text).collect();
        backlog.bytes = 0;
        if let Some(page) = self.page.lock().expect("page lock").as_ref() {
            replay.extend(page.lines.iter().cloned().map(WsItem::Text));
            replay.push(WsItem::PageEnd(page.last));
        }
        Attached { replay, events: self.events.join(), ended: self.ended.subscribe() }
    }

    /// A WebSocket wrote the page of queued messages up to `last`: the hub is told, once.
    pub async fn page_written(&self, shared: &Shared, last: i64) {
        let written = {
            let mut page = self.page.lock().expect("page lock");
            let written = page.as_ref().is_some_and(|p| p.last == last);
            if written {
                *page = None;
            }
            written
        };
        if written {
            let _ = shared.hub.send(HubMsg::PageDelivered { session: self.session, last }).await;
        }
    }

    pub fn detach(&self) {
        self.sockets.fetch_sub(1, Ordering::Relaxed);
        *self.last_request.lock().expect("session lock") = Instant::now();
    }

    /// Hands an event to every WebSocket of the session (the echo of what it sent).
    pub fn publish(&self, event: &ServerEvent) {
        let text = serde_json::to_string(event).expect("plain data serialises");
        self.events.push(WsItem::Text(text.into()));
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

    /// When the session will have lingered long enough, if nothing happens meanwhile: a
    /// linger from its last request, or (to look again) from now while a WebSocket is open.
    fn linger_ends(&self, linger: Duration) -> Instant {
        match self.sockets.load(Ordering::Relaxed) {
            0 => *self.last_request.lock().expect("session lock") + linger,
            _ => Instant::now() + linger.max(Duration::from_secs(1)),
        }
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
    let linger = shared.config.doors.web.linger();
    // Asleep until the session could have lingered long enough: its last request (or the
    // close of its last WebSocket) and the linger time; a WebSocket open then puts it off.
    let wake = tokio::time::sleep_until(web.linger_ends(linger));
    tokio::pin!(wake);
    let reason = 'run: loop {
        tokio::select! {
            _ = std::future::poll_fn(|cx| web.outbox.poll(cx, true)) => {
                let (items, overflowed) = web.outbox.take();
                if overflowed {
                    break 'run "too slow";
                }
                for out in items {
                    match out {
                        Outgoing::Bytes(bytes) => {
                            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                                dispatch(&web, line);
                            }
                        }
                        Outgoing::Page { bytes, last } => hand_page(&web, &bytes, last),
                        Outgoing::Close => break 'run "closed by the server",
                        Outgoing::Park(_) | Outgoing::Resume => {}
                    }
                }
            }
            _ = web.stop.notified() => break 'run "signed out",
            _ = &mut wake => {
                if web.lingered(linger) {
                    break 'run "idle";
                }
                wake.as_mut().reset(web.linger_ends(linger));
            }
        }
    };
    sessions.remove(&web.token);
    web.publish(&ServerEvent::Closing { reason: reason.into() });
    web.ended.send_replace(true);
    web.waiting.lock().expect("session lock").take();
    let _ = Box::pin(shared.hub.send(HubMsg::Disconnected { session: web.session })).await;
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
        web.events.push(WsItem::Text(text.into()));
    } else {
        backlog.push(replayed(text));
    }
}

/// An event line, marked as old news (the page dedups it against the history it loads).
fn replayed(line: &str) -> Arc<str> {
    match line.strip_prefix('{') {
        Some(rest) => format!("{{\"replayed\":true,{rest}").into(),
        None => line.into(),
    }
}

/// A page of queued messages: kept until a WebSocket wrote it, and handed to those open now.
fn hand_page(web: &WebSession, bytes: &[u8], last: i64) {
    let lines: Vec<Arc<str>> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| std::str::from_utf8(l).ok())
        .map(replayed)
        .collect();
    let _backlog = web.backlog.lock().expect("backlog lock"); // no socket attaches meanwhile
    if web.sockets.load(Ordering::Relaxed) > 0 {
        for line in &lines {
            web.events.push(WsItem::Text(line.clone()));
        }
        web.events.push(WsItem::PageEnd(last));
    }
    *web.page.lock().expect("page lock") = Some(Page { lines, last });
}

/// What a web session hands its WebSockets: an event's JSON, or the end of a page of queued
/// messages, to report once written.
#[derive(Debug, Clone)]
pub(crate) enum WsItem {
    Text(Arc<str>),
    PageEnd(i64),
}

impl Counted for WsItem {
    fn bytes(&self) -> usize {
        match self {
            WsItem::Text(text) => text.len(),
            WsItem::PageEnd(_) => 8,
        }
    }
}

/// What a new WebSocket gets from its session.
pub(crate) struct Attached {
    /// To send first.
    pub replay: Vec<WsItem>,
    pub events: Reader<WsItem>,
    /// Turns `true` when the session ends.
    pub ended: watch::Receiver<bool>,
}

/// A page of queued messages being handed over, as event lines.
struct Page {
    lines: Vec<Arc<str>>,
    last: i64,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<F, Fut>(_: F) -> usize
    where
        F: Fn(Arc<WebSession>, Arc<Sessions>, Arc<Shared>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every web session has one pump, idle most of the time: its last word to the hub is
    /// boxed when it is said.
    #[test]
    fn a_session_s_pump_is_small() {
        let size = future_size(pump);
        assert!(size <= 320, "a session's pump is {size} bytes");
    }
}
