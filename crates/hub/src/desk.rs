//! The support desk, NL Chat's: operators (NL sessions that sent `key`) form a pool; an end
//! user on any protocol with direct messages opens a conversation by writing to the reserved
//! name `support`. That rings every operator; the first to answer is associated with the end
//! user, and gets what the user wrote meanwhile. Messages and typing then flow both ways,
//! the operator's reaching the user as direct messages from `support`, until the operator
//! disassociates or leaves, or the user leaves. A ring nobody answers in time expires; the
//! user is told, and the next message rings again.

use crate::keep::Sent;
use crate::{fold, DeskEvent, Event, Hub, HubError, Kept, Output, SessionId};
use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::time::Instant;

/// The desk's name: nobody can log in as it; writing to it reaches an operator.
pub const SUPPORT: &str = "support";

/// What the desk is called where a door's name would be (presence, the list of users).
pub const DESK: &str = "desk";

/// What the desk tells end users, as direct messages from `support`.
pub mod notice {
    pub const JOINED: &str = "An operator has joined the conversation.";
    pub const NOBODY: &str =
        "Nobody from support is available right now. Your message is kept; write again to ring again.";
    pub const ENDED: &str = "The operator ended the conversation. Write again to reach support.";
    pub const LEFT: &str = "The operator left the conversation. Write again to reach support.";
}

pub(crate) struct Operator {
    uuid: String,
    /// The end user it is associated with (folded name).
    user: Option<String>,
}

struct Ring {
    /// The end user as registered, and folded.
    user: String,
    key: String,
    /// What the user wrote while the ring waited.
    backlog: Vec<String>,
    deadline: Instant,
}

enum State {
    Ringing(u64),
    /// Associated with this operator, under the user's registered name.
    With(SessionId, String),
}

#[derive(Default)]
pub(crate) struct Desk {
    operators: IndexMap<SessionId, Operator, FxBuildHasher>,
    rings: IndexMap<u64, Ring, FxBuildHasher>,
    next_ring: u64,
    /// Folded end-user name → its conversation.
    users: FxHashMap<String, State>,
    /// The hub's services, for `status`.
    services: Vec<(String, bool)>,
}

impl Desk {
    pub fn operators(&self) -> usize {
        self.operators.len()
    }

    pub fn rings(&self) -> usize {
        self.rings.len()
    }

    pub fn has_operator(&self, session: SessionId) -> bool {
        self.operators.contains_key(&session)
    }

    /// Operators exist; each conversation is its operator's and the other way round; each
    /// ring is its user's.
    pub(crate) fn check(&self, exists: impl Fn(SessionId) -> bool) -> Result<(), String> {
        if let Some(op) = self.operators.keys().find(|&&op| !exists(op)) {
            return Err(format!("operator {op:?} is gone"));
        }
        for (key, state) in &self.users {
            let consistent = match state {
                State::With(op, _) => self.operators.get(op).is_some_and(|o| o.user.as_ref() == Some(key)),
                State::Ringing(id) => self.rings.get(id).is_some_and(|r| &r.key == key),
            };
            if !consistent {
                return Err(format!("the desk's conversation with {key} is not its operator's or ring's"));
            }
        }
        for (op, operator) in &self.operators {
            let with = operator.user.as_ref().map(|key| self.users.get(key));
            if let Some(found) = with {
                if !matches!(found, Some(State::With(o, _)) if o == op) {
                    return Err(format!("operator {op:?} is with someone the desk does not know"));
                }
            }
        }
        match self.rings.iter().find(|(id, r)| !matches!(self.users.get(&r.key), Some(State::Ringing(i)) if i == *id)) {
            Some((id, _)) => Err(format!("ring {id} is nobody's")),
            None => Ok(()),
        }
    }
}

impl Hub {
    fn operator_ids(&self) -> Vec<SessionId> {
        self.desk.operators.keys().copied().collect()
    }

    fn tell_user(&mut self, user: &str, text: &str) {
        if let Some((id, name)) = self.reachable(user, |c| c.direct) {
            self.deliver(id, Event::Direct { from: SUPPORT.into(), to: name, text: text.into() });
        }
    }

    /// `key`: an operator joins the pool (or says it is still there) and gets the services.
    pub(crate) fn operator_key(&mut self, session: SessionId, uuid: String) -> Result<(), HubError> {
        if !self.sessions[&session].caps.operator {
            return Err(HubError::Unreachable);
        }
        match self.desk.operators.get(&session) {
            Some(op) if op.uuid != uuid => return Err(HubError::NotYourName),
            Some(_) => {}
            None => {
                // The same operator on a new connection: the old one is stale.
                let stale: Vec<SessionId> =
                    self.desk.operators.iter().filter(|(_, o)| o.uuid == uuid).map(|(&id, _)| id).collect();
                for id in stale {
                    self.close(id, Event::Closing);
                }
                self.desk.operators.insert(session, Operator { uuid, user: None });
                if self.desk.operators.len() == 1 {
                    self.presence(SUPPORT.into(), None, true); // the desk opens
                }
                self.deliver(session, Event::Desk(DeskEvent::ServerOnline));
            }
        }
        self.deliver(session, Event::Desk(DeskEvent::Status { services: self.desk.services.clone() }));
        Ok(())
    }

    /// The hub's services changed: every operator gets the new status.
    pub(crate) fn services(&mut self, services: Vec<(String, bool)>) {
        if services == self.desk.services {
            return;
        }
        self.desk.services = services;
        let to = self.operator_ids();
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast {
                to,
                event: Event::Desk(DeskEvent::Status { services: self.desk.services.clone() }),
            });
        }
    }

    /// An end user wrote to `support`.
    pub(crate) fn write_to_desk(&mut self, session: SessionId, kept: Kept) -> Result<(), HubError> {
        if kept.image {
            return Err(HubError::Unreachable);
        }
        let user = kept.sender.clone();
        let key = fold(&user);
        let text = kept.body.clone();
        self.keep(Kept { recipient: Some(SUPPORT.into()), ..kept });
        if self.sessions[&session].caps.direct_echo {
            self.deliver(session, Event::Direct { from: user.clone(), to: SUPPORT.into(), text: text.clone() });
        }
        match self.desk.users.get(&key) {
            Some(State::With(op, _)) => {
                let op = *op;
                self.deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec![text] }));
            }
            Some(State::Ringing(id)) => {
                let id = *id;
                if let Some(ring) = self.desk.rings.get_mut(&id) {
                    ring.backlog.push(text);
                }
            }
            None => self.ring(user, key, text),
        }
        Ok(())
    }

    fn ring(&mut self, user: String, key: String, text: String) {
        if self.desk.operators.is_empty() {
            self.tell_user(&user, notice::NOBODY);
            return;
        }
        self.desk.next_ring += 1;
        let id = self.desk.next_ring;
        let expires_in = self.config.ring_timeout;
        let deadline = self.now + expires_in;
        self.desk.rings.insert(id, Ring { user, key: key.clone(), backlog: vec![text], deadline });
        self.desk.users.insert(key, State::Ringing(id));
        let to = self.operator_ids();
        self.out.push_back(Output::Broadcast { to, event: Event::Desk(DeskEvent::Ring { id, expires_in }) });
    }

    /// `ringACK`: the first operator to answer gets the end user. `echo` is the ID as the
    /// operator sent it, given back to it in that form.
    pub(crate) fn ring_ack(&mut self, session: SessionId, id: u64, echo: String) -> Result<(), HubError> {
        let op = self.desk.operators.get(&session).ok_or(HubError::NotLoggedIn)?;
        if op.user.is_some() {
            return Err(HubError::LinkInProgress); // one conversation at a time
        }
        let uuid = op.uuid.clone();
        let ring = self.desk.rings.swap_remove(&id).ok_or(HubError::NoSuchLink)?;
        self.desk.operators[&session].user = Some(ring.key.clone());
        self.desk.users.insert(ring.key, State::With(session, ring.user.clone()));
        for op in self.operator_ids() {
            let echo = (op == session).then(|| echo.clone());
            self.deliver(op, Event::Desk(DeskEvent::RingAckAck { id, echo, winner: uuid.clone() }));
        }
        self.deliver(session, Event::Desk(DeskEvent::UserWrote { texts: ring.backlog }));
        self.tell_user(&ring.user, notice::JOINED);
        Ok(())
    }

    /// The associated end user of operator `session`, as registered.
    fn associated(&self, session: SessionId) -> Option<String> {
        let key = self.desk.operators.get(&session)?.user.as_ref()?;
        match self.desk.users.get(key) {
            Some(State::With(_, name)) => Some(name.clone()),
            _ => None,
        }
    }

    /// `msg` out: to the associated end user, as direct messages from `support`.
    /// Returns what was queued (for a user still being handed what waited for it).
    pub(crate) fn desk_msg(&mut self, session: SessionId, texts: Vec<String>) -> Result<Vec<Kept>, HubError> {
        let user = self.associated(session).ok_or(HubError::Unreachable)?;
        let mut queued = Vec::new();
        for text in texts {
            let kept = Kept { sender: SUPPORT.into(), recipient: Some(user.clone()), body: text, ..Kept::default() };
            if let Sent::Queued(kept) = self.direct_here(kept, None)? {
                queued.push(kept);
            }
        }
        Ok(queued)
    }

    /// `chat_state` out: the associated end user sees support typing, if it shows typing.
    pub(crate) fn desk_state(&mut self, session: SessionId, composing: bool) -> Result<(), HubError> {
        let user = self.associated(session).ok_or(HubError::Unreachable)?;
        if let Some((id, name)) = self.reachable(&user, |c| c.typing) {
            self.deliver(id, Event::Typing { from: SUPPORT.into(), to: name, active: composing });
        }
        Ok(())
    }

    /// An end user typing to `support`: its operator sees it.
    pub(crate) fn typing_to_desk(&mut self, me: &str, active: bool) -> Result<(), HubError> {
        if let Some(State::With(op, _)) = self.desk.users.get(&fold(me)) {
            let op = *op;
            self.deliver(op, Event::Desk(DeskEvent::UserTyping { composing: active }));
        }
        Ok(())
    }

    /// `disassociate`: the operator ends its conversation.
    pub(crate) fn disassociate(&mut self, session: SessionId) -> Result<(), HubError> {
        let user = self.associated(session).ok_or(HubError::Unreachable)?;
        self.end_conversation(session, &user, notice::ENDED);
        Ok(())
    }

    fn end_conversation(&mut self, operator: SessionId, user: &str, notice: &str) {
        if let Some(op) = self.desk.operators.get_mut(&operator) {
            op.user = None;
        }
        self.desk.users.remove(&fold(user));
        self.tell_user(user, notice);
    }

    /// A session left: an operator leaves the pool (its end user is told); an end user's
    /// conversation ends (its operator is told) or its ring is called off.
    pub(crate) fn desk_left(&mut self, session: SessionId, name: Option<&str>) {
        if self.desk.operators.contains_key(&session) {
            if let Some(user) = self.associated(session) {
                self.end_conversation(session, &user, notice::LEFT);
            }
            self.desk.operators.swap_remove(&session);
            if self.desk.operators.is_empty() {
                self.presence(SUPPORT.into(), None, false); // the desk closes
            }
            return;
        }
        let Some(name) = name else { return };
        match self.desk.users.remove(&fold(name)) {
            Some(State::With(op, user)) => {
                if let Some(o) = self.desk.operators.get_mut(&op) {
                    o.user = None;
                }
                self.deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec![format!("{user} left.")] }));
            }
            Some(State::Ringing(id)) => {
                self.desk.rings.swap_remove(&id);
                let to = self.operator_ids();
                self.out.push_back(Output::Broadcast {
                    to,
                    event: Event::Desk(DeskEvent::RingAckAck { id, echo: None, winner: String::new() }),
                });
            }
            None => {}
        }
    }

    /// On every tick: rings nobody answered in time expire; their users are told.
    pub(crate) fn expire_rings(&mut self, now: Instant) {
        let due: Vec<u64> = self.desk.rings.iter().filter(|(_, r)| r.deadline <= now).map(|(&id, _)| id).collect();
        for id in due {
            let ring = self.desk.rings.swap_remove(&id).expect("just found");
            self.desk.users.remove(&ring.key);
            let to = self.operator_ids();
            if !to.is_empty() {
                self.out.push_back(Output::Broadcast {
                    to,
                    event: Event::Desk(DeskEvent::RingAckAck { id, echo: None, winner: String::new() }),
                });
            }
            self.tell_user(&ring.user, notice::NOBODY);
        }
    }
}
