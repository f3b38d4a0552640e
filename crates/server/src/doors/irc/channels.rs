//! IRC channels as hub rooms: `JOIN`, `PART`, `PRIVMSG` to a channel, `TOPIC`, `MODE`,
//! `KICK` and `INVITE` become room commands (answered through the `~room` directive, which
//! names the channel and the target from a queue of what was asked); `NAMES`, `LIST`, `WHO`,
//! the topic, the modes and the ban list asked for are read from the hub (`HubMsg::Rooms`).
//! `#lobby` is the hub's lobby, not a room: its answers are made here.

use super::{answers, roster, Irc, LOBBY, SERVER};
use crate::msg::HubMsg;
use crate::net::conn::Act;
use crate::Shared;
use hub::{Command, Member, Mode, ModeChange, RoomCommand, RoomError, SessionId};
use proto::irc::Message;
use std::sync::Arc;

/// The most mode changes with an argument one `MODE` may carry (`MODES`).
pub(crate) const MODES: usize = 4;

/// A room command's error, as the `~room` directive words it.
pub(crate) fn room_error_word(e: RoomError) -> &'static str {
    match e {
        RoomError::BadName => "bad_name",
        RoomError::NoSuchRoom => "no_such_room",
        RoomError::NotInRoom => "not_in_room",
        RoomError::CannotSend => "cannot_send",
        RoomError::NotOp => "not_op",
        RoomError::Full => "full",
        RoomError::InviteOnly => "invite_only",
        RoomError::Banned => "banned",
        RoomError::BadKey => "bad_key",
        RoomError::TheyAreNotIn => "they_are_not_in",
        RoomError::AlreadyIn => "already_in",
        RoomError::TooManyRooms => "too_many",
        RoomError::NoSuchName => "no_such_name",
        RoomError::ListFull => "list_full",
    }
}

/// A room command sent and not yet answered: the IRC command, the channel, the nick it names.
#[derive(Debug)]
pub(crate) struct Asked {
    command: &'static str,
    room: String,
    target: String,
    /// The text to give back once it went through (`echo-message`).
    echo: Option<String>,
    /// The labeled message it answers (`labels.rs`).
    label: Option<u32>,
}

/// `nick!*@*` for a bare nick, `*!user@host` for `user@host`: masks as IRC servers complete them.
fn full_mask(mask: &str) -> String {
    match (mask.contains('!'), mask.contains('@')) {
        (false, false) => format!("{mask}!*@*"),
        (false, true) => format!("*!{mask}"),
        _ => mask.to_owned(),
    }
}

/// `+ov-b` and its arguments, from what a room's modes changed.
pub(crate) fn mode_line(changes: &[ModeChange]) -> (String, Vec<String>) {
    let (mut letters, mut args, mut sign) = (String::new(), Vec::new(), None);
    for c in changes {
        if sign != Some(c.on) {
            letters.push(if c.on { '+' } else { '-' });
            sign = Some(c.on);
        }
        let (letter, arg) = match &c.mode {
            Mode::Op(n) => ('o', Some(super::nicks::nick(n).into_owned())),
            Mode::Voice(n) => ('v', Some(super::nicks::nick(n).into_owned())),
            Mode::Ban(m) => ('b', Some(m.clone())),
            Mode::Except(m) => ('e', Some(m.clone())),
            Mode::InviteExcept(m) => ('I', Some(m.clone())),
            Mode::Key(k) => ('k', c.on.then(|| k.clone())),
            Mode::Limit(l) => ('l', c.on.then(|| l.to_string())),
            Mode::InviteOnly => ('i', None),
            Mode::Moderated => ('m', None),
            Mode::NoOutside => ('n', None),
            Mode::Secret => ('s', None),
            Mode::TopicLock => ('t', None),
        };
        letters.push(letter);
        args.extend(arg);
    }
    (letters, args)
}

/// `@` for an operator, `+` for voice: both with `multi` (`multi-prefix`), else the highest.
pub(crate) fn prefix(m: Member, multi: bool) -> &'static str {
    match (m.op, m.voice) {
        (true, true) if multi => "@+",
        (true, _) => "@",
        (false, true) => "+",
        _ => "",
    }
}

impl Irc {
    /// Queues a room command to be answered (through `~room`) with this channel and target.
    fn room_command(&mut self, command: &'static str, target: &str, room_command: RoomCommand) -> Act {
        let room = room_command.room().to_owned();
        let echo = match &room_command {
            RoomCommand::Say { text, .. } if self.caps.echo_message => Some(text.clone()),
            _ => None,
        };
        let label = self.due_label();
        self.waits().rooms_asked.push_back(Asked { command, room, target: target.to_owned(), echo, label });
        Act::Hub(Command::Room(room_command))
    }

    /// Several acts for one message: the first now, the rest before reading on.
    fn acts(&mut self, mut acts: Vec<Act>) -> Act {
        if acts.is_empty() {
            return Act::Nothing;
        }
        let first = acts.remove(0);
        self.pending.extend(acts);
        first
    }

    pub(super) fn join(&mut self, m: &Message) -> Act {
        let Some(channels) = m.params.first() else {
            return self.numeric("461", &["JOIN", "Not enough parameters"]);
        };
        let mut keys = m.params.get(1).map(|k| k.split(',').collect::<Vec<_>>()).unwrap_or_default().into_iter();
        let mut acts = Vec::new();
        for channel in channels.split(',').filter(|c| !c.is_empty()) {
            let key = keys.next().filter(|k| !k.is_empty()).map(str::to_owned);
            if channel.eq_ignore_ascii_case(LOBBY) {
                continue; // joined at registration
            }
            let join = RoomCommand::Join { room: channel.to_owned(), key };
            acts.push(self.room_command("JOIN", "", join));
        }
        self.acts(acts)
    }

    pub(super) fn part(&mut self, m: &Message) -> Act {
        let Some(channels) = m.params.first() else {
            return self.numeric("461", &["PART", "Not enough parameters"]);
        };
        let reason = m.params.get(1).cloned().unwrap_or_default();
        let mut acts = Vec::new();
        for channel in channels.split(',').filter(|c| !c.is_empty()) {
            if channel.eq_ignore_ascii_case(LOBBY) {
                let text = "#lobby is the hub's lobby: it cannot be left, but by QUIT";
                acts.push(Act::Reply(Message::new(SERVER, "NOTICE", &[self.me(), text]).to_line().into()));
                continue;
            }
            let part = RoomCommand::Part { room: channel.to_owned(), reason: reason.clone() };
            acts.push(self.room_command("PART", "", part));
        }
        self.acts(acts)
    }

    /// `PRIVMSG` or `NOTICE` to a channel other than `#lobby`.
    pub(super) fn say_in_room(&mut self, room: &str, text: &str, notice: bool) -> Act {
        let say = RoomCommand::Say { room: room.to_owned(), text: text.to_owned(), notice };
        self.room_command(if notice { "NOTICE" } else { "PRIVMSG" }, "", say)
    }

    pub(super) fn topic(&mut self, m: &Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let Some(channel) = m.params.first() else {
            return self.numeric("461", &["TOPIC", "Not enough parameters"]);
        };
        let lobby = channel.eq_ignore_ascii_case(LOBBY);
        match m.params.get(1) {
            None if lobby => self.numeric("331", &[LOBBY, "No topic is set"]),
            Some(_) if lobby => self.numeric("482", &[LOBBY, "The lobby's topic cannot be set"]),
            None => self.ask_rooms(m.clone(), session, shared),
            Some(text) => {
                let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let topic = RoomCommand::Topic { room: channel.clone(), text: text.clone(), at: at as i64 };
                self.room_command("TOPIC", "", topic)
            }
        }
    }

    pub(super) fn kick(&mut self, m: &Message) -> Act {
        let (Some(channel), Some(nicks)) = (m.params.first(), m.params.get(1)) else {
            return self.numeric("461", &["KICK", "Not enough parameters"]);
        };
        if channel.eq_ignore_ascii_case(LOBBY) {
            return self.numeric("482", &[LOBBY, "Nobody is kicked out of the lobby"]);
        }
        let reason = m.params.get(2).cloned().unwrap_or_else(|| self.me().to_owned());
        let mut acts = Vec::new();
        for nick in nicks.split(',').filter(|n| !n.is_empty()) {
            let name = super::nicks::name(nick).into_owned();
            let kick = RoomCommand::Kick { room: channel.clone(), name, reason: reason.clone() };
            acts.push(self.room_command("KICK", nick, kick));
        }
        self.acts(acts)
    }

    pub(super) fn invite(&mut self, m: &Message) -> Act {
        let (Some(nick), Some(channel)) = (m.params.first(), m.params.get(1)) else {
            return self.numeric("461", &["INVITE", "Not enough parameters"]);
        };
        if channel.eq_ignore_ascii_case(LOBBY) {
            return self.numeric("443", &[nick, LOBBY, "is already on channel"]);
        }
        let invite = RoomCommand::Invite { room: channel.clone(), name: super::nicks::name(nick).into_owned() };
        self.room_command("INVITE", nick, invite)
    }

    /// `MODE #channel ...`: a query of its modes or its ban list, or changes.
    pub(super) fn channel_mode(&mut self, m: &Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let channel = m.params[0].clone();
        let lobby = channel.eq_ignore_ascii_case(LOBBY);
        let Some(modes) = m.params.get(1) else {
            return if lobby {
                self.numeric("324", &[LOBBY, "+nt"])
            } else {
                self.ask_rooms(m.clone(), session, shared)
            };
        };
        let list = matches!(modes.trim_start_matches('+'), "b" | "e" | "I") && m.params.len() == 2;
        if list {
            if lobby {
                let (code, what) = answers::list_end(modes.trim_start_matches('+'));
                return self.numeric(code, &[LOBBY, what]);
            }
            return self.ask_rooms(m.clone(), session, shared);
        }
        if lobby {
            return self.numeric("482", &[LOBBY, "The lobby's modes cannot be changed"]);
        }
        let mut args = m.params[2..].iter();
        let (mut on, mut changes, mut with_args) = (true, Vec::new(), 0);
        for letter in modes.chars() {
            let mode = match letter {
                '+' | '-' => {
                    on = letter == '+';
                    continue;
                }
                'o' | 'v' | 'b' | 'e' | 'I' | 'k' | 'l' => {
                    let arg = match (letter, on) {
                        ('l', false) => Some(String::new()),
                        ('k', false) => Some(args.next().cloned().unwrap_or_default()),
                        _ => args.next().cloned(),
                    };
                    let Some(arg) = arg else {
                        return self.numeric("461", &["MODE", "Not enough parameters"]);
                    };
                    with_args += 1;
                    match letter {
                        'o' => Mode::Op(super::nicks::name(&arg).into_owned()),
                        'v' => Mode::Voice(super::nicks::name(&arg).into_owned()),
                        'b' => Mode::Ban(full_mask(&arg)),
                        'e' => Mode::Except(full_mask(&arg)),
                        'I' => Mode::InviteExcept(full_mask(&arg)),
                        'k' if on && (arg.is_empty() || arg.contains(' ')) => {
                            return self.numeric("525", &[&channel, "Key is not well-formed"]);
                        }
                        'k' => Mode::Key(arg),
                        _ => match (on, arg.parse::<u32>()) {
                            (false, _) => Mode::Limit(0),
                            (true, Ok(limit)) if limit > 0 => Mode::Limit(limit),
                            _ => return self.numeric("696", &[&channel, "l", &arg, "Not a positive number"]),
                        },
                    }
                }
                'i' => Mode::InviteOnly,
                'm' => Mode::Moderated,
                'n' => Mode::NoOutside,
                's' => Mode::Secret,
                't' => Mode::TopicLock,
                other => return self.numeric("472", &[&other.to_string(), "is an unknown mode char to me"]),
            };
            changes.push(ModeChange { on, mode });
        }
        if with_args > MODES {
            return self.numeric("400", &["MODE", &format!("At most {MODES} modes with an argument at once")]);
        }
        if changes.is_empty() {
            return Act::Nothing;
        }
        let target = changes
            .iter()
            .find_map(|c| match &c.mode {
                Mode::Op(n) | Mode::Voice(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_default();
        self.room_command("MODE", &target, RoomCommand::Mode { room: channel, changes })
    }

    /// What needs the hub's rooms (and its roster, for `#lobby` and nicks): `NAMES`, `LIST`,
    /// `WHO`, a topic, modes or a ban list asked for.
    pub(super) fn ask_rooms(&mut self, m: Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let hub = shared.hub.clone();
        let (me, caps, accounts) = (self.me().to_owned(), self.caps, self.accounts.clone());
        let asked: Option<Vec<String>> = match m.command.as_str() {
            "LIST" => None,
            _ => Some(m.params.first().map(|p| p.split(',').map(str::to_owned).collect()).unwrap_or_default()),
        };
        Act::Later(Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if hub.send(HubMsg::Rooms { session, rooms: asked, reply: tx }).await.is_err() {
                return Act::Stop;
            }
            let Ok((rooms, mine)) = rx.await else { return Act::Stop };
            let Some(roster) = roster(&hub).await else { return Act::Stop };
            Act::Reply(answers::rooms_answer(&me, &m, &rooms, &mine, &roster, caps, &accounts).into())
        }))
    }

    /// Words the answer to the oldest room command: nothing for most that went through (what
    /// they changed comes as events), the numeric for one that did not. Returns the labeled
    /// message it answers, if any.
    pub(super) fn word_room(&mut self, rest: &str, out: &mut Vec<u8>) -> Option<u32> {
        let Asked { command, room, target, echo, label } = self.waits.as_mut()?.rooms_asked.pop_front()?;
        let (code, params): (&str, Vec<&str>) = match rest {
            "" if command == "INVITE" => ("341", vec![&target, &room]),
            "" if echo.is_some() => {
                let me = self.me().to_owned();
                out.extend(super::say(&me, command, &room, echo.as_deref().unwrap_or_default()));
                return label;
            }
            "" => return label,
            _ if command == "NOTICE" => return label,
            "bad_name" => ("479", vec![&room, "Illegal channel name"]),
            "no_such_room" => ("403", vec![&room, "No such channel"]),
            "not_in_room" => ("442", vec![&room, "You're not on that channel"]),
            "cannot_send" => ("404", vec![&room, "Cannot send to channel"]),
            "not_op" => ("482", vec![&room, "You're not channel operator"]),
            "full" => ("471", vec![&room, "Cannot join channel (+l)"]),
            "invite_only" => ("473", vec![&room, "Cannot join channel (+i)"]),
            "banned" => ("474", vec![&room, "Cannot join channel (+b)"]),
            "bad_key" => ("475", vec![&room, "Cannot join channel (+k)"]),
            "they_are_not_in" => ("441", vec![&target, &room, "They aren't on that channel"]),
            "already_in" => ("443", vec![&target, &room, "is already on channel"]),
            "too_many" => ("405", vec![&room, "You have joined too many channels"]),
            "no_such_name" => ("401", vec![&target, "No such nick/channel"]),
            "list_full" => ("478", vec![&room, "b", "Channel ban list is full"]),
            "unavailable" => ("440", vec![&room, "The cluster cannot be reached now; try again"]),
            _ => ("400", vec![command, "The command could not be done"]),
        };
        out.extend(self.line(code, &params));
        label
    }

    /// `~invite BY ROOM`: `BY` invites this connection to `ROOM`.
    pub(super) fn word_invite(&self, rest: &str, out: &mut Vec<u8>) {
        let Some((by, room)) = rest.split_once(' ') else { return };
        out.extend(Message::new(&super::nicks::source(by), "INVITE", &[self.me(), room]).to_line());
    }

    /// `~topic ROOM BY AT :TEXT`: the topic of a room just joined, who set it and when.
    pub(super) fn word_topic(&self, rest: &str, out: &mut Vec<u8>) {
        let Some((head, text)) = rest.split_once(" :") else { return };
        let mut words = head.split(' ');
        let (Some(room), Some(by), Some(at)) = (words.next(), words.next(), words.next()) else { return };
        out.extend(self.line("332", &[room, text]));
        out.extend(self.line("333", &[room, by, at]));
    }
}
