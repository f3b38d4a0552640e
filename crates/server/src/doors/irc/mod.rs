//! The IRC front door (Modern IRC, modern.ircdocs.horse): an IRC client registers with `NICK`
//! and `USER` (after `CAP` negotiation, if it starts one), its nick is its hub name, and it is
//! joined to `#lobby`, the hub's lobby that every protocol shares. `PRIVMSG` and `NOTICE` go
//! to `#lobby` or to a name on any protocol; who comes and goes in the lobby is `JOIN` and
//! `QUIT` there; `WHOIS` says which protocol a user is on.
//!
//! The hub task encodes what it sends once per protocol, without knowing a connection's nick;
//! an IRC numeric names its recipient first. So what only this connection can word (the
//! answer to its login, to a message, the lobby's names at its arrival) comes from the
//! encoders as a *directive*, a line that starts with `~` (an IRC line from the hub always
//! starts with `:`), and [`Protocol::outgoing`] words it with the connection's own state: the
//! welcome burst for `~login`, `433` for `~login taken`, `401` naming the target of the
//! message that `~direct unreachable` answers. Lines from others pass untouched.

mod account;
mod answers;
mod channels;
mod history;
mod labels;
mod nicks;

use crate::doors::spec::{self, Spec};
use crate::msg::HubMsg;
use crate::net::conn::{self, Act, Protocol};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Caps, Command, Event, HubError, Kind, SessionId};
use proto::irc::{Codec, Item, Message, MAX_LINE};
use proto::DecodeError;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::debug;

/// The server's name: the source of its numerics.
pub(crate) const SERVER: &str = "switchboard";
/// The hub's lobby, as IRC sees it.
pub(crate) const LOBBY: &str = "#lobby";
/// What every user's host is shown as.
const HOST: &str = "switchboard";
/// The most nicks one connection may watch with `MONITOR`.
const MAX_MONITOR: usize = 100;
/// The most targets one `PRIVMSG` or `NOTICE` may name (`TARGMAX`).
const TARGMAX: usize = 4;

crate::settings::settings! {
    /// The IRC front door: `[doors.irc]`.
    pub struct IrcConfig, flags IrcFlags {
        /// Where the IRC front door listens.
        addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 6667)), flag "irc-addr", value "HOST:PORT";
        /// Where the IRC TLS door listens (with a certificate).
        tls_addr: Option<SocketAddr> = Some(SocketAddr::from(([0, 0, 0, 0], 6697))), flag "irc-tls-addr",
            value "HOST:PORT";
        /// Seconds an IRC client may be quiet before the server sends it a `PING`.
        ping_secs: u64 = 90, flag "irc-ping-secs", value "SECS";
        /// Seconds a pinged IRC client has to answer before its link is closed.
        ping_timeout_secs: u64 = 60, flag "irc-ping-timeout-secs", value "SECS";
    }
}

impl IrcConfig {
    /// When quiet clients are pinged, and closed, for the hub.
    pub fn liveness(&self) -> hub::Liveness {
        hub::Liveness {
            ping_every: std::time::Duration::from_secs(self.ping_secs),
            silence: std::time::Duration::from_secs(self.ping_secs + self.ping_timeout_secs),
            quiet_first: true,
        }
    }
}
crate::doors::spec::listen!(IrcConfig: addr, tls_addr);

/// The IRC door: the lobby as `#lobby`, direct messages, who comes and goes.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(6),
    name: "irc",
    caps: Caps {
        lobby: true,
        direct: true,
        typing: true,
        presence: true,
        lobby_roster: true,
        rooms: true,
        ..Caps::NONE
    },
    liveness: |config| Some(config.doors.irc.liveness()),
    encode_event,
    encode_reply,
    encode_queued,
    goodbye: || {
        let mut out = Message::new(SERVER, "NOTICE", &["*", "The server is shutting down"]).to_line();
        out.extend_from_slice(
            &Message {
                command: "ERROR".into(),
                params: vec!["Closing link: server shutting down".into()],
                ..Message::default()
            }
            .to_line(),
        );
        Some(out.into())
    },
    serve: conn::accept::<Irc>,
    state: spec::no_state,
    also: spec::nothing_else,
};

/// A direct message sent and not yet answered: its target, whether it was a `NOTICE`
/// (which is never answered with an error), and its text to give back (`echo-message`).
struct Direct {
    target: String,
    notice: bool,
    echo: Option<String>,
    /// The labeled message it answers (`labels.rs`).
    label: Option<u32>,
}

/// For whom a directive was worded: the labeled message whose reply it was, if any.
enum Worded {
    /// Not an answer to a labeled message (or something else entirely: others' news).
    Nobody,
    /// A reply due to this message, which its queue named.
    Due(u32),
    /// An answer without a queue of its own: the message the stream is in, if labeled.
    Open,
}

/// The commands a connection sent to the hub and that wait for its answers, oldest first,
/// and a command held behind the login: only while something waits.
#[derive(Default)]
struct Waits {
    /// Direct messages.
    directs: VecDeque<Direct>,
    /// Room commands.
    rooms_asked: VecDeque<channels::Asked>,
    /// The new nicks asked for (`NICK` once registered), each with its message's label.
    renames: VecDeque<(String, Option<u32>)>,
    /// A command that came while the login was not yet answered (a client may send its
    /// first `JOIN` or `PRIVMSG` right behind `USER`): it waits, and nothing more is read,
    /// until the answer is worded, which `answered` tells.
    held: Option<Message>,
}

impl Waits {
    fn is_empty(&self) -> bool {
        self.directs.is_empty() && self.rooms_asked.is_empty() && self.renames.is_empty() && self.held.is_none()
    }
}

/// The IRC side of a connection.
pub(crate) struct Irc {
    codec: Codec,
    /// The nick it asked for (its hub name once registered).
    nick: Option<String>,
    /// `USER`'s user name.
    user: Option<String>,
    /// In `CAP` negotiation: registration waits for `CAP END`.
    negotiating: bool,
    /// A login went to the hub and is not answered yet.
    logging_in: bool,
    /// The hub took its nick: it is registered.
    registered: bool,
    /// What waits for the hub's answers; absent (8 bytes, not about 200) while idle.
    waits: Option<Box<Waits>>,
    /// More acts for the same message, done before decoding more.
    pending: VecDeque<Act>,
    answered: Option<Arc<tokio::sync::Notify>>,
    /// Its address, as `WHOIS` shows it to itself.
    peer: SocketAddr,
    /// The nicks it watches with `MONITOR`, folded.
    monitored: Vec<String>,
    /// The IRCv3 capabilities it asked for.
    caps: account::Caps,
    sasl: account::Sasl,
    /// The account SASL (or `PASS`, once its login is answered) signed it in to: its login
    /// is verified, under this name.
    account: Option<String>,
    /// What `PASS` said, for the login.
    password: Option<String>,
    /// A password is being checked: nothing more is read until its verdict is worded.
    authenticating: bool,
    /// Where a `PASS` that signs in to an account leaves the account's name, for `account`
    /// once the login is answered.
    signed_in: Option<Arc<std::sync::OnceLock<String>>>,
    /// Batches opened so far: the next one's reference.
    batches: u32,
    /// The labeled messages whose answers are not sent yet; none until one comes.
    labels: Option<Box<labels::Labels>>,
    /// The reserved names: who is signed in to an account.
    accounts: Arc<crate::Accounts>,
}

impl Protocol for Irc {
    const SPEC: &'static Spec = &SPEC;

    fn accepted(shared: &Shared, peer: SocketAddr) -> Self {
        Irc::new(peer, shared.accounts.clone())
    }

    fn next(
        &mut self,
        rbuf: &mut BytesMut,
        session: SessionId,
        shared: &Arc<Shared>,
    ) -> Result<Option<Act>, DecodeError> {
        if let Some(act) = self.pending.pop_front() {
            return Ok(Some(act));
        }
        if let Some(held) = self.waits.as_mut().and_then(|w| w.held.take()) {
            self.tidy();
            return Ok(Some(self.act_on(held, session, shared)));
        }
        let Some(item) = self.codec.decode(rbuf) else { return Ok(None) };
        let message = match item {
            Item::Message(m) => m,
            Item::Empty => return Ok(Some(Act::Nothing)),
            Item::TooLong => {
                debug!(session = session.0, "irc: a line over the bound; refused");
                return Ok(Some(self.numeric("417", &["Input line was too long"])));
            }
            Item::NotUtf8 => {
                debug!(session = session.0, "irc: a line that is not UTF-8; refused");
                let fail = Message::new(SERVER, "FAIL", &["*", "INVALID_UTF8", "Messages must be UTF-8"]);
                return Ok(Some(Act::Reply(fail.to_line().into())));
            }
        };
        Ok(Some(self.act_on(message, session, shared)))
    }

    fn outgoing(&mut self, bytes: Bytes) -> Bytes {
        let caps = self.caps;
        let retell = self.registered && (caps.server_time || caps.account_tag || caps.extended_join);
        if !retell && bytes.first() != Some(&b'~') && memchr::memmem::find(&bytes, b"\n~").is_none() {
            return bytes;
        }
        // With `server-time`, what users say and do comes with the time it is written.
        let now = (retell && caps.server_time)
            .then(|| format!("time={}", humantime::format_rfc3339_millis(std::time::SystemTime::now())));
        let mut out = Vec::with_capacity(bytes.len() + 256);
        // A reply of the door's own to a labeled message: the rest of this piece is its.
        let mut mine = None;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let start = out.len();
            let worded = match line.strip_prefix(b"~").map(|d| d.trim_ascii_end()) {
                Some(d) => match self.labels.as_mut().and_then(|l| l.marker(d)) {
                    Some(of) => {
                        mine = of;
                        continue;
                    }
                    None => self.word(d, &mut out),
                },
                None if retell => {
                    self.retell(line, now.as_deref(), &mut out);
                    Worded::Nobody
                }
                None => {
                    out.extend_from_slice(line);
                    Worded::Nobody
                }
            };
            let Some(labels) = self.labels.as_mut() else { continue };
            match (mine, worded) {
                (_, Worded::Due(id)) => labels.came(id, &out.split_off(start)),
                (Some(id), _) => labels.add(id, &out.split_off(start)),
                (None, Worded::Open) => {
                    if let Some(id) = labels.open() {
                        labels.add(id, &out.split_off(start));
                    }
                }
                (None, Worded::Nobody) => {}
            }
        }
        if let Some(labels) = self.labels.as_mut() {
            labels.finish(&mut self.batches, &mut out);
        }
        self.tidy();
        out.into()
    }
}

impl Irc {
    fn new(peer: SocketAddr, accounts: Arc<crate::Accounts>) -> Irc {
        Irc {
            accounts,
            codec: Codec::default(),
            nick: None,
            user: None,
            negotiating: false,
            logging_in: false,
            registered: false,
            waits: None,
            pending: VecDeque::new(),
            answered: None,
            peer,
            monitored: Vec::new(),
            caps: account::Caps::default(),
            sasl: account::Sasl::default(),
            account: None,
            password: None,
            authenticating: false,
            signed_in: None,
            batches: 0,
            labels: None,
        }
    }

    /// What waits for the hub's answers, boxed once something does.
    fn waits(&mut self) -> &mut Waits {
        self.waits.get_or_insert_with(Default::default)
    }

    /// Lets the box of what waits go once nothing does.
    fn tidy(&mut self) {
        if self.waits.as_ref().is_some_and(|w| w.is_empty()) {
            self.waits = None;
        }
    }

    /// The name a numeric is addressed to: its nick, or `*` until it is registered.
    fn me(&self) -> &str {
        self.nick.as_deref().filter(|_| self.registered).unwrap_or("*")
    }

    /// `:server CODE me params...`
    fn line(&self, code: &str, params: &[&str]) -> Vec<u8> {
        let mut all = vec![self.me()];
        all.extend_from_slice(params);
        Message::new(SERVER, code, &all).to_line()
    }

    fn numeric(&self, code: &str, params: &[&str]) -> Act {
        Act::Reply(self.line(code, params).into())
    }

    /// The user's own `nick!user@host`.
    fn mask(&self) -> String {
        format!("{}!{}@{HOST}", self.me(), self.user.as_deref().unwrap_or("~u"))
    }

    /// Acts on `m`; with a `label` (`labeled-response`), its acts are marked in the stream so
    /// that its answer is put together (`labels.rs`).
    fn act_on(&mut self, m: Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let labeling = self.caps.labeled_response && self.caps.batch && self.registered;
        let label = m.tag("label").filter(|l| labeling && !l.is_empty() && l.len() <= labels::MAX_LABEL);
        let Some(label) = label.map(str::to_owned) else { return self.command(m, session, shared) };
        if self.logging_in || self.authenticating {
            return self.command(m, session, shared); // held, and labeled once acted on
        }
        let id = self.labels.get_or_insert_with(Default::default).begin(&label);
        let first = self.command(m, session, shared);
        if let Some(labels) = self.labels.as_mut() {
            labels.acted();
        }
        let acts: Vec<Act> = std::iter::once(first).chain(self.pending.drain(..)).collect();
        self.pending.extend(acts.into_iter().map(|act| mark(id, act)));
        self.pending.push_back(Act::Reply(format!("~close {id}\n").into()));
        Act::Reply(format!("~open {id}\n").into())
    }

    /// The labeled message being acted on, if any: a reply of the hub is due to it.
    fn due_label(&mut self) -> Option<u32> {
        self.labels.as_mut()?.due()
    }

    fn command(&mut self, m: Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let param = |i: usize| m.params.get(i).map(String::as_str);
        let open =
            matches!(m.command.as_str(), "CAP" | "NICK" | "USER" | "PASS" | "PING" | "PONG" | "QUIT" | "AUTHENTICATE");
        if (self.logging_in && !open) || self.authenticating {
            self.waits().held = Some(m);
            let answered = self.answered.get_or_insert_with(Default::default).clone();
            return Act::Later(Box::pin(async move {
                answered.notified().await;
                Act::Nothing
            }));
        }
        if !self.registered && !open {
            return self.numeric("451", &["You have not registered"]);
        }
        match m.command.as_str() {
            "CAP" => self.cap(&m, shared),
            "AUTHENTICATE" => self.authenticate(&m, shared),
            "PASS" if self.registered => self.numeric("462", &["You may not reregister"]),
            "PASS" => match param(0) {
                Some(password) => {
                    self.password = Some(password.to_owned());
                    Act::Nothing
                }
                None => self.numeric("461", &["PASS", "Not enough parameters"]),
            },
            "NICK" => match param(0).filter(|n| !n.is_empty()) {
                None => self.numeric("431", &["No nickname given"]),
                Some(nick) if !valid_nick(nick) => self.numeric("432", &[nick, "Erroneous nickname"]),
                Some(nick) if self.registered => self.rename(nick),
                Some(nick) => {
                    self.nick = Some(nick.to_owned());
                    self.register(shared)
                }
            },
            "USER" if self.registered || self.user.is_some() => self.numeric("462", &["You may not reregister"]),
            "USER" => match (param(0), m.params.len()) {
                (Some(user), 4..) if !user.is_empty() => {
                    let user: String = user.chars().filter(|c| !matches!(c, '@' | '!')).take(16).collect();
                    self.user = Some(if user.is_empty() { "u".into() } else { user });
                    self.register(shared)
                }
                _ => self.numeric("461", &["USER", "Not enough parameters"]),
            },
            // Both say that the client is there: the hub, which pings the quiet, is told.
            "PING" => match param(0) {
                Some(token) => {
                    let pong = Act::Reply(Message::new(SERVER, "PONG", &[SERVER, token]).to_line().into());
                    self.alive(pong)
                }
                None => self.numeric("461", &["PING", "Not enough parameters"]),
            },
            "PONG" => self.alive(Act::Nothing),
            "TAGMSG" => self.tagmsg(&m),
            "QUIT" => {
                let reason = param(0).unwrap_or("Client quit");
                let error = format!("Closing link: {} (Quit: {reason})", self.peer.ip());
                let line = Message { command: "ERROR".into(), params: vec![error], ..Message::default() };
                Act::Refuse(line.to_line().into())
            }
            "PRIVMSG" | "NOTICE" => self.privmsg(&m),
            "JOIN" => self.join(&m),
            "PART" => self.part(&m),
            "TOPIC" => self.topic(&m, session, shared),
            "KICK" => self.kick(&m),
            "INVITE" => self.invite(&m),
            "NAMES" | "LIST" | "WHO" => self.ask_rooms(m, session, shared),
            "MODE" => match param(0) {
                None => self.numeric("461", &["MODE", "Not enough parameters"]),
                Some(c) if c.starts_with('#') => self.channel_mode(&m, session, shared),
                Some(nick) if hub::same_name(nick, self.me()) => self.numeric("221", &["+"]),
                Some(_) => self.numeric("502", &["Cannot change mode for other users"]),
            },
            "MOTD" => Act::Reply(self.motd().into()),
            "VERSION" => self.numeric(
                "351",
                &[concat!("switchboard-", env!("CARGO_PKG_VERSION")), SERVER, "A hub of many chat protocols"],
            ),
            "TIME" => {
                let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
                self.numeric("391", &[SERVER, &now])
            }
            "INFO" => {
                let mut out = Vec::new();
                for text in [
                    concat!("Switchboard ", env!("CARGO_PKG_VERSION"), ": a hub of many chat protocols."),
                    "Its doors: ChatOS, ChatHack, JPC, PeerChat, NL Chat, the web and IRC, one namespace.",
                    "IRC channels are the hub's rooms, shared with the web; #lobby is everyone's lobby.",
                ] {
                    out.extend(self.line("371", &[text]));
                }
                out.extend(self.line("374", &["End of INFO list"]));
                Act::Reply(out.into())
            }
            "ADMIN" => {
                let mut out = self.line("256", &[SERVER, "Administrative info"]);
                out.extend(self.line("257", &["A self-hosted Switchboard hub"]));
                out.extend(self.line("258", &["Its operators answer at the support desk: /msg support"]));
                out.extend(self.line("259", &["(no e-mail is configured)"]));
                Act::Reply(out.into())
            }
            // Never refused once registered: the answer is the door's, at once.
            "AWAY" => {
                let message = param(0).filter(|t| !t.trim().is_empty()).map(str::to_owned);
                self.pending.push_back(match message {
                    Some(_) => self.numeric("306", &["You have been marked as being away"]),
                    None => self.numeric("305", &["You are no longer marked as being away"]),
                });
                Act::Hub(Command::Away { message })
            }
            "WHOIS" | "ISON" | "USERHOST" => self.ask_roster(m, session, shared),
            "WHOWAS" => self.whowas(&m, shared),
            "MONITOR" => self.monitor(m, shared),
            "LUSERS" => self.ask_roster(m, session, shared),
            "CHATHISTORY" => self.chathistory(&m, session, shared),
            _ => self.numeric("421", &[&m.command, "Unknown command"]),
        }
    }

    /// Once it has a nick and a user and has ended `CAP` negotiation: the login, once.
    /// What waited for an answer (a login's, a password's) may go on: it has been worded.
    fn release_held(&mut self) {
        if let Some(answered) = self.answered.take() {
            answered.notify_one();
        }
    }

    /// `act`, and (once registered) a sign of life for the hub.
    fn alive(&mut self, act: Act) -> Act {
        if !self.registered {
            return act;
        }
        self.pending.push_back(Act::Hub(Command::Alive));
        act
    }

    /// Signed in by SASL, it is verified as its account; with `PASS`, the password is checked
    /// first; else it is a guest.
    fn register(&mut self, shared: &Arc<Shared>) -> Act {
        match (&self.nick, &self.user) {
            (Some(nick), Some(_)) if !self.negotiating && !self.registered && !self.logging_in => {
                self.logging_in = true;
                if let Some(account) = &self.account {
                    return Act::Hub(Command::Login { name: account.clone(), verified: true });
                }
                if let Some(password) = self.password.clone() {
                    return self.login_with_pass(nick.clone(), password, shared);
                }
                Act::Hub(Command::Login { name: nick.clone(), verified: false })
            }
            _ => Act::Nothing,
        }
    }

    fn privmsg(&mut self, m: &Message) -> Act {
        let notice = m.command == "NOTICE";
        let (Some(targets), Some(text)) = (m.params.first(), m.params.get(1)) else {
            if notice {
                return Act::Nothing;
            }
            return match m.params.is_empty() {
                true => self.numeric("411", &["No recipient given (PRIVMSG)"]),
                false => self.numeric("412", &["No text to send"]),
            };
        };
        if text.is_empty() {
            return if notice { Act::Nothing } else { self.numeric("412", &["No text to send"]) };
        }
        let me = self.me().to_owned();
        let targets: Vec<&str> = targets.split(',').filter(|t| !t.is_empty()).collect();
        if targets.len() > TARGMAX {
            return self.numeric("407", &[&m.params[0], "Too many targets"]);
        }
        for target in targets {
            let act = if target.eq_ignore_ascii_case(LOBBY) {
                self.pending.push_back(Act::Hub(Command::Lobby { sender: me.clone(), text: text.clone() }));
                if self.caps.echo_message {
                    self.pending.push_back(Act::Reply(say(&me, &m.command, LOBBY, text).into()));
                }
                continue;
            } else if target.starts_with('#') {
                self.say_in_room(target, text, notice)
            } else if target.starts_with('&') {
                if notice {
                    continue;
                }
                self.numeric("403", &[target, "No such channel"])
            } else {
                let echo = self.caps.echo_message.then(|| text.clone());
                let label = self.due_label();
                self.waits().directs.push_back(Direct { target: target.to_owned(), notice, echo, label });
                let to = nicks::name(target).into_owned();
                Act::Hub(Command::Direct { sender: Some(me.clone()), to, text: text.clone() })
            };
            self.pending.push_back(act);
        }
        self.pending.pop_front().unwrap_or(Act::Nothing)
    }

    /// `MONITOR + a,b`, `- a,b`, `C`, `L`, `S`: who to be told of as they come and go
    /// (`730`/`731`, from presence), and who of them is online now (from the roster).
    fn monitor(&mut self, m: Message, shared: &Arc<Shared>) -> Act {
        let Some(what) = m.params.first().map(|w| w.to_ascii_uppercase()) else {
            return self.numeric("461", &["MONITOR", "Not enough parameters"]);
        };
        let targets: Vec<String> = m
            .params
            .get(1)
            .map(|t| t.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let asked: Vec<String> = match what.as_str() {
            "+" => {
                let mut added = Vec::new();
                for nick in targets {
                    if self.monitored.len() >= MAX_MONITOR {
                        let list = self.monitored.join(",");
                        return self.numeric("734", &[&MAX_MONITOR.to_string(), &list, "Monitor list is full"]);
                    }
                    let folded = hub::fold(&nick);
                    if !self.monitored.contains(&folded) {
                        self.monitored.push(folded);
                    }
                    added.push(nick);
                }
                added
            }
            "-" => {
                let gone: Vec<String> = targets.iter().map(|t| hub::fold(t)).collect();
                self.monitored.retain(|n| !gone.contains(n));
                return Act::Nothing;
            }
            "C" => {
                self.monitored.clear();
                return Act::Nothing;
            }
            "L" => {
                let mut out = Vec::new();
                if !self.monitored.is_empty() {
                    out.extend(self.line("732", &[&self.monitored.join(",")]));
                }
                out.extend(self.line("733", &["End of MONITOR list"]));
                return Act::Reply(out.into());
            }
            "S" => self.monitored.clone(),
            _ => return self.numeric("461", &["MONITOR", "Not enough parameters"]),
        };
        let (hub, me) = (shared.hub.clone(), self.me().to_owned());
        Act::Later(Box::pin(async move {
            let Some(roster) = roster(&hub).await else { return Act::Stop };
            let online = roster.online;
            let (mut on, mut off) = (Vec::new(), Vec::new());
            for nick in &asked {
                let name = nicks::name(nick);
                match online.iter().find(|(n, _)| hub::same_name(n, &name)) {
                    Some((n, _)) => on.push(source(n)),
                    None => off.push(nick.clone()),
                }
            }
            let mut out = Vec::new();
            let line = |code: &str, list: &[String]| Message::new(SERVER, code, &[&me, &list.join(",")]).to_line();
            if !on.is_empty() {
                out.extend(line("730", &on));
            }
            if !off.is_empty() {
                out.extend(line("731", &off));
            }
            Act::Reply(out.into())
        }))
    }

    /// `NICK new` once registered: the hub is asked to rename the session, unless it is
    /// named so already.
    fn rename(&mut self, nick: &str) -> Act {
        if nick == self.me() {
            return Act::Nothing;
        }
        let label = self.due_label();
        self.waits().renames.push_back((nick.to_owned(), label));
        Act::Hub(Command::Rename { name: nicks::name(nick).into_owned() })
    }

    /// Words `~rename [WHY]`, the hub's answer to a rename: the connection has its new nick,
    /// or is told why not. Returns the label of the `NICK` it answers.
    fn word_rename(&mut self, why: &str, out: &mut Vec<u8>) -> Option<u32> {
        let (nick, label) = self.waits.as_mut()?.renames.pop_front()?;
        let line = match why {
            "" => {
                // Others see it from the hub's news; the session, which may have labeled it, here.
                let line = Message::new(&source(self.me()), "NICK", &[&nick]).to_line();
                self.nick = Some(nick);
                line
            }
            "taken" => self.line("433", &[&nick, "Nickname is already in use"]),
            "invalid" => self.line("432", &[&nick, "Erroneous nickname"]),
            "fixed" => self.line("400", &["NICK", "An account's name, or one the desk is talking with, cannot change"]),
            "unavailable" => self.line("440", &[&nick, "The cluster cannot be reached now; try again"]),
            _ => self.line("400", &["NICK", "The nick could not be changed"]),
        };
        out.extend(line);
        label
    }

    /// Words `~renamed OLD NEW`: who shares a channel with the connection (everybody, in the
    /// lobby) sees `NICK`, and `MONITOR` sees the one leave and the other come.
    fn word_renamed(&self, rest: &str, out: &mut Vec<u8>) {
        let Some((old, new)) = rest.split_once(' ') else { return };
        // The session's own rename was worded with the hub's answer.
        if new != self.me() {
            out.extend(Message::new(&source(old), "NICK", &[new]).to_line());
        }
        self.word_presence(old, false, out);
        self.word_presence(new, true, out);
    }

    /// `730` (`nick` came) or `731` (it went), if the connection monitors `nick` (for
    /// `~presence NICK on|off` and `~renamed`).
    fn word_presence(&self, nick: &str, online: bool, out: &mut Vec<u8>) {
        if self.monitored.is_empty() || !self.monitored.contains(&hub::fold(nick)) {
            return;
        }
        let line = match online {
            true => Message::new(SERVER, "730", &[self.me(), &format!("{nick}!{nick}@{HOST}")]),
            false => Message::new(SERVER, "731", &[self.me(), nick]),
        };
        out.extend(line.to_line());
    }

    /// Words `~away NICK [MESSAGE]` (`AWAY`, with `away-notify`) and `~isaway NICK MESSAGE`
    /// (`301`, to who wrote to `NICK`).
    fn word_away(&self, what: &str, rest: &str, out: &mut Vec<u8>) {
        let (nick, message) = rest.split_once(' ').map_or((rest, None), |(n, m)| (n, Some(m)));
        match (what, message) {
            ("isaway", Some(message)) => out.extend(self.line("301", &[nick, message])),
            ("away", _) if self.caps.away_notify => {
                let params: Vec<&str> = message.into_iter().collect();
                out.extend(Message::new(&source(nick), "AWAY", &params).to_line());
            }
            _ => {}
        }
    }

    /// `WHOWAS nick [count]`: the last departures of `nick` (the first of a list), on any node.
    fn whowas(&mut self, m: &Message, shared: &Arc<Shared>) -> Act {
        let Some(nick) = m.params.first().and_then(|n| n.split(',').next()).filter(|n| !n.is_empty()) else {
            return self.numeric("431", &["No nickname given"]);
        };
        let count = m.params.get(1).and_then(|c| c.parse().ok()).filter(|&c| c > 0).unwrap_or(hub::WAS_KEPT);
        let (hub, me, nick) = (shared.hub.clone(), self.me().to_owned(), nick.to_owned());
        Act::Later(Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let name = nicks::name(&nick).into_owned();
            if hub.send(HubMsg::WhoWas { name, count, reply: tx }).await.is_err() {
                return Act::Stop;
            }
            let Ok(was) = rx.await else { return Act::Stop };
            Act::Reply(answers::whowas_answer(&me, &nick, &was).into())
        }))
    }

    /// What needs the hub's roster (who is online, by which door), asked of the hub task.
    /// (For `WHOIS`, also the rooms of each nick asked about.)
    fn ask_roster(&mut self, m: Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let (hub, me, peer, accounts) = (shared.hub.clone(), self.me().to_owned(), self.peer, self.accounts.clone());
        Act::Later(Box::pin(async move {
            let Some(roster) = roster(&hub).await else { return Act::Stop };
            let mut rooms = Vec::new();
            if m.command == "WHOIS" {
                let targets: Option<Vec<String>> =
                    m.params.last().map(|t| t.split(',').take(TARGMAX).map(str::to_owned).collect());
                for target in targets.unwrap_or_default() {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let name = nicks::name(&target).into_owned();
                    if hub.send(HubMsg::RoomsWith { session, name, reply: tx }).await.is_err() {
                        return Act::Stop;
                    }
                    let Ok(with) = rx.await else { return Act::Stop };
                    rooms.push((target, with));
                }
            }
            Act::Reply(answers::roster_answer(&me, peer, &m, &roster, &rooms, &accounts).into())
        }))
    }

    /// The welcome burst: 001-005, the MOTD, and the join of `#lobby`.
    fn welcome(&self, out: &mut Vec<u8>) {
        let version = concat!("switchboard-", env!("CARGO_PKG_VERSION"));
        out.extend(self.line("001", &[&format!("Welcome to the Switchboard hub, {}", self.mask())]));
        out.extend(self.line("002", &[&format!("Your host is {SERVER}, running version {version}")]));
        out.extend(self.line("003", &["This server has been started some time ago"]));
        out.extend(self.line("004", &[SERVER, version, "i", "beIiklmnostv", "beIklov"]));
        let isupport = [
            "CASEMAPPING=rfc8265".to_owned(),
            "CHANTYPES=#".into(),
            "CHANMODES=beI,k,l,imnst".into(),
            "EXCEPTS".into(),
            "INVEX".into(),
            "PREFIX=(ov)@+".into(),
            format!("NICKLEN={}", hub::MAX_NAME),
            format!("CHANNELLEN={}", hub::MAX_ROOM),
            format!("CHANLIMIT=#:{}", hub::MAX_ROOMS_EACH),
            format!("TOPICLEN={}", hub::MAX_TOPIC),
            format!("MAXLIST=beI:{}", hub::MAX_BANS),
            format!("MODES={}", channels::MODES),
            format!("MONITOR={MAX_MONITOR}"),
            format!("TARGMAX=PRIVMSG:{TARGMAX},NOTICE:{TARGMAX}"),
            "UTF8ONLY".into(),
            "WHOX".into(),
            format!("AWAYLEN={}", hub::MAX_AWAY),
            format!("CHATHISTORY={}", history::MAX_HISTORY),
            "MSGREFTYPES=msgid,timestamp".into(),
            "NETWORK=Switchboard".into(),
        ];
        // A line holds at most 15 parameters: the nick, 13 tokens, the text.
        for tokens in isupport.chunks(13) {
            let mut params: Vec<&str> = tokens.iter().map(String::as_str).collect();
            params.push("are supported by this server");
            out.extend(self.line("005", &params));
        }
        out.extend(self.motd());
        let join = match self.caps.extended_join {
            true => {
                let account = self.account_of(self.me()).unwrap_or_else(|| "*".into());
                Message::new(&self.mask(), "JOIN", &[LOBBY, &account, self.me()])
            }
            false => Message::new(&self.mask(), "JOIN", &[LOBBY]),
        };
        out.extend(join.to_line());
    }

    fn motd(&self) -> Vec<u8> {
        let mut out = self.line("375", &[&format!("- {SERVER} Message of the day -")]);
        for text in [
            "- Switchboard: one hub, many chat protocols.",
            "- #lobby is the lobby that ChatOS, ChatHack, PeerChat and web users share;",
            "- /msg NAME reaches a user on any of them, /whois NAME says which;",
            "- /join #NAME makes or joins a room, /list shows them.",
        ] {
            out.extend(self.line("372", &[text]));
        }
        out.extend(self.line("376", &["End of /MOTD command"]));
        out
    }

    /// A line from others, as this client asked for it: what a user said or did with its
    /// time (`server-time`) and the account the user is signed in to (`account-tag`); a
    /// `JOIN` with the account (or `*`) and a real name, the nick (`extended-join`).
    fn retell(&self, line: &[u8], now: Option<&str>, out: &mut Vec<u8>) {
        let Some(nick) = from_a_user(line) else { return out.extend_from_slice(line) };
        let account = self.account_of(nick);
        let mut tags: Vec<String> = now.map(str::to_owned).into_iter().collect();
        if let (true, Some(account)) = (self.caps.account_tag, &account) {
            tags.push(format!("account={account}"));
        }
        if !tags.is_empty() {
            out.extend(format!("@{} ", tags.join(";")).as_bytes());
        }
        let body = line.strip_suffix(b"\r\n").unwrap_or(line);
        let join = body.split(|&b| b == b' ').nth(1) == Some(b"JOIN") && body.split(|&b| b == b' ').count() == 3;
        if !(self.caps.extended_join && join) {
            return out.extend_from_slice(line);
        }
        out.extend_from_slice(body);
        out.extend(format!(" {} :{nick}\r\n", account.as_deref().unwrap_or("*")).as_bytes());
    }

    /// The account the user of `nick` is signed in to, if it is: its own name, if reserved.
    fn account_of(&self, nick: &str) -> Option<String> {
        let name = nicks::name(nick);
        self.accounts.holds(&name).then(|| nick.to_owned())
    }

    /// Words directive `d` (a line from the encoders, without its `~`) into `out`.
    fn word(&mut self, d: &[u8], out: &mut Vec<u8>) -> Worded {
        let d = String::from_utf8_lossy(d);
        let (what, rest) = d.split_once(' ').unwrap_or((&d, ""));
        if what == "login" {
            self.release_held();
        }
        match what {
            "login" if rest.is_empty() => {
                self.logging_in = false;
                if let Some(name) = self.signed_in.take().and_then(|s| s.get().cloned()) {
                    self.account = Some(name);
                }
                self.registered = true;
                self.welcome(out);
            }
            "login" => {
                self.logging_in = false;
                let nick = self.nick.take().unwrap_or_default();
                let line = match rest {
                    "invalid" => Message::new(SERVER, "432", &["*", &nick, "Erroneous nickname"]),
                    _ => Message::new(SERVER, "433", &["*", &nick, "Nickname is already in use"]),
                };
                out.extend(line.to_line());
            }
            "direct" => {
                let Some(Direct { target, notice, echo, label }) =
                    self.waits.as_mut().and_then(|w| w.directs.pop_front())
                else {
                    return Worded::Nobody;
                };
                let worded = label.map_or(Worded::Nobody, Worded::Due);
                let line = match rest {
                    "" => {
                        if let Some(text) = echo {
                            let me = self.me().to_owned();
                            out.extend(say(&me, if notice { "NOTICE" } else { "PRIVMSG" }, &target, &text));
                        }
                        return worded;
                    }
                    _ if notice => return worded,
                    "unreachable" => self.line("401", &[&target, "No such nick/channel"]),
                    "unavailable" => self.line("440", &[&target, "The cluster cannot be reached now; try again"]),
                    _ => self.line("400", &["PRIVMSG", "The message could not be sent"]),
                };
                out.extend(line);
                return worded;
            }
            "lobby" => {
                out.extend(self.line("404", &[LOBBY, "Cannot send to channel"]));
                return Worded::Open;
            }
            "names" => {
                let (room, names) = rest.split_once(' ').unwrap_or((rest, ""));
                // Both prefixes come; without `multi-prefix`, only the highest is shown.
                let names: Vec<String> = names
                    .split(' ')
                    .filter(|n| !n.is_empty())
                    .map(|n| if self.caps.multi_prefix { n.to_owned() } else { n.replacen("@+", "@", 1) })
                    .map(|n| match self.caps.userhost_in_names {
                        true => {
                            let nick = n.trim_start_matches(['@', '+']);
                            format!("{n}!{nick}@{HOST}")
                        }
                        false => n,
                    })
                    .collect();
                out.extend(answers::names_lines(self.me(), room, false, &names));
            }
            "sasl" | "pass" => self.word_verdict(what, rest, out),
            "time" => self.word_time(rest, out),
            "typing" => self.word_typing(rest, out),
            "presence" => {
                if let Some((nick, state)) = rest.split_once(' ') {
                    self.word_presence(nick, state == "on", out);
                }
            }
            "away" => self.word_away(what, rest, out),
            "isaway" => {
                self.word_away(what, rest, out);
                return Worded::Open;
            }
            "room" => return self.word_room(rest, out).map_or(Worded::Nobody, Worded::Due),
            "rename" => return self.word_rename(rest, out).map_or(Worded::Nobody, Worded::Due),
            "renamed" => self.word_renamed(rest, out),
            "topic" => self.word_topic(rest, out),
            "invite" => self.word_invite(rest, out),
            _ => {}
        }
        Worded::Nobody
    }
}

/// The nick of a line whose source is a user's `nick!user@host` (not the server's, and
/// without tags).
fn from_a_user(line: &[u8]) -> Option<&str> {
    let source = line.strip_prefix(b":")?.split(|&b| b == b' ').next()?;
    let nick = &source[..memchr::memchr(b'!', source)?];
    std::str::from_utf8(nick).ok()
}

/// `act` of labeled message `id`: a reply of the door's own is marked as its, in the stream
/// (between `~mine ID` and `~end`), also once a wait yields it.
fn mark(id: u32, act: Act) -> Act {
    let mine = move |bytes: Bytes| {
        let mut marked = format!("~mine {id}\n").into_bytes();
        marked.extend_from_slice(&bytes);
        marked.extend_from_slice(b"~end\n");
        Act::Reply(marked.into())
    };
    match act {
        Act::Reply(bytes) => mine(bytes),
        Act::Later(later) => Act::Later(Box::pin(async move {
            match later.await {
                Act::Reply(bytes) => mine(bytes),
                act => act,
            }
        })),
        act => act,
    }
}

/// Who is online and by which door, and who is away, from the hub task; `None` once it has
/// stopped.
async fn roster(hub: &tokio::sync::mpsc::Sender<HubMsg>) -> Option<crate::msg::Roster> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    hub.send(HubMsg::Roster { reply: tx }).await.ok()?;
    rx.await.ok()
}

/// A nick an IRC client may take: a valid hub name that IRC can carry (no character that
/// IRC gives a meaning: `,*?!@.:` or a space; not starting with a channel's sign, a digit or `-`).
pub(crate) fn valid_nick(nick: &str) -> bool {
    // No `\` either: it writes the names of other protocols that are no nicks (`nicks.rs`).
    let bad_start = nick.starts_with(|c: char| c.is_ascii_digit() || "-#&:$+~%".contains(c));
    !bad_start && !nick.contains(|c: char| ",*?!@.: \\".contains(c)) && hub::valid_name(nick)
}

/// The answers the connection words itself (see the module's documentation): its login's,
/// a direct message's, a lobby message's refusal.
pub(crate) fn encode_reply(kind: Kind, result: Result<(), HubError>) -> Option<Bytes> {
    let why = |e: HubError| match e {
        HubError::NameTaken => "taken",
        HubError::InvalidName => "invalid",
        HubError::Unreachable => "unreachable",
        HubError::Unavailable => "unavailable",
        HubError::NameFixed => "fixed",
        _ => "refused",
    };
    let line = match (kind, result) {
        (Kind::Login, Ok(())) => "~login\n".to_owned(),
        (Kind::Login, Err(e)) => format!("~login {}\n", why(e)),
        (Kind::Direct, Ok(())) => "~direct\n".to_owned(),
        (Kind::Direct, Err(e)) => format!("~direct {}\n", why(e)),
        (Kind::Lobby, Err(_)) => "~lobby\n".to_owned(),
        (Kind::Room, Ok(())) => "~room\n".to_owned(),
        (Kind::Room, Err(HubError::Room(e))) => format!("~room {}\n", channels::room_error_word(e)),
        (Kind::Room, Err(e)) => format!("~room {}\n", why(e)),
        (Kind::Rename, Ok(())) => "~rename\n".to_owned(),
        (Kind::Rename, Err(e)) => format!("~rename {}\n", why(e)),
        _ => return None,
    };
    Some(line.into())
}

use nicks::source;

/// `text` on one line: what a directive carries must not end it.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// `:from!from@host COMMAND target :text`, as many lines as the text needs: one a line of
/// it, each within the bound.
pub(super) fn say(from: &str, command: &str, target: &str, text: &str) -> Vec<u8> {
    let source = source(from);
    let room = MAX_LINE - 2 - (source.len() + command.len() + target.len() + 5);
    let mut out = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()) {
        let mut rest = line;
        while !rest.is_empty() {
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (piece, after) = rest.split_at(cut);
            out.extend(Message::new(&source, command, &[target, piece]).to_line());
            rest = after;
        }
    }
    out
}

/// A queued message: its lines, each behind `~time MS` so that a client that asked for
/// `server-time` is told when it was sent.
fn encode_queued(queued: &hub::Queued) -> Option<Bytes> {
    let lines = encode_event(&queued.event())?;
    let mut out = Vec::with_capacity(lines.len() + 32);
    for line in lines.split_inclusive(|&b| b == b'\n') {
        out.extend(format!("~time {} ", queued.at_ms.max(0)).as_bytes());
        out.extend(line.strip_suffix(b"\r\n").unwrap_or(line));
        out.push(b'\n');
    }
    Some(out.into())
}

pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    let bytes = match event {
        Event::Lobby { from, text } => say(from, "PRIVMSG", LOBBY, text),
        Event::Direct { from, to, text } => say(from, "PRIVMSG", &nicks::nick(to), text),
        Event::Presence { name, via, lobby, online } => {
            let source = source(name);
            let mut out = match (lobby, online) {
                (true, true) => Message::new(&source, "JOIN", &[LOBBY]).to_line(),
                (true, false) => Message::new(&source, "QUIT", &[&format!("Left {via}")]).to_line(),
                (false, _) => Vec::new(),
            };
            // For MONITOR, which only the connection knows.
            let state = if *online { "on" } else { "off" };
            out.extend(format!("~presence {} {state}\n", nicks::nick(name)).as_bytes());
            out
        }
        Event::InLobby { names } => {
            let nicks: Vec<_> = names.iter().map(|n| nicks::nick(n)).collect();
            format!("~names {LOBBY} {}\n", nicks.join(" ")).into_bytes()
        }
        Event::RoomJoined { room, name } => Message::new(&source(name), "JOIN", &[room]).to_line(),
        Event::RoomState { room, topic, members } => {
            let mut out = String::new();
            if let Some(topic) = topic {
                let by = nicks::nick(&topic.by);
                out.push_str(&format!("~topic {room} {by} {} :{}\n", topic.at, one_line(&topic.text)));
            }
            let names: Vec<String> =
                members.iter().map(|(n, m)| format!("{}{}", channels::prefix(*m, true), nicks::nick(n))).collect();
            out.push_str(&format!("~names {room} {}\n", names.join(" ")));
            out.into_bytes()
        }
        Event::RoomParted { room, name, reason, by: None } if reason.is_empty() => {
            Message::new(&source(name), "PART", &[room]).to_line()
        }
        Event::RoomParted { room, name, reason, by: None } => {
            Message::new(&source(name), "PART", &[room, reason]).to_line()
        }
        Event::RoomParted { room, name, reason, by: Some(by) } => {
            Message::new(&source(by), "KICK", &[room, &nicks::nick(name), reason]).to_line()
        }
        Event::RoomSaid { room, from, text, notice } => {
            say(from, if *notice { "NOTICE" } else { "PRIVMSG" }, room, text)
        }
        Event::RoomTopic { room, topic } => Message::new(&source(&topic.by), "TOPIC", &[room, &topic.text]).to_line(),
        Event::RoomModes { room, by, changes } => {
            let (letters, args) = channels::mode_line(changes);
            let mut params = vec![room.as_str(), letters.as_str()];
            params.extend(args.iter().map(String::as_str));
            Message::new(&source(by), "MODE", &params).to_line()
        }
        Event::Invited { room, by } => format!("~invite {by} {room}\n").into_bytes(),
        Event::Typing { from, to, active } => {
            let state = if *active { "active" } else { "done" };
            let room = if to.starts_with('#') { format!(" {to}") } else { String::new() };
            format!("~typing {from} {state}{room}\n").into_bytes()
        }
        // For `away-notify`, and `301` to who wrote to them, which only the connection knows.
        Event::Away { name, message } => match message {
            Some(message) => format!("~away {} {}\n", nicks::nick(name), one_line(message)).into_bytes(),
            None => format!("~away {}\n", nicks::nick(name)).into_bytes(),
        },
        Event::IsAway { name, message } => {
            format!("~isaway {} {}\n", nicks::nick(name), one_line(message)).into_bytes()
        }
        // `NICK`, which only the connection words: its own comes with the hub's answer.
        Event::Renamed { from, to, .. } => format!("~renamed {} {}\n", nicks::nick(from), nicks::nick(to)).into_bytes(),
        Event::Ping => Message::new(SERVER, "PING", &[SERVER]).to_line(),
        Event::Closing => {
            Message { command: "ERROR".into(), params: vec!["Closing link".into()], ..Message::default() }.to_line()
        }
        // Never sent to IRC: it has no images, relayed or brokered links, liveness, typing
        // notices or the desk's events, and presence outside the lobby is not shown.
        Event::Image { .. }
        | Event::LinkAsked(_)
        | Event::LinkAccepted(_)
        | Event::LinkAborted(_)
        | Event::DirectAsked { .. }
        | Event::DirectAccepted { .. }
        | Event::DirectDenied { .. }
        | Event::Desk(_) => return None,
    };
    Some(bytes.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_that_irc_can_carry() {
        for good in ["alice", "Bob_2", "[x]", "élodie", "a-b"] {
            assert!(valid_nick(good), "{good}");
        }
        for bad in ["", "1abc", "-x", "#chan", "a,b", "a b", "a!b", "a@b", "a.b", ":x", "a*"] {
            assert!(!valid_nick(bad), "{bad}");
        }
    }

    #[test]
    fn long_and_multi_line_texts_become_several_privmsgs_within_the_bound() {
        let text = format!("first\n{}\r\n\nlast", "é".repeat(600));
        let bytes = say("alice", "PRIVMSG", LOBBY, &text);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 5, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(lines[0], b":alice!alice@switchboard PRIVMSG #lobby :first\r\n");
        assert_eq!(lines[4], b":alice!alice@switchboard PRIVMSG #lobby :last\r\n");
        let mut joined = String::new();
        for line in &lines[1..4] {
            assert!(line.len() <= MAX_LINE, "{}", line.len());
            let Item::Message(m) = proto::irc::parse_line(&line[..line.len() - 2]) else { panic!() };
            joined.push_str(&m.params[1]);
        }
        assert_eq!(joined, "é".repeat(600));
    }

    #[test]
    fn directives_are_worded_with_the_connection_s_own_nick_and_others_lines_pass() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut irc = Irc::new(peer, Arc::default());
        irc.nick = Some("ann".into());
        irc.user = Some("ann".into());
        irc.registered = true;
        irc.waits().directs.push_back(Direct { target: "bob".into(), notice: false, echo: None, label: None });
        irc.waits().directs.push_back(Direct { target: "carol".into(), notice: true, echo: None, label: None });
        let lobby = encode_event(&Event::Lobby { from: "os".into(), text: "hi".into() }).unwrap();
        assert_eq!(irc.outgoing(lobby.clone()), lobby);
        let mut batch = lobby.to_vec();
        batch.extend_from_slice(&encode_reply(Kind::Direct, Err(HubError::Unreachable)).unwrap());
        batch.extend_from_slice(&encode_reply(Kind::Direct, Err(HubError::Unreachable)).unwrap());
        batch.extend_from_slice(&lobby);
        let worded = irc.outgoing(batch.into());
        let expected = [&lobby[..], b":switchboard 401 ann bob :No such nick/channel\r\n", &lobby[..]].concat();
        assert_eq!(String::from_utf8_lossy(&worded), String::from_utf8_lossy(&expected));
        assert!(irc.waits.is_none(), "what waited is answered, and its box gone");
        let names = encode_event(&Event::InLobby { names: vec!["os".into(), "ann".into()] }).unwrap();
        assert_eq!(
            &irc.outgoing(names)[..],
            b":switchboard 353 ann = #lobby :os ann\r\n:switchboard 366 ann #lobby :End of /NAMES list\r\n"
        );
    }
}
