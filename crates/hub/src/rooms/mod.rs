//! Rooms: named groups beside the one lobby, with members, a topic and modes (IRC's channels,
//! the web's rooms). Only sessions whose protocol carries `rooms` join them. A room exists
//! while it has a member anywhere: its first member is its operator, and it is forgotten when
//! its last one leaves, as IRC does.
//!
//! In a cluster every node holds a copy of every room: its own members by session, the other
//! nodes' by name. A change (a join, a part, a message, a topic, modes, an invitation) is
//! decided on the node of the session that asks, against that node's copy, and then carried
//! out the same way on every node: here by [`Hub::apply`], and elsewhere after
//! `Output::RoomNews` crossed the bus (`Input::RoomNews`). A node that comes up is told every
//! other node's members (`RoomNews::Sync`). Who leaves the hub altogether leaves its rooms
//! without a word to their members: they learn it from presence, as everyone does.

mod types;
pub use types::{
    matches_mask, valid_room, Masks, Member, Mode, ModeChange, RoomCommand, RoomError, RoomModes, RoomNews, RoomView,
    Topic, LOBBY_ROOM, MAX_BANS, MAX_ROOM, MAX_ROOMS_EACH, MAX_TOPIC,
};

use crate::{fold, Event, Hub, HubError, Kept, Node, Output, SessionId};
use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

/// A room's name as it is filed: `#` and the rest folded as names are.
pub fn fold_room(room: &str) -> String {
    match room.strip_prefix('#') {
        Some(rest) => format!("#{}", fold(rest)),
        None => fold(room),
    }
}

/// A member on another node.
#[derive(Debug)]
struct There {
    node: Node,
    name: Box<str>,
    member: Member,
}

#[derive(Debug)]
struct Room {
    /// As its first member spelled it.
    name: Box<str>,
    topic: Option<Topic>,
    modes: RoomModes,
    masks: Masks,
    /// Folded names invited (and not yet come): they may join past `+i`, a ban and a key.
    invited: FxHashSet<String>,
    /// Members here, in the order they came.
    here: IndexMap<SessionId, Member, FxBuildHasher>,
    elsewhere: Vec<There>,
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: name.into(),
            topic: None,
            modes: RoomModes::default(),
            masks: Masks::default(),
            invited: FxHashSet::default(),
            here: IndexMap::default(),
            elsewhere: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.here.len() + self.elsewhere.len()
    }

    fn is_empty(&self) -> bool {
        self.here.is_empty() && self.elsewhere.is_empty()
    }
}

/// Every room this node knows, and which rooms each of its sessions is in (only sessions in
/// one have an entry: others pay nothing).
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    by_name: FxHashMap<String, Room>,
    of: FxHashMap<SessionId, Vec<String>>,
}

impl Rooms {
    /// `Err` with what does not hold: every room has a member, and the rooms of each session
    /// agree with the members of each room.
    pub(crate) fn check(&self, named_with_rooms: impl Fn(SessionId) -> bool) -> Result<(), String> {
        for (folded, room) in &self.by_name {
            if room.is_empty() {
                return Err(format!("room {folded} has no member and is kept"));
            }
            if fold_room(&room.name) != *folded {
                return Err(format!("room {:?} is filed as {folded}", room.name));
            }
            for id in room.here.keys() {
                if !named_with_rooms(*id) {
                    return Err(format!("{id:?} in {folded} is gone, unnamed or cannot carry rooms"));
                }
                if !self.of.get(id).is_some_and(|rooms| rooms.contains(folded)) {
                    return Err(format!("{id:?} is in {folded}, which its rooms do not say"));
                }
            }
        }
        for (id, rooms) in &self.of {
            if rooms.is_empty() {
                return Err(format!("{id:?} has an empty list of rooms"));
            }
            for folded in rooms {
                if !self.by_name.get(folded).is_some_and(|r| r.here.contains_key(id)) {
                    return Err(format!("{id:?} says it is in {folded}, which does not have it"));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn count(&self) -> usize {
        self.by_name.len()
    }
}

/// Who a change comes from: a session here, or a member on another node.
#[derive(Debug, Clone, Copy)]
pub(crate) enum From {
    Here(SessionId),
    There(Node),
}

impl Hub {
    /// `session` (named `me`) is typing in `room`, or stopped: told to the room's members
    /// who take typing notices, on every node. Only a member may.
    pub(crate) fn room_typing(
        &mut self,
        session: SessionId,
        me: String,
        room: &str,
        active: bool,
    ) -> Result<(), HubError> {
        let r = self.rooms.by_name.get(&fold_room(room)).ok_or(HubError::Unreachable)?;
        if !r.here.contains_key(&session) {
            return Err(HubError::Room(RoomError::NotInRoom));
        }
        let news = RoomNews::Typing { room: r.name.to_string(), from: me, active };
        if self.config.cluster {
            self.out.push_back(Output::RoomNews(news.clone()));
        }
        self.apply(From::Here(session), news);
        Ok(())
    }

    /// A room command from `session` (named `me`), decided against this node's copy of the
    /// room and then carried out everywhere.
    pub(crate) fn room(&mut self, session: SessionId, me: String, command: RoomCommand) -> Result<(), HubError> {
        if !self.sessions[&session].caps().rooms {
            return Err(HubError::Unreachable);
        }
        let news = self.decide(session, &me, command).map_err(HubError::Room)?;
        if let Some(news) = news {
            if self.config.cluster {
                self.out.push_back(Output::RoomNews(news.clone()));
            }
            self.apply(From::Here(session), news);
        }
        Ok(())
    }

    /// What `command` changes, if it may; `None`: nothing to change (a join of a room it is
    /// in, modes that are set already).
    fn decide(&mut self, session: SessionId, me: &str, command: RoomCommand) -> Result<Option<RoomNews>, RoomError> {
        let door = self.door_name(self.sessions[&session].door);
        let folded_me = fold(me);
        let member = |room: &Room| room.here.get(&session).copied();
        match command {
            RoomCommand::Join { room: name, key } => {
                if !valid_room(&name) || fold_room(&name) == LOBBY_ROOM {
                    return Err(RoomError::BadName);
                }
                let folded = fold_room(&name);
                if self.rooms.of.get(&session).is_some_and(|r| r.len() >= MAX_ROOMS_EACH) {
                    return Err(RoomError::TooManyRooms);
                }
                let Some(room) = self.rooms.by_name.get(&folded) else {
                    let op = Member { op: true, voice: false };
                    return Ok(Some(RoomNews::Joined { room: name, name: me.to_owned(), member: op }));
                };
                if member(room).is_some() {
                    return Ok(None);
                }
                let invited = room.invited.contains(&folded_me);
                if !invited {
                    if room.modes.invite_only && !room.masks.invited(me, door) {
                        return Err(RoomError::InviteOnly);
                    }
                    if room.masks.banned(me, door) {
                        return Err(RoomError::Banned);
                    }
                    if room.modes.key.as_ref().is_some_and(|k| key.as_ref() != Some(k)) {
                        return Err(RoomError::BadKey);
                    }
                    if room.modes.limit.is_some_and(|l| room.len() >= l as usize) {
                        return Err(RoomError::Full);
                    }
                }
                let room = room.name.to_string();
                Ok(Some(RoomNews::Joined { room, name: me.to_owned(), member: Member::default() }))
            }
            RoomCommand::Part { room, reason } => {
                let room = self.room_of(&room)?;
                member(room).ok_or(RoomError::NotInRoom)?;
                Ok(Some(RoomNews::Parted { room: room.name.to_string(), name: me.to_owned(), reason, by: None }))
            }
            RoomCommand::Say { room, text, notice } => {
                let room = self.room_of(&room)?;
                let m = member(room);
                let banned = || room.masks.banned(me, door);
                let voiced = m.is_some_and(|m| m.op || m.voice);
                if (m.is_none() && room.modes.no_outside) || (room.modes.moderated && !voiced) || (!voiced && banned())
                {
                    return Err(RoomError::CannotSend);
                }
                let (room, from) = (room.name.to_string(), me.to_owned());
                Ok(Some(RoomNews::Said { room, from, text, notice }))
            }
            RoomCommand::Topic { room, text, at } => {
                let room = self.room_of(&room)?;
                let m = member(room).ok_or(RoomError::NotInRoom)?;
                if room.modes.topic_lock && !m.op {
                    return Err(RoomError::NotOp);
                }
                let mut text = text;
                truncate(&mut text, MAX_TOPIC);
                let topic = Topic { text, by: me.to_owned(), at };
                Ok(Some(RoomNews::Topic { room: room.name.to_string(), topic }))
            }
            RoomCommand::Mode { room, changes } => {
                let room = self.room_of(&room)?;
                let m = member(room).ok_or(RoomError::NotInRoom)?;
                if !m.op {
                    return Err(RoomError::NotOp);
                }
                let mut applied = Vec::new();
                let mut error = None;
                for change in changes {
                    let effect = match change.mode {
                        Mode::Op(ref name) | Mode::Voice(ref name) => match self.member(room, name) {
                            None => Err(RoomError::TheyAreNotIn),
                            Some((name, m)) => {
                                let (now, mode) = match change.mode {
                                    Mode::Op(_) => (m.op, Mode::Op(name)),
                                    _ => (m.voice, Mode::Voice(name)),
                                };
                                Ok((now != change.on).then_some(ModeChange { on: change.on, mode }))
                            }
                        },
                        _ => room.effect(change),
                    };
                    match effect {
                        Ok(Some(change)) => applied.push(change),
                        Ok(None) => {}
                        Err(e) => error = error.or(Some(e)),
                    }
                }
                if let Some(e) = error.filter(|_| applied.is_empty()) {
                    return Err(e);
                }
                if applied.is_empty() {
                    return Ok(None);
                }
                Ok(Some(RoomNews::Modes { room: room.name.to_string(), by: me.to_owned(), changes: applied }))
            }
            RoomCommand::Kick { room, name, reason } => {
                let room = self.room_of(&room)?;
                let m = member(room).ok_or(RoomError::NotInRoom)?;
                if !m.op {
                    return Err(RoomError::NotOp);
                }
                let (name, _) = self.member(room, &name).ok_or(RoomError::TheyAreNotIn)?;
                let by = Some(me.to_owned());
                Ok(Some(RoomNews::Parted { room: room.name.to_string(), name, reason, by }))
            }
            RoomCommand::Invite { room, name } => {
                let room = self.room_of(&room)?;
                let m = member(room).ok_or(RoomError::NotInRoom)?;
                if room.modes.invite_only && !m.op {
                    return Err(RoomError::NotOp);
                }
                if self.member(room, &name).is_some() {
                    return Err(RoomError::AlreadyIn);
                }
                let name = match self.reachable(&name, |c| c.rooms) {
                    Some((_, name)) => name,
                    None => match self.elsewhere.holder(&name).filter(|h| h.caps().rooms) {
                        Some(held) => held.name.to_string(),
                        None => return Err(RoomError::NoSuchName),
                    },
                };
                Ok(Some(RoomNews::Invited { room: room.name.to_string(), name, by: me.to_owned() }))
            }
        }
    }

    fn room_of(&self, name: &str) -> Result<&Room, RoomError> {
        self.rooms.by_name.get(&fold_room(name)).ok_or(RoomError::NoSuchRoom)
    }

    /// A member's name as it is registered and its standing, if `name` is in `room`.
    fn member(&self, room: &Room, name: &str) -> Option<(String, Member)> {
        let folded = fold(name);
        let here = room.here.iter().filter_map(|(id, &m)| Some((self.sessions.get(id)?.name.as_deref()?, m)));
        let there = room.elsewhere.iter().map(|t| (&*t.name, t.member));
        here.chain(there).find(|(n, _)| fold(n) == folded).map(|(n, m)| (n.to_owned(), m))
    }

    /// The member `name` of the room filed as `folded`, to change its standing.
    fn member_mut(&mut self, folded: &str, name: &str) -> Option<&mut Member> {
        let folded_name = fold(name);
        let room = self.rooms.by_name.get(folded)?;
        let here =
            room.here.keys().copied().find(|id| {
                self.sessions.get(id).and_then(|s| s.name.as_deref()).is_some_and(|n| fold(n) == folded_name)
            });
        let room = self.rooms.by_name.get_mut(folded)?;
        match here {
            Some(id) => room.here.get_mut(&id),
            None => room.elsewhere.iter_mut().find(|t| fold(&t.name) == folded_name).map(|t| &mut t.member),
        }
    }

    /// Carries out a change that was decided here or on another node: the same on every
    /// node, and told to the members here.
    pub(crate) fn apply(&mut self, from: From, news: RoomNews) {
        match news {
            RoomNews::Joined { room: name, name: who, member } => {
                let folded = fold_room(&name);
                let room = self.rooms.by_name.entry(folded.clone()).or_insert_with(|| Room::new(&name));
                room.invited.remove(&fold(&who));
                match from {
                    From::Here(session) => {
                        room.here.insert(session, member);
                        self.rooms.of.entry(session).or_default().push(folded.clone());
                    }
                    From::There(node) => {
                        let folded_who = fold(&who);
                        room.elsewhere.retain(|t| !(t.node == node && fold(&t.name) == folded_who));
                        room.elsewhere.push(There { node, name: who.as_str().into(), member });
                    }
                }
                let room_name = room.name.to_string();
                self.tell(&folded, Event::RoomJoined { room: room_name.clone(), name: who });
                if let From::Here(session) = from {
                    let view = self.view(&folded, true).expect("just joined");
                    let event = Event::RoomState { room: room_name, topic: view.topic, members: view.members };
                    self.deliver(session, event);
                }
            }
            RoomNews::Parted { room, name, reason, by } => {
                let folded = fold_room(&room);
                let Some(r) = self.rooms.by_name.get(&folded) else { return };
                let room = r.name.to_string();
                self.tell(&folded, Event::RoomParted { room, name: name.clone(), reason, by });
                self.remove_member(&folded, &name);
            }
            RoomNews::Quit { room, name } => {
                let (From::There(node), folded) = (from, fold_room(&room)) else { return };
                let Some(r) = self.rooms.by_name.get_mut(&folded) else { return };
                let folded_name = fold(&name);
                r.elsewhere.retain(|t| !(t.node == node && fold(&t.name) == folded_name));
                if r.is_empty() {
                    self.rooms.by_name.remove(&folded);
                }
            }
            RoomNews::Said { room, from: who, text, notice } => {
                let folded = fold_room(&room);
                let Some(r) = self.rooms.by_name.get(&folded) else { return };
                let sender = match from {
                    From::Here(session) => Some(session).filter(|s| !self.sessions[s].caps().lobby_echo),
                    From::There(_) => None,
                };
                if let From::Here(session) = from {
                    // Kept where it was said, once for the whole cluster.
                    let room = Some(r.name.to_string());
                    let (sender_guest, body) = (self.guest(session), text.clone());
                    self.keep(Kept {
                        sender: who.clone(),
                        sender_guest,
                        recipient: room,
                        room: true,
                        body,
                        ..Kept::default()
                    });
                }
                let Some(r) = self.rooms.by_name.get(&folded) else { return };
                let to: Vec<SessionId> = r.here.keys().copied().filter(|&id| Some(id) != sender).collect();
                if !to.is_empty() {
                    let event = Event::RoomSaid { room: r.name.to_string(), from: who, text, notice };
                    self.out.push_back(Output::Broadcast { to, event });
                }
            }
            RoomNews::Topic { room, topic } => {
                let folded = fold_room(&room);
                let Some(r) = self.rooms.by_name.get_mut(&folded) else { return };
                r.topic = (!topic.text.is_empty()).then(|| topic.clone());
                let room = r.name.to_string();
                self.tell(&folded, Event::RoomTopic { room, topic });
            }
            RoomNews::Modes { room, by, changes } => {
                let folded = fold_room(&room);
                let Some(r) = self.rooms.by_name.get_mut(&folded) else { return };
                for change in &changes {
                    r.set(change);
                }
                for change in &changes {
                    if let Mode::Op(name) | Mode::Voice(name) = &change.mode {
                        if let Some(m) = self.member_mut(&folded, name) {
                            match change.mode {
                                Mode::Op(_) => m.op = change.on,
                                _ => m.voice = change.on,
                            }
                        }
                    }
                }
                let r = &self.rooms.by_name[&folded];
                let room = r.name.to_string();
                self.tell(&folded, Event::RoomModes { room, by, changes });
            }
            RoomNews::Typing { room, from: who, active } => {
                let Some(r) = self.rooms.by_name.get(&fold_room(&room)) else { return };
                let sender = match from {
                    From::Here(session) => Some(session),
                    From::There(_) => None,
                };
                let sessions = &self.sessions;
                let to: Vec<SessionId> =
                    r.here.keys().copied().filter(|&id| Some(id) != sender && sessions[&id].caps().typing).collect();
                if !to.is_empty() {
                    let event = Event::Typing { from: who, to: r.name.to_string(), active };
                    self.out.push_back(Output::Broadcast { to, event });
                }
            }
            RoomNews::Invited { room, name, by } => {
                let folded = fold_room(&room);
                let Some(r) = self.rooms.by_name.get_mut(&folded) else { return };
                if r.invited.len() < MAX_BANS {
                    r.invited.insert(fold(&name));
                }
                let room = r.name.to_string();
                if let Some((id, _)) = self.reachable(&name, |c| c.rooms) {
                    self.deliver(id, Event::Invited { room, by });
                }
            }
            RoomNews::Sync { room: name, topic, modes, masks, members } => {
                let From::There(node) = from else { return };
                let folded = fold_room(&name);
                let room = self.rooms.by_name.entry(folded.clone()).or_insert_with(|| {
                    let mut room = Room::new(&name);
                    room.topic = topic;
                    room.modes = modes;
                    room.masks = masks;
                    room
                });
                room.elsewhere.retain(|t| t.node != node);
                room.elsewhere.extend(members.into_iter().map(|(name, member)| There {
                    node,
                    name: name.into(),
                    member,
                }));
                if room.is_empty() {
                    self.rooms.by_name.remove(&folded);
                }
            }
        }
    }

    /// Takes `name` out of the room filed as `folded` (forgetting the room if it was the last).
    fn remove_member(&mut self, folded: &str, name: &str) {
        let folded_name = fold(name);
        let Some(room) = self.rooms.by_name.get(folded) else { return };
        let here =
            room.here.keys().copied().find(|id| {
                self.sessions.get(id).and_then(|s| s.name.as_deref()).is_some_and(|n| fold(n) == folded_name)
            });
        let room = self.rooms.by_name.get_mut(folded).expect("just seen");
        match here {
            Some(id) => {
                room.here.shift_remove(&id);
            }
            None => room.elsewhere.retain(|t| fold(&t.name) != folded_name),
        }
        if room.is_empty() {
            self.rooms.by_name.remove(folded);
        }
        if let Some(id) = here {
            self.leave_list(id, folded);
        }
    }

    fn leave_list(&mut self, session: SessionId, folded: &str) {
        if let Some(list) = self.rooms.of.get_mut(&session) {
            list.retain(|r| r != folded);
            if list.is_empty() {
                self.rooms.of.remove(&session);
            }
        }
    }

    /// `session` (named `name`) left the hub: it leaves its rooms, here and on every node.
    pub(crate) fn rooms_quit(&mut self, session: SessionId, name: &str) {
        let Some(list) = self.rooms.of.remove(&session) else { return };
        for folded in list {
            let Some(room) = self.rooms.by_name.get_mut(&folded) else { continue };
            room.here.shift_remove(&session);
            if self.config.cluster {
                let news = RoomNews::Quit { room: room.name.to_string(), name: name.to_owned() };
                self.out.push_back(Output::RoomNews(news));
            }
            if room.is_empty() {
                self.rooms.by_name.remove(&folded);
            }
        }
    }

    /// `node`'s member named `folded` (a folded name) is `name` now, in every room.
    pub(crate) fn rooms_renamed(&mut self, node: Node, folded: &str, name: &str) {
        for room in self.rooms.by_name.values_mut() {
            for t in room.elsewhere.iter_mut().filter(|t| t.node == node && fold(&t.name) == folded) {
                t.name = name.into();
            }
        }
    }

    /// `node` is gone: its members leave every room.
    pub(crate) fn rooms_gone(&mut self, node: Node) {
        self.rooms.by_name.retain(|_, room| {
            room.elsewhere.retain(|t| t.node != node);
            !room.is_empty()
        });
    }

    /// Tells every other node this node's members of every room (a node came up).
    pub(crate) fn rooms_announce(&mut self) {
        let mut folded: Vec<&String> =
            self.rooms.by_name.iter().filter(|(_, r)| !r.here.is_empty()).map(|(f, _)| f).collect();
        folded.sort();
        let news: Vec<RoomNews> = folded
            .into_iter()
            .map(|f| {
                let room = &self.rooms.by_name[f];
                let members = room
                    .here
                    .iter()
                    .filter_map(|(id, &m)| Some((self.sessions.get(id)?.name.as_deref()?.to_owned(), m)))
                    .collect();
                RoomNews::Sync {
                    room: room.name.to_string(),
                    topic: room.topic.clone(),
                    modes: room.modes.clone(),
                    masks: room.masks.clone(),
                    members,
                }
            })
            .collect();
        self.out.extend(news.into_iter().map(Output::RoomNews));
    }

    /// `event` for every member here of the room filed as `folded`.
    fn tell(&mut self, folded: &str, event: Event) {
        let Some(room) = self.rooms.by_name.get(folded) else { return };
        if !room.here.is_empty() {
            let to = room.here.keys().copied().collect();
            self.out.push_back(Output::Broadcast { to, event });
        }
    }

    /// What a room shows: `members` too if asked (else only their count).
    fn view(&self, folded: &str, members: bool) -> Option<RoomView> {
        let room = self.rooms.by_name.get(folded)?;
        let here =
            room.here.iter().filter_map(|(id, &m)| Some((self.sessions.get(id)?.name.as_deref()?.to_owned(), m)));
        let there = room.elsewhere.iter().map(|t| (t.name.to_string(), t.member));
        Some(RoomView {
            name: room.name.to_string(),
            topic: room.topic.clone(),
            modes: room.modes.clone(),
            masks: room.masks.clone(),
            count: room.len(),
            members: if members { here.chain(there).collect() } else { Vec::new() },
        })
    }

    /// The rooms that `asker` may see (a secret room only by its members): `room` alone, with
    /// its members, or every room without them, by name.
    pub fn rooms(&self, asker: SessionId, room: Option<&str>) -> Vec<RoomView> {
        let visible = |folded: &str| {
            self.rooms.by_name.get(folded).is_some_and(|r| !r.modes.secret || r.here.contains_key(&asker))
        };
        match room {
            Some(room) => {
                let folded = fold_room(room);
                if !visible(&folded) {
                    return Vec::new();
                }
                self.view(&folded, true).into_iter().collect()
            }
            None => {
                let mut all: Vec<RoomView> =
                    self.rooms.by_name.keys().filter(|f| visible(f)).filter_map(|f| self.view(f, false)).collect();
                all.sort_by(|a, b| a.name.cmp(&b.name));
                all
            }
        }
    }

    /// The rooms `name` is in (here or on another node) that `asker` may see, by name, with
    /// its standing in each (for `WHOIS`).
    pub fn rooms_with(&self, asker: SessionId, name: &str) -> Vec<(String, Member)> {
        let mut found: Vec<(String, Member)> = self
            .rooms
            .by_name
            .values()
            .filter(|r| !r.modes.secret || r.here.contains_key(&asker))
            .filter_map(|r| self.member(r, name).map(|(_, m)| (r.name.to_string(), m)))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// The rooms a session is in, by name.
    pub fn rooms_of(&self, session: SessionId) -> Vec<String> {
        let list = self.rooms.of.get(&session).map(Vec::as_slice).unwrap_or_default();
        list.iter().filter_map(|f| self.rooms.by_name.get(f)).map(|r| r.name.to_string()).collect()
    }
}

impl Room {
    /// What `change` of a room's modes or bans would change, checked (a ban list has room
    /// for one more); `None`: it is so already.
    fn effect(&self, change: ModeChange) -> Result<Option<ModeChange>, RoomError> {
        let ModeChange { on, mode } = change;
        let m = &self.modes;
        let same = match &mode {
            // A member's standing is the hub's to check: it knows the members' names.
            Mode::Op(_) | Mode::Voice(_) => false,
            Mode::Ban(mask) | Mode::Except(mask) | Mode::InviteExcept(mask) => {
                let list = match &mode {
                    Mode::Ban(_) => &self.masks.bans,
                    Mode::Except(_) => &self.masks.excepts,
                    _ => &self.masks.invexes,
                };
                let there = list.iter().any(|b| b.eq_ignore_ascii_case(mask));
                if on && !there && list.len() >= MAX_BANS {
                    return Err(RoomError::ListFull);
                }
                there == on
            }
            Mode::InviteOnly => m.invite_only == on,
            Mode::Moderated => m.moderated == on,
            Mode::NoOutside => m.no_outside == on,
            Mode::Secret => m.secret == on,
            Mode::TopicLock => m.topic_lock == on,
            Mode::Key(key) => on && m.key.as_ref() == Some(key) || !on && m.key.is_none(),
            Mode::Limit(limit) => on && m.limit == Some(*limit) || !on && m.limit.is_none(),
        };
        Ok((!same).then_some(ModeChange { on, mode }))
    }

    /// Sets a change's mode (a member's op or voice is set by the caller).
    fn set(&mut self, change: &ModeChange) {
        let on = change.on;
        let m = &mut self.modes;
        match &change.mode {
            Mode::Op(_) | Mode::Voice(_) => {}
            Mode::Ban(_) | Mode::Except(_) | Mode::InviteExcept(_) => {
                if let Some((list, mask)) = self.masks.list_of(&change.mode) {
                    list.retain(|b| !b.eq_ignore_ascii_case(mask));
                    if on {
                        list.push(mask.to_owned());
                    }
                }
            }
            Mode::InviteOnly => m.invite_only = on,
            Mode::Moderated => m.moderated = on,
            Mode::NoOutside => m.no_outside = on,
            Mode::Secret => m.secret = on,
            Mode::TopicLock => m.topic_lock = on,
            Mode::Key(key) => m.key = on.then(|| key.clone()),
            Mode::Limit(limit) => m.limit = on.then_some(*limit),
        }
    }
}

/// Cuts `text` to at most `max` bytes, on a character's boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}
