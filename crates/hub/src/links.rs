//! The broker's book of relayed private links (ChatOS TCPAsk…TCPConnect), keyed by
//! (A, B, password) under folded names, with at most one link per pair of names.

use crate::cluster::Node;
use crate::timers::Due;
use crate::{fold, Done, Event, Hub, HubError, LinkKey, Output, Remote, SessionId};
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

/// A's or B's chat session: here, or on another node of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chat {
    Here(SessionId),
    There(Node),
}

impl Chat {
    fn here(self) -> Option<SessionId> {
        match self {
            Chat::Here(s) => Some(s),
            Chat::There(_) => None,
        }
    }

    fn there(self) -> Option<Node> {
        match self {
            Chat::Here(_) => None,
            Chat::There(node) => Some(node),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub id: LinkId,
    /// A and B as registered, and A's password.
    pub key: LinkKey,
    /// A's and B's chat sessions, told when the link is aborted.
    pub chats: [Chat; 2],
    pub state: State,
    /// When an unfinished link is aborted.
    pub deadline: Instant,
    /// The link's number on A's node (its id there): how both nodes of a link between
    /// nodes name it on the bus.
    pub tag: u64,
}

impl Link {
    /// The other node, for a link between nodes.
    pub fn node(&self) -> Option<Node> {
        self.chats.iter().find_map(|c| c.there())
    }
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

    /// When each unfinished link runs out.
    pub(crate) fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.by_id.values().filter(|l| l.state != State::Open).map(|l| l.deadline)
    }

    /// Whether a link between `a` and `b`, either way round, is pending or open.
    pub fn busy(&self, a: &str, b: &str) -> bool {
        self.by_pair.contains_key(&pair(a, b))
    }

    /// A new link, numbered `tag` on A's node (`None`: this is A's node).
    pub fn insert(&mut self, key: LinkKey, chats: [Chat; 2], deadline: Instant, tag: Option<u64>) -> LinkId {
        self.next += 1;
        let id = LinkId(self.next);
        self.by_key.insert(folded(&key), id);
        self.by_pair.insert(pair(&key.a, &key.b), id);
        let tag = tag.unwrap_or(id.0);
        self.by_id.insert(id, Link { id, key, chats, state: State::Asked, deadline, tag });
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
        self.take(|l| l.state != State::Open && l.chats.contains(&Chat::Here(session)))
    }

    /// Links with the node `node`, which is gone.
    pub fn drop_node(&mut self, node: Node) -> Vec<Link> {
        self.take(|l| l.node() == Some(node))
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
            if link.state != State::Open && !link.chats.iter().filter_map(|c| c.here()).all(&exists) {
                return Err(format!("unfinished link {id:?} has a chat session that is gone"));
            }
            if link.chats.iter().all(|c| c.there().is_some()) {
                return Err(format!("link {id:?} has neither chat session here"));
            }
        }
        Ok(())
    }
}

impl Hub {
    /// TCPAsk: A asks B for a private link. Every refusal also sends TCPAbort back to A. In
    /// a cluster B may be on another node: the ask goes there, and A's answer waits for it.
    pub(crate) fn link_ask(&mut self, now: Instant, session: SessionId, key: LinkKey) -> Result<Done, HubError> {
        let result = self.me(session, Some(&key.a)).and_then(|me| {
            let b = match self.reachable(&key.b, |c| c.relay_links) {
                Some((id, _)) if id == session => return Err(HubError::Unreachable),
                Some((id, name)) => (Chat::Here(id), name),
                None => match self.elsewhere.holder(&key.b) {
                    Some(h) if h.caps().relay_links => (Chat::There(h.node), h.name.to_string()),
                    _ => return Err(HubError::Unreachable),
                },
            };
            if self.links.busy(&me, &b.1) {
                return Err(HubError::LinkInProgress);
            }
            Ok((me, b))
        });
        match result {
            Ok((a, (chat, b))) => {
                let key = LinkKey { a, b, password: key.password };
                let deadline = now + self.config.link_timeout;
                let id = self.links.insert(key.clone(), [Chat::Here(session), chat], deadline, None);
                self.timers.at(deadline, Due::Links);
                match chat {
                    Chat::Here(b_id) => {
                        self.deliver(b_id, Event::LinkAsked(key));
                        Ok(Done::Now)
                    }
                    Chat::There(node) => {
                        let ask = Remote::LinkAsk { key: key.clone(), tag: id.0 };
                        self.forward_link(node, session, key, ask);
                        Ok(Done::Later)
                    }
                }
            }
            Err(e) => {
                if e != HubError::NotLoggedIn {
                    self.deliver(session, Event::LinkAborted(key));
                }
                Err(e)
            }
        }
    }

    /// Another node's A asks B, here, for a private link (`Remote::LinkAsk`).
    pub(crate) fn remote_link_ask(&mut self, node: Node, key: LinkKey, tag: u64) -> Result<(), HubError> {
        let (b_id, b) = self.reachable(&key.b, |c| c.relay_links).ok_or(HubError::Unreachable)?;
        if self.links.busy(&key.a, &b) {
            return Err(HubError::LinkInProgress);
        }
        let key = LinkKey { a: key.a, b, password: key.password };
        let deadline = self.now + self.config.link_timeout;
        self.links.insert(key.clone(), [Chat::There(node), Chat::Here(b_id)], deadline, Some(tag));
        self.timers.at(deadline, Due::Links);
        self.deliver(b_id, Event::LinkAsked(key));
        Ok(())
    }

    /// B accepted on its node (`Remote::LinkAccepted`): A may connect.
    pub(crate) fn remote_link_accepted(&mut self, node: Node, key: LinkKey) {
        let timeout = self.config.link_timeout;
        let now = self.now;
        let Some(link) = self.links.find_mut(&key) else { return };
        if link.state != State::Asked || link.chats[1] != Chat::There(node) {
            return;
        }
        link.state = State::Accepted;
        link.deadline = now + timeout;
        let a = link.chats[0];
        let key = link.key.clone();
        self.timers.at(now + timeout, Due::Links);
        if let Chat::Here(a) = a {
            self.deliver(a, Event::LinkAccepted(key));
        }
    }

    /// The other node gave the link `key` up (`Remote::LinkAborted`).
    pub(crate) fn remote_link_aborted(&mut self, node: Node, key: LinkKey) {
        let Some(link) = self.links.find_mut(&key) else { return };
        if link.node() != Some(node) {
            return;
        }
        let id = link.id;
        let link = self.links.remove(id).expect("just found");
        self.end_link(link, false);
    }

    /// Node `node` is gone: so are the links with it.
    pub(crate) fn links_gone(&mut self, node: Node) {
        for link in self.links.drop_node(node) {
            self.end_link(link, false);
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
        self.end_link(link, true);
    }

    /// `link` is over: its chat sessions here are told (if it had not opened), the other
    /// node too if `tell_node`, and its parked end, if any, is dropped (or its relay to the
    /// other node stopped).
    pub(crate) fn end_link(&mut self, link: Link, tell_node: bool) {
        if link.state != State::Open {
            for chat in link.chats.iter().filter_map(|c| c.here()) {
                if self.sessions.contains_key(&chat) {
                    self.deliver(chat, Event::LinkAborted(link.key.clone()));
                }
            }
        }
        if let (true, Some(node)) = (tell_node, link.node()) {
            let command = Remote::LinkAborted { key: link.key.clone() };
            self.out.push_back(Output::Forward { node, id: 0, command });
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
        s.name.is_none() && s.caps().relay_links && same_origin
    }

    /// TCPAccept, first packet of B's new connection: the connection is parked and A is told.
    pub(crate) fn link_accept(&mut self, now: Instant, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let timeout = self.config.link_timeout;
        let b_chat =
            self.links.find_mut(&key).filter(|l| l.state == State::Asked).ok_or(HubError::NoSuchLink)?.chats[1];
        match b_chat.here() {
            Some(b) if self.can_become_link(session, b) => {}
            _ => return Err(HubError::NoSuchLink),
        }
        let link = self.links.find_mut(&key).expect("just found");
        link.state = State::Accepted;
        link.deadline = now + timeout;
        let (id, a_chat, key, tag) = (link.id, link.chats[0], link.key.clone(), link.tag);
        self.timers.at(now + timeout, Due::Links);
        match a_chat {
            Chat::Here(a) if self.sessions.contains_key(&a) => self.deliver(a, Event::LinkAccepted(key)),
            Chat::Here(_) => {}
            Chat::There(node) => {
                // B's end relays to A's node from now on: this node's part is done, and what
                // happens to the link is up to A's node (or the relay's own end).
                self.links.find_mut(&key).expect("just found").state = State::Open;
                self.out.push_back(Output::Forward { node, id: 0, command: Remote::LinkAccepted { key } });
                self.park(session, id);
                self.out.push_back(Output::Bridge { link: id, node, home: false, tag });
                return Ok(());
            }
        }
        self.park(session, id);
        Ok(())
    }

    /// TCPConnect, first packet of A's new connection: parked too, and the link is open.
    pub(crate) fn link_connect(&mut self, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let a_chat =
            self.links.find_mut(&key).filter(|l| l.state == State::Accepted).ok_or(HubError::NoSuchLink)?.chats[0];
        match a_chat.here() {
            Some(a) if self.can_become_link(session, a) => {}
            _ => return Err(HubError::NoSuchLink),
        }
        let link = self.links.find_mut(&key).expect("just found");
        link.state = State::Open;
        let (id, node, tag) = (link.id, link.node(), link.tag);
        self.park(session, id);
        if let Some(node) = node {
            self.out.push_back(Output::Bridge { link: id, node, home: true, tag });
        }
        Ok(())
    }

    fn park(&mut self, session: SessionId, link: LinkId) {
        self.sessions.remove(&session);
        self.away.remove(&session);
        self.out.push_back(Output::Park { session, link });
    }
}
