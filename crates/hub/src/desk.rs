//! The support desk, NL Chat's: operators (NL sessions that sent `key`) form a pool; an end
//! user on any protocol with direct messages opens a conversation by writing to the reserved
//! name `support`. That rings every operator; the first to answer is associated with the end
//! user, and gets what the user wrote meanwhile. Messages and typing then flow both ways,
//! the operator's reaching the user as direct messages from `support`, until the operator
//! disassociates or leaves, or the user leaves. A ring nobody answers in time expires; the
//! user is told, and the next message rings again.
//!
//! In a cluster, operators may be on any node: each node tells the others how many it has
//! (`DeskNews::Operators`). A conversation belongs to the end user's node: its rings go to
//! every node's operators (`DeskNews::Ring`), the first `ringACK` to reach that node wins
//! (`Remote::RingAck`), and what the user and an operator on another node say to each other
//! crosses as forwarded commands.

use crate::cluster::Node;
use crate::keep::Sent;
use crate::timers::Due;
use crate::{fold, DeskEvent, DeskNews, Event, Hub, HubError, Kept, Output, Remote, SessionId};
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
    /// The end user it is associated with.
    user: Option<User>,
}

/// An operator's end user: here (its folded name), or on another node (as registered).
#[derive(Debug, Clone, PartialEq, Eq)]
enum User {
    Here(String),
    There(Node, String),
}

/// An end user's operator: here, or on another node (its session there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Here(SessionId),
    There(Node, u64),
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
    With(Op, String),
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
    /// In a cluster: how many operators the other nodes have.
    elsewhere: FxHashMap<Node, u64>,
    /// In a cluster: rings of end users on other nodes, and whose.
    remote_rings: FxHashMap<u64, Node>,
}

impl Desk {
    /// When each ring nobody took runs out.
    pub(crate) fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.rings.values().map(|r| r.deadline)
    }

    pub fn operators(&self) -> usize {
        self.operators.len()
    }

    pub fn rings(&self) -> usize {
        self.rings.len()
    }

    pub fn has_operator(&self, session: SessionId) -> bool {
        self.operators.contains_key(&session)
    }

    /// Whether the end user named `folded` rings or is with an operator.
    pub(crate) fn talks_with(&self, folded: &str) -> bool {
        self.users.contains_key(folded)
    }

    /// Whether any node has an operator.
    pub(crate) fn open(&self) -> bool {
        !self.operators.is_empty() || self.elsewhere.values().any(|&n| n > 0)
    }

    /// Operators exist; each conversation is its operator's and the other way round; each
    /// ring is its user's.
    pub(crate) fn check(&self, exists: impl Fn(SessionId) -> bool) -> Result<(), String> {
        if let Some(op) = self.operators.keys().find(|&&op| !exists(op)) {
            return Err(format!("operator {op:?} is gone"));
        }
        for (key, state) in &self.users {
            let consistent = match state {
                State::With(Op::Here(op), _) => {
                    self.operators.get(op).is_some_and(|o| o.user == Some(User::Here(key.clone())))
                }
                State::With(Op::There(..), _) => true,
                State::Ringing(id) => self.rings.get(id).is_some_and(|r| &r.key == key),
            };
            if !consistent {
                return Err(format!("the desk's conversation with {key} is not its operator's or ring's"));
            }
        }
        for (op, operator) in &self.operators {
            if let Some(User::Here(key)) = &operator.user {
                if !matches!(self.users.get(key), Some(State::With(Op::Here(o), _)) if o == op) {
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
        if !self.sessions[&session].caps().operator {
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
                let was_open = self.desk.open();
                self.desk.operators.insert(session, Operator { uuid, user: None });
                self.operators_changed(was_open);
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
        if self.sessions[&session].caps().direct_echo {
            self.deliver(session, Event::Direct { from: user.clone(), to: SUPPORT.into(), text: text.clone() });
        }
        match self.desk.users.get(&key) {
            Some(State::With(op, _)) => {
                let op = *op;
                self.tell_operator(op, DeskEvent::UserWrote { texts: vec![text] });
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
        if !self.desk.open() {
            self.tell_user(&user, notice::NOBODY);
            return;
        }
        self.desk.next_ring += 1;
        // Unique in the cluster: numbered from this start's first session id.
        let id = self.config.first_id + self.desk.next_ring;
        let expires_in = self.config.ring_timeout;
        let deadline = self.now + expires_in;
        self.desk.rings.insert(id, Ring { user, key: key.clone(), backlog: vec![text], deadline });
        self.timers.at(deadline, Due::Rings);
        self.desk.users.insert(key, State::Ringing(id));
        self.tell_operators(DeskEvent::Ring { id, expires_in });
        if self.config.cluster {
            self.out.push_back(Output::DeskNews(DeskNews::Ring { id, expires_in }));
        }
    }

    /// Every operator here gets `event`.
    fn tell_operators(&mut self, event: DeskEvent) {
        let to = self.operator_ids();
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast { to, event: Event::Desk(event) });
        }
    }

    /// Ring `id` is over (taken by `winner`, or expired or called off: `winner` empty), for
    /// the operators of every node.
    fn ring_over(&mut self, id: u64, winner: String) {
        self.tell_operators(DeskEvent::RingAckAck { id, echo: None, winner: winner.clone() });
        if self.config.cluster {
            self.out.push_back(Output::DeskNews(DeskNews::RingOver { id, winner }));
        }
    }

    /// `event` for an end user's operator, here or on its node.
    fn tell_operator(&mut self, op: Op, event: DeskEvent) {
        match (op, event) {
            (Op::Here(op), event) => self.deliver(op, Event::Desk(event)),
            (Op::There(node, op), DeskEvent::UserWrote { texts }) => {
                self.out.push_back(Output::Forward { node, id: 0, command: Remote::DeskWrote { op, texts } });
            }
            (Op::There(node, op), DeskEvent::UserTyping { composing }) => {
                self.out.push_back(Output::Forward { node, id: 0, command: Remote::DeskTyping { op, composing } });
            }
            (Op::There(..), _) => {}
        }
    }

    /// The count of operators here changed from a desk that was open (or not).
    fn operators_changed(&mut self, was_open: bool) {
        if self.config.cluster {
            let count = self.desk.operators.len() as u64;
            self.out.push_back(Output::DeskNews(DeskNews::Operators { count }));
        }
        self.desk_presence(was_open);
    }

    /// `support` comes online when the first operator of the cluster arrives, and goes
    /// when the last leaves.
    fn desk_presence(&mut self, was_open: bool) {
        let open = self.desk.open();
        if open != was_open {
            self.presence(SUPPORT.into(), None, false, open);
        }
    }

    /// `ringACK`: the first operator to answer gets the end user. `echo` is the ID as the
    /// operator sent it, given back to it in that form.
    pub(crate) fn ring_ack(&mut self, session: SessionId, id: u64, echo: String) -> Result<crate::Done, HubError> {
        let op = self.desk.operators.get(&session).ok_or(HubError::NotLoggedIn)?;
        if op.user.is_some() {
            return Err(HubError::LinkInProgress); // one conversation at a time
        }
        let uuid = op.uuid.clone();
        if let Some(&node) = self.desk.remote_rings.get(&id) {
            // The ring is the end user's node's: the first ringACK to reach it wins.
            let command = Remote::RingAck { id, op: session.0, uuid, echo };
            self.forward(node, session, crate::Kind::Desk, None, command);
            return Ok(crate::Done::Later);
        }
        let ring = self.desk.rings.swap_remove(&id).ok_or(HubError::NoSuchLink)?;
        self.desk.operators[&session].user = Some(User::Here(ring.key.clone()));
        self.desk.users.insert(ring.key, State::With(Op::Here(session), ring.user.clone()));
        for op in self.operator_ids() {
            let echo = (op == session).then(|| echo.clone());
            self.deliver(op, Event::Desk(DeskEvent::RingAckAck { id, echo, winner: uuid.clone() }));
        }
        if self.config.cluster {
            self.out.push_back(Output::DeskNews(DeskNews::RingOver { id, winner: uuid }));
        }
        self.deliver(session, Event::Desk(DeskEvent::UserWrote { texts: ring.backlog }));
        self.tell_user(&ring.user, notice::JOINED);
        Ok(crate::Done::Now)
    }

    /// An operator on `node` answered ring `id` of an end user here (`Remote::RingAck`).
    pub(crate) fn remote_ring_ack(
        &mut self,
        node: Node,
        op: u64,
        id: u64,
        uuid: String,
        echo: String,
    ) -> Result<(), HubError> {
        let ring = self.desk.rings.swap_remove(&id).ok_or(HubError::NoSuchLink)?;
        self.desk.users.insert(ring.key, State::With(Op::There(node, op), ring.user.clone()));
        self.tell_operators(DeskEvent::RingAckAck { id, echo: None, winner: uuid.clone() });
        self.out.push_back(Output::DeskNews(DeskNews::RingOver { id, winner: uuid }));
        let command = Remote::DeskJoined { op, user: ring.user.clone(), texts: ring.backlog, id, echo };
        self.out.push_back(Output::Forward { node, id: 0, command });
        self.tell_user(&ring.user, notice::JOINED);
        Ok(())
    }

    /// The end user on `node` whose ring `id` operator `op` here won (`Remote::DeskJoined`).
    pub(crate) fn desk_joined(&mut self, node: Node, op: u64, user: String, texts: Vec<String>, id: u64, echo: String) {
        let session = SessionId(op);
        let Some(operator) = self.desk.operators.get_mut(&session).filter(|o| o.user.is_none()) else {
            // It left (or took another) meanwhile: the user's node hears it is over.
            let command = Remote::DeskEnd { user, notice: notice::LEFT.into() };
            self.out.push_back(Output::Forward { node, id: 0, command });
            return;
        };
        operator.user = Some(User::There(node, user));
        let winner = operator.uuid.clone();
        self.deliver(session, Event::Desk(DeskEvent::RingAckAck { id, echo: Some(echo), winner }));
        self.deliver(session, Event::Desk(DeskEvent::UserWrote { texts }));
    }

    /// A node is up: it hears how many operators this one has, if any.
    pub(crate) fn desk_announce(&mut self) {
        let count = self.desk.operators.len() as u64;
        if count > 0 {
            self.out.push_back(Output::DeskNews(DeskNews::Operators { count }));
        }
    }

    /// News of the desk from another node.
    pub(crate) fn desk_news(&mut self, node: Node, news: DeskNews) {
        match news {
            DeskNews::Operators { count } => {
                let was_open = self.desk.open();
                self.desk.elsewhere.insert(node, count);
                self.desk_presence(was_open);
            }
            DeskNews::Ring { id, expires_in } => {
                self.desk.remote_rings.insert(id, node);
                self.tell_operators(DeskEvent::Ring { id, expires_in });
            }
            DeskNews::RingOver { id, winner } => {
                if self.desk.remote_rings.remove(&id).is_some() {
                    // The winner, if it is here, heard it already with its own ID.
                    let to: Vec<SessionId> = self
                        .desk
                        .operators
                        .iter()
                        .filter(|(_, o)| o.uuid != winner || winner.is_empty())
                        .map(|(&id, _)| id)
                        .collect();
                    if !to.is_empty() {
                        let event = Event::Desk(DeskEvent::RingAckAck { id, echo: None, winner });
                        self.out.push_back(Output::Broadcast { to, event });
                    }
                }
            }
        }
    }

    /// What an end user on another node wrote or typed for operator `op` here.
    pub(crate) fn desk_from_user(&mut self, op: u64, event: DeskEvent) {
        if self.desk.operators.get(&SessionId(op)).is_some_and(|o| matches!(o.user, Some(User::There(..)))) {
            self.deliver(SessionId(op), Event::Desk(event));
        }
    }

    /// The operator on another node of the end user `user` here ended the conversation.
    pub(crate) fn desk_end(&mut self, node: Node, user: &str, notice: &str) {
        if matches!(self.desk.users.get(&fold(user)), Some(State::With(Op::There(n, _), _)) if *n == node) {
            self.desk.users.remove(&fold(user));
            self.tell_user(user, notice);
        }
    }

    /// The end user on another node of operator `op` here left.
    pub(crate) fn desk_user_left(&mut self, node: Node, op: u64, user: &str) {
        let session = SessionId(op);
        let Some(operator) = self.desk.operators.get_mut(&session) else { return };
        if matches!(&operator.user, Some(User::There(n, u)) if *n == node && fold(u) == fold(user)) {
            operator.user = None;
            self.deliver(session, Event::Desk(DeskEvent::UserWrote { texts: vec![format!("{user} left.")] }));
        }
    }

    /// Node `node` is gone: its operators, rings and conversations with it too.
    pub(crate) fn desk_node_gone(&mut self, node: Node) {
        let was_open = self.desk.open();
        self.desk.elsewhere.remove(&node);
        let rings: Vec<u64> = self.desk.remote_rings.iter().filter(|(_, n)| **n == node).map(|(&id, _)| id).collect();
        for id in rings {
            self.desk.remote_rings.remove(&id);
            self.tell_operators(DeskEvent::RingAckAck { id, echo: None, winner: String::new() });
        }
        let users: Vec<String> = self
            .desk
            .users
            .iter()
            .filter(|(_, s)| matches!(s, State::With(Op::There(n, _), _) if *n == node))
            .map(|(k, _)| k.clone())
            .collect();
        for key in users {
            if let Some(State::With(_, user)) = self.desk.users.remove(&key) {
                self.tell_user(&user, notice::LEFT);
            }
        }
        let ops: Vec<SessionId> = self
            .desk
            .operators
            .iter()
            .filter(|(_, o)| matches!(&o.user, Some(User::There(n, _)) if *n == node))
            .map(|(&id, _)| id)
            .collect();
        for op in ops {
            if let Some(User::There(_, user)) = self.desk.operators[&op].user.take() {
                self.deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec![format!("{user} left.")] }));
            }
        }
        self.desk_presence(was_open);
    }

    /// The associated end user of operator `session`, as registered, and its node if it is
    /// on another.
    fn associated(&self, session: SessionId) -> Option<(String, Option<Node>)> {
        match self.desk.operators.get(&session)?.user.as_ref()? {
            User::Here(key) => match self.desk.users.get(key) {
                Some(State::With(_, name)) => Some((name.clone(), None)),
                _ => None,
            },
            User::There(node, name) => Some((name.clone(), Some(*node))),
        }
    }

    /// `msg` out: to the associated end user, as direct messages from `support`.
    /// Returns what was queued (for a user still being handed what waited for it).
    pub(crate) fn desk_msg(&mut self, session: SessionId, texts: Vec<String>) -> Result<Vec<Kept>, HubError> {
        let (user, node) = self.associated(session).ok_or(HubError::Unreachable)?;
        let mut queued = Vec::new();
        for text in texts {
            let kept = Kept { sender: SUPPORT.into(), recipient: Some(user.clone()), body: text, ..Kept::default() };
            match node {
                // Delivered (or queued) there; nobody waits for the answer.
                Some(node) => self.out.push_back(Output::Forward { node, id: 0, command: Remote::Direct(kept) }),
                None => {
                    if let Sent::Queued(kept) = self.direct_here(kept, None)? {
                        queued.push(kept);
                    }
                }
            }
        }
        Ok(queued)
    }

    /// `chat_state` out: the associated end user sees support typing, if it shows typing.
    pub(crate) fn desk_state(&mut self, session: SessionId, composing: bool) -> Result<(), HubError> {
        let (user, node) = self.associated(session).ok_or(HubError::Unreachable)?;
        if let Some(node) = node {
            let command = Remote::Typing { from: SUPPORT.into(), to: user, active: composing };
            self.out.push_back(Output::Forward { node, id: 0, command });
        } else if let Some((id, name)) = self.reachable(&user, |c| c.typing) {
            self.deliver(id, Event::Typing { from: SUPPORT.into(), to: name, active: composing });
        }
        Ok(())
    }

    /// An end user typing to `support`: its operator sees it.
    pub(crate) fn typing_to_desk(&mut self, me: &str, active: bool) -> Result<(), HubError> {
        if let Some(State::With(op, _)) = self.desk.users.get(&fold(me)) {
            let op = *op;
            self.tell_operator(op, DeskEvent::UserTyping { composing: active });
        }
        Ok(())
    }

    /// `disassociate`: the operator ends its conversation.
    pub(crate) fn disassociate(&mut self, session: SessionId) -> Result<(), HubError> {
        self.associated(session).ok_or(HubError::Unreachable)?;
        self.end_conversation(session, notice::ENDED);
        Ok(())
    }

    /// Operator `operator` ends its conversation: its end user, here or on its node, is
    /// told `notice`.
    fn end_conversation(&mut self, operator: SessionId, notice: &str) {
        let Some(user) = self.desk.operators.get_mut(&operator).and_then(|op| op.user.take()) else { return };
        match user {
            User::Here(key) => {
                if let Some(State::With(_, name)) = self.desk.users.remove(&key) {
                    self.tell_user(&name, notice);
                }
            }
            User::There(node, name) => {
                let command = Remote::DeskEnd { user: name, notice: notice.into() };
                self.out.push_back(Output::Forward { node, id: 0, command });
            }
        }
    }

    /// A session left: an operator leaves the pool (its end user is told); an end user's
    /// conversation ends (its operator is told) or its ring is called off.
    pub(crate) fn desk_left(&mut self, session: SessionId, name: Option<&str>) {
        if self.desk.operators.contains_key(&session) {
            self.end_conversation(session, notice::LEFT);
            let was_open = self.desk.open();
            self.desk.operators.swap_remove(&session);
            self.operators_changed(was_open);
            return;
        }
        let Some(name) = name else { return };
        match self.desk.users.remove(&fold(name)) {
            Some(State::With(Op::Here(op), user)) => {
                if let Some(o) = self.desk.operators.get_mut(&op) {
                    o.user = None;
                }
                self.deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec![format!("{user} left.")] }));
            }
            Some(State::With(Op::There(node, op), user)) => {
                self.out.push_back(Output::Forward { node, id: 0, command: Remote::DeskUserLeft { op, user } });
            }
            Some(State::Ringing(id)) => {
                self.desk.rings.swap_remove(&id);
                self.ring_over(id, String::new());
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
            self.ring_over(id, String::new());
            self.tell_user(&ring.user, notice::NOBODY);
        }
    }
}
