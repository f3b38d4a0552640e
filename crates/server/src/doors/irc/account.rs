//! IRCv3 capabilities and accounts on the IRC door: `CAP LS/REQ/LIST/END`, `SASL PLAIN`
//! (`AUTHENTICATE`), and `PASS` for clients without SASL. A password is checked by the store on
//! its own thread (through the login throttle, as every door's): its verdict comes back as a
//! directive (`~sasl NAME`, `~sasl`, `~pass`) that the connection words, and the connection
//! reads nothing more until it has. Once signed in, the login is verified: the account's name
//! is the nick, and what was queued for it comes as `PRIVMSG`s, with `@time` for a client
//! that asked for `server-time`.

use super::{Irc, SERVER};
use crate::net::conn::Act;
use crate::Shared;
use base64::Engine;
use hub::Command;
use proto::irc::Message;
use std::sync::Arc;
use store::Verdict;
use tokio::time::Instant;
use tracing::{error, info};

/// The capabilities this door offers.
const OFFERED: [&str; 14] = [
    "sasl",
    "server-time",
    "echo-message",
    "multi-prefix",
    "message-tags",
    "userhost-in-names",
    "cap-notify",
    "batch",
    "draft/chathistory",
    "account-tag",
    "extended-join",
    "account-notify",
    "away-notify",
    "labeled-response",
];
/// The longest `AUTHENTICATE` payload, in bytes of base64.
const MAX_SASL: usize = 4096;
/// `AUTHENTICATE` sends its payload in chunks of this many bytes; a shorter one is the last.
const SASL_CHUNK: usize = 400;

/// The capabilities a client asked for and got.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Caps {
    pub sasl: bool,
    pub server_time: bool,
    pub echo_message: bool,
    pub multi_prefix: bool,
    /// Client tags: `+typing` on `TAGMSG`, both ways.
    pub message_tags: bool,
    pub userhost_in_names: bool,
    /// Nothing to tell yet (the offer never changes), but asked for by clients of 3.1.
    pub cap_notify: bool,
    /// `CHATHISTORY` answers come in a batch.
    pub batch: bool,
    /// `CHATHISTORY` is answered whether or not it was asked for; asking says the client
    /// will fetch history itself.
    pub chathistory: bool,
    /// What users say comes with the account they are signed in to.
    pub account_tag: bool,
    /// A `JOIN` says the account and the real name.
    pub extended_join: bool,
    /// Nothing to tell: a user's account is its name, if reserved, from its login to its
    /// end, so it never changes while it is there (no `ACCOUNT` is ever due).
    pub account_notify: bool,
    /// Who goes away or comes back is told as `AWAY`.
    pub away_notify: bool,
    /// A message with a `label` tag is answered with it (with `batch` only, as the
    /// specification says: `labels.rs`).
    pub labeled_response: bool,
}

impl Caps {
    fn flag(&mut self, cap: &str) -> Option<&mut bool> {
        match cap {
            "sasl" => Some(&mut self.sasl),
            "server-time" => Some(&mut self.server_time),
            "echo-message" => Some(&mut self.echo_message),
            "multi-prefix" => Some(&mut self.multi_prefix),
            "message-tags" => Some(&mut self.message_tags),
            "userhost-in-names" => Some(&mut self.userhost_in_names),
            "cap-notify" => Some(&mut self.cap_notify),
            "batch" => Some(&mut self.batch),
            "draft/chathistory" => Some(&mut self.chathistory),
            "account-tag" => Some(&mut self.account_tag),
            "extended-join" => Some(&mut self.extended_join),
            "account-notify" => Some(&mut self.account_notify),
            "away-notify" => Some(&mut self.away_notify),
            "labeled-response" => Some(&mut self.labeled_response),
            _ => None,
        }
    }

    fn list(&self) -> String {
        let on = [
            self.sasl,
            self.server_time,
            self.echo_message,
            self.multi_prefix,
            self.message_tags,
            self.userhost_in_names,
            self.cap_notify,
            self.batch,
            self.chathistory,
            self.account_tag,
            self.extended_join,
            self.account_notify,
            self.away_notify,
            self.labeled_response,
        ];
        OFFERED.iter().zip(on).filter(|(_, on)| *on).map(|(c, _)| *c).collect::<Vec<_>>().join(" ")
    }
}

/// Where a SASL exchange is.
#[derive(Debug, Default)]
pub(crate) enum Sasl {
    #[default]
    Idle,
    /// `AUTHENTICATE PLAIN` was answered `+`: the payload comes, in chunks.
    Plain(String),
}

/// How a password check ended, as a directive for the connection: `~sasl NAME` signed in
/// by SASL, `~sasl` refused; `~pass` a `PASS` refused (a `PASS` that signs in is a login).
fn verdict_directive(sasl: bool, verdict: Option<String>) -> Act {
    let line = match (sasl, verdict) {
        (true, Some(name)) => format!("~sasl {name}\n"),
        (true, None) => "~sasl\n".to_owned(),
        (false, _) => "~pass\n".to_owned(),
    };
    Act::Reply(line.into())
}

/// Checks `name`'s `password` in the store, through the login throttle: the account's name
/// as registered, or `None`; `Err` when the connection should stop (the server is stopping).
async fn check(shared: Arc<Shared>, origin: std::net::IpAddr, name: String, password: String) -> Result<Verdict, ()> {
    let account = hub::fold(&name);
    if let Err(refused) = shared.logins.attempt(origin, &account, Instant::now()) {
        info!(%origin, name, ?refused, "irc: too many password attempts; refused unchecked");
        return Ok(Verdict::WrongPassword);
    }
    match shared.store.call(move |s| s.verify(&name, &password)).await {
        Ok(Ok(verdict)) => {
            match &verdict {
                Verdict::Ok(_) => shared.logins.succeeded(origin, &account, Instant::now()),
                Verdict::WrongPassword => shared.logins.failed(origin, &account, Instant::now()),
                Verdict::NoAccount => {}
            }
            Ok(verdict)
        }
        Ok(Err(e)) => {
            error!(error = %e, "checking a password");
            shared.metrics.store_read_failed("checking a password", &e);
            Ok(Verdict::WrongPassword)
        }
        Err(_) => Err(()),
    }
}

impl Irc {
    pub(super) fn cap(&mut self, m: &Message, shared: &Arc<Shared>) -> Act {
        let sub = m.params.first().map(|s| s.to_ascii_uppercase());
        let reply = |me: &str, sub: &str, what: &str| {
            Act::Reply(Message::new(SERVER, "CAP", &[me, sub, what]).to_line().into())
        };
        match sub.as_deref() {
            Some("LS") => {
                if !self.registered {
                    self.negotiating = true;
                }
                // Version 302 and later see the mechanisms SASL takes.
                let v302 = m.params.get(1).and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| v >= 302);
                let offered: Vec<&str> =
                    OFFERED.iter().map(|&c| if c == "sasl" && v302 { "sasl=PLAIN" } else { c }).collect();
                reply(self.me(), "LS", &offered.join(" "))
            }
            Some("LIST") => reply(self.me(), "LIST", &self.caps.list()),
            Some("REQ") => {
                if !self.registered {
                    self.negotiating = true;
                }
                let asked = m.params.get(1).map_or("", String::as_str);
                let mut caps = self.caps;
                let known = asked.split(' ').filter(|c| !c.is_empty()).all(|c| {
                    let (on, name) = match c.strip_prefix('-') {
                        Some(name) => (false, name),
                        None => (true, c),
                    };
                    caps.flag(name).map(|flag| *flag = on).is_some()
                });
                if known && !asked.trim().is_empty() {
                    self.caps = caps;
                    reply(self.me(), "ACK", asked)
                } else {
                    reply(self.me(), "NAK", asked)
                }
            }
            Some("END") => {
                self.negotiating = false;
                self.register(shared)
            }
            Some(other) => self.numeric("410", &[other, "Invalid CAP command"]),
            None => self.numeric("461", &["CAP", "Not enough parameters"]),
        }
    }

    /// `AUTHENTICATE`: the mechanism, then the payload of `PLAIN` (`authzid\0authcid\0password`,
    /// in base64, in chunks of 400 bytes; `+` is an empty one), or `*` to give up.
    pub(super) fn authenticate(&mut self, m: &Message, shared: &Arc<Shared>) -> Act {
        let Some(param) = m.params.first() else {
            return self.numeric("461", &["AUTHENTICATE", "Not enough parameters"]);
        };
        if self.registered || self.account.is_some() {
            return self.numeric("907", &["You have already authenticated using SASL"]);
        }
        if !self.caps.sasl {
            return self.numeric("904", &["SASL authentication failed (ask for the sasl capability first)"]);
        }
        if param == "*" {
            self.sasl = Sasl::Idle;
            return self.numeric("906", &["SASL authentication aborted"]);
        }
        let mut payload = match std::mem::take(&mut self.sasl) {
            Sasl::Idle if param.eq_ignore_ascii_case("PLAIN") => {
                self.sasl = Sasl::Plain(String::new());
                return Act::Reply(
                    Message { command: "AUTHENTICATE".into(), params: vec!["+".into()], ..Message::default() }
                        .to_line()
                        .into(),
                );
            }
            Sasl::Idle => {
                let mut out = self.line("908", &["PLAIN", "are available SASL mechanisms"]);
                out.extend(self.line("904", &["SASL authentication failed"]));
                return Act::Reply(out.into());
            }
            Sasl::Plain(payload) => payload,
        };
        if param != "+" {
            payload.push_str(param);
        }
        if payload.len() > MAX_SASL {
            return self.numeric("905", &["SASL message too long"]);
        }
        if param.len() == SASL_CHUNK {
            self.sasl = Sasl::Plain(payload);
            return Act::Nothing; // more comes
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(payload.as_bytes()).ok();
        let plain = decoded.and_then(|d| String::from_utf8(d).ok());
        let parts: Option<(String, String)> = plain.and_then(|p| {
            let mut it = p.split('\0');
            let (authzid, authcid, password) = (it.next()?, it.next()?, it.next()?);
            let fits = it.next().is_none() && (authzid.is_empty() || hub::same_name(authzid, authcid));
            fits.then(|| (authcid.to_owned(), password.to_owned()))
        });
        let Some((name, password)) = parts else {
            return self.numeric("904", &["SASL authentication failed"]);
        };
        self.authenticating = true;
        let (shared, origin) = (shared.clone(), self.peer.ip());
        Act::Later(Box::pin(async move {
            match check(shared, origin, name, password).await {
                Ok(Verdict::Ok(name)) => verdict_directive(true, Some(name)),
                Ok(_) => verdict_directive(true, None),
                Err(()) => Act::Stop,
            }
        }))
    }

    /// The login of a client that gave `PASS`: verified if the password is the nick's
    /// account's, a guest's if the nick has no account, refused if it is wrong.
    pub(super) fn login_with_pass(&mut self, nick: String, password: String, shared: &Arc<Shared>) -> Act {
        self.authenticating = true;
        let (shared, origin) = (shared.clone(), self.peer.ip());
        let signed_in = self.signed_in.insert(Arc::default()).clone();
        Act::Later(Box::pin(async move {
            match check(shared, origin, nick.clone(), password).await {
                Ok(Verdict::Ok(name)) => {
                    let _ = signed_in.set(name.clone());
                    Act::Hub(Command::Login { name, verified: true })
                }
                Ok(Verdict::NoAccount) => Act::Hub(Command::Login { name: nick, verified: false }),
                Ok(Verdict::WrongPassword) => verdict_directive(false, None),
                Err(()) => Act::Stop,
            }
        }))
    }

    /// Words `~sasl [NAME]` or `~pass`: the end of a password check.
    pub(super) fn word_verdict(&mut self, what: &str, rest: &str, out: &mut Vec<u8>) {
        self.authenticating = false;
        self.release_held();
        match (what, rest) {
            ("sasl", "") => out.extend(self.line("904", &["SASL authentication failed"])),
            ("sasl", name) => {
                self.account = Some(name.to_owned());
                self.nick = Some(name.to_owned());
                let mask = format!("{name}!{}@{}", self.user.as_deref().unwrap_or(name), super::HOST);
                out.extend(self.line("900", &[&mask, name, &format!("You are now logged in as {name}")]));
                out.extend(self.line("903", &["SASL authentication successful"]));
            }
            _ => {
                self.logging_in = false;
                self.nick = None;
                out.extend(self.line("464", &["Password incorrect"]));
            }
        }
    }

    /// `TAGMSG`: its `+typing` tag to a nick or a channel (not `#lobby`) is a typing notice
    /// (others are passed over, as tags nobody here reads).
    pub(super) fn tagmsg(&mut self, m: &Message) -> Act {
        let Some(target) = m.params.first() else {
            return self.numeric("461", &["TAGMSG", "Not enough parameters"]);
        };
        let typing = m.tags.iter().find(|(k, _)| k == "+typing").and_then(|(_, v)| v.as_deref());
        match typing {
            Some(state) if !target.eq_ignore_ascii_case(super::LOBBY) => {
                let to = if target.starts_with('#') { target.clone() } else { super::nicks::name(target).into_owned() };
                Act::Hub(Command::Typing { to, active: state == "active" })
            }
            _ => Act::Nothing,
        }
    }

    /// Words `~typing FROM active|done [#ROOM]`: a typing notice, to this client or in a
    /// room, as `TAGMSG` for a client that asked for `message-tags` (others are not told).
    pub(super) fn word_typing(&self, rest: &str, out: &mut Vec<u8>) {
        let mut words = rest.split(' ');
        let (Some(from), Some(state)) = (words.next(), words.next()) else { return };
        if self.caps.message_tags {
            let source = super::nicks::source(from);
            let tagged = Message {
                tags: vec![("+typing".into(), Some(state.into()))],
                source: Some(source),
                command: "TAGMSG".into(),
                params: vec![words.next().unwrap_or(self.me()).to_owned()],
            };
            out.extend(tagged.to_line());
        }
    }

    /// Words `~time MS LINE`: a queued message's line, with `@time` if the client asked for
    /// `server-time`.
    pub(super) fn word_time(&self, rest: &str, out: &mut Vec<u8>) {
        let Some((ms, line)) = rest.split_once(' ') else { return };
        if self.caps.server_time {
            if let Ok(ms) = ms.parse::<u64>() {
                let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
                out.extend(format!("@time={} ", humantime::format_rfc3339_millis(at)).as_bytes());
            }
        }
        out.extend(line.as_bytes());
        out.extend(b"\r\n");
    }
}
