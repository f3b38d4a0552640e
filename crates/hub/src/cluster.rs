//! The cluster: what the other nodes hold, and how a command for one of their sessions gets
//! there. Each node's hub serves its own sessions. In a cluster ([`Config::cluster`]) a login
//! is a claim that another node can refuse (`Output::Claim`, answered by `Input::Claimed`);
//! the names held elsewhere are known from the cluster's directory (`Input::Joined`, `Left`,
//! `NodeGone`); a lobby message is published once (`Output::Publish`) and each node hands it
//! to its own sessions (`Input::Lobby`); and a direct message for a name held elsewhere goes to
//! that node (`Output::Forward`), which delivers or queues it and answers (`Output::Answer`,
//! back as `Input::Answer`). The hub does no I/O here either: the I/O layer carries all of it.
//!
//! [`Config::cluster`]: crate::Config::cluster

use crate::keep::Sent;
use crate::names::skeleton_digest;
use crate::timers::Due;
use crate::{fold, Caps, Door, Event, Hub, HubError, Kind, LinkKey, Output, Remote, ReplyTo, SessionId};
use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// The most commands a session may send while its name is claimed; past it, they are
/// refused (`NotLoggedIn`), as before a login.
pub(crate) const MAX_WAITING: usize = 256;

/// A session's login waiting for the cluster's answer to its claim: the name, held here
/// meanwhile, whether it was verified, and what the session sent since.
#[derive(Debug)]
pub(crate) struct Claiming {
    pub name: String,
    pub verified: bool,
    pub waiting: Vec<crate::Command>,
    /// A rename (`rename.rs`): the session's name until the claim is granted.
    pub was: Option<String>,
}

/// Another node of the cluster, as the I/O layer numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node(pub u32);

/// A name another node holds, for a session of that door and those capabilities.
#[derive(Debug)]
pub(crate) struct Held {
    pub name: Box<str>,
    pub node: Node,
    pub door: Door,
    /// Its capabilities, as [`Caps::bits`] (a quarter of `Caps`).
    caps: u16,
}

impl Held {
    pub fn new(node: Node, name: &str, door: Door, caps: Caps) -> Held {
        Held { node, name: name.into(), door, caps: caps.bits() }
    }

    pub fn caps(&self) -> Caps {
        Caps::from_bits(self.caps)
    }
}

/// A command forwarded to another node, waiting for its answer.
#[derive(Debug)]
struct Waiting {
    node: Node,
    session: SessionId,
    kind: Kind,
    /// What the sender gets back once it went through (a web page shows what it sent).
    echo: Option<Event>,
    /// A private link asked for: refused, it is over, and A is told.
    link: Option<LinkKey>,
    since: Instant,
}

/// What the hub knows of the other nodes. Every node knows every name held elsewhere, so
/// these tables grow with the whole cluster: a name held elsewhere costs one entry of `held`
/// (its name, nothing else on the heap: the folded name it is found by is made again when
/// looked up) and one of `looks`.
#[derive(Debug, Default)]
pub(crate) struct Elsewhere {
    /// Who holds what, by the hash of the folded name.
    held: HashTable<Held>,
    /// Skeleton digests of those names → how many of them have it (one, but for a moment
    /// when a name changes hands between nodes).
    looks: FxHashMap<u64, u32>,
    waiting: FxHashMap<u64, Waiting>,
    next_id: u64,
    /// Folded names held elsewhere that are away → their messages.
    pub(crate) away: FxHashMap<Box<str>, Box<str>>,
}

/// The hash `held` files a name under: that of its folded form.
fn filed(folded: &str) -> u64 {
    FxBuildHasher.hash_one(folded)
}

impl Elsewhere {
    /// When each forwarded command's answer is given up on, after `timeout`.
    pub(crate) fn deadlines(&self, timeout: Duration) -> impl Iterator<Item = Instant> + '_ {
        self.waiting.values().map(move |w| w.since + timeout)
    }

    /// Who holds `name` on another node, if anyone.
    pub(crate) fn holder(&self, name: &str) -> Option<&Held> {
        self.find(&fold(name))
    }

    fn find(&self, folded: &str) -> Option<&Held> {
        self.held.find(filed(folded), |h| fold(&h.name) == folded)
    }

    /// Whether another node holds the name `folded`, or one that looks like it (`look`).
    pub(crate) fn holds(&self, folded: &str, look: u64) -> bool {
        self.looks.contains_key(&look) || self.find(folded).is_some()
    }

    /// Names held elsewhere, and by which door.
    pub(crate) fn roster(&self) -> impl Iterator<Item = (&str, Door)> {
        self.held.iter().map(|h| (&*h.name, h.door))
    }

    /// Names held elsewhere by sessions that hear the lobby.
    pub(crate) fn in_lobby(&self) -> impl Iterator<Item = &str> {
        self.held.iter().filter(|h| h.caps().lobby).map(|h| &*h.name)
    }

    /// `Err` with what does not hold: the looks count the names held elsewhere, look by look,
    /// and every name is filed under its folded form.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut counted: FxHashMap<u64, u32> = FxHashMap::default();
        for h in &self.held {
            *counted.entry(skeleton_digest(&h.name)).or_default() += 1;
            if self.find(&fold(&h.name)).is_none_or(|found| !std::ptr::eq(found, h)) {
                return Err(format!("{:?}, held elsewhere, is not found by its name", h.name));
            }
        }
        if counted != self.looks {
            return Err(format!("the looks elsewhere count {:?}, the names held there {counted:?}", self.looks));
        }
        Ok(())
    }

    pub(crate) fn insert(&mut self, folded: &str, held: Held) {
        *self.looks.entry(skeleton_digest(&held.name)).or_default() += 1;
        self.held.insert_unique(filed(folded), held, |h| filed(&fold(&h.name)));
    }

    pub(crate) fn remove(&mut self, folded: &str) -> Option<Held> {
        let found = self.held.find_entry(filed(folded), |h| fold(&h.name) == folded).ok()?;
        let (held, _) = found.remove();
        self.away.remove(folded);
        let look = skeleton_digest(&held.name);
        if let Some(count) = self.looks.get_mut(&look) {
            *count -= 1;
            if *count == 0 {
                self.looks.remove(&look);
            }
        }
        Some(held)
    }
}

impl Hub {
    /// The answer to a claim: the login goes through, or the name is taken elsewhere. A
    /// session that left meanwhile released its name already.
    pub(crate) fn claimed(&mut self, now: Instant, session: SessionId, result: Result<(), HubError>) {
        let Some(Claiming { name, verified, waiting, was }) = self.claiming.remove(&session) else { return };
        let kind = if was.is_some() { Kind::Rename } else { Kind::Login };
        if result.is_err() {
            self.unhold(session, &name);
            self.out.push_back(Output::Reply { to: session, kind, result });
        } else {
            self.out.push_back(Output::Reply { to: session, kind, result: Ok(()) });
            match was {
                Some(was) => {
                    // The new claim is granted: the old one goes.
                    self.out.push_back(Output::Release { session, name: was.clone() });
                    self.renamed(session, was, name);
                }
                None => self.logged_in(session, name, verified),
            }
        }
        // What the session sent meanwhile, as if it came now.
        for command in waiting {
            self.command(now, session, command);
        }
    }

    /// `node` holds `name` now. Recorded even if a session here holds or claims it: the
    /// cluster's directory is right, and the I/O layer says `Lost` to a session that lost it.
    pub(crate) fn joined(&mut self, node: Node, name: String, door: Door, caps: Caps, was: Option<String>) {
        if was.is_some_and(|was| self.remote_renamed(node, &was, &name, door, caps)) {
            return;
        }
        let folded = fold(&name);
        if let Some(old) = self.elsewhere.remove(&folded) {
            let lobby = old.caps().lobby;
            self.presence(old.name.into(), Some(old.door), lobby, false);
        }
        self.elsewhere.insert(&folded, Held::new(node, &name, door, caps));
        self.presence(name, Some(door), caps.lobby, true);
    }

    /// `node` no longer holds `name` (if it was `node` that did).
    pub(crate) fn left(&mut self, node: Node, name: &str) {
        let folded = fold(name);
        if self.elsewhere.find(&folded).is_some_and(|h| h.node == node) {
            let held = self.elsewhere.remove(&folded).expect("just seen");
            let lobby = held.caps().lobby;
            self.presence(held.name.into(), Some(held.door), lobby, false);
        }
    }

    /// `node` is gone: its names are free, and what waits for its answer never gets one.
    pub(crate) fn node_gone(&mut self, node: Node) {
        let mut names: Vec<String> =
            self.elsewhere.held.iter().filter(|h| h.node == node).map(|h| fold(&h.name)).collect();
        names.sort();
        for folded in names {
            let held = self.elsewhere.remove(&folded).expect("just listed");
            let lobby = held.caps().lobby;
            self.presence(held.name.into(), Some(held.door), lobby, false);
        }
        let mut ids: Vec<u64> =
            self.elsewhere.waiting.iter().filter(|(_, w)| w.node == node).map(|(&id, _)| id).collect();
        ids.sort();
        for id in ids {
            self.answer(id, Err(HubError::Unreachable));
        }
        self.links_gone(node);
        self.desk_node_gone(node);
        self.rooms_gone(node);
        self.asks_gone(node);
    }

    /// A lobby message from another node: to everyone here in the lobby, but never back into
    /// a mesh if it came from one.
    pub(crate) fn remote_lobby(&mut self, from: String, text: String, mesh: bool) {
        let to: Vec<SessionId> =
            self.lobby.iter().copied().filter(|id| !mesh || !self.sessions[id].caps().mesh).collect();
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast { to, event: Event::Lobby { from, text } });
        }
    }

    /// Sends `command` to `node` for `session`'s command of `kind`; its answer comes back as
    /// the session's (after `echo`, if any, goes to the session once it went through).
    pub(crate) fn forward(&mut self, node: Node, session: SessionId, kind: Kind, echo: Option<Event>, command: Remote) {
        self.elsewhere.next_id += 1;
        let id = self.elsewhere.next_id;
        self.elsewhere.waiting.insert(id, Waiting { node, session, kind, echo, link: None, since: self.now });
        self.timers.at(self.now + self.config.answer_timeout, Due::Forwards);
        self.out.push_back(Output::Forward { node, id, command });
    }

    /// Sends A's ask for the private link `key` to B's node; A's answer waits for it.
    pub(crate) fn forward_link(&mut self, node: Node, session: SessionId, key: LinkKey, command: Remote) {
        self.elsewhere.next_id += 1;
        let id = self.elsewhere.next_id;
        let waiting = Waiting { node, session, kind: Kind::LinkAsk, echo: None, link: Some(key), since: self.now };
        self.elsewhere.waiting.insert(id, waiting);
        self.timers.at(self.now + self.config.answer_timeout, Due::Forwards);
        self.out.push_back(Output::Forward { node, id, command });
    }

    /// Another node's answer to the command it was forwarded.
    pub(crate) fn answer(&mut self, id: u64, result: Result<(), HubError>) {
        let Some(w) = self.elsewhere.waiting.remove(&id) else { return };
        if let (Err(_), Some(key)) = (result, &w.link) {
            // Refused there (or no answer): the link is over here too, A told after the
            // answer. The node that refused has nothing to be told.
            if let Some(link) = self.links.find_mut(key).map(|l| l.id) {
                let link = self.links.remove(link).expect("just found");
                if self.sessions.contains_key(&w.session) {
                    self.out.push_back(Output::Reply { to: w.session, kind: w.kind, result });
                }
                self.end_link(link, false);
                return;
            }
        }
        if !self.sessions.contains_key(&w.session) {
            return;
        }
        self.out.push_back(Output::Reply { to: w.session, kind: w.kind, result });
        if let (Ok(()), Some(echo)) = (result, w.echo) {
            self.deliver(w.session, echo);
        }
    }

    /// A command from another node for a session here.
    pub(crate) fn remote(&mut self, node: Node, id: u64, command: Remote) {
        match command {
            Remote::Direct(kept) => {
                let answer = |result| Output::Answer { node, id, result };
                match self.direct_here(kept, None) {
                    Ok(Sent::Queued(kept)) => {
                        self.out.push_back(Output::Queue { kept, reply: Some(ReplyTo::Node(node, id)) })
                    }
                    Ok(_) => self.out.push_back(answer(Ok(()))),
                    Err(e) => self.out.push_back(answer(Err(e))),
                }
            }
            Remote::Typing { from, to, active } => {
                if let Some((id, name)) = self.reachable(&to, |c| c.typing) {
                    self.deliver(id, Event::Typing { from, to: name, active });
                }
            }
            Remote::LinkAsk { key, tag } => {
                let result = self.remote_link_ask(node, key, tag);
                self.out.push_back(Output::Answer { node, id, result });
            }
            Remote::LinkAccepted { key } => self.remote_link_accepted(node, key),
            Remote::LinkAborted { key } => self.remote_link_aborted(node, key),
            Remote::RingAck { id: ring, op, uuid, echo } => {
                let result = self.remote_ring_ack(node, op, ring, uuid, echo);
                self.out.push_back(Output::Answer { node, id, result });
            }
            Remote::DeskJoined { op, user, texts, id, echo } => self.desk_joined(node, op, user, texts, id, echo),
            Remote::DeskWrote { op, texts } => self.desk_from_user(op, crate::DeskEvent::UserWrote { texts }),
            Remote::DeskTyping { op, composing } => self.desk_from_user(op, crate::DeskEvent::UserTyping { composing }),
            Remote::DeskEnd { user, notice } => self.desk_end(node, &user, &notice),
            Remote::DeskUserLeft { op, user } => self.desk_user_left(node, op, &user),
            Remote::DirectAsk { from, to } => self.remote_direct_ask(node, from, to),
            Remote::DirectAnswer { from, to, answer } => self.remote_direct_answer(node, from, to, answer),
        }
    }

    /// On every tick: a command forwarded to a node that has not answered in time failed.
    pub(crate) fn expire_forwards(&mut self, now: Instant) {
        let timeout = self.config.answer_timeout;
        let mut late: Vec<u64> = self
            .elsewhere
            .waiting
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.since) >= timeout)
            .map(|(&id, _)| id)
            .collect();
        late.sort();
        for id in late {
            self.answer(id, Err(HubError::Unreachable));
        }
    }
}
