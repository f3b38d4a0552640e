//! What the hub asks the store to keep: every lobby and direct message (history), and, for a
//! reserved name that is offline, the messages it will get when it next logs in. The hub only
//! decides; the I/O layer writes, stamps the time, and answers the sender of a queued message
//! once the message is safely stored.

use crate::{fold, Done, Event, Hub, Output, SessionId, SUPPORT};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long after a failed read of a queue's page it is read again; twice as long after each
/// failure in a row, up to `REFETCH_MAX`.
pub const REFETCH_FIRST: Duration = Duration::from_secs(15);
pub const REFETCH_MAX: Duration = Duration::from_secs(300);

/// What a session is told when its queue cannot be read, from `support`, once.
pub const QUEUE_UNREADABLE: &str = "Some of the messages kept for you while you were away cannot be read \
    right now. They stay kept, and so does what is sent to you meanwhile: it all comes, in order, once they \
    can be read.";

/// A message to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    pub sender: String,
    /// The sender's session if it is a guest's (a name nobody verified): history belongs to
    /// an identity, and a guest's lasts as long as its session. `None`: an account's, a
    /// device's or the desk's, the name's for good.
    pub sender_guest: Option<SessionId>,
    /// `None`: the lobby.
    pub recipient: Option<String>,
    /// The recipient's session if it is a guest's.
    pub recipient_guest: Option<SessionId>,
    pub image: bool,
    /// Said in a room: `recipient` is the room.
    pub room: bool,
    /// The text, or the image's base64.
    pub body: String,
}

/// What became of a direct message that went through.
#[derive(Debug)]
pub(crate) enum Sent {
    Delivered,
    /// Queued for its recipient (away, or still being handed what waited for it): the
    /// sender's answer waits until it is stored.
    Queued(Kept),
    /// Sent to the node that holds the recipient's name: the sender's answer is that node's.
    Forwarded,
}

impl Sent {
    pub(crate) fn done(self) -> Done {
        match self {
            Sent::Delivered => Done::Now,
            Sent::Queued(kept) => Done::Queued(vec![kept]),
            Sent::Forwarded => Done::Later,
        }
    }
}

/// A queued message handed back at login, with its id in the store and when it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub kept: Kept,
}

impl Queued {
    /// The message as an event for its recipient.
    pub fn event(&self) -> Event {
        let to = self.kept.recipient.clone().unwrap_or_default();
        self.kept.clone().event(to)
    }
}

impl Kept {
    /// The message as an event for `to`.
    pub(crate) fn event(self, to: String) -> Event {
        match self.image {
            true => Event::Image { from: self.sender, to, data: self.body },
            false => Event::Direct { from: self.sender, to, text: self.body },
        }
    }
}

impl Hub {
    /// `session` itself if it is a named guest: its history is its own, not its name's.
    pub(crate) fn guest(&self, session: SessionId) -> Option<SessionId> {
        let s = self.sessions.get(&session)?;
        (s.name.is_some() && !s.verified).then_some(session)
    }

    pub(crate) fn keep(&mut self, kept: Kept) {
        self.out.push_back(Output::Keep(kept));
    }

    /// Whether a message to `to` should wait for it: a reserved name nobody holds now, here
    /// or elsewhere.
    pub(crate) fn queues_for(&self, to: &str) -> bool {
        let folded = fold(to);
        self.reserved.contains(&folded)
            && !self.names.contains_key(folded.as_str())
            && self.elsewhere.holder(to).is_none()
    }

    /// Whether what waited for `session`'s name is still being handed to it.
    pub(crate) fn draining(&self, session: SessionId) -> bool {
        self.sessions.get(&session).is_some_and(|s| s.drain.is_some())
    }

    /// `session` just logged in under a reserved name: its queue is handed over, a page at a
    /// time, before anything new for it.
    pub(crate) fn start_drain(&mut self, session: SessionId) {
        self.sessions.get_mut(&session).expect("caller checked").drain = Some(Box::default());
        self.fetch(session, None);
    }

    /// Asks for the next page of `session`'s queue, once the messages up to `delivered` are
    /// out of it.
    fn fetch(&mut self, session: SessionId, delivered: Option<i64>) {
        let Some(s) = self.sessions.get_mut(&session) else { return };
        let (Some(drain), Some(name)) = (s.drain.as_mut(), s.name.as_deref().map(String::from)) else { return };
        drain.queued_since_fetch = false;
        drain.delivered = delivered;
        let images = s.caps().images;
        self.out.push_back(Output::FetchOffline { session, name, images, delivered });
    }

    /// A message joined `name`'s queue in the store: the session here that holds the name
    /// (and so drained its queue at login) gets it, through its queue as at login.
    pub(crate) fn queued_for(&mut self, name: &str) {
        let Some(&session) = self.names.get(fold(name).as_str()) else { return };
        let Some(s) = self.sessions.get(&session) else { return };
        if s.name.is_none() || !s.verified || !(s.caps().direct || s.caps().images) {
            return; // still claiming it (its drain starts at login), or a guest's
        }
        match s.drain.is_some() {
            true => self.queued_behind_drain(session),
            false => self.start_drain(session),
        }
    }

    /// A message for `recipient` joins its queue while it drains, behind the rest.
    pub(crate) fn queued_behind_drain(&mut self, recipient: SessionId) {
        if let Some(drain) = self.sessions.get_mut(&recipient).and_then(|s| s.drain.as_mut()) {
            drain.queued_since_fetch = true;
        }
    }

    /// The store handed back the next page of what was queued for `session`'s name: it goes
    /// out as one page, not counted against the connection's outbound limit, and the next is
    /// fetched once the connection wrote it. An empty page ends the drain, unless messages
    /// joined the queue after the fetch was asked for: then it asks again, behind them. If the
    /// session left, nothing was taken from the queue: it waits for the next login.
    pub(crate) fn offline(&mut self, session: SessionId, queued: Vec<Queued>) {
        let Some(s) = self.sessions.get_mut(&session) else { return };
        let (Some(drain), Some(name)) = (s.drain.as_mut(), s.name.as_deref().map(String::from)) else { return };
        drain.failures = 0;
        if queued.is_empty() {
            if drain.queued_since_fetch {
                self.fetch(session, None);
            } else {
                s.drain = None; // all handed over: from now on, straight through
            }
            return;
        }
        let mut queued = queued;
        for q in &mut queued {
            q.kept.recipient = Some(name.clone()); // as registered
        }
        self.out.push_back(Output::Page { to: session, queued });
    }

    /// The page asked for could not be read: nothing left the queue, and it is no sign that
    /// the queue is empty. The session stays draining (so what comes for it keeps joining the
    /// queue, in order), is told once, and the same fetch is asked again later.
    pub(crate) fn offline_failed(&mut self, now: Instant, session: SessionId) {
        let Some(s) = self.sessions.get_mut(&session) else { return };
        let (Some(drain), Some(name)) = (s.drain.as_mut(), s.name.as_deref().map(String::from)) else { return };
        let wait = REFETCH_FIRST.saturating_mul(1 << drain.failures.min(8)).min(REFETCH_MAX);
        drain.failures = drain.failures.saturating_add(1);
        let first = !std::mem::replace(&mut drain.told, true);
        let direct = s.caps().direct;
        self.refetch.0.insert((now + wait, session));
        if first && direct {
            let text = QUEUE_UNREADABLE.into();
            self.deliver(session, Event::Direct { from: SUPPORT.into(), to: name, text });
        }
    }

    /// Asks again for the pages that could not be read, once it is time.
    pub(crate) fn retry_fetches(&mut self, now: Instant) {
        while let Some(&(due, session)) = self.refetch.0.first() {
            if due > now {
                return;
            }
            self.refetch.0.pop_first();
            let delivered = self.sessions.get(&session).and_then(|s| s.drain.as_ref()).map(|d| d.delivered);
            if let Some(delivered) = delivered {
                self.fetch(session, delivered);
            }
        }
    }

    /// `session`'s connection wrote the page up to `last`: those leave the queue, and the
    /// next page is fetched.
    pub(crate) fn page_delivered(&mut self, session: SessionId, last: i64) {
        if self.draining(session) {
            self.fetch(session, Some(last));
        }
    }
}

/// A session's queue being handed over.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    /// A message joined the queue after the last fetch was asked for: an empty answer to that
    /// fetch does not mean the queue is empty.
    queued_since_fetch: bool,
    /// What the last fetch takes out of the queue first: asked again if it fails.
    delivered: Option<i64>,
    /// Fetches failed in a row.
    failures: u32,
    /// The session was told that its queue cannot be read.
    told: bool,
}

/// Sessions whose queue is to be fetched again, by when (a session that left is passed over).
#[derive(Debug, Default)]
pub(crate) struct Refetch(BTreeSet<(Instant, SessionId)>);

impl Refetch {
    /// When the next is due.
    pub fn next(&self) -> Option<Instant> {
        self.0.first().map(|&(due, _)| due)
    }
}
