//! `CHATHISTORY` (IRCv3 `draft/chathistory`): what was said in `#lobby`, in a room one is in,
//! and in one's own direct conversations, read from the store, in a `chathistory` batch
//! (with `batch`), each message with its `time` (with `server-time`) and its `msgid` (with
//! `message-tags`; a message's id in the store). `TARGETS` lists the lobby, one's rooms and
//! the names one talked with in a window of time, as a `draft/chathistory-targets` batch.
//! Marks are `timestamp=` or `msgid=`; `*` (for `LATEST`) is the present.

use super::{nicks, say, Irc, LOBBY, SERVER};
use crate::msg::HubMsg;
use crate::net::conn::Act;
use crate::Shared;
use hub::SessionId;
use proto::irc::Message;
use std::sync::Arc;
use store::{Identity, Mark, Scope, Stored, Window};
use tokio::sync::mpsc::Sender;

/// The most messages (or targets) one `CHATHISTORY` returns (`CHATHISTORY` in `ISUPPORT`).
pub(crate) const MAX_HISTORY: usize = 100;

/// What a `CHATHISTORY` asks, once its parameters are read.
enum Asked {
    Messages { target: String, window: Window },
    Targets { from_ms: i64, to_ms: i64 },
}

/// `FAIL CHATHISTORY CODE context... :text`.
fn fail(code: &str, context: &[&str], text: &str) -> Act {
    let mut params = vec!["CHATHISTORY", code];
    params.extend_from_slice(context);
    params.push(text);
    Act::Reply(Message::new(SERVER, "FAIL", &params).to_line().into())
}

/// A mark: `timestamp=2026-12-04T05:00:00.000Z` or `msgid=ID`.
fn mark(text: &str) -> Option<Mark> {
    match text.split_once('=')? {
        ("timestamp", at) => {
            let at = humantime::parse_rfc3339_weak(at).ok()?;
            let ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
            Some(Mark::At(i64::try_from(ms).ok()?))
        }
        ("msgid", id) => id.parse().ok().map(Mark::Id),
        _ => None,
    }
}

/// A time as IRC writes it.
fn stamp(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// The rooms `session` is in (and if `room` is named, only whether it is in that one).
async fn rooms_of(hub: &Sender<HubMsg>, session: SessionId, room: Option<String>) -> Option<Vec<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rooms = Some(room.into_iter().collect());
    hub.send(HubMsg::Rooms { session, rooms, reply: tx }).await.ok()?;
    rx.await.ok().map(|(_, mine)| mine)
}

/// Waits until every message the hub kept so far is in the store (a message just said is
/// in the history read next).
async fn written(hub: &Sender<HubMsg>) -> Option<()> {
    let (reply, done) = tokio::sync::oneshot::channel();
    hub.send(HubMsg::Written { reply }).await.ok()?;
    done.await.ok()
}

impl Irc {
    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND target mark limit`, `BETWEEN target mark mark
    /// limit`, `TARGETS mark mark limit`.
    pub(super) fn chathistory(&mut self, m: &Message, session: SessionId, shared: &Arc<Shared>) -> Act {
        let sub = m.params.first().map(|s| s.to_ascii_uppercase()).unwrap_or_default();
        let param = |i: usize| m.params.get(i).map(String::as_str);
        let arity = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
            "BETWEEN" => 5,
            "" => return fail("NEED_MORE_PARAMS", &[], "Missing parameters"),
            _ => return fail("UNKNOWN_COMMAND", &[&sub], "Unknown command"),
        };
        if m.params.len() < arity {
            return fail("NEED_MORE_PARAMS", &[&sub], "Missing parameters");
        }
        let limit = match param(arity - 1).and_then(|l| l.parse::<usize>().ok()) {
            Some(limit) if limit > 0 => limit.min(MAX_HISTORY),
            _ => return fail("INVALID_PARAMS", &[&sub], "Invalid limit"),
        };
        let marks: Option<Vec<Mark>> =
            m.params[2..arity - 1].iter().filter(|p| !(sub == "LATEST" && *p == "*")).map(|p| mark(p)).collect();
        let Some(marks) = marks else {
            return fail("INVALID_PARAMS", &[&sub], "Invalid message reference");
        };
        let target = m.params[1].clone();
        let asked = match (sub.as_str(), marks.as_slice()) {
            ("TARGETS", _) => {
                let (Some(from), Some(to)) = (mark(&m.params[1]), mark(&m.params[2])) else {
                    return fail("INVALID_PARAMS", &[&sub], "Targets are asked for between two timestamps");
                };
                let (Mark::At(a), Mark::At(b)) = (from, to) else {
                    return fail("INVALID_PARAMS", &[&sub], "Targets are asked for between two timestamps");
                };
                Asked::Targets { from_ms: a.min(b), to_ms: a.max(b) }
            }
            ("LATEST", []) => Asked::Messages { target, window: Window::Latest(None) },
            ("LATEST", [m]) => Asked::Messages { target, window: Window::Latest(Some(*m)) },
            ("BEFORE", [m]) => Asked::Messages { target, window: Window::Before(*m) },
            ("AFTER", [m]) => Asked::Messages { target, window: Window::After(*m) },
            ("AROUND", [m]) => Asked::Messages { target, window: Window::Around(*m) },
            ("BETWEEN", [a, b]) => Asked::Messages { target, window: Window::Between(*a, *b) },
            _ => return fail("INVALID_PARAMS", &[&sub], "Invalid message reference"),
        };
        if let Asked::Messages { target, .. } = &asked {
            if target.starts_with('&') || target.contains(',') || target.is_empty() {
                return fail("INVALID_TARGET", &[&sub, target], "No such target");
            }
        }
        self.batches += 1;
        let batch = self.caps.batch.then(|| format!("h{}", self.batches));
        let caps = self.caps;
        let me = self.me().to_owned();
        // An account reads what its name said; a guest what this session said.
        let guest = self.account.is_none().then_some(session.0 as i64);
        let (hub, store, accounts) = (shared.hub.clone(), shared.store.clone(), self.accounts.clone());
        Act::Later(Box::pin(async move {
            let reply = |bytes: Vec<u8>| Act::Reply(bytes.into());
            match asked {
                Asked::Messages { target, window } => {
                    let room = (target.starts_with('#') && !target.eq_ignore_ascii_case(LOBBY)).then(|| target.clone());
                    if let Some(room) = &room {
                        let Some(mine) = rooms_of(&hub, session, Some(room.clone())).await else { return Act::Stop };
                        if !mine.iter().any(|r| hub::fold_room(r) == hub::fold_room(room)) {
                            return fail("INVALID_TARGET", &[&sub, room], "You are not in that channel");
                        }
                    }
                    if written(&hub).await.is_none() {
                        return Act::Stop;
                    }
                    let other = nicks::name(&target).into_owned();
                    let (lobby, me2) = (target.eq_ignore_ascii_case(LOBBY), me.clone());
                    let read = store
                        .call(move |s| {
                            let identity = Identity { name: &me2, guest };
                            let scope = match (&room, lobby) {
                                (Some(room), _) => Scope::Room(room),
                                (None, true) => Scope::Lobby,
                                (None, false) => Scope::Conversation(identity, &other),
                            };
                            s.history(scope, window, limit)
                        })
                        .await;
                    let Ok(read) = read else { return Act::Stop };
                    let stored = match read {
                        Ok(stored) => stored,
                        Err(e) => {
                            tracing::error!(error = %e, "irc: reading history");
                            return fail("MESSAGE_ERROR", &[&sub, &target], "The history cannot be read now");
                        }
                    };
                    reply(messages_batch(caps, &accounts, batch.as_deref(), &target, &stored))
                }
                Asked::Targets { from_ms, to_ms } => {
                    let Some(rooms) = rooms_of(&hub, session, None).await else { return Act::Stop };
                    if written(&hub).await.is_none() {
                        return Act::Stop;
                    }
                    let read = store
                        .call(move |s| -> store::Result<Vec<(String, i64)>> {
                            let identity = Identity { name: &me, guest };
                            let mut targets = s.partners_between(identity, from_ms, to_ms, limit)?;
                            for target in std::iter::once(LOBBY.to_owned()).chain(rooms) {
                                let scope = if target == LOBBY { Scope::Lobby } else { Scope::Room(&target) };
                                if let Some(at) = s.last_said(scope, from_ms, to_ms)? {
                                    targets.push((target, at));
                                }
                            }
                            Ok(targets)
                        })
                        .await;
                    let Ok(read) = read else { return Act::Stop };
                    let Ok(mut targets) = read else {
                        return fail("MESSAGE_ERROR", &[&sub], "The history cannot be read now");
                    };
                    // The most recent `limit`, oldest first.
                    targets.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
                    targets.truncate(limit);
                    targets.reverse();
                    reply(targets_batch(batch.as_deref(), &targets))
                }
            }
        }))
    }
}

/// `BATCH +ref type params...` and its end, around `lines` (each already tagged), when the
/// client takes batches.
fn batched(batch: Option<&str>, kind: &[&str], lines: Vec<u8>) -> Vec<u8> {
    let Some(id) = batch else { return lines };
    let open = format!("+{id}");
    let mut params = vec![open.as_str()];
    params.extend_from_slice(kind);
    let mut out = Message::new(SERVER, "BATCH", &params).to_line();
    out.extend(lines);
    out.extend(Message::new(SERVER, "BATCH", &[&format!("-{id}")]).to_line());
    out
}

/// The messages read, as `PRIVMSG`s to where they were said, each line with the tags the
/// client takes: with `account-tag`, a sender whose name is an account's is that account (a
/// guest cannot take an account's name), as in what is said live.
fn messages_batch(
    caps: super::account::Caps,
    accounts: &crate::Accounts,
    batch: Option<&str>,
    target: &str,
    stored: &[Stored],
) -> Vec<u8> {
    let mut lines = Vec::new();
    for s in stored.iter().filter(|s| s.kind != 1) {
        let to = match &s.recipient {
            None => LOBBY.to_owned(),
            Some(_) if target.starts_with('#') => target.to_owned(),
            Some(recipient) => nicks::nick(recipient).into_owned(),
        };
        let mut tags = Vec::new();
        if let Some(id) = batch {
            tags.push(format!("batch={id}"));
        }
        if caps.server_time {
            tags.push(format!("time={}", stamp(s.at_ms)));
        }
        if caps.message_tags {
            tags.push(format!("msgid={}", s.id));
        }
        if caps.account_tag && accounts.holds(&s.sender) {
            tags.push(format!("account={}", nicks::nick(&s.sender)));
        }
        let prefix = if tags.is_empty() { String::new() } else { format!("@{} ", tags.join(";")) };
        for line in say(&s.sender, "PRIVMSG", &to, &s.body).split_inclusive(|&b| b == b'\n') {
            lines.extend(prefix.as_bytes());
            lines.extend(line);
        }
    }
    batched(batch, &["chathistory", target], lines)
}

/// `CHATHISTORY TARGETS target time` for each target, in a `draft/chathistory-targets` batch.
fn targets_batch(batch: Option<&str>, targets: &[(String, i64)]) -> Vec<u8> {
    let mut lines = Vec::new();
    for (target, at) in targets {
        let target = if target.starts_with('#') { target.clone() } else { nicks::nick(target).into_owned() };
        let mut line = Message::new(SERVER, "CHATHISTORY", &["TARGETS", &target, &stamp(*at)]);
        if let Some(id) = batch {
            line.tags.push(("batch".into(), Some(id.into())));
        }
        lines.extend(line.to_line());
    }
    batched(batch, &["draft/chathistory-targets"], lines)
}
