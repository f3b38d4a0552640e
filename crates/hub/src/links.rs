//! The broker's book of relayed private links (ChatOS TCPAsk…TCPConnect), keyed by
//! (A, B, password) under folded names, with at most one link per pair of names.

use crate::{fold, Event, Hub, HubError, LinkKey, Output, SessionId};
use rustc_hash::FxHashMap;
use std::time::Instant;

/// One private link, from its ask until its relay ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Asked by A, waiting for B's TCPAccept on a new connection.
    Asked,
    /// B's new connection is parked, waiting for A's TCPConnect.
    Accepted,
    /// Both ends parked: the I/O layer relays bytes until either closes.
    Open,
}

#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub id: LinkId,
    /// A and B as registered, and A's password.
    pub key: LinkKey,
    /// A's and B's chat sessions, told when the link is aborted.
    pub chats: [SessionId; 2],
    pub state: State,
    /// When an unfinished link is aborted.
    pub deadline: Instant,
}

type FoldedKey = (String, String, i16);

fn folded(key: &LinkKey) -> FoldedKey {
    (fold(&key.a), fold(&key.b), key.password)
}

/// The unordered pair of names, so that A→B and B→A are the same pair.
fn pair(a: &str, b: &str) -> (String, String) {
    let (a, b) = (fold(a), fold(b));
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[derive(Default)]
pub(crate) struct Links {
    next: u64,
    by_id: FxHashMap<LinkId, Link>,
    by_key: FxHashMap<FoldedKey, LinkId>,
    by_pair: FxHashMap<(String, String), LinkId>,
}

impl Links {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether a link between `a` and `b`, either way round, is pending or open.
    pub fn busy(&self, a: &str, b: &str) -> bool {
        self.by_pair.contains_key(&pair(a, b))
    }

    pub fn insert(&mut self, key: LinkKey, chats: [SessionId; 2], deadline: Instant) -> LinkId {
        self.next += 1;
        let id = LinkId(self.next);
        self.by_key.insert(folded(&key), id);
        self.by_pair.insert(pair(&key.a, &key.b), id);
        self.by_id.insert(id, Link { id, key, chats, state: State::Asked, deadline });
        id
    }

    pub fn find_mut(&mut self, key: &LinkKey) -> Option<&mut Link> {
        let id = self.by_key.get(&folded(key))?;
        self.by_id.get_mut(id)
    }

    pub fn remove(&mut self, id: LinkId) -> Option<Link> {
        let link = self.by_id.remove(&id)?;
        self.by_key.remove(&folded(&link.key));
        self.by_pair.remove(&pair(&link.key.a, &link.key.b));
        Some(link)
    }

    /// Removes and returns the links that match, in id order.
    fn take(&mut self, matches: impl Fn(&Link) -> bool) -> Vec<Link> {
        let mut ids: Vec<LinkId> = self.by_id.values().filter(|l| matches(l)).map(|l| l.id).collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Unfinished links past their deadline.
    pub fn expire(&mut self, now: Instant) -> Vec<Link> {
        self.take(|l| l.state != State::Open && l.deadline <= now)
    }

    /// Unfinished links one of whose chat sessions is `session`. An open link outlives the chat
    /// sessions: its relay runs on connections of its own.
    pub fn drop_session(&mut self, session: SessionId) -> Vec<Link> {
        self.take(|l| l.state != State::Open && l.chats.contains(&session))
    }

    /// The book's own consistency, and that every unfinished link's chat sessions `exist`.
    pub(crate) fn check(&self, exists: impl Fn(SessionId) -> bool) -> Result<(), String> {
        if self.by_key.len() != self.by_id.len() || self.by_pair.len() != self.by_id.len() {
            return Err(format!(
                "links: {} by id, {} by key, {} by pair",
                self.by_id.len(),
                self.by_key.len(),
                self.by_pair.len()
            ));
        }
        for (id, link) in &self.by_id {
            let indexed = self.by_key.get(&folded(&link.key)) == Some(id)
                && self.by_pair.get(&pair(&link.key.a, &link.key.b)) == Some(id);
            if !indexed || link.id != *id {
                return Err(format!("link {id:?} is not indexed as itself"));
            }
            if link.state != State::Open && !link.chats.iter().all(|&s| exists(s)) {
                return Err(format!("unfinished link {id:?} has a chat session that is gone"));
            }
        }
        Ok(())
    }
}

impl Hub {
    /// TCPAsk: A asks B for a private link. Every refusal also sends TCPAbort back to A.
    pub(crate) fn link_ask(&mut self, now: Instant, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let result = self.me(session, Some(&key.a)).and_then(|me| {
            let (b_id, b) = self
                .reachable(&key.b, |c| c.relay_links)
                .filter(|(id, _)| *id != session)
                .ok_or(HubError::Unreachable)?;
            if self.links.busy(&me, &b) {
                return Err(HubError::LinkInProgress);
            }
            Ok((me, b_id, b))
        });
        match result {
            Ok((a, b_id, b)) => {
                let key = LinkKey { a, b, password: key.password };
                self.links.insert(key.clone(), [session, b_id], now + self.config.link_timeout);
                self.deliver(b_id, Event::LinkAsked(key));
                Ok(())
            }
            Err(e) => {
                if e != HubError::NotLoggedIn {
                    self.deliver(session, Event::LinkAborted(key));
                }
                Err(e)
            }
        }
    }

    /// TCPAbort on a chat session: B refuses, or A withdraws, a link not yet open.
    pub(crate) fn link_abort(&mut self, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let me = self.sessions[&session].name.as_deref().ok_or(HubError::NotLoggedIn)?;
        if fold(me) != fold(&key.a) && fold(me) != fold(&key.b) {
            return Err(HubError::NotYourName);
        }
        let id = self.links.find_mut(&key).filter(|l| l.state != State::Open).ok_or(HubError::NoSuchLink)?.id;
        let link = self.links.remove(id).expect("just found");
        self.abort_link(link);
        Ok(())
    }

    /// Tells both chat sessions that `link` is over (so the one who aborted gets it echoed, as
    /// the original does) and drops its parked end.
    pub(crate) fn abort_link(&mut self, link: Link) {
        for chat in link.chats {
            if self.sessions.contains_key(&chat) {
                self.deliver(chat, Event::LinkAborted(link.key.clone()));
            }
        }
        if link.state != State::Asked {
            self.out.push_back(Output::Unpark { link: link.id });
        }
    }

    /// Whether `session` may become the end of a link that belongs to `party`'s chat session:
    /// a fresh connection of a protocol with relayed links, not a named chat session, coming
    /// from the same address as that chat session. The password alone is an i16, which a
    /// stranger could guess within the timeout; the address check keeps them out.
    fn can_become_link(&self, session: SessionId, party: SessionId) -> bool {
        let s = &self.sessions[&session];
        let same_origin = self.sessions.get(&party).is_some_and(|p| p.origin == s.origin);
        s.name.is_none() && s.caps.relay_links && same_origin
    }

    /// TCPAccept, first packet of B's new connection: the connection is parked and A is told.
    pub(crate) fn link_accept(&mut self, now: Instant, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let timeout = self.config.link_timeout;
        let b_chat =
            self.links.find_mut(&key).filter(|l| l.state == State::Asked).ok_or(HubError::NoSuchLink)?.chats[1];
        if !self.can_become_link(session, b_chat) {
            return Err(HubError::NoSuchLink);
        }
        let link = self.links.find_mut(&key).expect("just found");
        link.state = State::Accepted;
        link.deadline = now + timeout;
        let (id, a_chat, key) = (link.id, link.chats[0], link.key.clone());
        if self.sessions.contains_key(&a_chat) {
            self.deliver(a_chat, Event::LinkAccepted(key));
        }
        self.park(session, id);
        Ok(())
    }

    /// TCPConnect, first packet of A's new connection: parked too, and the link is open.
    pub(crate) fn link_connect(&mut self, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let a_chat =
            self.links.find_mut(&key).filter(|l| l.state == State::Accepted).ok_or(HubError::NoSuchLink)?.chats[0];
        if !self.can_become_link(session, a_chat) {
            return Err(HubError::NoSuchLink);
        }
        let link = self.links.find_mut(&key).expect("just found");
        link.state = State::Open;
        let id = link.id;
        self.park(session, id);
        Ok(())
    }

    fn park(&mut self, session: SessionId, link: LinkId) {
        self.sessions.remove(&session);
        self.out.push_back(Output::Park { session, link });
    }
}
